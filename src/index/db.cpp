// The shadow index's database: schema, opening, and recovery from a damaged file.
#include "fs_internal.hpp"
#include <tracker/util.hpp>
#include <tracker/watch.hpp>

#include "index/fts.hpp"
#include "index/impl.hpp"
#include "limits.hpp"

#include <unistd.h>
#include <chrono>
#include <map>

namespace tracker {

namespace {

// 11: search folds case for all of Unicode (unicode61); 12: Han and kana letters
// are indexed one by one, so a run of them is found anywhere; 13: by the `tracker`
// tokenizer (src/fts.hpp) over the text as it is, so that FTS5's match positions
// are positions in story_text.
constexpr int kSchemaVersion = 14;

// The full-text index holds names and bodies through the `tracker` tokenizer,
// registered on every connection by open_db with the `tracker_matches` function.
//
// `stories` rows stay narrow (metadata and stat data) so that a refresh, which reads
// the stat data of every row, touches few pages; the text lives in `story_text`.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS stories(
  rowid INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  stage TEXT NOT NULL,
  stage_order INTEGER NOT NULL,
  id INTEGER NOT NULL,
  type TEXT, slug TEXT,
  size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, racy INTEGER,
  name TEXT, priority INTEGER, labels TEXT, depends_on TEXT, agent TEXT,
  blocked INTEGER, retry_count INTEGER, created TEXT, fields TEXT,
  warnings TEXT, error_line INTEGER, error TEXT, parent INTEGER);
CREATE INDEX IF NOT EXISTS stories_id ON stories(id);
CREATE INDEX IF NOT EXISTS stories_parent ON stories(parent) WHERE parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS stories_stage ON stories(stage_order, priority DESC, id);
CREATE INDEX IF NOT EXISTS stories_issues ON stories(path) WHERE error IS NOT NULL OR warnings != '[]';
CREATE TABLE IF NOT EXISTS story_text(
  rowid INTEGER PRIMARY KEY,  -- stories.rowid
  name TEXT, body TEXT, content BLOB);
CREATE VIRTUAL TABLE IF NOT EXISTS stories_fts USING fts5(name, body, content='story_text', content_rowid='rowid',
  tokenize='tracker');
CREATE TRIGGER IF NOT EXISTS story_text_ai AFTER INSERT ON story_text BEGIN
  INSERT INTO stories_fts(rowid, name, body) VALUES (new.rowid, new.name, new.body);
END;
CREATE TRIGGER IF NOT EXISTS story_text_ad AFTER DELETE ON story_text BEGIN
  INSERT INTO stories_fts(stories_fts, rowid, name, body)
    VALUES ('delete', old.rowid, old.name, old.body);
END;
CREATE TRIGGER IF NOT EXISTS story_text_au AFTER UPDATE OF name, body ON story_text
  WHEN old.name IS NOT new.name OR old.body IS NOT new.body BEGIN
  INSERT INTO stories_fts(stories_fts, rowid, name, body)
    VALUES ('delete', old.rowid, old.name, old.body);
  INSERT INTO stories_fts(rowid, name, body) VALUES (new.rowid, new.name, new.body);
END;
CREATE TRIGGER IF NOT EXISTS stories_ad AFTER DELETE ON stories BEGIN
  DELETE FROM story_text WHERE rowid = old.rowid;
END;
)sql";

// journal_size_limit=0: with the persistent WAL (see open_db) the last connection
// to close truncates the WAL after its checkpoint instead of deleting it.
constexpr const char* kPragmas =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0;"
    " PRAGMA cache_size=-16384; PRAGMA journal_size_limit=0";

/// What the rows depend on besides the files: a config with other stages, types or
/// story limits (a file malformed under one limit may be sound under another) makes
/// every row suspect.
std::string config_fingerprint(const Config& c) {
  std::string f = c.stories_dir + "|";
  for (const auto& s : c.stages) f += s.name + "=" + s.dir + ",";
  const StoryLimits& l = c.story_limits;
  return f + "|" + join(c.types, ",") + "|" + std::to_string(l.max_bytes) + "," + std::to_string(l.max_keys) + "," +
         std::to_string(l.max_nodes) + "," + std::to_string(l.max_depth);
}

}  // namespace

const char* const kUpsertRow =
    "INSERT INTO stories(path, stage, stage_order, id, type, slug, size, mtime_ns, ctime_ns, inode, racy,"
    " name, priority, labels, depends_on, agent, blocked, retry_count, created, fields, warnings,"
    " error_line, error, parent)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24)"
    " ON CONFLICT(path) DO UPDATE SET stage=excluded.stage, stage_order=excluded.stage_order, id=excluded.id,"
    " type=excluded.type, slug=excluded.slug, size=excluded.size, mtime_ns=excluded.mtime_ns,"
    " ctime_ns=excluded.ctime_ns, inode=excluded.inode, racy=excluded.racy, name=excluded.name,"
    " priority=excluded.priority, labels=excluded.labels, depends_on=excluded.depends_on, agent=excluded.agent,"
    " blocked=excluded.blocked, retry_count=excluded.retry_count, created=excluded.created,"
    " fields=excluded.fields, warnings=excluded.warnings, error_line=excluded.error_line, error=excluded.error,"
    " parent=excluded.parent RETURNING rowid";

const char* const kUpsertText =
    "INSERT INTO story_text(rowid, name, body, content) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(rowid) DO UPDATE SET name=excluded.name, body=excluded.body, content=excluded.content";

const char* const kStoryColumns =
    "id, type, slug, stage, path, name, priority, labels, depends_on, agent, blocked, retry_count, created, fields, "
    "warnings, parent, mtime_ns";

ShadowIndex::Impl::Impl(const Workspace& w, const Clock& c, const Disk& d)
    : ws(w),
      clock(c),
      disk(d),
      db_path((w.local_state_dir() / "index.db").string()),
      stamp_file(w.local_state_dir() / "walk.stamp"),
      watching(watch_enabled(w)) {}

void ShadowIndex::Impl::open() {
  std::error_code ec;
  fs::create_directories(ws.local_state_dir(), ec);
  if (::access(ws.local_state_dir().c_str(), W_OK) != 0 && (errno == EROFS || errno == EACCES || errno == ENOENT)) {
    in_memory = true;
    watching = false;
    db_path = ":memory:";
    open_once();
    return;
  }
  // Switching a new database to WAL needs a lock that SQLite's busy handler does not
  // wait for, so processes that all create the index at once retry here.
  auto deadline = std::chrono::steady_clock::now() + limits::kIndexOpen;
  for (int attempt = 1;; ++attempt) {
    try {
      open_once();
      return;
    } catch (const sql::SqlError& e) {
      if (e.corrupt()) {
        reset();
        return;
      }
      if (!e.busy() || std::chrono::steady_clock::now() > deadline) throw;
      db.reset();
      backoff_sleep(attempt);
    }
  }
}

void ShadowIndex::Impl::reset() {
  db.reset();
  if (in_memory) {
    open_once();
    return;
  }
  ::unlink(stamp_file.c_str());
  for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db_path + suffix).c_str());
  open_once();
}

/// Opens index.db. Its WAL and shared-memory files are kept when the last connection
/// closes (SQLITE_FCNTL_PERSIST_WAL): otherwise nearly every command would delete
/// both on exit and the next one create them again.
void ShadowIndex::Impl::open_db() {
  db = std::make_unique<sql::Db>(db_path);
  int persist = 1;
  sqlite3_file_control(db->handle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  sql::check(db->handle(), fts::register_extensions(db->handle()), "registering the full-text tokenizer");
  db->exec(kPragmas);
}

void ShadowIndex::Impl::open_once() {
  open_db();
  std::int64_t version = 0;
  {
    auto version_query = db->prepare("PRAGMA user_version");
    version_query.step();
    version = version_query.int64(0);
  }
  if (version != 0 && version != kSchemaVersion) {  // another schema: start afresh
    db.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db_path + suffix).c_str());
    open_db();
    version = 0;
  }
  if (version == 0) {
    sql::Transaction tx(*db);
    db->exec(kSchema);
    db->exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    set_meta("config", config_fingerprint(ws.config()));
    tx.commit();
    fresh = true;
  } else if (get_meta("config") != config_fingerprint(ws.config())) {
    sql::Transaction tx(*db);
    db->exec("DELETE FROM stories");
    set_meta("config", config_fingerprint(ws.config()));
    tx.commit();
    fresh = true;
  }
}

std::string ShadowIndex::Impl::get_meta(const std::string& key) {
  auto q = db->prepare("SELECT value FROM meta WHERE key=?");
  q.bind(1, key);
  return q.step() ? q.text(0) : std::string();
}

void ShadowIndex::Impl::set_meta(const std::string& key, const std::string& value) {
  db->prepare("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value")
      .bind(1, key)
      .bind(2, value)
      .run();
}

ShadowIndex::ShadowIndex(const Workspace& ws, const Clock& clock, const Disk& disk)
    : impl_(std::make_unique<Impl>(ws, clock, disk)) {
  impl_->open();
}

ShadowIndex::~ShadowIndex() = default;

RefreshStats ShadowIndex::rebuild() {
  // Emptying the table in a transaction (rather than deleting the file) is safe for
  // other processes that have the index open at the same time.
  return impl_->with_recovery([&] {
    {
      sql::Transaction tx(*impl_->db);
      impl_->db->exec("DELETE FROM stories");
      tx.commit();
    }
    impl_->fresh = true;
    return impl_->refresh(std::nullopt);
  });
}

bool ShadowIndex::watcher_missing() const {
  return impl_->watcher_missing;
}

IndexStatus ShadowIndex::status() {
  return impl_->with_recovery([&] {
    IndexStatus st;
    st.db_path = impl_->db_path;
    st.in_memory = impl_->in_memory;
    st.schema_version = kSchemaVersion;
    std::error_code ec;
    auto size = fs::file_size(impl_->db_path, ec);
    st.db_bytes = ec ? 0 : static_cast<std::int64_t>(size);
    auto q = impl_->db->prepare("SELECT count(*), count(error) FROM stories");
    q.step();
    st.stories = q.int64(0) - q.int64(1);
    st.malformed = q.int64(1);
    auto per = impl_->db->prepare("SELECT stage, count(*) FROM stories WHERE error IS NULL GROUP BY stage");
    std::map<std::string, std::int64_t> counts;
    while (per.step()) counts[per.text(0)] = per.int64(1);
    for (const auto& s : impl_->ws.config().stages) st.per_stage.emplace_back(s.name, counts[s.name]);
    st.last_rebuild = impl_->get_meta("last_rebuild");
    st.last_refresh = impl_->get_meta("last_change");
    return st;
  });
}

}  // namespace tracker
