#include <tracker/index.hpp>
#include <tracker/util.hpp>

#include "sqlite.hpp"

#include <chrono>
#include <dirent.h>
#include <thread>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unordered_map>

namespace tracker {

namespace {

constexpr int kSchemaVersion = 1;

// A file whose mtime is this close to the scan could still change within the same
// timestamp tick without changing its stat data ("racy git"); such rows are
// re-read on the next refresh.
constexpr std::int64_t kRacyWindowNs = 2'000'000'000;

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
  blocked INTEGER, retry_count INTEGER, created TEXT, fields TEXT, body TEXT,
  warnings TEXT, error_line INTEGER, error TEXT,
  content BLOB);
CREATE INDEX IF NOT EXISTS stories_id ON stories(id);
CREATE INDEX IF NOT EXISTS stories_stage ON stories(stage_order, id);
)sql";

constexpr const char* kFtsSchema = R"sql(
CREATE VIRTUAL TABLE IF NOT EXISTS stories_fts USING fts5(name, body, content='stories', content_rowid='rowid');
CREATE TRIGGER IF NOT EXISTS stories_ai AFTER INSERT ON stories BEGIN
  INSERT INTO stories_fts(rowid, name, body) VALUES (new.rowid, new.name, new.body);
END;
CREATE TRIGGER IF NOT EXISTS stories_ad AFTER DELETE ON stories BEGIN
  INSERT INTO stories_fts(stories_fts, rowid, name, body) VALUES ('delete', old.rowid, old.name, old.body);
END;
CREATE TRIGGER IF NOT EXISTS stories_au AFTER UPDATE OF name, body ON stories BEGIN
  INSERT INTO stories_fts(stories_fts, rowid, name, body) VALUES ('delete', old.rowid, old.name, old.body);
  INSERT INTO stories_fts(rowid, name, body) VALUES (new.rowid, new.name, new.body);
END;
)sql";

constexpr const char* kStoryColumns =
    "id, type, slug, stage, path, name, priority, labels, depends_on, agent, blocked, retry_count, created, fields, warnings";

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct FileStat {
  std::string path;
  const Stage* stage = nullptr;
  int stage_order = 0;
  std::string file_name;
  std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0, inode = 0;
};

struct RowStat {
  std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0, inode = 0;
  bool racy = false;
};

std::string config_fingerprint(const Config& c) {
  std::string f = c.stories_dir + "|";
  for (const auto& s : c.stages) f += s.name + "=" + s.dir + ",";
  return f + "|" + join(c.types, ",");
}

std::string warnings_json(const std::vector<StoryProblem>& warnings) {
  auto arr = nlohmann::json::array();
  for (const auto& w : warnings) arr.push_back({{"line", w.line}, {"message", w.message}});
  return arr.dump();
}

Story story_from_row(const sql::Stmt& q) {
  Story s;
  s.id = q.int64(0);
  s.type = q.text(1);
  s.slug = q.text(2);
  s.stage = q.text(3);
  s.path = q.text(4);
  s.name = q.text(5);
  s.priority = q.int64(6);
  for (const auto& l : nlohmann::json::parse(q.text(7))) s.labels.push_back(l.get<std::string>());
  for (const auto& d : nlohmann::json::parse(q.text(8))) s.depends_on.push_back(d.get<std::int64_t>());
  s.agent = q.text(9);
  s.blocked = q.int64(10) != 0;
  s.retry_count = q.int64(11);
  s.created = q.text(12);
  s.fields = nlohmann::ordered_json::parse(q.text(13));
  for (const auto& w : nlohmann::json::parse(q.text(14)))
    s.warnings.push_back({w["line"].get<int>(), w["message"].get<std::string>()});
  return s;
}

}  // namespace

struct ShadowIndex::Impl {
  const Workspace& ws;
  std::string db_path;
  std::unique_ptr<sql::Db> db;
  bool fresh = false;  // created empty by this process: the first refresh is a full rebuild

  explicit Impl(const Workspace& w) : ws(w), db_path((w.local_state_dir() / "index.db").string()) {}

  void remove_files() {
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db_path + suffix).c_str());
  }

  void open() {
    std::error_code ec;
    fs::create_directories(ws.local_state_dir(), ec);
    // Switching a new database to WAL needs a lock that SQLite's busy handler does not
    // wait for, so processes that all create the index at once retry here.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
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
        std::this_thread::sleep_for(std::chrono::milliseconds(2 + random_u64() % 20));
      }
    }
  }

  void reset() {
    db.reset();
    remove_files();
    open_once();
  }

  void open_once() {
    db = std::make_unique<sql::Db>(db_path);
    db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY");
    std::int64_t version = 0;
    {
      auto version_query = db->prepare("PRAGMA user_version");
      version_query.step();
      version = version_query.int64(0);
    }
    if (version != 0 && version != kSchemaVersion) {
      db.reset();
      remove_files();
      db = std::make_unique<sql::Db>(db_path);
      db->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY");
      version = 0;
    }
    if (version == 0) {
      sql::Transaction tx(*db);
      db->exec(kSchema);
      db->exec(kFtsSchema);
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

  std::string get_meta(const std::string& key) {
    auto q = db->prepare("SELECT value FROM meta WHERE key=?");
    q.bind(1, key);
    return q.step() ? q.text(0) : std::string();
  }

  void set_meta(const std::string& key, const std::string& value) {
    db->prepare("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value")
        .bind(1, key)
        .bind(2, value)
        .run();
  }

  /// Runs `fn`; when the database turns out to be corrupt, rebuilds it and runs `fn` again.
  template <class Fn>
  auto with_recovery(Fn fn) -> decltype(fn()) {
    try {
      return fn();
    } catch (const sql::SqlError& e) {
      if (!e.corrupt()) throw;
    }
    reset();
    refresh();
    return fn();
  }

  std::vector<FileStat> walk() const {
    std::vector<FileStat> out;
    const Config& config = ws.config();
    for (std::size_t order = 0; order < config.stages.size(); ++order) {
      const Stage& stage = config.stages[order];
      fs::path dir = ws.stage_dir(stage);
      DIR* d = ::opendir(dir.c_str());
      if (!d) continue;  // a missing stage directory holds no stories
      int dfd = ::dirfd(d);
      std::string prefix = config.stories_dir + "/" + stage.dir + "/";
      while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name.empty() || name[0] == '.' || !name.ends_with(".md")) continue;
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        FileStat f;
        f.path = prefix + e->d_name;
        f.stage = &stage;
        f.stage_order = static_cast<int>(order);
        f.file_name = e->d_name;
        f.size = st.st_size;
        f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        f.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
        f.inode = static_cast<std::int64_t>(st.st_ino);
        out.push_back(std::move(f));
      }
      ::closedir(d);
    }
    return out;
  }

  void upsert(sql::Stmt& q, const FileStat& f, const std::string& content, std::int64_t scan_ns) {
    Story s;
    s.path = f.path;
    s.stage = f.stage->name;
    std::optional<std::string> error;
    int error_line = 0;
    auto name = parse_story_file_name(f.file_name, ws.config().types);
    if (!name) {
      error = "not a story file name: expected <id>_<type>_<slug>.md";
    } else {
      s.id = name->id;
      s.type = name->type;
      s.slug = name->slug;
      try {
        parse_story_text(content, s);
      } catch (const StoryParseError& e) {
        error = e.detail();
        error_line = e.line();
      }
    }
    auto labels = nlohmann::json(s.labels).dump();
    auto depends = nlohmann::json(s.depends_on).dump();
    q.reset();
    q.bind(1, f.path).bind(2, s.stage).bind(3, f.stage_order).bind(4, s.id).bind(5, s.type).bind(6, s.slug);
    q.bind(7, f.size).bind(8, f.mtime_ns).bind(9, f.ctime_ns).bind(10, f.inode);
    q.bind(11, std::int64_t{f.mtime_ns + kRacyWindowNs >= scan_ns});
    if (error) {
      for (int i = 12; i <= 22; ++i) q.bind_null(i);
      q.bind(23, std::int64_t{error_line}).bind(24, *error);
    } else {
      q.bind(12, s.name).bind(13, s.priority).bind(14, labels).bind(15, depends).bind(16, s.agent);
      q.bind(17, std::int64_t{s.blocked}).bind(18, s.retry_count).bind(19, s.created).bind(20, s.fields.dump());
      q.bind(21, s.body).bind(22, warnings_json(s.warnings)).bind_null(23).bind_null(24);
    }
    q.bind_blob(25, content);
    q.run();
  }

  RefreshStats refresh() {
    RefreshStats stats;
    std::int64_t scan_ns = now_ns();
    std::vector<FileStat> files = walk();
    stats.files = files.size();

    std::unordered_map<std::string, RowStat> rows;
    {
      auto q = db->prepare("SELECT path, size, mtime_ns, ctime_ns, inode, racy FROM stories");
      while (q.step()) rows.emplace(q.text(0), RowStat{q.int64(1), q.int64(2), q.int64(3), q.int64(4), q.int64(5) != 0});
    }
    std::vector<const FileStat*> changed;
    std::vector<const FileStat*> racy;  // same stat data, but recent enough to need a content check
    for (const auto& f : files) {
      auto it = rows.find(f.path);
      if (it == rows.end()) {
        changed.push_back(&f);
        continue;
      }
      const RowStat& r = it->second;
      if (r.size != f.size || r.mtime_ns != f.mtime_ns || r.ctime_ns != f.ctime_ns || r.inode != f.inode)
        changed.push_back(&f);
      else if (r.racy)
        racy.push_back(&f);
      rows.erase(it);
    }
    // What is left in `rows` has no file any more.
    if (changed.empty() && racy.empty() && rows.empty() && !fresh) return stats;

    sql::Transaction tx(*db);
    auto del = db->prepare("DELETE FROM stories WHERE path=?");
    for (const auto& [path, row] : rows) {
      del.reset();
      del.bind(1, path).run();
      ++stats.removed;
    }
    auto ins = db->prepare(
        "INSERT INTO stories(path, stage, stage_order, id, type, slug, size, mtime_ns, ctime_ns, inode, racy,"
        " name, priority, labels, depends_on, agent, blocked, retry_count, created, fields, body, warnings,"
        " error_line, error, content)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23,?24,?25)"
        " ON CONFLICT(path) DO UPDATE SET stage=excluded.stage, stage_order=excluded.stage_order, id=excluded.id,"
        " type=excluded.type, slug=excluded.slug, size=excluded.size, mtime_ns=excluded.mtime_ns,"
        " ctime_ns=excluded.ctime_ns, inode=excluded.inode, racy=excluded.racy, name=excluded.name,"
        " priority=excluded.priority, labels=excluded.labels, depends_on=excluded.depends_on, agent=excluded.agent,"
        " blocked=excluded.blocked, retry_count=excluded.retry_count, created=excluded.created,"
        " fields=excluded.fields, body=excluded.body, warnings=excluded.warnings, error_line=excluded.error_line,"
        " error=excluded.error, content=excluded.content");
    if (!racy.empty()) {
      auto cached = db->prepare("SELECT content FROM stories WHERE path=?");
      auto settle = db->prepare("UPDATE stories SET racy=? WHERE path=?");
      for (const FileStat* f : racy) {
        auto content = read_file_if_exists(ws.root() / f->path);
        cached.reset();
        cached.bind(1, f->path);
        if (content && cached.step() && cached.text(0) == *content) {
          settle.reset();
          settle.bind(1, std::int64_t{f->mtime_ns + kRacyWindowNs >= scan_ns}).bind(2, f->path).run();
        } else {
          changed.push_back(f);
        }
      }
    }
    for (const FileStat* f : changed) {
      auto content = read_file_if_exists(ws.root() / f->path);
      if (!content) {  // moved or deleted since the walk
        del.reset();
        del.bind(1, f->path).run();
        continue;
      }
      upsert(ins, *f, *content, scan_ns);
      ++stats.parsed;
    }
    if (fresh) set_meta("last_rebuild", utc_now_iso8601());
    set_meta("last_change", utc_now_iso8601());
    tx.commit();
    fresh = false;
    return stats;
  }
};

ShadowIndex::ShadowIndex(const Workspace& ws) : impl_(std::make_unique<Impl>(ws)) { impl_->open(); }

ShadowIndex::~ShadowIndex() = default;

RefreshStats ShadowIndex::refresh() {
  return impl_->with_recovery([&] { return impl_->refresh(); });
}

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
    return impl_->refresh();
  });
}

std::vector<Story> ShadowIndex::list(const ListQuery& query) {
  return impl_->with_recovery([&] {
    std::string sql = std::string("SELECT ") + kStoryColumns + " FROM stories WHERE error IS NULL";
    if (!query.stages.empty()) {
      sql += " AND stage IN (";
      for (std::size_t i = 0; i < query.stages.size(); ++i) sql += i ? ",?" : "?";
      sql += ")";
    }
    if (query.type) sql += " AND type=?";
    if (query.agent) sql += " AND agent=?";
    if (query.label) sql += " AND EXISTS (SELECT 1 FROM json_each(stories.labels) WHERE value=?)";
    if (query.blocked_only) sql += " AND blocked=1";
    switch (query.sort) {
      case SortKey::stage: sql += " ORDER BY stage_order, priority DESC, id"; break;
      case SortKey::priority: sql += " ORDER BY priority DESC, id"; break;
      case SortKey::id: sql += " ORDER BY id, stage_order"; break;
      case SortKey::updated: sql += " ORDER BY mtime_ns DESC, id"; break;
    }
    if (query.limit) sql += " LIMIT " + std::to_string(*query.limit);
    auto q = impl_->db->prepare(sql);
    int i = 1;
    for (const auto& s : query.stages) q.bind(i++, s);
    if (query.type) q.bind(i++, *query.type);
    if (query.agent) q.bind(i++, *query.agent);
    if (query.label) q.bind(i++, *query.label);
    std::vector<Story> out;
    while (q.step()) out.push_back(story_from_row(q));
    return out;
  });
}

Lookup ShadowIndex::lookup(std::int64_t id) {
  return impl_->with_recovery([&] {
    Lookup out;
    auto q = impl_->db->prepare(std::string("SELECT ") + kStoryColumns +
                                ", body, error, error_line FROM stories WHERE id=? ORDER BY stage_order, path");
    q.bind(1, id);
    while (q.step()) {
      if (!q.is_null(16)) {
        out.malformed.push_back({q.text(4), static_cast<int>(q.int64(17)), q.text(16), true});
        continue;
      }
      Story s = story_from_row(q);
      s.body = q.text(15);
      out.stories.push_back(std::move(s));
    }
    return out;
  });
}

std::optional<std::string> ShadowIndex::content(const std::string& path) {
  return impl_->with_recovery([&]() -> std::optional<std::string> {
    auto q = impl_->db->prepare("SELECT content FROM stories WHERE path=?");
    q.bind(1, path);
    if (!q.step()) return std::nullopt;
    return q.text(0);
  });
}

std::vector<StoryIssue> ShadowIndex::issues() {
  return impl_->with_recovery([&] {
    std::vector<StoryIssue> out;
    auto q = impl_->db->prepare(
        "SELECT path, error_line, error, warnings FROM stories WHERE error IS NOT NULL OR warnings != '[]' ORDER BY path");
    while (q.step()) {
      if (!q.is_null(2)) {
        out.push_back({q.text(0), static_cast<int>(q.int64(1)), q.text(2), true});
        continue;
      }
      for (const auto& w : nlohmann::json::parse(q.text(3)))
        out.push_back({q.text(0), w["line"].get<int>(), w["message"].get<std::string>(), false});
    }
    return out;
  });
}

std::int64_t ShadowIndex::max_id() {
  return impl_->with_recovery([&] {
    auto q = impl_->db->prepare("SELECT coalesce(max(id), 0) FROM stories");
    q.step();
    return q.int64(0);
  });
}

IndexStatus ShadowIndex::status() {
  return impl_->with_recovery([&] {
    IndexStatus st;
    st.db_path = impl_->db_path;
    st.schema_version = kSchemaVersion;
    std::error_code ec;
    auto size = fs::file_size(impl_->db_path, ec);
    st.db_bytes = ec ? 0 : static_cast<std::int64_t>(size);
    auto q = impl_->db->prepare("SELECT count(*), count(error) FROM stories");
    q.step();
    st.stories = q.int64(0) - q.int64(1);
    st.malformed = q.int64(1);
    auto per = impl_->db->prepare("SELECT stage, count(*) FROM stories WHERE error IS NULL GROUP BY stage");
    std::unordered_map<std::string, std::int64_t> counts;
    while (per.step()) counts[per.text(0)] = per.int64(1);
    for (const auto& s : impl_->ws.config().stages) st.per_stage.emplace_back(s.name, counts[s.name]);
    st.last_rebuild = impl_->get_meta("last_rebuild");
    st.last_refresh = impl_->get_meta("last_change");
    return st;
  });
}

}  // namespace tracker
