#include <catch2/catch.hpp>

#include <tracker/index.hpp>
#include <tracker/tracker.hpp>
#include "index/fts.hpp"
#include "manual_clock.hpp"
#include "helpers.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <map>

using namespace tracker;
using testing::Board;

namespace {

std::vector<std::string> names(ShadowIndex& index) {
  std::vector<std::string> out;
  for (const auto& s : index.list({}))
    out.push_back(std::to_string(s.id) + ":" + s.stage + ":" + s.name + ":" + (s.priority ? std::to_string(*s.priority) : std::string("-")));
  return out;
}

/// Sets a file's mtime well into the past so that the index does not treat it as racy.
void age(const fs::path& p) {
  timespec times[2] = {{1'700'000'000, 0}, {1'700'000'000, 0}};
  REQUIRE(utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

std::string pragma(const fs::path& db, const std::string& sql) {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  REQUIRE(fts::register_extensions(raw) == SQLITE_OK);  // the FTS table's tokenizer
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(raw, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW) out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(raw);
  return out;
}

}  // namespace

TEST_CASE("the index lives in the git dir, in WAL mode, with a schema version and an FTS table") {
  Board board;
  board.create({"First", "--body", "searchable words"});
  Workspace ws = Workspace::discover(board.root());
  {
    ShadowIndex index(ws);
    index.refresh();
  }
  fs::path db = board.root() / ".git" / "tracker" / "index.db";
  REQUIRE(fs::exists(db));
  CHECK(pragma(db, "PRAGMA journal_mode") == "wal");
  CHECK(pragma(db, "PRAGMA user_version") == "14");
  CHECK(pragma(db, "SELECT count(*) FROM stories_fts WHERE stories_fts MATCH 'searchable'") == "1");
  CHECK(pragma(db, "SELECT length(content) > 0 FROM story_text") == "1");  // the content cache
}

TEST_CASE("refresh re-parses only files whose stat data changed") {
  Board board;
  for (int i = 0; i < 5; ++i) board.create({"Story " + std::to_string(i)});
  Workspace ws = Workspace::discover(board.root());
  for (const auto& e : fs::directory_iterator(board.root() / "work" / "1_backlog")) age(e.path());
  ShadowIndex index(ws);
  index.refresh();
  RefreshStats again = index.refresh();
  CHECK(again.files == 5);
  CHECK(again.parsed == 0);

  fs::path p = board.root() / board.path_of(3);
  std::string text = testing::read(p);
  testing::write(p, text + "more body\n");
  age(p);  // even with an old mtime, the size and ctime changed
  RefreshStats after_edit = index.refresh();
  CHECK(after_edit.parsed == 1);
}

TEST_CASE("a hand edit of the same size in the same instant is still seen") {
  Board board;
  board.create({"Same size", "--priority", "1"});
  Workspace ws = Workspace::discover(board.root());
  ShadowIndex index(ws);
  index.refresh();
  fs::path p = board.root() / board.path_of(1);
  std::string text = testing::read(p);
  auto pos = text.find("priority: 1");
  REQUIRE(pos != std::string::npos);
  text.replace(pos, 11, "priority: 7");
  struct stat before {};
  stat(p.c_str(), &before);
  testing::write(p, text);
  // Put the old mtime back: only the racy-file check can notice this edit.
  timespec times[2] = {before.st_atim, before.st_mtim};
  utimensat(AT_FDCWD, p.c_str(), times, 0);
  index.refresh();
  REQUIRE(index.list({}).size() == 1);
  CHECK(index.list({})[0].priority == 7);
}

TEST_CASE("a deleted, truncated or corrupt index.db is rebuilt with identical results") {
  Board board;
  board.create({"Alpha", "--priority", "3"});
  board.create({"Beta", "--label", "x"});
  board.create({"Gamma", "--stage", "qa"});
  Workspace ws = Workspace::discover(board.root());
  fs::path db = ws.local_state_dir() / "index.db";
  std::vector<std::string> expected;
  {
    ShadowIndex index(ws);
    index.refresh();
    expected = names(index);
    REQUIRE(expected.size() == 3);
  }
  SECTION("deleted") {
    fs::remove(db);
    fs::remove(db.string() + "-wal");
  }
  SECTION("truncated to zero") {
    fs::resize_file(db, 0);
  }
  SECTION("truncated in the middle") {
    fs::remove(db.string() + "-wal");
    fs::remove(db.string() + "-shm");
    fs::resize_file(db, fs::file_size(db) / 2);
  }
  SECTION("garbage") {
    fs::remove(db.string() + "-wal");
    fs::remove(db.string() + "-shm");
    testing::write(db, std::string(8192, 'Z'));
  }
  SECTION("another schema version") {
    REQUIRE(pragma(db, "PRAGMA user_version=99; SELECT 1") == "");
    pragma(db, "PRAGMA user_version=99");
  }
  ShadowIndex index(ws);
  index.refresh();
  CHECK(names(index) == expected);
}

TEST_CASE("list filters and sorts") {
  Board board;
  board.create({"Low", "--priority", "1", "--label", "ui"});
  board.create({"High", "--priority", "5", "--label", "auth,ui"});
  board.create({"Bug", "--type", "bug", "--stage", "current"});
  Workspace ws = Workspace::discover(board.root());
  ShadowIndex index(ws);
  index.refresh();
  ListQuery q;
  q.sort = SortKey::priority;
  auto all = index.list(q);
  REQUIRE(all.size() == 3);
  CHECK(all[0].name == "High");
  q.label = "auth";
  CHECK(index.list(q).size() == 1);
  q = {};
  q.stages = {"current"};
  REQUIRE(index.list(q).size() == 1);
  CHECK(index.list(q)[0].type == "bug");
  q = {};
  q.type = "story";
  q.limit = 1;
  q.sort = SortKey::id;
  REQUIRE(index.list(q).size() == 1);
  CHECK(index.list(q)[0].id == 1);
  CHECK(index.max_id() == 3);

  q = {};
  q.summary_only = true;
  q.sort = SortKey::priority;
  auto summary = index.list(q);
  REQUIRE(summary.size() == 3);
  CHECK(summary[0].name == "High");
  CHECK(summary[0].priority == 5);
  CHECK(summary[0].stage == "backlog");
  CHECK(summary[0].path == "work/1_backlog/2_story_high.md");
  CHECK(summary[0].labels.empty());  // not decoded in summary mode
}

TEST_CASE("a walk begun by another process after an action started serves that action, an older one never does") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  Workspace ws = Workspace::discover(board.root());
  ShadowIndex mine(ws), other(ws);
  mine.refresh();
  fs::path file = board.root() / board.path_of(1);

  // An edit made before this action started: the earlier walk cannot serve it.
  std::string text = testing::read(file);
  testing::write(file, text.replace(text.find("priority: 1"), 11, "priority: 5"));
  Instant started = Instant::now();
  RefreshStats st = mine.refresh(started);
  CHECK_FALSE(st.shared);
  CHECK(st.parsed == 1);
  CHECK(names(mine) == std::vector<std::string>{"1:backlog:Alpha:5"});

  // Another process walks after our start: its walk serves us, and it saw the edit.
  text = testing::read(file);
  testing::write(file, text.replace(text.find("priority: 5"), 11, "priority: 7"));
  started = Instant::now();
  CHECK_FALSE(other.refresh().shared);
  st = mine.refresh(started);
  CHECK(st.shared);
  CHECK(names(mine) == std::vector<std::string>{"1:backlog:Alpha:7"});

  // Without an action start, a refresh always walks.
  CHECK_FALSE(mine.refresh().shared);
}

TEST_CASE("update_files re-reads an action's own files and drops the rows of files that are gone") {
  Board board;
  board.create({"Alpha"});
  Workspace ws = Workspace::discover(board.root());
  ShadowIndex index(ws);
  index.refresh();
  std::string from = board.path_of(1);
  std::string to = "work/2_current/" + fs::path(from).filename().string();
  fs::rename(board.root() / from, board.root() / to);
  index.update_files({from, to, "work/2_current/../../README.md", "notes.md"});
  CHECK(names(index) == std::vector<std::string>{"1:current:Alpha:-"});
}

TEST_CASE("a moved story keeps its row and full-text entry, the entry follows changes of name and body") {
  Board board;
  board.create({"Alpha", "--body", "zebra crossing"});
  board.create({"Beta", "--body", "other words"});
  fs::path db = board.root() / ".git/tracker/index.db";
  Workspace ws = Workspace::discover(board.root());
  ShadowIndex index(ws);
  index.refresh();
  std::string rowid = pragma(db, "SELECT rowid FROM stories WHERE id=1");
  auto hits = [&](const std::string& word) {
    std::vector<std::string> out;
    for (const auto& h : index.search(parse_search_query(word), {}, 10).hits)
      out.push_back(std::to_string(h.story.id) + ":" + h.story.stage);
    return out;
  };
  // A move, front matter changed on the way (as a claim does): same rowid, still found.
  std::string from = board.path_of(1);
  std::string to = "work/2_current/" + fs::path(from).filename().string();
  std::string text = testing::read(board.root() / from);
  fs::rename(board.root() / from, board.root() / to);
  testing::write(board.root() / to, "---\nname: Alpha\nagent: a\n---\nzebra crossing\n");
  index.update_files({from, to});
  CHECK(pragma(db, "SELECT rowid FROM stories WHERE id=1") == rowid);
  CHECK(hits("zebra") == std::vector<std::string>{"1:current"});
  // A move that also changes the body and the name: the entry is redone.
  std::string back = from;
  fs::rename(board.root() / to, board.root() / back);
  testing::write(board.root() / back, "---\nname: Gamma\n---\ngiraffe\n");
  index.update_files({to, back});
  CHECK(hits("zebra").empty());
  CHECK(hits("giraffe") == std::vector<std::string>{"1:backlog"});
  CHECK(hits("gamma") == std::vector<std::string>{"1:backlog"});
  CHECK(hits("words") == std::vector<std::string>{"2:backlog"});
  CHECK(pragma(db, "INSERT INTO stories_fts(stories_fts, rank) VALUES('integrity-check', 1) RETURNING 'ok'") ==
        "ok");  // an error: ""
  CHECK(pragma(db, "SELECT count(*) FROM stories_fts WHERE stories_fts MATCH 'zebra'") == "0");
}

namespace {

/// The real file system, except that the stat data of chosen files stands still:
/// what a file system with coarse timestamps shows when a file changes twice within
/// one tick.
class FrozenStatDisk : public Disk {
 public:
  std::map<std::string, FileInfo> frozen;  ///< by file name

  void list(const fs::path& dir, std::string_view suffix,
            const std::function<void(std::string_view, const FileInfo&)>& visit,
            std::vector<std::string>& vanished) const override {
    real_disk().list(
        dir, suffix,
        [&](std::string_view name, const FileInfo& info) {
          auto it = frozen.find(std::string(name));
          visit(name, it != frozen.end() ? it->second : info);
        },
        vanished);
  }
  std::optional<FileInfo> stat(const fs::path& path) const override {
    auto it = frozen.find(path.filename().string());
    return it != frozen.end() ? std::optional<FileInfo>(it->second) : real_disk().stat(path);
  }
  std::optional<std::string> read(const fs::path& path, std::size_t max_bytes) const override {
    return real_disk().read(path, max_bytes);
  }
};

void set_priority(const fs::path& file, int from, int to) {
  std::string text = testing::read(file);
  std::string old = "priority: " + std::to_string(from);
  REQUIRE(text.find(old) != std::string::npos);
  testing::write(file, text.replace(text.find(old), old.size(), "priority: " + std::to_string(to)));
}

}  // namespace

TEST_CASE("a file changed within the racy window is compared by content until the window has passed") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  Workspace ws = Workspace::discover(board.root());
  fs::path file = board.root() / board.path_of(1);
  FrozenStatDisk disk;
  std::optional<FileInfo> info = real_disk().stat(file);
  REQUIRE(info);
  ManualClock clock(info->mtime_ns + 500'000'000);  // half a second after the file was written

  ShadowIndex index(ws, clock, disk);
  index.refresh();
  CHECK(names(index) == std::vector<std::string>{"1:backlog:Alpha:1"});

  // Changed again within the same tick: the stat data does not move.
  disk.frozen[file.filename().string()] = *real_disk().stat(file);
  set_priority(file, 1, 2);
  clock.advance_seconds(0);
  RefreshStats st = index.refresh();
  CHECK(st.parsed == 1);  // the row was racy: its text was compared
  CHECK(names(index) == std::vector<std::string>{"1:backlog:Alpha:2"});

  // Long after: the content is compared once more, found the same, and the row settles.
  clock.advance_seconds(10);
  st = index.refresh();
  CHECK(st.parsed == 0);
  // From now on the stat data vouches for the file, as it does for git: a change
  // that leaves it exactly as it was is not seen (which a real file system, whose
  // ctime moves with every write, never shows).
  set_priority(file, 2, 3);
  index.refresh();
  CHECK(names(index) == std::vector<std::string>{"1:backlog:Alpha:2"});
  disk.frozen.clear();
  index.refresh();
  CHECK(names(index) == std::vector<std::string>{"1:backlog:Alpha:3"});
}

TEST_CASE("a refresh re-reads exactly the files that changed, and none when nothing did") {
  Board board;
  for (int i = 0; i < 5; ++i) board.create({"Story " + std::to_string(i), "--priority", "1"});
  Workspace ws = Workspace::discover(board.root());
  for (const auto& e : fs::directory_iterator(board.root() / "work" / "1_backlog")) age(e.path());
  ShadowIndex index(ws);
  index.refresh();
  RefreshStats st = index.refresh();
  CHECK(st.files == 5);
  CHECK(st.parsed == 0);

  fs::path p = board.root() / board.path_of(3);
  set_priority(p, 1, 4);
  age(p);
  st = index.refresh();
  CHECK(st.parsed == 1);
  CHECK(names(index)[0] == "3:backlog:Story 2:4");
  CHECK(index.refresh().parsed == 0);

  // An action's own writes go in with update_files: the next refresh has nothing to do.
  std::string from = board.path_of(1);
  std::string to = "work/2_current/" + fs::path(from).filename().string();
  fs::rename(board.root() / from, board.root() / to);
  index.update_files({from, to});
  st = index.refresh();
  CHECK(st.parsed == 0);
  CHECK(st.removed == 0);
  CHECK(names(index).back() == "1:current:Story 0:1");
}

namespace {

/// The real file system, where one story moves between stage directories at the
/// moment the walk comes to a chosen directory: a move by another process that
/// falls in the middle of a refresh.
class MoveDuringWalkDisk : public Disk {
 public:
  fs::path when_listing;  ///< the directory whose listing sets off the move
  fs::path from, to;
  mutable bool moved = false;

  void list(const fs::path& dir, std::string_view suffix,
            const std::function<void(std::string_view, const FileInfo&)>& visit,
            std::vector<std::string>& vanished) const override {
    if (!moved && dir == when_listing) {
      fs::rename(from, to);
      moved = true;
    }
    real_disk().list(dir, suffix, visit, vanished);
  }
  std::optional<FileInfo> stat(const fs::path& path) const override { return real_disk().stat(path); }
  std::optional<std::string> read(const fs::path& path, std::size_t max_bytes) const override {
    return real_disk().read(path, max_bytes);
  }
};

}  // namespace

TEST_CASE("a story moved while the index walks is listed once, in its new stage, whichever way it moved") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  Workspace ws = Workspace::discover(board.root());
  fs::path backlog = board.root() / "work" / "1_backlog", current = board.root() / "work" / "2_current";
  fs::path file = board.root() / board.path_of(1);
  MoveDuringWalkDisk disk;
  ManualClock clock(real_disk().stat(file)->mtime_ns + 60'000'000'000);
  ShadowIndex index(ws, clock, disk);
  index.refresh();
  REQUIRE(names(index) == std::vector<std::string>{"1:backlog:Alpha:-", "2:backlog:Beta:-"});

  SECTION("from a directory the walk has read to one it has not: seen twice by the walk") {
    disk.when_listing = current;  // backlog was listed with #1 in it
    disk.from = file;
    disk.to = current / file.filename();
    index.refresh();
    CHECK(disk.moved);
    CHECK(names(index) == std::vector<std::string>{"2:backlog:Beta:-", "1:current:Alpha:-"});
  }
  SECTION("from a directory the walk has not read to one it has: seen nowhere by the walk") {
    fs::rename(file, current / file.filename());
    clock.advance_seconds(60);
    index.refresh();
    REQUIRE(names(index) == std::vector<std::string>{"2:backlog:Beta:-", "1:current:Alpha:-"});
    disk.when_listing = current;  // backlog was listed without #1; now it goes back there
    disk.from = current / file.filename();
    disk.to = file;
    clock.advance_seconds(60);
    index.refresh();
    CHECK(disk.moved);
    CHECK(names(index) == std::vector<std::string>{"1:backlog:Alpha:-", "2:backlog:Beta:-"});
  }
}
