// The watcher: an optional background process that keeps an inotify watch on the
// stage directories, so that a refresh re-reads the files changed since the last
// refresh instead of statting every story file (like git's fsmonitor daemon).
//
// A refresh asks the watcher "what changed since <token>". Inotify queues an event
// inside the system call that makes the change, and the watcher reads its whole queue
// before it answers, so every change finished before the question is in the answer.
// When the watcher cannot vouch for a token (it restarted, its queue overflowed, a
// stage directory came or went), it says so and the refresh walks every file.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tracker/workspace.hpp>

namespace tracker {

/// The watcher's answer to "what changed since <token>".
struct WatchChanges {
  bool full = false;               ///< the watcher cannot vouch for the token: walk every file
  std::string token;               ///< where this answer leaves off: ask from here next time
  std::vector<std::string> paths;  ///< workspace-relative story paths that may have changed
};

/// A running watcher, as `index watch status` shows it.
struct WatchStatus {
  bool running = false;
  std::int64_t pid = 0;
  std::string started;        ///< ISO 8601, UTC
  std::uint64_t events = 0;   ///< story file events seen
  std::uint64_t queries = 0;  ///< refreshes answered
  std::uint64_t resets = 0;   ///< times it had to say "walk everything"
  std::uint64_t paths = 0;    ///< distinct paths it remembers as changed
};

/// Whether refreshes use the watcher: the config's `index.watch`, unless the
/// environment variable TRACKER_WATCH is set to 0 or 1.
bool watch_enabled(const Workspace& ws);

/// Asks the running watcher what changed since `token` ("" when the caller knows
/// nothing yet). nullopt when no watcher answers, or when it watches another set of
/// stage directories (it then exits, so that a new one can start).
std::optional<WatchChanges> watch_query(const Workspace& ws, const std::string& token);

/// Starts a watcher in the background, detached from this process, unless one runs.
/// Returns at once; the watcher answers once it has set its watches up.
void watch_start(const Workspace& ws);

/// Runs the watcher in this process. It stops when asked to, after `idle` without a
/// question, or when the stories directory is removed. Returns false when another
/// watcher already runs for this workspace. Throws IoError when it cannot start.
bool watch_serve(const Workspace& ws, std::chrono::seconds idle);

/// The running watcher's counters; `running` is false when none answers.
WatchStatus watch_status(const Workspace& ws);

/// Asks the running watcher to stop. False when none was running.
bool watch_stop(const Workspace& ws);

}  // namespace tracker
