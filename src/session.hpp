// What one Tracker's services share while they serve one caller: the workspace and
// its index, the git repository and the remote, who acts, the story locks held,
// and the helpers every operation uses to load a story and commit a change.
#pragma once

#include <tracker/claims.hpp>
#include <tracker/clock.hpp>
#include <tracker/deps.hpp>
#include <tracker/disk.hpp>
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/index.hpp>
#include <tracker/progress.hpp>
#include <tracker/remote.hpp>
#include <tracker/story.hpp>
#include <tracker/tracker.hpp>
#include <tracker/workspace.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tracker {

class FileTransaction;

/// The state of one Tracker, shared by its services (one Session per Tracker; a
/// Tracker serves one caller at a time). Its data is public to the services: it
/// is the context they work in, not an abstraction of its own.
class Session {
 public:
  Session(Workspace ws, CommitOptions commit, const Clock& clock, const Disk& disk);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// The identity set, else TRACKER_OWNER, else git's author email.
  const std::string& identity();
  void warn(const std::string& message);

  /// The index, refreshed against every story file (once per Session).
  ShadowIndex& index();
  /// A full refresh, once per Session.
  void refresh_all();
  GitRepo& git();
  /// The shared remote of the config (`remote:`), or nullptr without one or offline.
  Remote* remote();
  /// The config's remote even offline, for what this clone knows of it (last_seen,
  /// expired); the config must have one.
  Remote& remote_object();
  ClaimStore claims() const { return ClaimStore(ws.shared_state_dir() / "claims", clock); }

  /// Whether this action records commits (not --no-commit, and commit.enabled).
  bool commits() const;
  /// Starts loading libgit2 in the background, for an action that will commit.
  void will_commit();
  /// Once per Session, before it reads the board: finishes the git index updates
  /// of earlier commits that did not finish (a crash, a held index.lock), when
  /// there are any. Cheap when there are none: one directory read.
  void finish_pending();
  /// Once per Session, before an action's first file change: sweeps the temp files
  /// of dead processes, finishes git index updates that did not finish, and checks
  /// what a commit needs (an identity, a readable git index), so that a commit that
  /// cannot work fails before any file is touched.
  void prepare_commit();
  /// Removes the temp files of processes that are gone: in <git-dir>/tracker/tmp
  /// (its hooks/ after an hour) and in the claims directory. Returns them; with
  /// `dry_run`, only returns them.
  std::vector<fs::path> sweep_temp_files(bool dry_run);
  /// Commits `paths` (workspace-relative) unless commits are off; returns the sha.
  std::string commit(const std::string& subject, const std::vector<std::pair<std::string, std::string>>& trailers,
                     const std::vector<std::string>& paths);
  /// Runs `body`, which changes files through the transaction, lists the
  /// workspace-relative paths it touched and commits; when it throws, the files are
  /// put back and the index follows them. Returns what `body` returns (the sha).
  std::string in_transaction(const std::function<std::string(FileTransaction&, std::vector<std::string>&)>& body);
  /// The story file's path in every stage directory. A commit of a story records
  /// all of them, so a copy left in HEAD by an interrupted earlier move (one that
  /// is gone from disk) is committed as deleted, never kept beside the new one.
  std::vector<std::string> paths_in_every_stage(const fs::path& file_name) const;

  /// Brings the index's rows of story `id` up to date with its file (unless this
  /// session refreshed every file already), after finishing the git index updates
  /// a crash left.
  void refresh_story(std::int64_t id);
  /// The story `id`, read from the index after checking its file (a full refresh
  /// when it moved or changed). Throws NotFoundError, or InvalidDataError when the
  /// file is malformed or the id is used twice.
  Story load(std::int64_t id);
  /// The same from the index as it is.
  Story find(std::int64_t id);
  /// The index's files with id `id`, looked at again after a walk of every file
  /// when there are none (another process may have moved the story since).
  Lookup lookup(std::int64_t id);
  /// Whether story `id` exists (well formed or not). When the index has no file of
  /// it, it is looked for again under its lock: a walk that ran while another
  /// process moved it saw it in neither directory (and a later walk may drop its row
  /// again: keep the answer, not the row). Only while this session holds no other
  /// story's lock (locks are taken in id order): an action that names a story it
  /// does not change (a dependency) asks before it locks any.
  bool story_exists(std::int64_t id);
  /// For an action that changes the story: takes its lock, then reads it afresh
  /// (its file is looked at again even after a full refresh, which may predate a
  /// change another process made before letting go of the lock).
  Story load_for_change(std::int64_t id);
  /// Takes the per-story locks of `ids` (<git-common-dir>/tracker/locks/<id>, a
  /// flock the kernel drops when the holder dies), in id order so that no two
  /// commands deadlock. Held until unlock_story() or the Session goes. Every
  /// read-modify-write of a story holds its lock from the read to the commit.
  void lock_stories(std::vector<std::int64_t> ids);
  void unlock_story(std::int64_t id);
  /// Takes the lock of the dependency graph (`locks/depends_on`), before any story
  /// lock, for a change that may add a dependency: two links checked at once could
  /// each be fine and together close a cycle. The next refresh reads the board
  /// again, as it is under the lock.
  void lock_dependency_graph();
  /// The dependency graph: under the graph's lock, as read when it was taken, with
  /// every story the index could not vouch for read again under its own lock;
  /// otherwise as the index has it.
  DependencyGraph dependency_graph();
  /// Keeps the graph read under the lock current with this Session's own writes.
  void graph_changed(std::int64_t id, const std::vector<std::int64_t>& depends_on);

  Workspace ws;
  CommitOptions commit_options;
  const Clock& clock;
  Instant started;  ///< when this action began
  std::unique_ptr<ShadowIndex> shadow;
  std::unique_ptr<GitRepo> repo;
  std::unique_ptr<Remote> shared_remote;
  bool offline = false;
  std::optional<std::string> acting_as;  ///< set_identity(), else found on first use
  bool remote_unreachable = false;       ///< said once: claims go by the leases last fetched
  int unsynced_commits = 0;              ///< commits made since the last sync
  bool refreshed = false;
  bool prepared = false;
  bool pending_checked = false;
  std::map<std::int64_t, std::unique_ptr<ProcessLock>> story_locks;
  std::unique_ptr<ProcessLock> graph_lock;
  std::optional<DependencyGraph> graph;  ///< read under graph_lock
  std::function<void(const std::string&)> warn_sink;
  ProgressSink* progress = nullptr;
  std::vector<std::string> warnings;
};

}  // namespace tracker
