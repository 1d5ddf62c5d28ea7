// Claims: one lockfile per claimed story in <git-common-dir>/tracker/claims/, shared by
// every worktree. A claim outlives the process that made it; it ends when released,
// when its TTL passes, or (with a pid) when that process dies on this host.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <tracker/clock.hpp>

namespace tracker {

/// The content of one claim lockfile.
/// The largest process id Linux gives (PID_MAX_LIMIT on 64-bit): a claim's pid is
/// from 1 to this.
inline constexpr long kMaxPid = 4'194'304;

struct Claim {
  std::int64_t id = 0;
  std::string owner;
  std::string host;
  std::int64_t created = 0;  ///< unix seconds
  std::int64_t expires = 0;  ///< unix seconds
  std::string from_stage;    ///< the stage the story was claimed from
  std::string nonce;
  std::optional<long> pid;  ///< the holder's pid, on `host`
  /// With a remote: the lease commit this claim holds `refs/tracker/claims/<id>` at,
  /// and how many leases came before it on that ref (renewals and takeovers).
  std::string lease;
  std::int64_t generation = 0;
  /// Set when another clone took the lease over: who holds the story now. The lock
  /// stays as a record that this holder is fenced; it holds nothing.
  std::string lost_to;
};


/// Why a claim no longer holds: its TTL passed, its holder's process died, or
/// another clone took its lease over (lost: the holder is fenced).
enum class ClaimState { live, expired, holder_dead, lost };

/// The claims directory of a repository.
class ClaimStore {
 public:
  /// The claims in `dir`; `clock` decides expiry.
  explicit ClaimStore(std::filesystem::path dir, const Clock& clock = system_clock());

  /// The claim on story `id`, if a lockfile exists (stale or not).
  std::optional<Claim> read(std::int64_t id) const;

  /// Every lockfile's claim, by id. Temp files and unreadable locks are skipped.
  std::vector<Claim> all() const;

  /// Whether `claim` still holds at `now` (unix seconds).
  static ClaimState state(const Claim& claim, std::int64_t now);
  /// Whether `claim` still holds now, by this store's clock.
  ClaimState state(const Claim& claim) const { return state(claim, clock_->now_seconds()); }

  /// Creates the lockfile for `claim.id` atomically (content first, then link()).
  /// Returns false, creating nothing, when a lockfile exists already.
  bool create(const Claim& claim);

  /// Replaces a claim that is still the one read (same nonce) with `updated`,
  /// e.g. to renew it. Returns false when the lock changed or vanished meanwhile.
  bool replace(const Claim& seen, const Claim& updated);

  /// Removes the lock of `seen` if it is still that claim (same nonce): under a
  /// short guard lock, re-read the nonce, then rename the lock aside. Of many
  /// processes breaking the same stale claim, exactly one succeeds.
  bool remove(const Claim& seen);

  /// A fresh claim for `id` with a random nonce and this host's name.
  Claim make(std::int64_t id, const std::string& owner, std::int64_t ttl_seconds, const std::string& from_stage,
             std::optional<long> pid) const;

  /// `held` renewed from now for `ttl_seconds`, with a fresh nonce (and `pid` when given).
  Claim renewed(const Claim& held, std::int64_t ttl_seconds, std::optional<long> pid) const;

  /// The expiry of a claim made now with this TTL: now rounded up to the next whole
  /// second, plus the TTL, so that a claim never lasts less than its TTL.
  std::int64_t expiry_after(std::int64_t ttl_seconds) const;

  /// This machine's host name.
  static std::string this_host();

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path lock_path(std::int64_t id) const;
  std::filesystem::path guard_path(std::int64_t id) const;
  std::filesystem::path dir_;
  const Clock* clock_;
};

/// The text of a lockfile ("key: value" lines); a remote lease's claim.yml too.
std::string format_claim(const Claim& claim);

/// Parses a lockfile; nullopt when it is not one.
std::optional<Claim> parse_claim(std::string_view text);

}  // namespace tracker
