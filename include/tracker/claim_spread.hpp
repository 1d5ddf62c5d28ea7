// Which ready story a claim without an id tries, when many clones claim at once.
//
// Every claimer lists the same ready queue. If each tried its head, one would win
// each round and the others' pushes would all be lost (a thundering herd). A clone
// that has been losing races lately spreads its tries over the first `spread()`
// stories of the queue instead, picking one at random; a clone that has not (one
// claimer alone, the common case) takes the head, so priority order holds exactly
// where there is no race. A race lost widens the spread to kMaxClaimSpread at once,
// and each claim won at the first try halves it, down to 1: a claimed story is
// always among the first kMaxClaimSpread ready stories of the queue as the claimer
// saw it, less those it found taken. (Widening fourfold per loss instead, 1, 4, 16,
// 64, lost about 1.5 races per claim at 32 clones, against about 0.9 this way with
// the leases listed after each loss: bench/run.sh, docs/remote.md.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace tracker {

/// The widest spread: a claim takes one of the first 64 ready stories at most.
/// (32 left 32 clones colliding on a third of their tries: 0.83x the throughput
/// of 4 clones, against 1.0x with 64; bench/run.sh, docs/remote.md.)
inline constexpr std::size_t kMaxClaimSpread = 64;
/// A clone that has lost no race for this long is taken to be alone again.
inline constexpr std::int64_t kContentionMemorySeconds = 60;

/// How crowded claiming from this clone has been lately: a level from 0 (take the
/// head) to 6 (spread over the first 64), shared by the clone's claimers in a small
/// file (`<common-dir>/tracker/claim-contention`: "<level> <unix time of the last
/// change>"). A file that is missing, unreadable or old counts as level 0; the file
/// is a hint, and losing it costs only a few lost races.
class ClaimContention {
 public:
  ClaimContention(std::filesystem::path file, std::int64_t now_seconds);

  int level() const { return level_; }
  /// How many of the queue's first stories a try picks among: 2^level.
  std::size_t spread() const { return std::size_t{1} << level_; }
  /// A race lost: the spread is kMaxClaimSpread from now on.
  void lost();
  /// A claim won. Only one won at the first try halves the spread: a claimer who
  /// lost races on the way is still in a crowd.
  void won(bool first_try);

 private:
  void save() const;
  std::filesystem::path file_;
  std::int64_t now_;
  int level_ = 0;
};

/// Which of `candidates` (the untried ready stories, in the queue's order) to try:
/// uniformly among the first min(spread, candidates), by `random`.
std::size_t pick_candidate(std::size_t candidates, std::size_t spread, std::uint64_t random);

}  // namespace tracker
