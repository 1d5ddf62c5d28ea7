// What the three parts of the shadow index share: db.cpp (schema, opening,
// recovery), refresh.cpp (bringing rows in line with the files, by walking or
// through the watcher) and query.cpp (reading rows back).
#pragma once

#include <tracker/clock.hpp>
#include <tracker/disk.hpp>
#include <tracker/error.hpp>
#include <tracker/index.hpp>

#include "index/sqlite.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tracker {

/// The stat data and place of one story file, as a walk finds it.
struct FileStat {
  std::string path;  ///< workspace-relative
  const Stage* stage = nullptr;
  int stage_order = 0;
  FileInfo info;
};

/// The stat data a `stories` row keeps of its file.
struct RowStat {
  FileInfo info;
  bool racy = false;  ///< written too soon after the file changed for its stat data to vouch for it
};

struct ShadowIndex::Impl {
  const Workspace& ws;
  const Clock& clock;
  const Disk& disk;
  std::string db_path;
  std::unique_ptr<sql::Db> db;
  bool fresh = false;            ///< created empty by this process: the first refresh reads every file
  fs::path stamp_file;           ///< when the last complete walk began (see refresh)
  bool watching = false;         ///< refreshes ask the watcher what changed (index.watch)
  bool watcher_missing = false;  ///< a refresh asked the watcher and none answered
  /// The state directory cannot be written (a read-only mount or checkout): the
  /// index lives in memory for this process, every refresh walks, and no lock,
  /// stamp or watcher is used. Reads work; writes fail where they write.
  bool in_memory = false;

  Impl(const Workspace& w, const Clock& c, const Disk& d);

  // db.cpp
  void open();
  void open_once();
  void open_db();
  void reset();
  std::string get_meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);

  /// Runs `fn`; when the database turns out to be corrupt, rebuilds it and runs `fn`
  /// again. Other SQLite errors become IoErrors naming index.db.
  template <class Fn>
  auto with_recovery(Fn fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const sql::SqlError& e) {
      if (!e.corrupt()) throw IoError("the index " + db_path + ": " + e.what());
    }
    reset();
    refresh(std::nullopt);
    return fn();
  }

  // refresh.cpp
  RefreshStats refresh(const std::optional<Instant>& since);
  void update_files(const std::vector<std::string>& paths);
  bool stories_unchanged(const std::vector<std::int64_t>& ids);
  /// The stat data of one workspace-relative path, when it is a file in a stage directory.
  std::optional<FileStat> stat_file(const std::string& path) const;
  /// Every story file in the stage directories; names listed but gone by their
  /// stat go to `vanished`.
  std::vector<FileStat> walk(std::vector<std::string>& vanished) const;

 private:
  std::optional<RefreshStats> refresh_watched();
  RefreshStats walk_and_update();
  std::optional<FileStat> find_moved(const std::string& path) const;
  /// Drops from a walk the copies of a story that moved away while it was walked.
  void drop_copies_moved_away(std::vector<FileStat>& files) const;
  bool racy_at(const FileInfo& f, std::int64_t scan_ns) const;
  /// Whether the file still holds the text cached for it.
  bool content_unchanged(const std::string& path);
  /// Parses one file and writes its rows (metadata, then text).
  void upsert(sql::Stmt& row, sql::Stmt& text, const FileStat& f, const std::string& content, std::int64_t scan_ns);
  std::optional<Instant> last_walk() const;
  void record_walk(const Instant& start) const;
};

/// The index's SQL: the upserts of a refresh and the columns a Story is read from.
extern const char* const kUpsertRow;
extern const char* const kUpsertText;
extern const char* const kStoryColumns;
/// How many columns kStoryColumns names: a query's own columns come after them.
inline constexpr int kStoryColumnCount = 17;

}  // namespace tracker
