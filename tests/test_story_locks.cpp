// Concurrent changes of one story: every read-modify-write holds the story's lock
// from the read to the commit, so no change is lost and no story is duplicated.
#include <catch2/catch.hpp>

#include <tracker/error.hpp>
#include <tracker/tracker.hpp>

#include "helpers.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

using testing::Board;
using testing::git;
using testing::read;
using testing::run_tracker;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// Runs the commands at the same time; REQUIREs that each exits 0.
void at_once(const Board& board, const std::vector<std::vector<std::string>>& commands) {
  std::vector<int> pids;
  for (const auto& args : commands) {
    std::vector<std::string> argv = {TRACKER_BIN, "-C", board.root().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    pids.push_back(testing::spawn(argv));
  }
  for (int pid : pids) REQUIRE(testing::wait_for(pid) == 0);
}

/// The files of story `id` on disk, and in HEAD.
std::vector<std::string> copies_on_disk(const Board& board, long id) {
  std::vector<std::string> out;
  for (const auto& stage : fs::directory_iterator(board.root() / "work"))
    for (const auto& f : fs::directory_iterator(stage.path()))
      if (f.path().filename().string().starts_with(std::to_string(id) + "_")) out.push_back(f.path().string());
  return out;
}

std::size_t copies_in_head(const Board& board, long id) {
  std::size_t n = 0;
  for (const auto& p : testing::lines(git(board.root(), {"ls-tree", "-r", "--name-only", "HEAD", "work"})))
    n += p.substr(p.rfind('/') + 1).starts_with(std::to_string(id) + "_");
  return n;
}

std::string head_text(const Board& board, long id) {
  json s = json::parse(run_tracker(board.root(), {"show", std::to_string(id), "--json"}).out);
  return git(board.root(), {"show", "HEAD:" + s["path"].get<std::string>()});
}

/// The real file system, where one story file is amiss whenever nobody holds its
/// lock: as a story that other processes keep moving is to a walk (seen in neither
/// directory when it moves between two listings), or, with `torn`, as one caught
/// half rewritten in place (its stat data changed, its text cut off before its
/// depends_on). Under its lock it is as it is.
class AmissUnlockedDisk : public tracker::Disk {
 public:
  fs::path file, lock;
  bool torn = false;
  mutable int seen_amiss = 0;

  void list(const fs::path& dir, std::string_view suffix,
            const std::function<void(std::string_view, const tracker::FileInfo&)>& visit,
            std::vector<std::string>& vanished) const override {
    tracker::real_disk().list(
        dir, suffix,
        [&](std::string_view name, const tracker::FileInfo& info) {
          if (dir / name != file || !amiss()) return visit(name, info);
          if (torn) visit(name, torn_info(info));
        },
        vanished);
  }
  std::optional<tracker::FileInfo> stat(const fs::path& path) const override {
    auto info = tracker::real_disk().stat(path);
    if (path != file || !info || !amiss()) return info;
    if (torn) return torn_info(*info);
    return std::nullopt;
  }
  std::optional<std::string> read(const fs::path& path, std::size_t max_bytes) const override {
    auto text = tracker::real_disk().read(path, max_bytes);
    if (path != file || !text || !amiss()) return text;
    if (torn) return text->substr(0, text->find("depends_on"));
    return std::nullopt;
  }

 private:
  /// Whether the story's lock is free (flock() locks belong to an open file, so
  /// this process's own hold counts too).
  bool amiss() const {
    int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return true;
    bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    seen_amiss += free;
    return free;
  }
  static tracker::FileInfo torn_info(tracker::FileInfo info) {
    info.mtime_ns += 1;
    return info;
  }
};

}  // namespace

TEST_CASE("a link is checked against every edge, even one whose story another process's walk could not see") {
  Board board;
  for (const char* name : {"A", "B", "C"}) board.create({name});
  REQUIRE(run_tracker(board.root(), {"link", "2", "1"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"link", "3", "2"}).code == 0);  // 3 -> 2 -> 1
  tracker::Workspace ws = tracker::Workspace::discover(board.root());
  AmissUnlockedDisk disk;
  disk.file = board.root() / board.path_of(2);
  disk.lock = board.root() / ".git/tracker/locks/2";
  SECTION("moving: walks drop its row") {}
  SECTION("rewritten in place: walks read it cut off") { disk.torn = true; }
  const std::string before = testing::git(board.root(), {"rev-parse", "HEAD"});
  {
    tracker::Tracker tracker(ws, {}, tracker::system_clock(), disk);
    // #1 -> #3 closes the cycle through #2, whose edge to #1 only its file shows.
    try {
      tracker.link(1, 3);
      FAIL("the link closed a cycle");
    } catch (const tracker::InvalidDataError& e) {
      CHECK(std::string(e.what()) == "linking #1 to #3 would make a dependency cycle: #1 -> #3 -> #2 -> #1");
    }
    CHECK(disk.seen_amiss > 0);
  }
  CHECK(testing::git(board.root(), {"rev-parse", "HEAD"}) == before);
  CHECK(run_tracker(board.root(), {"check"}).code == 0);
}

TEST_CASE("a link, a set and a new story find a dependency that another process is moving") {
  Board board;
  for (const char* name : {"A", "B", "C"}) board.create({name});
  tracker::Workspace ws = tracker::Workspace::discover(board.root());
  // #2 is being moved by other processes: every walk misses it, and only under its
  // lock is it where it is. "no story #2" would be a lie.
  AmissUnlockedDisk disk;
  disk.file = board.root() / board.path_of(2);
  disk.lock = board.root() / ".git/tracker/locks/2";
  {
    tracker::Tracker tracker(ws, {}, tracker::system_clock(), disk);
    CHECK(tracker.link(1, 2).changed);
  }
  {
    tracker::Tracker tracker(ws, {}, tracker::system_clock(), disk);
    CHECK(tracker.set_fields(3, {{"depends_on", std::string("2")}}).changed);
  }
  {
    tracker::Tracker tracker(ws, {}, tracker::system_clock(), disk);
    CHECK(tracker.validate_new("---\nname: D\ndepends_on: [2]\n---\n").empty());
  }
  CHECK(disk.seen_amiss > 0);
  auto subjects = testing::lines(git(board.root(), {"log", "--format=%s", "-2"}));
  REQUIRE(subjects.size() == 2);
  CHECK(subjects[0].starts_with("tracker: set #3"));
  CHECK(subjects[1].starts_with("tracker: link #1"));
  CHECK(run_tracker(board.root(), {"check"}).code == 0);
}

TEST_CASE("a delete sees who depends on it, even a story another process is rewriting") {
  Board board;
  for (const char* name : {"A", "B"}) board.create({name});
  REQUIRE(run_tracker(board.root(), {"link", "2", "1"}).code == 0);  // 2 -> 1
  tracker::Workspace ws = tracker::Workspace::discover(board.root());
  AmissUnlockedDisk disk;
  disk.file = board.root() / board.path_of(2);
  disk.lock = board.root() / ".git/tracker/locks/2";
  disk.torn = true;  // rewritten in place: walks read it cut off, without its depends_on
  const std::string before = git(board.root(), {"rev-parse", "HEAD"});
  {
    tracker::Tracker tracker(ws, {}, tracker::system_clock(), disk);
    try {
      tracker.remove({1}, false);
      FAIL("#1 was deleted while #2 depends on it");
    } catch (const tracker::ConflictError& e) {
      CHECK(std::string(e.what()).starts_with("story #2 depends on #1; unlink it first"));
    }
    CHECK(disk.seen_amiss > 0);
  }
  CHECK(git(board.root(), {"rev-parse", "HEAD"}) == before);
  CHECK(run_tracker(board.root(), {"check"}).code == 0);
}

TEST_CASE("concurrent sets of different keys of one story all land, on disk and in HEAD") {
  Board board;
  board.create({"Shared", "--priority", "1"});
  for (int round = 0; round < 15; ++round) {
    INFO("round " << round);
    std::string p = std::to_string(round), n = "n" + std::to_string(round), o = "o" + std::to_string(round);
    at_once(board, {{"set", "1", "priority=" + p}, {"set", "1", "owner_note=" + n}, {"set", "1", "reviewer=" + o}});
    std::string text = read(board.root() / "work/1_backlog/1_story_shared.md");
    CHECK(text.find("priority: " + p + "\n") != std::string::npos);
    CHECK(text.find("owner_note: " + n + "\n") != std::string::npos);
    CHECK(text.find("reviewer: " + o + "\n") != std::string::npos);
    CHECK(head_text(board, 1) == text);
  }
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("a concurrent edit and move never duplicate a story") {
  Board board;
  board.create({"Moving", "--priority", "1"});
  const std::vector<std::string> stages = {"current", "qa", "backlog"}, dirs = {"/2_current/", "/3_qa/", "/1_backlog/"};
  for (int round = 0; round < 12; ++round) {
    INFO("round " << round);
    std::string p = std::to_string(round + 2);
    at_once(board, {{"move", "1", stages[static_cast<std::size_t>(round) % 3]}, {"set", "1", "priority=" + p}});
    auto copies = copies_on_disk(board, 1);
    REQUIRE(copies.size() == 1);
    CHECK(copies_in_head(board, 1) == 1);
    CHECK(read(copies[0]).find("priority: " + p + "\n") != std::string::npos);
    CHECK(copies[0].find(dirs[static_cast<std::size_t>(round) % 3]) != std::string::npos);
  }
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("block with move, and claim with set, at the same time keep one story with both changes") {
  Board board;
  board.create({"One"});
  board.create({"Two"});
  at_once(board, {{"block", "1", "--reason", "waiting"}, {"move", "1", "qa"}});
  auto copies = copies_on_disk(board, 1);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].find("/3_qa/") != std::string::npos);
  CHECK(read(copies[0]).find("blocked: true") != std::string::npos);

  at_once(board, {{"claim", "2", "--owner", "bot"}, {"set", "2", "priority=9"}});
  copies = copies_on_disk(board, 2);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].find("/2_current/") != std::string::npos);
  std::string text = read(copies[0]);
  CHECK(text.find("agent: bot") != std::string::npos);
  CHECK(text.find("priority: 9") != std::string::npos);
  CHECK(copies_in_head(board, 2) == 1);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("two links made at once never close a cycle together") {
  Board board;
  for (const char* name : {"A", "B", "C"}) board.create({name});
  // Each round: a -> b, and b -> a by link or by set, at the same time. Exactly one
  // lands; the other is refused as a cycle, and check stays clean.
  for (int round = 0; round < 10; ++round) {
    INFO("round " << round);
    const std::string a = std::to_string(round % 3 + 1), b = std::to_string((round + 1) % 3 + 1);
    std::vector<std::string> first = {TRACKER_BIN, "-C", board.root().string(), "link", a, b};
    std::vector<std::string> second = {TRACKER_BIN, "-C", board.root().string()};
    if (round % 2 == 0) second.insert(second.end(), {"link", b, a});
    else second.insert(second.end(), {"set", b, "depends_on=" + a});
    int p1 = testing::spawn(first), p2 = testing::spawn(second);
    int c1 = testing::wait_for(p1), c2 = testing::wait_for(p2);
    INFO("exit codes " << c1 << " " << c2);
    CHECK(((c1 == 0) != (c2 == 0)));
    auto check = run_tracker(board.root(), {"check"});
    INFO(check.out << check.err);
    CHECK(check.code == 0);
    // Undo both, for the next round.
    run_tracker(board.root(), {"unset", a, "depends_on"});
    run_tracker(board.root(), {"unset", b, "depends_on"});
  }
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}
