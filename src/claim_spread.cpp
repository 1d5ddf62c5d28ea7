// The spread of a claim over the ready queue when clones race (claim_spread.hpp).
#include <tracker/claim_spread.hpp>
#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/util.hpp>

#include <algorithm>
#include <string>

namespace tracker {

namespace {

constexpr int kMaxLevel = 6;  // 2^6 = kMaxClaimSpread
static_assert(std::size_t{1} << kMaxLevel == kMaxClaimSpread);

}  // namespace

ClaimContention::ClaimContention(std::filesystem::path file, std::int64_t now_seconds)
    : file_(std::move(file)), now_(now_seconds) {
  try {
    std::optional<std::string> text = read_file_if_exists(file_);
    if (!text) return;
    std::vector<std::string> parts = split(trim(*text), ' ');
    if (parts.size() != 2) return;
    std::optional<std::int64_t> level = parse_int(parts[0]), at = parse_int(parts[1]);
    if (!level || !at || *level < 0 || *level > kMaxLevel) return;
    if (now_ - *at > kContentionMemorySeconds || *at > now_ + kContentionMemorySeconds) return;  // quiet since, or a clock jump
    level_ = static_cast<int>(*level);
  } catch (const Error&) {
    // unreadable: a hint only
  }
}

void ClaimContention::lost() {
  if (level_ == kMaxLevel) return;  // already as wide as it goes: no write
  level_ = kMaxLevel;
  save();
}

void ClaimContention::won(bool first_try) {
  if (level_ == 0 || !first_try) return;  // nothing to change: no write on the common path
  --level_;
  save();
}

void ClaimContention::save() const {
  try {
    // A cache, not a record: no fsync (a crash forgets the level, which is harmless).
    write_file_atomic(file_, std::to_string(level_) + " " + std::to_string(now_) + "\n", Durability::cache);
  } catch (const Error&) {
    // a read-only or full disk: claims work without the hint
  }
}

std::size_t pick_candidate(std::size_t candidates, std::size_t spread, std::uint64_t random) {
  std::size_t k = std::min(candidates, std::max<std::size_t>(1, spread));
  return k <= 1 ? 0 : static_cast<std::size_t>(random % k);
}

}  // namespace tracker
