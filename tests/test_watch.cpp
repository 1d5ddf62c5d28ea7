// The watcher (index.watch): real inotify, real background processes, the real binary.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <signal.h>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

using namespace testing;
using nlohmann::json;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const RunOptions kWatch{{}, {{"TRACKER_WATCH", "1"}}, {}};
const RunOptions kTraced{{}, {{"TRACKER_WATCH", "1"}, {"TRACKER_TRACE", "1"}}, {}};

json watch_status(const fs::path& root) {
  auto r = run_tracker(root, {"index", "watch", "status", "--json"}, kWatch);
  REQUIRE(r.code == 0);
  return json::parse(r.out);
}

/// Waits (up to 5 s) for a watcher to answer; returns its status.
json wait_for_watcher(const fs::path& root, std::int64_t not_pid = 0) {
  for (int i = 0; i < 250; ++i) {
    json st = watch_status(root);
    if (st["running"] == true && st["pid"].get<std::int64_t>() != not_pid) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("no watcher came up");
  return {};
}

bool alive(std::int64_t pid) {
  return ::kill(static_cast<pid_t>(pid), 0) == 0;
}

bool gone_within(std::int64_t pid, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// `list --json` as a map id -> story.
std::map<long, json> listed(const fs::path& root, const RunOptions& options = kWatch) {
  auto r = run_tracker(root, {"list", "--json"}, options);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::map<long, json> out;
  for (const auto& s : json::parse(r.out)) out[s["id"].get<long>()] = s;
  return out;
}

/// A board with three stories and a watcher that has answered once (so the index
/// holds a token and the next refresh asks for changes only).
struct WatchedBoard : Board {
  std::int64_t pid = 0;
  WatchedBoard() {
    create({"One"});
    create({"Two"});
    create({"Three"});
    listed(root());  // starts the watcher
    pid = wait_for_watcher(root())["pid"].get<std::int64_t>();
    listed(root());  // the first answer: a walk, and a token
  }
  ~WatchedBoard() { run_tracker(root(), {"index", "watch", "stop"}); }
};

}  // namespace

TEST_CASE("with the watcher, hand edits, moves, new files and deletions reach the index without a walk") {
  WatchedBoard board;
  const fs::path& root = board.root();

  // An edit in place.
  std::string two = board.path_of(2);
  std::string text = read(root / two);
  write(root / two, text.replace(text.find("name: Two"), 9, "name: Zwei"));
  auto r = run_tracker(root, {"list", "--json"}, kTraced);
  REQUIRE(r.code == 0);
  CHECK(contains(r.err, "refresh: watched changes read"));
  CHECK_FALSE(contains(r.err, "refresh: walked"));
  bool renamed = false;
  for (const auto& s : json::parse(r.out)) renamed |= s["id"] == 2 && s["name"] == "Zwei";
  CHECK(renamed);

  // A move by hand, a new file and a deletion.
  std::string one = board.path_of(1);
  fs::rename(root / one, root / "work/2_current" / fs::path(one).filename());
  write(root / "work/1_backlog/9_bug_by-hand.md", "---\nname: By hand\npriority: 1\n---\n");
  fs::remove(root / board.path_of(3));
  r = run_tracker(root, {"list", "--json"}, kTraced);
  REQUIRE(r.code == 0);
  CHECK(contains(r.err, "refresh: watched changes read"));
  CHECK_FALSE(contains(r.err, "refresh: walked"));
  auto stories = listed(root);
  REQUIRE(stories.count(1) == 1);
  CHECK(stories[1]["stage"] == "current");
  REQUIRE(stories.count(9) == 1);
  CHECK(stories[9]["type"] == "bug");
  CHECK(stories.count(3) == 0);

  // What the watcher saw, and the same answers as a walk from scratch.
  json st = watch_status(root);
  CHECK(st["pid"] == board.pid);
  CHECK(st["events"].get<int>() >= 4);
  CHECK(st["resets"] == 0);
  auto walked = listed(root, {{}, {{"TRACKER_WATCH", "0"}}, {}});
  REQUIRE(run_tracker(root, {"index", "rebuild"}, {{}, {{"TRACKER_WATCH", "0"}}, {}}).code == 0);
  auto rebuilt = listed(root, {{}, {{"TRACKER_WATCH", "0"}}, {}});
  CHECK(walked == stories);
  CHECK(rebuilt == stories);
}

TEST_CASE("index.watch in the config starts the watcher, commands by tracker itself are seen too") {
  Board board;
  board.create({"One"});
  std::string config = read(board.root() / ".tracker/config.yml");
  REQUIRE(contains(config, "  watch: false"));
  write(board.root() / ".tracker/config.yml", config.replace(config.find("  watch: false"), 14, "  watch: true"));
  auto r = run_tracker(board.root(), {"list"});
  REQUIRE(r.code == 0);
  json st = wait_for_watcher(board.root());
  CHECK(st["enabled"] == true);
  REQUIRE(run_tracker(board.root(), {"move", "1", "qa"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a"}).code == 0);
  r = run_tracker(board.root(), {"list", "--json"}, {{}, {{"TRACKER_TRACE", "1"}}, {}});
  REQUIRE(r.code == 0);
  CHECK(contains(r.err, "refresh: watched changes read"));
  json s = json::parse(r.out).at(0);
  CHECK(s["stage"] == "qa");  // a claim moves a story forward only
  CHECK(s["agent"] == "a");
  run_tracker(board.root(), {"index", "watch", "stop"});
}

TEST_CASE("a killed watcher: the next refresh walks, and a new watcher takes over") {
  WatchedBoard board;
  REQUIRE(::kill(static_cast<pid_t>(board.pid), SIGKILL) == 0);
  REQUIRE(gone_within(board.pid, std::chrono::seconds(5)));
  std::string two = board.path_of(2);
  std::string text = read(board.root() / two);
  write(board.root() / two, text.replace(text.find("name: Two"), 9, "name: Deux"));
  auto r = run_tracker(board.root(), {"list", "--json"}, kTraced);
  REQUIRE(r.code == 0);
  CHECK(contains(r.err, "refresh: walked"));
  CHECK(contains(r.out, "Deux"));
  json st = wait_for_watcher(board.root(), board.pid);
  board.pid = st["pid"].get<std::int64_t>();
  // The new watcher does not know the old one's token: one walk, then changes only.
  CHECK(contains(run_tracker(board.root(), {"list"}, kTraced).err, "refresh: walked"));
  write(board.root() / two, text.replace(text.find("name: Deux"), 10, "name: Dos"));
  r = run_tracker(board.root(), {"list", "--json"}, kTraced);
  CHECK(contains(r.err, "refresh: watched changes read"));
  CHECK(contains(r.out, "Dos"));
}

TEST_CASE("a stage directory that goes and comes back makes the watcher say: walk everything") {
  WatchedBoard board;
  const fs::path& root = board.root();
  fs::rename(root / "work/1_backlog", root / "backlog.away");
  auto stories = listed(root);
  CHECK(stories.empty());
  fs::rename(root / "backlog.away", root / "work/1_backlog");
  auto r = run_tracker(root, {"list", "--json"}, kTraced);
  CHECK(contains(r.err, "refresh: walked"));
  CHECK(json::parse(r.out).size() == 3);
  // The directory is watched again: an edit in it is seen without a walk.
  write(root / "work/1_backlog/7_story_late.md", "---\nname: Late\n---\n");
  r = run_tracker(root, {"list", "--json"}, kTraced);
  CHECK(contains(r.err, "refresh: watched changes read"));
  CHECK(json::parse(r.out).size() == 4);
  CHECK(watch_status(root)["resets"].get<int>() >= 2);
}

TEST_CASE("a watcher for other stages steps down when the config changes") {
  WatchedBoard board;
  fs::path config = board.root() / ".tracker/config.yml";
  std::string text = read(config);
  text.replace(text.find("  - {name: archived, dir: 6_archived}"), 37,
               "  - {name: archived, dir: 6_archived}\n  - {name: icebox, dir: 7_icebox}");
  write(config, text);
  write(board.root() / "work/7_icebox/8_story_cold.md", "---\nname: Cold\n---\n");
  auto stories = listed(board.root());
  REQUIRE(stories.count(8) == 1);
  CHECK(stories[8]["stage"] == "icebox");
  CHECK(gone_within(board.pid, std::chrono::seconds(5)));
  json st = wait_for_watcher(board.root(), board.pid);
  write(board.root() / "work/7_icebox/8_story_cold.md", "---\nname: Frozen\n---\n");
  listed(board.root());  // the new watcher's first answer: a walk
  write(board.root() / "work/7_icebox/8_story_cold.md", "---\nname: Thawed\n---\n");
  auto r = run_tracker(board.root(), {"list", "--json"}, kTraced);
  CHECK(contains(r.err, "refresh: watched changes read"));
  CHECK(contains(r.out, "Thawed"));
}

TEST_CASE("index watch start, status, stop and run") {
  Board board;
  const fs::path& root = board.root();
  auto r = run_tracker(root, {"index", "watch", "status"});
  CHECK(r.code == 0);
  CHECK(r.out == "watcher: not running\n");
  r = run_tracker(root, {"index", "watch", "start", "--json"});
  REQUIRE(r.code == 0);
  json st = json::parse(r.out);
  CHECK(st["running"] == true);
  CHECK(st["enabled"] == false);
  std::int64_t pid = st["pid"].get<std::int64_t>();
  CHECK(alive(pid));
  r = run_tracker(root, {"index", "watch", "start", "--json"});  // already running: the same one
  CHECK(json::parse(r.out)["pid"] == pid);
  r = run_tracker(root, {"index", "watch", "status"});
  CHECK(contains(r.out, "watcher:  running, pid " + std::to_string(pid)));
  CHECK(contains(r.out, "index.watch is off"));
  // Another watcher for the same workspace refuses to run (exit 3).
  r = run_tracker(root, {"index", "watch", "run", "--idle", "1m"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "a watcher already runs for this workspace (pid " + std::to_string(pid) + ")"));
  r = run_tracker(root, {"index", "watch", "stop"});
  CHECK(r.code == 0);
  CHECK(r.out == "watcher stopped\n");
  CHECK(gone_within(pid, std::chrono::seconds(2)));
  r = run_tracker(root, {"index", "watch", "stop", "--json"});
  CHECK(r.code == 0);
  CHECK(json::parse(r.out)["stopped"] == false);
  // In the foreground it stops by itself after --idle without a question.
  auto start = std::chrono::steady_clock::now();
  r = run_tracker(root, {"index", "watch", "run", "--idle", "1s"});
  CHECK(r.code == 0);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(900));
  // Bad input.
  r = run_tracker(root, {"index", "watch", "run", "--idle", "soon"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "bad duration 'soon'"));
  CHECK(run_tracker(root, {"index", "watch"}).code == 2);
  CHECK(run_tracker(root, {"index", "watch", "restart"}).code == 2);
  std::string config = read(root / ".tracker/config.yml");
  write(root / ".tracker/config.yml", config.replace(config.find("  watch: false"), 14, "  watch: sometimes"));
  r = run_tracker(root, {"list"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "'watch' must be true or false"));
}

TEST_CASE("the watcher goes away with its board") {
  auto board = std::make_unique<WatchedBoard>();
  std::int64_t pid = board->pid;
  fs::remove_all(board->root() / "work");
  CHECK(gone_within(pid, std::chrono::seconds(5)));
  board.reset();
}
