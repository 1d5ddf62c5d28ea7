// The SQLite shadow index: metadata, content cache and full-text table of every story.
// The files are the truth; the index is a cache that any command can rebuild.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <tracker/clock.hpp>
#include <tracker/disk.hpp>
#include <tracker/search.hpp>
#include <tracker/story.hpp>
#include <tracker/workspace.hpp>

namespace tracker {

/// One search result.
struct SearchHit {
  Story story;       ///< the summary fields (id, type, stage, path, name, priority, agent, blocked)
  double score = 0;  ///< FTS5's bm25: lower is better
  Snippet name;      ///< the name, with its matches marked
  Snippet snippet;   ///< an excerpt of the body around the best match
};

/// What a search found: the best `hits`, and how many stories matched in all.
struct SearchResult {
  std::vector<SearchHit> hits;
  std::int64_t total = 0;
  std::vector<SearchCorrection> corrections;  ///< words that matched nothing, and what was searched instead
};

/// How `list` orders stories.
enum class SortKey { stage, priority, id, updated };

/// The largest `limit` any door takes (`--limit`, the MCP tools' and the web API's
/// `limit`): a million, more than a board holds, and far from overflow (`limit + 1`).
inline constexpr std::int64_t kMaxLimit = 1'000'000;

/// Filters for ShadowIndex::list(). Empty fields match everything.
struct ListQuery {
  std::vector<std::string> stages;  ///< stage names
  std::optional<std::string> type;
  std::optional<std::string> label;
  std::optional<std::string> agent;
  bool blocked_only = false;
  SortKey sort = SortKey::stage;
  std::optional<std::int64_t> limit;
  /// Fill only id, type, stage, path, name, priority, agent and blocked: what a
  /// table shows. Skips decoding lists and extra fields, which dominates long lists.
  bool summary_only = false;
  /// Only ready stories: in a ready stage, not blocked, every dependency in a done
  /// stage, every child (a story whose `parent` it is) in a done stage. (Claims are filtered by the caller through `exclude_ids`.)
  bool ready_only = false;
  std::optional<std::vector<std::int64_t>> only_ids;
  std::vector<std::int64_t> exclude_ids;
  std::optional<std::int64_t> parent;  ///< only the children of this story
};

/// A parent story's children: how many there are and how many are in a done stage.
struct ChildProgress {
  std::int64_t done = 0;
  std::int64_t total = 0;
  bool operator==(const ChildProgress&) const = default;
};

/// A story file with a problem: malformed (`fatal`) or a value of the wrong type.
struct StoryIssue {
  std::string path;
  int line = 0;
  std::string message;
  bool fatal = false;
};

/// What a refresh did.
struct RefreshStats {
  std::size_t files = 0;    ///< story files seen on disk
  std::size_t parsed = 0;   ///< files (re-)read and parsed
  std::size_t removed = 0;  ///< rows dropped because their file is gone
  bool shared = false;      ///< another process's walk, begun after `since`, was used instead
  bool watched = false;     ///< the watcher named the files that changed: none other was looked at
};

/// A moment every process on this machine orders the same way: the monotonic clock,
/// qualified by the boot it belongs to.
struct Instant {
  std::string boot;
  std::int64_t mono_ns = 0;
  static Instant now();
};

/// Counts for `index status`.
struct IndexStatus {
  std::string db_path;
  bool in_memory = false;  ///< the state directory is read-only: this process indexed the files itself
  int schema_version = 0;
  std::int64_t db_bytes = 0;
  std::int64_t stories = 0;
  std::int64_t malformed = 0;
  std::vector<std::pair<std::string, std::int64_t>> per_stage;
  std::string last_rebuild;  ///< ISO 8601, or empty when never
  std::string last_refresh;
};

/// Every file found for one id.
struct Lookup {
  std::vector<Story> stories;
  std::vector<StoryIssue> malformed;
};

class ShadowIndex {
 public:
  /// Opens <git-dir>/tracker/index.db, creating it, or rebuilding it when it is
  /// missing, corrupt, from another schema version or for another config. The
  /// clock decides which rows are racy; the disk is where files are read.
  explicit ShadowIndex(const Workspace& ws, const Clock& clock = system_clock(), const Disk& disk = real_disk());
  ~ShadowIndex();
  ShadowIndex(const ShadowIndex&) = delete;
  ShadowIndex& operator=(const ShadowIndex&) = delete;

  /// Brings the index in line with the files: stats every story file and re-parses
  /// only those whose size, mtime, ctime or inode changed, and those whose row was
  /// written within the racy window of their change (their text is compared). Full
  /// refreshes take turns (a lock file), and with `since`, a walk that another
  /// process began at or after `since` is as good as our own: every change made
  /// before `since` was seen by it. With index.watch, the watcher names the files
  /// that changed instead.
  RefreshStats refresh(const std::optional<Instant>& since = std::nullopt);

  /// Re-reads these files (workspace-relative paths) into the index, or drops their
  /// rows when they are gone. For an action's own changes, so other processes that
  /// share a walk see them.
  void update_files(const std::vector<std::string>& paths);

  /// Makes sure the rows of these ids match their files by statting only their
  /// indexed paths; falls back to a full refresh() when a path is gone, a file
  /// changed, or an id is not indexed at all.
  RefreshStats refresh_stories(const std::vector<std::int64_t>& ids);

  /// Throws the index away and indexes every file again.
  RefreshStats rebuild();

  std::vector<Story> list(const ListQuery& query);

  /// Like list, one story at a time, so that a big board is never all in memory.
  void list_each(const ListQuery& query, const std::function<void(Story&&)>& visit);

  /// Stories matching `query` in `stage_orders` (all when empty), best first (FTS5's
  /// bm25, name matches weighing more), then by id.
  SearchResult search(const SearchQuery& query, const std::vector<int>& stage_orders,
                      std::optional<std::int64_t> limit);

  /// Every story file with this id (more than one only after a bad merge).
  Lookup lookup(std::int64_t id);

  /// Malformed files and wrongly typed values, by path.
  std::vector<StoryIssue> issues();

  /// Every readable story's `depends_on`, by id (stories without dependencies are left out).
  std::map<std::int64_t, std::vector<std::int64_t>> dependencies();

  /// The dependency graph as one read of the index sees it, with the stories whose
  /// edges it cannot vouch for.
  struct DependencySnapshot {
    std::map<std::int64_t, std::vector<std::int64_t>> graph;  ///< as dependencies()
    std::unordered_set<std::int64_t> ids;                     ///< every story with a row
    /// Stories whose file was empty or did not parse when last read: what a writer
    /// that rewrites the file in place leaves for a moment.
    std::vector<std::int64_t> unsettled;
    /// Stories an edge names that have no row: deleted, or missed by a walk that
    /// ran while they moved (seen in neither directory).
    std::vector<std::int64_t> missing;
  };
  DependencySnapshot dependency_snapshot();

  /// Every readable story's `parent`, by id (stories without one are left out).
  std::map<std::int64_t, std::int64_t> parents();

  /// The progress of every story that has children (or only of `parent`), by the
  /// parent's id.
  std::map<std::int64_t, ChildProgress> progress(std::optional<std::int64_t> parent = std::nullopt);

  /// Brings the rows of story `id` up to date with its files, wherever they are
  /// now: for a caller holding the story's lock, so that it cannot move meanwhile.
  /// Lists every stage directory.
  void settle_story(std::int64_t id);

  /// The highest id of any story file.
  std::int64_t max_id();

  IndexStatus status();

  /// Whether a refresh asked the watcher (index.watch) and none answered: the
  /// command layer then starts one for the next command.
  bool watcher_missing() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tracker
