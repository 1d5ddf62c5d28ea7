#include <tracker/fs.hpp>
#include <tracker/index.hpp>
#include <tracker/util.hpp>
#include <tracker/watch.hpp>

#include "sqlite.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace tracker {

namespace {

constexpr int kSchemaVersion = 8;

// A file whose mtime is this close to the scan could still change within the same
// timestamp tick without changing its stat data ("racy git"); such rows are
// re-checked against the cached content on the next refresh.
constexpr std::int64_t kRacyWindowNs = 2'000'000'000;

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
  warnings TEXT, error_line INTEGER, error TEXT);
CREATE INDEX IF NOT EXISTS stories_id ON stories(id);
CREATE INDEX IF NOT EXISTS stories_stage ON stories(stage_order, priority DESC, id);
CREATE INDEX IF NOT EXISTS stories_issues ON stories(path) WHERE error IS NOT NULL OR warnings != '[]';
CREATE TABLE IF NOT EXISTS story_text(
  rowid INTEGER PRIMARY KEY,  -- stories.rowid
  name TEXT, body TEXT, content BLOB);
-- Every change of a stories row gives the generation a new random value: the stat
-- cache file is valid only for the generation it was written at, and a transaction
-- that rolls back after the cache was written never brings that value back.
CREATE TRIGGER IF NOT EXISTS stories_gen_ai AFTER INSERT ON stories BEGIN
  UPDATE meta SET value = random() & 4611686018427387903 WHERE key = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS stories_gen_au AFTER UPDATE ON stories BEGIN
  UPDATE meta SET value = random() & 4611686018427387903 WHERE key = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS stories_gen_ad AFTER DELETE ON stories BEGIN
  UPDATE meta SET value = random() & 4611686018427387903 WHERE key = 'generation';
END;
)sql";

constexpr const char* kFtsSchema = R"sql(
CREATE VIRTUAL TABLE IF NOT EXISTS stories_fts USING fts5(name, body, content='story_text', content_rowid='rowid',
  tokenize='ascii');
CREATE TRIGGER IF NOT EXISTS story_text_ai AFTER INSERT ON story_text BEGIN
  INSERT INTO stories_fts(rowid, name, body) VALUES (new.rowid, new.name, new.body);
END;
CREATE TRIGGER IF NOT EXISTS story_text_ad AFTER DELETE ON story_text BEGIN
  INSERT INTO stories_fts(stories_fts, rowid, name, body) VALUES ('delete', old.rowid, old.name, old.body);
END;
CREATE TRIGGER IF NOT EXISTS story_text_au AFTER UPDATE OF name, body ON story_text
  WHEN old.name IS NOT new.name OR old.body IS NOT new.body BEGIN
  INSERT INTO stories_fts(stories_fts, rowid, name, body) VALUES ('delete', old.rowid, old.name, old.body);
  INSERT INTO stories_fts(rowid, name, body) VALUES (new.rowid, new.name, new.body);
END;
CREATE TRIGGER IF NOT EXISTS stories_ad AFTER DELETE ON stories BEGIN
  DELETE FROM story_text WHERE rowid = old.rowid;
END;
)sql";

// journal_size_limit=0: with the persistent WAL (see open_db) the last connection
// to close truncates the WAL after its checkpoint instead of deleting it.
constexpr const char* kPragmas =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0; PRAGMA "
    "cache_size=-16384;"
    " PRAGMA journal_size_limit=0";

constexpr const char* kUpsertRow =
    "INSERT INTO stories(path, stage, stage_order, id, type, slug, size, mtime_ns, ctime_ns, inode, racy,"
    " name, priority, labels, depends_on, agent, blocked, retry_count, created, fields, warnings,"
    " error_line, error)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23)"
    " ON CONFLICT(path) DO UPDATE SET stage=excluded.stage, stage_order=excluded.stage_order, id=excluded.id,"
    " type=excluded.type, slug=excluded.slug, size=excluded.size, mtime_ns=excluded.mtime_ns,"
    " ctime_ns=excluded.ctime_ns, inode=excluded.inode, racy=excluded.racy, name=excluded.name,"
    " priority=excluded.priority, labels=excluded.labels, depends_on=excluded.depends_on, agent=excluded.agent,"
    " blocked=excluded.blocked, retry_count=excluded.retry_count, created=excluded.created,"
    " fields=excluded.fields, warnings=excluded.warnings, error_line=excluded.error_line, error=excluded.error"
    " RETURNING rowid";

constexpr const char* kUpsertText =
    "INSERT INTO story_text(rowid, name, body, content) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(rowid) DO UPDATE SET name=excluded.name, body=excluded.body, content=excluded.content";

constexpr const char* kStoryColumns =
    "id, type, slug, stage, path, name, priority, labels, depends_on, agent, blocked, retry_count, created, fields, "
    "warnings";

std::string boot_id() {
  static const std::string id = [] {
    auto text = read_file_if_exists("/proc/sys/kernel/random/boot_id");
    return text ? std::string(trim(*text)) : std::string("unknown");
  }();
  return id;
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct FileStat {
  std::string path;
  const Stage* stage = nullptr;
  int stage_order = 0;
  std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0, inode = 0;

  static FileStat of(std::string path, const Stage& stage, int order, const struct stat& st) {
    return {std::move(path),
            &stage,
            order,
            st.st_size,
            ns(st.st_mtim),
            ns(st.st_ctim),
            static_cast<std::int64_t>(st.st_ino)};
  }
  static std::int64_t ns(const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec; }
};

/// Whether stored stat data (an index row, a stat cache entry) still describes the
/// file: the same size, mtime, ctime and inode.
template <class Stored>
bool same_stat(const Stored& s, const FileStat& f) {
  return s.size == f.size && s.mtime_ns == f.mtime_ns && s.ctime_ns == f.ctime_ns && s.inode == f.inode;
}

/// Whether a file's stat data alone cannot vouch for its content (see kRacyWindowNs).
bool racy_at(const FileStat& f, std::int64_t scan_ns) {
  return f.mtime_ns + kRacyWindowNs >= scan_ns;
}

struct RowStat {
  std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0, inode = 0;
  bool racy = false;
};

/// A compact copy of the stat columns of every `stories` row, in a file beside the
/// index, read with one read(). A refresh that finds every walked file exactly as in
/// the cache, at the index's current generation, needs no SQLite work at all.
/// The file is replaced atomically (temp file and rename) and never trusted unless
/// its generation is the index's.
class StatCache {
 public:
  struct Entry {
    std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0, inode = 0;
    std::uint32_t name_off = 0, name_len = 0;
    std::int32_t stage_order = 0, racy = 0;
  };
  static constexpr char kMagic[8] = {'T', 'R', 'K', 'S', 'T', 'A', 'T', '1'};
  static constexpr std::size_t kHeader = 4 * sizeof(std::int64_t);  // magic, generation, count, names size

  std::int64_t generation = -1;

  StatCache() = default;
  StatCache(const StatCache&) = delete;
  StatCache& operator=(const StatCache&) = delete;
  ~StatCache() {
    if (map_) ::munmap(map_, map_size_);
  }

  std::span<const Entry> entries() const { return map_ ? mapped_ : std::span<const Entry>(owned_); }
  std::string_view names() const { return map_ ? mapped_names_ : std::string_view(owned_names_); }
  std::string_view path(const Entry& e) const { return names().substr(e.name_off, e.name_len); }

  void reserve(std::size_t n, std::size_t names_size = 0) {
    owned_.reserve(n);
    owned_names_.reserve(names_size);
  }
  void add(std::string_view path, int stage_order, const RowStat& r) {
    add(path, Entry{r.size, r.mtime_ns, r.ctime_ns, r.inode, 0, 0, stage_order, r.racy ? 1 : 0});
  }
  /// `e` under `path` (its name fields are set here).
  void add(std::string_view path, Entry e) {
    e.name_off = static_cast<std::uint32_t>(owned_names_.size());
    e.name_len = static_cast<std::uint32_t>(path.size());
    owned_.push_back(e);
    owned_names_ += path;
  }

  /// Maps the file (pre-faulted: on this kind of VM a page fault per 4 KiB of a
  /// 10 MB read buffer cost more than the read); nullptr when missing or malformed.
  static std::unique_ptr<StatCache> load(const fs::path& file) {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || static_cast<std::size_t>(st.st_size) < kHeader) return nullptr;
    auto size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
    if (map == MAP_FAILED) return nullptr;
    auto c = std::make_unique<StatCache>();
    c->map_ = map;
    c->map_size_ = size;
    const char* data = static_cast<const char*>(map);
    std::int64_t header[4];
    std::memcpy(header, data, sizeof header);
    auto count = static_cast<std::uint64_t>(header[2]), names_size = static_cast<std::uint64_t>(header[3]);
    if (std::memcmp(data, kMagic, 8) != 0 || count > size / sizeof(Entry) ||
        kHeader + count * sizeof(Entry) + names_size != size)
      return nullptr;
    c->generation = header[1];
    c->mapped_ = std::span<const Entry>(reinterpret_cast<const Entry*>(data + kHeader), count);
    c->mapped_names_ = std::string_view(data + kHeader + count * sizeof(Entry), names_size);
    for (const auto& e : c->mapped_)
      if (std::uint64_t{e.name_off} + e.name_len > names_size) return nullptr;
    return c;
  }

  void save(const fs::path& file) const {
    std::int64_t header[4] = {0, generation, static_cast<std::int64_t>(entries().size()),
                              static_cast<std::int64_t>(names().size())};
    std::memcpy(header, kMagic, 8);
    // Written straight from the entries and names: no megabyte-sized copy to fault in.
    AtomicFile out(file, Durability::cache);
    out.write(std::string_view(reinterpret_cast<const char*>(header), sizeof header));
    out.write(std::string_view(reinterpret_cast<const char*>(entries().data()), entries().size() * sizeof(Entry)));
    out.write(names());
    out.commit();
  }

 private:
  std::vector<Entry> owned_;
  std::string owned_names_;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::span<const Entry> mapped_;
  std::string_view mapped_names_;
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

/// Reads a flat JSON array of strings or integers as this index writes them. Plain
/// elements are split by hand (list reads thousands of rows); anything with an
/// escape goes through the JSON parser.
std::vector<std::string> string_array(const std::string& text) {
  std::vector<std::string> out;
  if (text.size() <= 2) return out;
  if (text.find('\\') != std::string::npos) {
    for (const auto& v : nlohmann::json::parse(text)) out.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }
  std::string_view body(text.data() + 1, text.size() - 2);  // without [ ]
  while (!body.empty()) {
    if (body.front() == '"') {
      auto end = body.find('"', 1);
      out.emplace_back(body.substr(1, end - 1));
      body.remove_prefix(std::min(body.size(), end + 2));  // closing quote and comma
    } else {
      auto comma = body.find(',');
      out.emplace_back(body.substr(0, comma));
      body.remove_prefix(comma == std::string_view::npos ? body.size() : comma + 1);
    }
  }
  return out;
}

Story story_from_row(const sql::Stmt& q, bool summary_only = false) {
  Story s;
  s.id = q.int64(0);
  s.type = q.view(1);
  s.stage = q.view(3);
  s.path = q.view(4);
  s.name = q.view(5);
  s.priority = q.int64(6);
  s.agent = q.view(9);
  s.blocked = q.int64(10) != 0;
  if (summary_only) return s;
  s.slug = q.view(2);
  s.labels = string_array(q.text(7));
  for (const auto& d : string_array(q.text(8))) s.depends_on.push_back(parse_int(d).value_or(0));
  s.retry_count = q.int64(11);
  s.created = q.view(12);
  std::string_view fields = q.view(13);
  if (fields != "{}") s.fields = nlohmann::ordered_json::parse(fields);
  std::string_view warnings = q.view(14);
  if (warnings != "[]")
    for (const auto& w : nlohmann::json::parse(warnings))
      s.warnings.push_back({w["line"].get<int>(), w["message"].get<std::string>()});
  return s;
}

}  // namespace

struct ShadowIndex::Impl {
  const Workspace& ws;
  std::string db_path;
  std::unique_ptr<sql::Db> db;
  bool fresh = false;  // created empty by this process: the first refresh is a full rebuild

  fs::path cache_file, stamp_file;
  bool watching = false;  // refreshes ask the watcher what changed (index.watch)

  explicit Impl(const Workspace& w)
      : ws(w),
        db_path((w.local_state_dir() / "index.db").string()),
        cache_file(w.local_state_dir() / "stat.cache"),
        stamp_file(w.local_state_dir() / "walk.stamp"),
        watching(watch_enabled(w)) {}

  void remove_files() {
    ::unlink(cache_file.c_str());
    ::unlink(stamp_file.c_str());
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((db_path + suffix).c_str());
  }

  /// The count of changes to `stories` rows, which the triggers keep. It starts at a
  /// random number, so that a cache written for an earlier index file never matches.
  std::int64_t generation() { return parse_int(get_meta("generation")).value_or(-1); }

  /// Writes the stat cache from the index as it is now (one read snapshot).
  /// Writes the stat cache from the rows. The cache file is only ever written inside
  /// a write transaction (this one's, or `tx` when given), so that writers replace it
  /// in the order of their generations.
  void write_cache(sql::Transaction* tx = nullptr) {
    std::optional<sql::Transaction> own;
    if (!tx) own.emplace(*db);
    StatCache cache;
    cache.generation = generation();
    auto q = db->prepare("SELECT path, stage_order, size, mtime_ns, ctime_ns, inode, racy FROM stories");
    while (q.step())
      cache.add(q.view(0), static_cast<int>(q.int64(1)),
                {q.int64(2), q.int64(3), q.int64(4), q.int64(5), q.int64(6) != 0});
    q.reset();
    save_cache(cache);
    if (own) own->commit();
  }

  /// When the last complete walk began (written by the walker, under refresh.lock).
  std::optional<Instant> last_walk() const {
    std::optional<std::string> text;
    try {
      text = read_file_if_exists(stamp_file);
    } catch (const IoError&) {
      return std::nullopt;
    }
    if (!text) return std::nullopt;
    auto parts = split(trim(*text), ' ');
    if (parts.size() != 2) return std::nullopt;
    auto mono = parse_int(parts[1]);
    if (!mono) return std::nullopt;
    return Instant{std::string(parts[0]), *mono};
  }

  /// Rewritten in place, not replaced: everyone who reads or writes it holds
  /// refresh.lock, and a walk then costs no new file. A torn or odd stamp (a crash
  /// while writing it) only makes the next command walk.
  void record_walk(const Instant& start) const {
    char mono[24];
    std::snprintf(mono, sizeof mono, "%020lld", static_cast<long long>(start.mono_ns));
    std::string text = start.boot + " " + mono + "\n";
    Fd fd(::open(stamp_file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    if (!fd || ::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
        ::ftruncate(fd.get(), static_cast<off_t>(text.size())) != 0)
      ::unlink(stamp_file.c_str());
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

  /// Full-text search runs on FTS5 when SQLite has it, unless TRACKER_NO_FTS5 is set
  /// (which tests the scan that replaces it).
  static bool fts_wanted() {
    const char* off = std::getenv("TRACKER_NO_FTS5");
    return sqlite3_compileoption_used("ENABLE_FTS5") && !(off && *off);
  }

  /// Opens index.db. Its WAL and shared-memory files are kept when the last
  /// connection closes (SQLITE_FCNTL_PERSIST_WAL): otherwise nearly every command
  /// deletes both on exit and the next one creates them again, two new inodes a
  /// command, which is what file systems do slowest.
  void open_db() {
    db = std::make_unique<sql::Db>(db_path);
    int persist = 1;
    sqlite3_file_control(db->handle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    db->exec(kPragmas);
  }

  void open_once() {
    open_db();
    std::int64_t version = 0;
    {
      auto version_query = db->prepare("PRAGMA user_version");
      version_query.step();
      version = version_query.int64(0);
    }
    const std::string fts_flag = fts_wanted() ? "1" : "0";
    if (version != 0 && (version != kSchemaVersion || get_meta("fts") != fts_flag)) {
      db.reset();
      remove_files();
      open_db();
      version = 0;
    }
    if (version == 0) {
      sql::Transaction tx(*db);
      db->exec(kSchema);
      if (fts_flag == "1") db->exec(kFtsSchema);
      set_meta("fts", fts_flag);
      set_meta("generation", std::to_string(random_u64() >> 2));
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
      if (!e.corrupt()) throw IoError("the index " + db_path + ": " + e.what());
    }
    reset();
    refresh();
    return fn();
  }

  /// Lists every story file with its stat data: readdir plus an fstatat relative to
  /// each stage directory. (Two threads were measured: same-directory fstatat calls
  /// do not run faster in parallel on this machine.)
  /// `vanished` gets the files that were listed but gone by the time they were
  /// statted: the walk overlapped their move, and may have missed the new name.
  std::vector<FileStat> walk(std::vector<std::string>& vanished, std::size_t expected = 0) const {
    std::vector<FileStat> out;
    out.reserve(expected + expected / 8 + 64);
    const Config& config = ws.config();
    for (std::size_t order = 0; order < config.stages.size(); ++order) {
      const Stage& stage = config.stages[order];
      DIR* d = ::opendir(ws.stage_dir(stage).c_str());
      if (!d) continue;  // a missing stage directory holds no stories
      int dfd = ::dirfd(d);
      std::string prefix = config.stories_dir + "/" + stage.dir + "/";
      while (dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name.empty() || name[0] == '.' || !name.ends_with(".md")) continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN) continue;
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) vanished.push_back(prefix + std::string(name));
          continue;
        }
        if (!S_ISREG(st.st_mode)) continue;
        std::string path;
        path.reserve(prefix.size() + name.size());
        path = prefix;
        path += name;
        out.push_back(FileStat::of(std::move(path), stage, static_cast<int>(order), st));
      }
      ::closedir(d);
    }
    return out;
  }

  /// Parses one file and writes its rows (metadata, then text).
  void upsert(sql::Stmt& q, sql::Stmt& text, const FileStat& f, const std::string& content, std::int64_t scan_ns) {
    Story s;
    s.path = f.path;
    s.stage = f.stage->name;
    std::optional<std::string> error;
    int error_line = 0;
    auto name = parse_story_file_name(std::string_view(f.path).substr(f.path.rfind('/') + 1), ws.config().types);
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
    q.reset();
    q.bind(1, f.path).bind(2, s.stage).bind(3, f.stage_order).bind(4, s.id).bind(5, s.type).bind(6, s.slug);
    q.bind(7, f.size).bind(8, f.mtime_ns).bind(9, f.ctime_ns).bind(10, f.inode);
    q.bind(11, std::int64_t{racy_at(f, scan_ns)});
    if (error) {
      for (int i = 12; i <= 21; ++i) q.bind_null(i);
      q.bind(22, std::int64_t{error_line}).bind(23, *error);
    } else {
      q.bind(12, s.name).bind(13, s.priority).bind(14, nlohmann::json(s.labels).dump());
      q.bind(15, nlohmann::json(s.depends_on).dump()).bind(16, s.agent).bind(17, std::int64_t{s.blocked});
      q.bind(18, s.retry_count).bind(19, s.created).bind(20, s.fields.dump()).bind(21, warnings_json(s.warnings));
      q.bind_null(22).bind_null(23);
    }
    if (!q.step()) throw IoError("index: upsert returned no row");
    std::int64_t rowid = q.int64(0);
    q.reset();
    text.reset();
    text.bind(1, rowid);
    if (error)
      text.bind_null(2).bind_null(3);
    else
      text.bind(2, s.name).bind(3, s.body);
    text.bind_blob(4, content);
    text.run();
  }

  /// The stat data of one workspace-relative path, when it is a file in a stage directory.
  std::optional<FileStat> stat_file(const std::string& path) const {
    const Config& config = ws.config();
    const Stage* stage = config.stage_of_path(path);
    if (!stage) return std::nullopt;
    struct stat st {};
    if (::lstat((ws.root() / path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return FileStat::of(path, *stage, static_cast<int>(stage - config.stages.data()), st);
  }

  void update_files(const std::vector<std::string>& paths) {
    sql::Transaction tx(*db);
    std::int64_t before = generation();
    auto del = db->prepare("DELETE FROM stories WHERE path=?");
    auto ins = db->prepare(kUpsertRow);
    auto text = db->prepare(kUpsertText);
    std::int64_t scan_ns = now_ns();
    std::vector<std::pair<std::string, std::optional<FileStat>>> written;
    // A story moved to another stage keeps its file name: its row takes the new path,
    // keeping its rowid and so its full-text entry, which is only redone when the
    // name or body changed (story_text_au).
    auto move =
        db->prepare("UPDATE stories SET path=?1 WHERE path=?2 AND NOT EXISTS (SELECT 1 FROM stories WHERE path=?1)");
    for (const auto& from : paths) {
      if (::access((ws.root() / from).c_str(), F_OK) == 0) continue;
      std::string_view name = std::string_view(from).substr(from.rfind('/') + 1);
      for (const auto& to : paths)
        if (to != from && to.ends_with(name) && to[to.size() - name.size() - 1] == '/' &&
            ::access((ws.root() / to).c_str(), F_OK) == 0) {
          move.reset();
          move.bind(1, to).bind(2, from).run();
          break;
        }
    }
    for (const auto& path : paths) {
      std::optional<FileStat> f = stat_file(path);
      std::optional<std::string> content = f ? read_file_if_exists(ws.root() / path) : std::nullopt;
      if (!content) {
        del.reset();
        del.bind(1, path).run();
        written.emplace_back(path, std::nullopt);
        continue;
      }
      upsert(ins, text, *f, *content, scan_ns);
      written.emplace_back(path, f);
    }
    std::int64_t after = generation();
    trace("update_files: index updated");
    // The cache stays current when it was current just before this transaction; it
    // is patched before the commit, while the write lock orders the cache writers.
    if (!watching) patch_cache(before, after, written, scan_ns);  // with the watcher, the cache is not read
    trace("update_files: stat cache patched");
    tx.commit();
    trace("update_files: committed");
  }

  void patch_cache(std::int64_t before, std::int64_t after,
                   const std::vector<std::pair<std::string, std::optional<FileStat>>>& written, std::int64_t scan_ns) {
    std::unique_ptr<StatCache> cache = StatCache::load(cache_file);
    if (!cache || cache->generation != before) return;
    std::unordered_map<std::string_view, const std::optional<FileStat>*> last;  // the last write of each path
    for (const auto& [path, f] : written) last[path] = &f;
    auto add = [&](StatCache& to, std::string_view path, const FileStat& f) {
      to.add(path, f.stage_order, {f.size, f.mtime_ns, f.ctime_ns, f.inode, racy_at(f, scan_ns)});
    };
    // A path already there keeps its place (the walk's order); a new one goes last.
    StatCache patched;
    patched.generation = after;
    patched.reserve(cache->entries().size() + last.size(), cache->names().size() + 4096);
    for (const auto& e : cache->entries()) {
      auto it = last.find(cache->path(e));
      if (it == last.end()) {
        patched.add(cache->path(e), e);
      } else {
        if (*it->second) add(patched, it->first, **it->second);
        last.erase(it);
      }
    }
    for (const auto& [path, f] : last)
      if (*f) add(patched, path, **f);
    save_cache(patched);
  }

  RefreshStats refresh(const std::optional<Instant>& since = std::nullopt) {
    ProcessLock turn(ws.local_state_dir() / "refresh.lock", std::chrono::seconds(60), "the index refresh");
    trace("refresh: lock taken");
    if (watching)
      if (auto stats = refresh_watched()) return *stats;
    std::optional<Instant> walked = since && !fresh ? last_walk() : std::nullopt;
    if (walked && walked->boot == since->boot && walked->mono_ns >= since->mono_ns) {
      RefreshStats stats;
      stats.shared = true;
      return stats;
    }
    return walk_and_update();
  }

  /// A refresh through the watcher: re-read only what it says may have changed, or
  /// walk everything when it cannot vouch for our token. nullopt when no watcher
  /// answers; one is started for the next command, and this one walks as usual.
  std::optional<RefreshStats> refresh_watched() {
    const std::string token = fresh ? std::string() : get_meta("watch_token");
    std::optional<WatchChanges> changes = watch_query(ws, token);
    trace("refresh: watcher asked");
    if (!changes) {
      watch_start(ws);
      return std::nullopt;
    }
    if (changes->full) {
      // The token was handed out before the walk began: whatever changes during the
      // walk comes after it, and is in the next answer.
      RefreshStats stats = walk_and_update();
      set_meta("watch_token", changes->token);
      return stats;
    }
    RefreshStats stats;
    stats.watched = true;
    auto row = db->prepare("SELECT size, mtime_ns, ctime_ns, inode, racy FROM stories WHERE path=?");
    auto del = db->prepare("DELETE FROM stories WHERE path=?");
    auto ins = db->prepare(kUpsertRow);
    auto text = db->prepare(kUpsertText);
    std::int64_t scan_ns = now_ns();
    // A write transaction only when a row must change: in a claim storm the watcher
    // mostly names files their own commands already wrote into the index.
    std::optional<sql::Transaction> tx;
    for (const auto& path : changes->paths) {
      row.reset();
      row.bind(1, path);
      std::optional<RowStat> known;
      if (row.step()) known = RowStat{row.int64(0), row.int64(1), row.int64(2), row.int64(3), row.int64(4) != 0};
      row.reset();
      std::optional<FileStat> f = stat_file(path);
      if (f && known && same_stat(*known, *f) && !known->racy) continue;  // as the walk would judge it
      std::optional<std::string> content = f ? read_file_if_exists(ws.root() / path) : std::nullopt;
      if (!content && !known) continue;
      if (!tx) tx.emplace(*db);
      if (!content) {
        del.reset();
        del.bind(1, path).run();
        ++stats.removed;
        continue;
      }
      upsert(ins, text, *f, *content, scan_ns);
      ++stats.parsed;
    }
    // The token moves on with any write, or before the paths to look at again pile up:
    // an old token only costs a stat of each path changed since.
    constexpr std::size_t kTokenLag = 16;
    if (tx || changes->paths.size() > kTokenLag) {
      if (!tx) tx.emplace(*db);
      if (stats.parsed || stats.removed) set_meta("last_change", utc_now_iso8601());
      set_meta("watch_token", changes->token);
      tx->commit();
    }
    trace("refresh: watched changes read");
    return stats;
  }

  /// Where a story file that vanished from under a walk went: moves keep the file
  /// name, so look for it in every stage directory.
  std::optional<FileStat> find_moved(const std::string& path) const {
    std::string name = path.substr(path.rfind('/') + 1);
    for (const auto& stage : ws.config().stages) {
      std::string candidate = ws.config().stories_dir + "/" + stage.dir + "/" + name;
      if (candidate == path) continue;
      if (auto f = stat_file(candidate)) return f;
    }
    return std::nullopt;
  }

  /// One walk and the index changes it calls for. A walk can overlap a move (by
  /// another process, or by hand) and so see a file at neither name; a file that
  /// vanishes is looked for under its name in the other stage directories. When one
  /// is not found, `settled` is cleared and the walk is not recorded as complete.
  RefreshStats walk_and_update() {
    RefreshStats stats;
    bool settled = true;
    Instant walk_start = Instant::now();
    std::int64_t scan_ns = now_ns();
    std::vector<std::string> vanished;
    std::unique_ptr<StatCache> cache = fresh ? nullptr : StatCache::load(cache_file);
    std::vector<FileStat> files = walk(vanished, cache ? cache->entries().size() : 0);
    if (!vanished.empty()) {
      std::unordered_set<std::string> seen;
      for (const auto& f : files) seen.insert(f.path);
      for (const auto& path : vanished) {
        std::optional<FileStat> moved = find_moved(path);
        if (!moved)
          settled = false;
        else if (seen.insert(moved->path).second)
          files.push_back(std::move(*moved));
      }
    }
    stats.files = files.size();
    trace("refresh: walked");
    // Other commands may have patched the cache while we walked: compare with the
    // cache of the index as it is now.
    if (cache && cache->generation != generation()) cache = StatCache::load(cache_file);
    if (cache && settled && cache_confirms(*cache, files, scan_ns)) {
      stats.from_cache = true;
      record_walk(walk_start);
      return stats;
    }

    std::unordered_map<std::string, RowStat> rows;
    rows.reserve(files.size() + 16);
    {
      auto q = db->prepare("SELECT path, size, mtime_ns, ctime_ns, inode, racy FROM stories");
      while (q.step())
        rows.emplace(q.text(0), RowStat{q.int64(1), q.int64(2), q.int64(3), q.int64(4), q.int64(5) != 0});
    }
    trace("refresh: not confirmed by the stat cache; rows read");
    std::vector<const FileStat*> changed;
    std::vector<const FileStat*> racy;  // same stat data, but recent enough to need a content check
    for (const auto& f : files) {
      auto it = rows.find(f.path);
      if (it == rows.end()) {
        changed.push_back(&f);
        continue;
      }
      const RowStat& r = it->second;
      if (!same_stat(r, f))
        changed.push_back(&f);
      else if (r.racy)
        racy.push_back(&f);
      rows.erase(it);
    }
    // What is left in `rows` has no file any more.
    if (changed.empty() && racy.empty() && rows.empty() && !fresh) {
      write_cache();
      if (settled) record_walk(walk_start);
      return stats;
    }
    sql::Transaction tx(*db);
    auto del = db->prepare("DELETE FROM stories WHERE path=?");
    for (const auto& [path, row] : rows) {
      // Our walk may be older than a row another process just wrote (a story moved
      // after we read its new directory): delete only what is really gone.
      struct stat st {};
      if (::stat((ws.root() / path).c_str(), &st) == 0) continue;
      del.reset();
      del.bind(1, path).run();
      ++stats.removed;
    }
    auto ins = db->prepare(kUpsertRow);
    auto text = db->prepare(kUpsertText);
    if (!racy.empty()) {
      auto settle = db->prepare("UPDATE stories SET racy=? WHERE path=?");
      for (const FileStat* f : racy) {
        if (content_unchanged(f->path)) {
          settle.reset();
          settle.bind(1, std::int64_t{racy_at(*f, scan_ns)}).bind(2, f->path).run();
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
        std::optional<FileStat> moved = find_moved(f->path);
        std::optional<std::string> moved_content = moved ? read_file_if_exists(ws.root() / moved->path) : std::nullopt;
        if (moved_content)
          upsert(ins, text, *moved, *moved_content, scan_ns);
        else
          settled = false;
        continue;
      }
      upsert(ins, text, *f, *content, scan_ns);
      ++stats.parsed;
    }
    if (fresh) set_meta("last_rebuild", utc_now_iso8601());
    set_meta("last_change", utc_now_iso8601());
    trace("refresh: index updated");
    write_cache(&tx);
    tx.commit();
    fresh = false;
    if (settled) record_walk(walk_start);
    return stats;
  }

  /// Whether the file still holds the text cached for it.
  bool content_unchanged(const std::string& path) {
    auto content = read_file_if_exists(ws.root() / path);
    auto cached = db->prepare("SELECT t.content FROM stories s JOIN story_text t ON t.rowid = s.rowid WHERE s.path=?");
    cached.bind(1, path);
    return content && cached.step() && cached.view(0) == *content;
  }

  /// The fast refresh: true when the stat cache is current (its generation is the
  /// index's) and agrees with the files. A walked file must be in the cache with the
  /// same stat data; where the walk and the cache disagree (a file that other
  /// commands moved while we walked), the path is looked at again, and the cache
  /// must describe what is there now. Files changed within the racy window are also
  /// compared with their cached text, and those that have aged past it are settled.
  bool cache_confirms(const StatCache& cache, const std::vector<FileStat>& files, std::int64_t scan_ns) {
    if (cache.generation != generation()) return false;
    constexpr std::size_t kMaxRecheck = 64, kMaxRacy = 64;
    std::vector<const FileStat*> racy;
    std::vector<std::string_view> recheck;  // paths where the walk and the cache disagree
    auto same = [&](const StatCache::Entry& e, const FileStat& f) {
      if (!same_stat(e, f) || e.stage_order != f.stage_order) return false;
      if (e.racy) racy.push_back(&f);
      return true;
    };
    // The cache is kept in walk order, so usually entry i is file i; past the first
    // difference, files are looked up by path.
    std::size_t i = 0;
    while (i < files.size() && i < cache.entries().size() && cache.path(cache.entries()[i]) == files[i].path) {
      if (!same(cache.entries()[i], files[i])) return false;
      ++i;
    }
    std::unordered_map<std::string_view, const StatCache::Entry*> by_path;
    if (i < files.size() || i < cache.entries().size()) {
      by_path.reserve(cache.entries().size() - i);
      for (std::size_t k = i; k < cache.entries().size(); ++k)
        by_path.emplace(cache.path(cache.entries()[k]), &cache.entries()[k]);
      std::unordered_set<std::string_view> walked;
      for (std::size_t k = i; k < files.size(); ++k) {
        walked.insert(files[k].path);
        auto it = by_path.find(files[k].path);
        if (it == by_path.end())
          recheck.push_back(files[k].path);
        else if (!same(*it->second, files[k]))
          return false;
      }
      for (const auto& [path, e] : by_path)
        if (!walked.count(path)) recheck.push_back(path);
      if (recheck.size() > kMaxRecheck) return false;
    }
    std::vector<FileStat> rechecked;  // kept alive for `racy`
    rechecked.reserve(recheck.size());
    for (std::string_view path : recheck) {
      std::optional<FileStat> now = stat_file(std::string(path));
      auto it = by_path.find(path);
      if (!now) {
        if (it != by_path.end()) return false;  // the cache has a file that is gone
        continue;
      }
      if (it == by_path.end()) return false;  // a file the cache does not have
      rechecked.push_back(std::move(*now));
      if (!same(*it->second, rechecked.back())) return false;
    }
    if (racy.size() > kMaxRacy) return false;
    for (const FileStat* f : racy)
      if (!content_unchanged(f->path)) return false;

    // Store the cache in walk order, and settle the racy entries that have aged past
    // the window now that their text was compared, as the full comparison would.
    std::unordered_set<std::string_view> settled;
    for (const FileStat* f : racy)
      if (!racy_at(*f, scan_ns)) settled.insert(f->path);
    bool reorder = i < files.size() && recheck.empty();
    if (!reorder && settled.empty()) return true;
    StatCache updated;
    updated.reserve(cache.entries().size(), cache.names().size());
    auto add = [&](std::string_view path, StatCache::Entry e) {
      if (settled.count(path)) e.racy = 0;
      updated.add(path, e);
    };
    if (reorder) {
      for (std::size_t k = 0; k < files.size(); ++k)
        add(files[k].path, k < i ? cache.entries()[k] : *by_path.at(files[k].path));
    } else {
      for (const auto& e : cache.entries()) add(cache.path(e), e);
    }
    sql::Transaction tx(*db);  // cache writers take turns (see write_cache)
    if (generation() == cache.generation) {
      auto settle = db->prepare("UPDATE stories SET racy=0 WHERE path=?");
      for (std::string_view path : settled) {
        settle.reset();
        settle.bind(1, std::string(path)).run();
      }
      updated.generation = generation();
      save_cache(updated);
    }
    tx.commit();
    return true;
  }

  void save_cache(const StatCache& cache) const {
    try {
      cache.save(cache_file);
    } catch (const IoError&) {
      // A cache that cannot be written only makes the next refresh slower.
    }
  }
};

ShadowIndex::ShadowIndex(const Workspace& ws) : impl_(std::make_unique<Impl>(ws)) {
  impl_->open();
}

ShadowIndex::~ShadowIndex() = default;

Instant Instant::now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return {boot_id(), static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

RefreshStats ShadowIndex::refresh(const std::optional<Instant>& since) {
  return impl_->with_recovery([&] { return impl_->refresh(since); });
}

void ShadowIndex::update_files(const std::vector<std::string>& paths) {
  impl_->with_recovery([&] {
    impl_->update_files(paths);
    return 0;
  });
}

RefreshStats ShadowIndex::refresh_stories(const std::vector<std::int64_t>& ids) {
  bool clean = impl_->with_recovery([&] {
    if (impl_->fresh) return false;
    auto q = impl_->db->prepare("SELECT path, size, mtime_ns, ctime_ns, inode, racy FROM stories WHERE id=?");
    for (auto id : ids) {
      q.reset();
      q.bind(1, id);
      bool any = false;
      while (q.step()) {
        any = true;
        if (q.int64(5) != 0) return false;  // racy: only a full refresh compares the text
        std::optional<FileStat> f = impl_->stat_file(q.text(0));
        if (!f || !same_stat(RowStat{q.int64(1), q.int64(2), q.int64(3), q.int64(4), false}, *f)) return false;
      }
      if (!any) return false;
    }
    return true;
  });
  return clean ? RefreshStats{} : refresh();
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
  std::vector<Story> out;
  list_each(query, [&](Story&& s) { out.push_back(std::move(s)); });
  return out;
}

void ShadowIndex::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  impl_->with_recovery([&] {
    std::string sql = std::string("SELECT ") + kStoryColumns + " FROM stories WHERE error IS NULL";
    // Filtering on stage_order lets SQLite range-scan the (stage_order, priority DESC, id)
    // index, which is also the default order, so the common listing needs no sort.
    std::vector<std::int64_t> orders;
    for (const auto& name : query.stages) orders.push_back(impl_->ws.config().stage_order(name));
    if (!orders.empty()) {
      sql += " AND stage_order IN (";
      for (std::size_t i = 0; i < orders.size(); ++i) sql += i ? ",?" : "?";
      sql += ")";
    }
    if (query.type) sql += " AND type=?";
    if (query.agent) sql += " AND agent=?";
    if (query.label) sql += " AND EXISTS (SELECT 1 FROM json_each(stories.labels) WHERE value=?)";
    if (query.blocked_only) sql += " AND blocked=1";
    auto id_list = [](const std::vector<std::int64_t>& ids) {
      std::string out;
      for (auto id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
      return out;
    };
    if (query.only_ids) sql += " AND id IN (" + id_list(*query.only_ids) + ")";
    if (!query.exclude_ids.empty()) sql += " AND id NOT IN (" + id_list(query.exclude_ids) + ")";
    if (query.ready_only) {
      const Config& config = impl_->ws.config();
      std::vector<std::int64_t> ready, done;
      for (const auto& name : config.ready_stages) ready.push_back(config.stage_order(name));
      for (const auto& name : config.done_stages) done.push_back(config.stage_order(name));
      sql += " AND blocked=0 AND stage_order IN (" + id_list(ready) + ")";
      sql +=
          " AND NOT EXISTS (SELECT 1 FROM json_each(stories.depends_on) d WHERE NOT EXISTS"
          " (SELECT 1 FROM stories t WHERE t.id = d.value AND t.error IS NULL AND t.stage_order IN (" +
          id_list(done) + ")))";
    }
    switch (query.sort) {
      case SortKey::stage:
        sql += " ORDER BY stage_order, priority DESC, id";
        break;
      case SortKey::priority:
        sql += " ORDER BY priority DESC, id";
        break;
      case SortKey::id:
        sql += " ORDER BY id, stage_order";
        break;
      case SortKey::updated:
        sql += " ORDER BY mtime_ns DESC, id";
        break;
    }
    if (query.limit) sql += " LIMIT " + std::to_string(*query.limit);
    auto q = impl_->db->prepare(sql);
    int i = 1;
    for (auto order : orders) q.bind(i++, order);
    if (query.type) q.bind(i++, *query.type);
    if (query.agent) q.bind(i++, *query.agent);
    if (query.label) q.bind(i++, *query.label);
    while (q.step()) visit(story_from_row(q, query.summary_only));
    return 0;
  });
}

Lookup ShadowIndex::lookup(std::int64_t id) {
  return impl_->with_recovery([&] {
    Lookup out;
    auto q = impl_->db->prepare(std::string("SELECT ") + kStoryColumns +
                                ", (SELECT body FROM story_text t WHERE t.rowid = stories.rowid), error, error_line"
                                " FROM stories WHERE id=? ORDER BY stage_order, path");
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

std::vector<StoryIssue> ShadowIndex::issues() {
  return impl_->with_recovery([&] {
    std::vector<StoryIssue> out;
    auto q = impl_->db->prepare(
        "SELECT path, error_line, error, warnings FROM stories WHERE error IS NOT NULL OR warnings != '[]' ORDER BY "
        "path");
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

std::map<std::int64_t, std::vector<std::int64_t>> ShadowIndex::dependencies() {
  return impl_->with_recovery([&] {
    std::map<std::int64_t, std::vector<std::int64_t>> out;
    auto q = impl_->db->prepare("SELECT id, depends_on FROM stories WHERE error IS NULL AND depends_on != '[]'");
    while (q.step()) {
      auto& deps = out[q.int64(0)];
      for (const auto& d : string_array(q.text(1)))
        if (auto id = parse_int(d)) deps.push_back(*id);
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

SearchResult ShadowIndex::search(const SearchQuery& query, const std::vector<int>& stage_orders,
                                 std::optional<std::int64_t> limit) {
  return impl_->with_recovery([&] {
    static const std::string columns = [] {
      std::string out;
      for (const auto& c : split(kStoryColumns, ','))
        out += (out.empty() ? "stories." : ", stories.") + std::string(trim(c));
      return out;
    }();
    std::string stage_filter;
    for (int order : stage_orders) stage_filter += (stage_filter.empty() ? "" : ",") + std::to_string(order);
    if (!stage_filter.empty()) stage_filter = " AND stories.stage_order IN (" + stage_filter + ")";
    struct Found {
      SearchHit hit;
      std::string body;
    };
    std::vector<Found> found;
    std::int64_t total = 0;
    auto add_hit = [&](const sql::Stmt& q, double score, std::string body) {
      SearchHit hit;
      hit.story = story_from_row(q, true);
      hit.score = score;
      found.push_back({std::move(hit), std::move(body)});
    };
    if (impl_->get_meta("fts") == "1") {
      // The window function counts every match; bm25 cannot be called in the same
      // query level as a window function, hence the subquery.
      auto q = impl_->db->prepare(
          "SELECT *, count(*) OVER () FROM (SELECT " + columns + ", bm25(stories_fts, " + std::to_string(kNameWeight) +
          ", 1.0) AS score, stories.rowid AS row FROM stories_fts"
          " JOIN stories ON stories.rowid = stories_fts.rowid"
          " WHERE stories_fts MATCH ? AND stories.error IS NULL" +
          stage_filter + ") ORDER BY score, id" + (limit ? " LIMIT " + std::to_string(*limit) : std::string()));
      auto body = impl_->db->prepare("SELECT body FROM story_text WHERE rowid = ?");
      q.bind(1, fts5_expression(query));
      while (q.step()) {
        total = q.int64(17);
        body.reset();
        body.bind(1, q.int64(16));
        add_hit(q, q.real(15), body.step() ? body.text(0) : std::string());
      }
    } else {
      // The scan: FTS5's tokenizer, matching and bm25, over every stored text.
      std::vector<SearchPhrase> phrases = query.phrases();
      std::vector<std::int64_t> phrase_hits(phrases.size(), 0);
      std::int64_t rows = 0, total_tokens = 0;
      std::vector<std::pair<std::int64_t, SearchDocument>> matched;
      auto texts = impl_->db->prepare("SELECT rowid, name, body FROM story_text");
      while (texts.step()) {
        SearchDocument doc{tokenize(texts.view(1)), tokenize(texts.view(2))};
        ++rows;
        total_tokens += static_cast<std::int64_t>(doc.name.size() + doc.body.size());
        for (std::size_t i = 0; i < phrases.size(); ++i)
          if (contains_phrase(phrases[i], doc)) ++phrase_hits[i];
        if (search_matches(query, doc)) matched.emplace_back(texts.int64(0), std::move(doc));
      }
      auto q = impl_->db->prepare("SELECT " + columns +
                                  ", 0, t.body FROM stories JOIN story_text t ON t.rowid = stories.rowid"
                                  " WHERE stories.rowid = ? AND stories.error IS NULL" +
                                  stage_filter);
      for (const auto& [rowid, doc] : matched) {
        q.reset();
        q.bind(1, rowid);
        if (q.step()) add_hit(q, bm25_score(phrases, doc, rows, total_tokens, phrase_hits), q.text(16));
      }
      total = static_cast<std::int64_t>(found.size());
      std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
        return a.hit.score != b.hit.score ? a.hit.score < b.hit.score : a.hit.story.id < b.hit.story.id;
      });
      if (limit && found.size() > static_cast<std::size_t>(*limit)) found.resize(static_cast<std::size_t>(*limit));
    }
    std::vector<SearchHit> hits;
    for (auto& [hit, body] : found) {
      hit.name = make_snippet(query, hit.story.name, std::string::npos);
      if (hit.name.highlights.empty()) hit.name.text = hit.story.name;
      hit.snippet = make_snippet(query, body);
      hits.push_back(std::move(hit));
    }
    return SearchResult{std::move(hits), total};
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
    st.fts = impl_->get_meta("fts") == "1";
    st.last_rebuild = impl_->get_meta("last_rebuild");
    st.last_refresh = impl_->get_meta("last_change");
    return st;
  });
}

}  // namespace tracker
