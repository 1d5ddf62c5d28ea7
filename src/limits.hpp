// Every timeout and retry limit of the library, in one place.
#pragma once

#include <chrono>
#include <cstdint>

namespace tracker::limits {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Waits for the short internal locks, each held by a live process for milliseconds.
inline constexpr seconds kBranchTurn{60};    ///< <common-dir>/tracker/commit.lock: our commits take turns
inline constexpr seconds kGitIndexTurn{30};  ///< <git-dir>/tracker/git-index.lock: our git index updates
inline constexpr seconds kIdAllocation{30};  ///< <common-dir>/tracker/ids.lock
inline constexpr seconds kIndexRefresh{60};  ///< <git-dir>/tracker/refresh.lock: full refreshes
inline constexpr seconds kClaimGuard{10};
inline constexpr seconds kStoryLock{60};   ///< locks/<id>: one story's read-modify-write, commit included    ///<
                                           ///< claim-guards/<id>.guard: breaking or renewing one claim
inline constexpr seconds kWatcherStop{2};  ///< waiting for a stopped watcher to let go of its lock
inline constexpr seconds kIndexOpen{30};   ///< creating index.db while other processes do the same

/// Compare-and-swap rounds of one commit before giving up because HEAD keeps moving.
inline constexpr int kCommitAttempts = 200;
/// How long a lock git itself holds (index.lock, a ref's .lock) is waited for before
/// it is reported as probably stale. git holds them for milliseconds.
inline constexpr milliseconds kGitLockWait{1000};
/// How often a commit is built again after a write that another process (git gc)
/// spoiled, before its error is reported.
inline constexpr int kTransientGitRetries = 5;
/// How often a change is made again on a story file that was edited or moved by
/// hand while tracker changed it.
inline constexpr int kFileChangedRetries = 5;
/// The longest claim TTL (90 days): past it a claim is a mistake (a TTL of
/// 99999999999999h would outlive every date format, and overflow time arithmetic).
inline constexpr std::int64_t kMaxClaimTtlSeconds = 90 * 86400;
/// Claim attempts on one story that keeps changing hands.
inline constexpr int kClaimAttempts = 10;

/// A temp or journal file younger than this is never swept, even when nobody holds
/// it: its writer may have created it and not yet locked it.
inline constexpr std::int64_t kOrphanMinAgeNs = 2'000'000'000;
/// `doctor` removes a lock file of git's this old when no git process runs in the
/// repository (`git commit` holds index.lock while its editor is open).
inline constexpr std::int64_t kGitLockStaleNs = 600'000'000'000;
/// A hook's scratch file (its index, its message) is swept only after an hour:
/// hooks may run for a long time, and may replace the files they were given.
inline constexpr std::int64_t kHookFileMinAgeNs = 3600'000'000'000;
/// A file modified this close to a refresh could change again within the same
/// timestamp tick without its stat data changing ("racy git"): its row is re-checked
/// against the cached content until it has aged past this.
inline constexpr std::int64_t kRacyWindowNs = 2'000'000'000;

/// Watcher: more changed paths than this, and re-reading them costs what a walk does.
inline constexpr std::size_t kWatchMaxChanges = 4096;
/// Watcher: how long a client waits for an answer.
inline constexpr milliseconds kWatchClientTimeout{2000};

/// How many rejected edit texts `<git-dir>/tracker/rejected/` keeps (the newest).
inline constexpr std::size_t kRejectedKept = 20;

}  // namespace tracker::limits
