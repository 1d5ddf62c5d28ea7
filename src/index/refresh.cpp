// Bringing the shadow index in line with the files: a walk that compares every
// story file's stat data with its row, or the watcher's list of changed files.
#include <tracker/fs.hpp>
#include <tracker/util.hpp>
#include <tracker/watch.hpp>

#include "index/impl.hpp"
#include "limits.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace tracker {

namespace {

std::string warnings_json(const std::vector<StoryProblem>& warnings) {
  auto arr = nlohmann::json::array();
  for (const auto& w : warnings) arr.push_back({{"line", w.line}, {"message", w.message}});
  return arr.dump();
}

/// The custom fields as one JSON object, in file order.
std::string fields_json(const std::vector<CustomField>& fields) {
  auto obj = nlohmann::ordered_json::object();
  for (const auto& f : fields) obj[f.key] = nlohmann::ordered_json::parse(f.json);
  return obj.dump();
}

std::string boot_id() {
  static const std::string id = [] {
    auto text = read_file_if_exists("/proc/sys/kernel/random/boot_id");
    return text ? std::string(trim(*text)) : std::string("unknown");
  }();
  return id;
}

RowStat row_stat(const sql::Stmt& q, int first) {
  return {{q.int64(first), q.int64(first + 1), q.int64(first + 2), q.int64(first + 3)}, q.int64(first + 4) != 0};
}

}  // namespace

Instant Instant::now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return {boot_id(), static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec};
}

bool ShadowIndex::Impl::racy_at(const FileInfo& f, std::int64_t scan_ns) const {
  return f.mtime_ns + limits::kRacyWindowNs >= scan_ns;
}

std::optional<FileStat> ShadowIndex::Impl::stat_file(const std::string& path) const {
  const Config& config = ws.config();
  const Stage* stage = config.stage_of_path(path);
  if (!stage || ws.symlink_to_stage(*stage)) return std::nullopt;  // never through a symbolic link
  std::optional<FileInfo> info = disk.stat(ws.root() / path);
  if (!info) return std::nullopt;
  return FileStat{path, stage, static_cast<int>(stage - config.stages.data()), *info};
}

std::vector<FileStat> ShadowIndex::Impl::walk(std::vector<std::string>& vanished) const {
  std::vector<FileStat> out;
  const Config& config = ws.config();
  for (std::size_t order = 0; order < config.stages.size(); ++order) {
    const Stage& stage = config.stages[order];
    if (ws.symlink_to_stage(stage)) continue;  // check reports it; its files are not the board's
    std::string prefix = config.stories_dir + "/" + stage.dir + "/";
    std::vector<std::string> gone;
    disk.list(
        ws.stage_dir(stage), ".md",
        [&](std::string_view name, const FileInfo& info) {
          std::string path;
          path.reserve(prefix.size() + name.size());
          path.append(prefix).append(name);
          out.push_back({std::move(path), &stage, static_cast<int>(order), info});
        },
        gone);
    for (const auto& name : gone) vanished.push_back(prefix + name);
  }
  return out;
}

void ShadowIndex::Impl::drop_copies_moved_away(std::vector<FileStat>& files) const {
  // A story moved during the walk from a directory not yet read into one already
  // read is walked twice. A name walked in two stage directories is looked at again
  // now, and the copies no longer there are dropped. (Two that are both there are a
  // real duplicate, which check reports.)
  std::unordered_map<std::string_view, std::size_t> first;  // file name -> index
  first.reserve(files.size());
  std::vector<std::size_t> twice;
  for (std::size_t i = 0; i < files.size(); ++i) {
    std::string_view path = files[i].path;
    auto [it, fresh_name] = first.emplace(path.substr(path.rfind('/') + 1), i);
    if (!fresh_name) {
      twice.push_back(it->second);
      twice.push_back(i);
    }
  }
  if (twice.empty()) return;
  std::vector<char> drop(files.size(), 0);
  for (std::size_t i : twice)
    if (!stat_file(files[i].path)) drop[i] = 1;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (!drop[i]) {
      if (kept != i) files[kept] = std::move(files[i]);
      ++kept;
    }
  files.resize(kept);
}

std::optional<FileStat> ShadowIndex::Impl::find_moved(const std::string& path) const {
  std::string name = path.substr(path.rfind('/') + 1);
  for (const auto& stage : ws.config().stages) {
    std::string candidate = ws.config().stories_dir + "/" + stage.dir + "/" + name;
    if (candidate == path) continue;
    if (auto f = stat_file(candidate)) return f;
  }
  return std::nullopt;
}

void ShadowIndex::Impl::upsert(sql::Stmt& q, sql::Stmt& text, const FileStat& f, const std::string& content,
                               std::int64_t scan_ns) {
  Story s;
  s.path = f.path;
  s.stage = f.stage->name;
  std::optional<std::string> error;
  int error_line = 0;
  auto name = parse_story_file_name(std::string_view(f.path).substr(f.path.rfind('/') + 1), ws.config().types);
  if (invalid_utf8_at(f.path)) {
    error = std::string(kNotUtf8) + ": the file name; rename it";
  } else if (!name) {
    error = "not a story file name: expected <id>_<type>_<slug>.md";
  } else {
    s.id = name->id;
    s.type = name->type;
    s.slug = name->slug;
    try {
      parse_story_text(content, s, ws.config().story_limits);
    } catch (const StoryParseError& e) {
      error = e.detail();
      error_line = e.line();
    }
  }
  q.reset();
  q.bind(1, f.path).bind(2, s.stage).bind(3, f.stage_order).bind(4, s.id).bind(5, s.type).bind(6, s.slug);
  q.bind(7, f.info.size).bind(8, f.info.mtime_ns).bind(9, f.info.ctime_ns).bind(10, f.info.inode);
  q.bind(11, std::int64_t{racy_at(f.info, scan_ns)});
  if (error) {
    for (int i = 12; i <= 21; ++i) q.bind_null(i);
    q.bind(22, std::int64_t{error_line}).bind(23, *error).bind_null(24);
  } else {
    q.bind(12, s.name).bind(14, nlohmann::json(s.labels).dump());
    if (s.priority)
      q.bind(13, *s.priority);
    else
      q.bind_null(13);
    q.bind(15, nlohmann::json(s.depends_on).dump()).bind(16, s.agent).bind(17, std::int64_t{s.blocked});
    q.bind(18, s.retry_count).bind(19, s.created).bind(20, fields_json(s.fields)).bind(21, warnings_json(s.warnings));
    q.bind_null(22).bind_null(23);
    if (s.parent)
      q.bind(24, *s.parent);
    else
      q.bind_null(24);
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

bool ShadowIndex::Impl::content_unchanged(const std::string& path) {
  std::optional<std::string> content = disk.read(ws.root() / path, ws.config().story_limits.max_bytes);
  auto cached = db->prepare("SELECT t.content FROM stories s JOIN story_text t ON t.rowid = s.rowid WHERE s.path=?");
  cached.bind(1, path);
  return content && cached.step() && cached.view(0) == *content;
}

std::optional<Instant> ShadowIndex::Impl::last_walk() const {
  std::optional<std::string> text;
  try {
    text = read_file_if_exists(stamp_file);
  } catch (const IoError&) {
    return std::nullopt;  // unreadable: this command walks itself
  }
  if (!text) return std::nullopt;
  auto parts = split(trim(*text), ' ');
  if (parts.size() != 2) return std::nullopt;
  auto mono = parse_int(parts[1]);
  if (!mono) return std::nullopt;
  return Instant{std::string(parts[0]), *mono};
}

void ShadowIndex::Impl::record_walk(const Instant& start) const {
  if (in_memory) return;
  // Everyone who reads or writes the stamp holds refresh.lock; a torn stamp (a crash
  // while writing it) only makes the next command walk.
  char mono[24];
  std::snprintf(mono, sizeof mono, "%020lld", static_cast<long long>(start.mono_ns));
  write_file_atomic(stamp_file, start.boot + " " + mono + "\n", Durability::cache);
}

RefreshStats ShadowIndex::Impl::refresh(const std::optional<Instant>& since) {
  if (in_memory) return walk_and_update();  // nobody shares this index: no lock, no stamp
  ProcessLock turn(ws.local_state_dir() / "refresh.lock", limits::kIndexRefresh, "the index refresh");
  trace("refresh: lock taken");
  if (watching)
    if (auto stats = refresh_watched()) return *stats;
  // A walk that another process began at or after `since` saw every change made
  // before it, so it serves this action too.
  std::optional<Instant> walked = since && !fresh ? last_walk() : std::nullopt;
  if (walked && walked->boot == since->boot && walked->mono_ns >= since->mono_ns) {
    RefreshStats stats;
    stats.shared = true;
    return stats;
  }
  return walk_and_update();
}

std::optional<RefreshStats> ShadowIndex::Impl::refresh_watched() {
  const std::string token = fresh ? std::string() : get_meta("watch_token");
  std::optional<WatchChanges> changes = watch_query(ws, token);
  trace("refresh: watcher asked");
  if (!changes) {
    // The command layer starts one for the next command; this one walks as usual.
    watcher_missing = true;
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
  std::int64_t scan_ns = clock.now_ns();
  // A write transaction only when a row must change: the watcher mostly names files
  // that their own commands already wrote into the index.
  std::optional<sql::Transaction> tx;
  for (const auto& path : changes->paths) {
    row.reset();
    row.bind(1, path);
    std::optional<RowStat> known;
    if (row.step()) known = row_stat(row, 0);
    row.reset();
    std::optional<FileStat> f = stat_file(path);
    if (f && known && known->info == f->info && !known->racy) continue;  // as the walk would judge it
    std::optional<std::string> content = f ? disk.read(ws.root() / path, ws.config().story_limits.max_bytes) : std::nullopt;
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

RefreshStats ShadowIndex::Impl::walk_and_update() {
  RefreshStats stats;
  // A walk can overlap a move (by another process, or by hand) and so see a file at
  // neither name: a file that vanished is looked for under its name in the other
  // stage directories. When one is not found, the walk is not recorded as complete.
  bool settled = true;
  Instant walk_start = Instant::now();
  std::int64_t scan_ns = clock.now_ns();
  std::vector<std::string> vanished;
  std::vector<FileStat> files = walk(vanished);
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
  drop_copies_moved_away(files);
  stats.files = files.size();
  trace("refresh: walked");

  // Each row is looked up among the walked files, sorted by path: no second copy of
  // every path (on this VM a page fault costs more than the comparisons).
  std::sort(files.begin(), files.end(), [](const FileStat& a, const FileStat& b) { return a.path < b.path; });
  std::vector<char> has_row(files.size(), 0);
  std::vector<const FileStat*> changed;
  std::vector<const FileStat*> racy;  // same stat data, but recent enough to need a content check
  std::vector<std::string> gone;      // rows whose file was not walked
  {
    auto q = db->prepare("SELECT path, size, mtime_ns, ctime_ns, inode, racy FROM stories");
    while (q.step()) {
      std::string_view path = q.view(0);
      auto it = std::lower_bound(files.begin(), files.end(), path,
                                 [](const FileStat& f, std::string_view p) { return f.path < p; });
      if (it == files.end() || it->path != path) {
        gone.emplace_back(path);
        continue;
      }
      has_row[static_cast<std::size_t>(it - files.begin())] = 1;
      RowStat row = row_stat(q, 1);
      if (!(row.info == it->info))
        changed.push_back(&*it);
      else if (row.racy)
        racy.push_back(&*it);
    }
  }
  for (std::size_t i = 0; i < files.size(); ++i)
    if (!has_row[i]) changed.push_back(&files[i]);
  // What is left in `gone` has no file any more.
  trace("refresh: compared");
  if (changed.empty() && racy.empty() && gone.empty() && !fresh) {
    if (settled) record_walk(walk_start);
    return stats;
  }
  sql::Transaction tx(*db);
  auto del = db->prepare("DELETE FROM stories WHERE path=?");
  std::vector<FileStat> moved_in;  // stories the walk missed in their new directory
  moved_in.reserve(gone.size());
  for (const auto& path : gone) {
    // Our walk may be older than a row another process just wrote (a story moved
    // after we read its new directory): delete only what is really gone.
    if (stat_file(path)) continue;
    del.reset();
    del.bind(1, path).run();
    ++stats.removed;
    // A story moved during the walk, into a directory the walk had already read,
    // was seen at neither name: it is looked for under its name elsewhere.
    if (std::optional<FileStat> moved = find_moved(path)) {
      auto it = std::lower_bound(files.begin(), files.end(), moved->path,
                                 [](const FileStat& f, const std::string& p) { return f.path < p; });
      if (it == files.end() || it->path != moved->path) moved_in.push_back(std::move(*moved));
    }
  }
  for (const auto& f : moved_in) changed.push_back(&f);
  auto ins = db->prepare(kUpsertRow);
  auto text = db->prepare(kUpsertText);
  if (!racy.empty()) {
    auto settle = db->prepare("UPDATE stories SET racy=? WHERE path=?");
    for (const FileStat* f : racy) {
      if (content_unchanged(f->path)) {
        settle.reset();
        settle.bind(1, std::int64_t{racy_at(f->info, scan_ns)}).bind(2, f->path).run();
      } else {
        changed.push_back(f);
      }
    }
  }
  for (const FileStat* f : changed) {
    std::optional<std::string> content = disk.read(ws.root() / f->path, ws.config().story_limits.max_bytes);
    if (!content) {  // moved or deleted since the walk
      del.reset();
      del.bind(1, f->path).run();
      std::optional<FileStat> moved = find_moved(f->path);
      std::optional<std::string> moved_content = moved ? disk.read(ws.root() / moved->path, ws.config().story_limits.max_bytes) : std::nullopt;
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
  tx.commit();
  fresh = false;
  if (settled) record_walk(walk_start);
  return stats;
}

void ShadowIndex::Impl::update_files(const std::vector<std::string>& paths) {
  sql::Transaction tx(*db);
  auto del = db->prepare("DELETE FROM stories WHERE path=?");
  auto ins = db->prepare(kUpsertRow);
  auto text = db->prepare(kUpsertText);
  std::int64_t scan_ns = clock.now_ns();
  // A story moved to another stage keeps its file name: its row takes the new path,
  // keeping its rowid and so its full-text entry, which is only redone when the
  // name or body changed (story_text_au).
  auto move =
      db->prepare("UPDATE stories SET path=?1 WHERE path=?2 AND NOT EXISTS (SELECT 1 FROM stories WHERE path=?1)");
  for (const auto& from : paths) {
    if (disk.stat(ws.root() / from)) continue;
    std::string_view name = std::string_view(from).substr(from.rfind('/') + 1);
    for (const auto& to : paths)
      if (to != from && to.ends_with(name) && to[to.size() - name.size() - 1] == '/' && disk.stat(ws.root() / to)) {
        move.reset();
        move.bind(1, to).bind(2, from).run();
        break;
      }
  }
  for (const auto& path : paths) {
    std::optional<FileStat> f = stat_file(path);
    std::optional<std::string> content = f ? disk.read(ws.root() / path, ws.config().story_limits.max_bytes) : std::nullopt;
    if (!content) {
      del.reset();
      del.bind(1, path).run();
      continue;
    }
    upsert(ins, text, *f, *content, scan_ns);
  }
  tx.commit();
  trace("update_files: committed");
}

bool ShadowIndex::Impl::stories_unchanged(const std::vector<std::int64_t>& ids) {
  if (fresh) return false;
  auto q = db->prepare("SELECT path, size, mtime_ns, ctime_ns, inode, racy FROM stories WHERE id=?");
  for (auto id : ids) {
    q.reset();
    q.bind(1, id);
    bool any = false;
    while (q.step()) {
      any = true;
      RowStat row = row_stat(q, 1);
      if (row.racy) return false;  // only a full refresh compares the text
      std::optional<FileStat> f = stat_file(q.text(0));
      if (!f || !(row.info == f->info)) return false;
    }
    if (!any) return false;
  }
  return true;
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

void ShadowIndex::settle_story(std::int64_t id) {
  impl_->with_recovery([&] {
    std::vector<std::string> paths;
    {
      auto q = impl_->db->prepare("SELECT path FROM stories WHERE id=?");
      q.bind(1, id);
      while (q.step()) paths.push_back(q.text(0));
    }
    // The caller holds the story's lock: its file stays where the listing finds it.
    std::vector<std::string> vanished;
    const std::vector<std::string>& types = impl_->ws.config().types;
    for (auto& f : impl_->walk(vanished)) {
      std::string_view name = std::string_view(f.path).substr(f.path.rfind('/') + 1);
      auto parsed = parse_story_file_name(name, types);
      if (parsed && parsed->id == id && std::find(paths.begin(), paths.end(), f.path) == paths.end())
        paths.push_back(std::move(f.path));
    }
    impl_->update_files(paths);
  });
}

RefreshStats ShadowIndex::refresh_stories(const std::vector<std::int64_t>& ids) {
  bool clean = impl_->with_recovery([&] { return impl_->stories_unchanged(ids); });
  return clean ? RefreshStats{} : refresh();
}

}  // namespace tracker
