// Big commits: log, diff and commit read a commit that adds many stories with one
// tree diff, and a commit of many hand-made files writes its blobs in one batch.
#include <catch2/catch.hpp>

#include "manual_clock.hpp"
#include "helpers.hpp"

#include <tracker/progress.hpp>

#include <nlohmann/json.hpp>

#include <sstream>

using namespace testing;
using nlohmann::json;

namespace {

/// Writes `n` story files by hand, ids from `first`, into the backlog.
void write_stories(const fs::path& root, int first, int n) {
  for (int id = first; id < first + n; ++id)
    write(root / ("work/1_backlog/" + std::to_string(id) + "_story_hand-" + std::to_string(id) + ".md"),
          "---\nname: Hand " + std::to_string(id) + "\npriority: 1\n---\n\nBody " + std::to_string(id) + ".\n");
}

}  // namespace

TEST_CASE("a commit of hundreds of hand-made stories is one commit git finds whole, and log and diff read it") {
  Board board;
  fs::path root = board.root();
  board.create({"Made by the tool"});
  write_stories(root, 100, 300);

  json changes = json::parse(run_tracker(root, {"diff", "--json"}).out);
  REQUIRE(changes.size() == 300);
  CHECK(changes[0] == json{{"id", 100},
                           {"change", "created"},
                           {"name", "Hand 100"},
                           {"from", nullptr},
                           {"to", "backlog"},
                           {"fields", json::object()},
                           {"body_changed", false},
                           {"malformed", nullptr}});

  int commits = board.commit_count();
  auto r = run_tracker(root, {"commit"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(board.commit_count() == commits + 1);
  // Blobs written in a batch (one syncfs, no fsync each) are all there.
  RunOptions in_root;
  in_root.cwd = root;
  auto fsck = run({"git", "fsck", "--strict", "--no-dangling"}, in_root);
  INFO(fsck.err);
  CHECK(fsck.code == 0);
  CHECK(git(root, {"status", "--porcelain"}).empty());
  CHECK(lines(git(root, {"ls-tree", "--name-only", "HEAD", "work/1_backlog/"})).size() == 302);  // and .gitkeep
  CHECK(git(root, {"show", "HEAD:work/1_backlog/250_story_hand-250.md"}).find("name: Hand 250") != std::string::npos);

  // log reads the hand commit from its tree diff: 300 creations, newest commit first.
  json log = json::parse(run_tracker(root, {"log", "--limit", "2", "--json"}).out);
  REQUIRE(log.size() == 2);
  CHECK(log[0]["action"] == "create");
  CHECK(log[0]["id"] == 100);
  CHECK(log[1]["id"] == 101);
  CHECK(json::parse(run_tracker(root, {"log", "--json"}).out).size() == 301);
  json range = json::parse(run_tracker(root, {"diff", "HEAD~1..HEAD", "--json"}).out);
  REQUIRE(range.size() == 300);
  CHECK(range[299]["name"] == "Hand 399");

  // Changes into the now large stage directory: one edit, one move by hand, one set.
  fs::path edited = root / "work/1_backlog/150_story_hand-150.md";
  write(edited, "---\nname: Hand 150, renamed\npriority: 1\n---\n\nBody 150.\n");
  git(root, {"mv", "work/1_backlog/151_story_hand-151.md", "work/2_current/"});
  REQUIRE(run_tracker(root, {"commit"}).code == 0);
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: edit #150 (name), move #151 backlog -> current\n");
  REQUIRE(run_tracker(root, {"set", "152", "priority=3"}).code == 0);
  CHECK(git(root, {"show", "HEAD:work/1_backlog/152_story_hand-152.md"}).find("priority: 3") != std::string::npos);
  CHECK(git(root, {"status", "--porcelain"}).empty());
  json recent = json::parse(run_tracker(root, {"log", "--limit", "3", "--json"}).out);
  CHECK(recent[0]["action"] == "set");
  CHECK(recent[1]["action"] == "edit");
  CHECK(recent[1]["detail"] == "name Hand 150 -> Hand 150, renamed");
  CHECK(recent[2]["action"] == "move");
  CHECK(recent[2]["to"] == "current");
}

TEST_CASE("diff says a new file is malformed, with its line, instead of a story without a name") {
  Board board;
  fs::path root = board.root();
  write(root / "work/1_backlog/80_story_broken.md", "---\nname: [unclosed\n---\n\nBody.\n");
  auto r = run_tracker(root, {"diff"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("created #80") != std::string::npos);
  CHECK(r.out.find("malformed: work/1_backlog/80_story_broken.md: line 2: the list opened with '[' is not closed") != std::string::npos);
  json j = json::parse(run_tracker(root, {"diff", "--json"}).out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["malformed"].get<std::string>().starts_with("line 2: "));
  auto md = run_tracker(root, {"diff", "--format", "markdown"});
  CHECK(md.out.find("  - malformed: `work/1_backlog/80_story_broken.md` line 2") != std::string::npos);
}

TEST_CASE("the progress line stays away for the first second, then redraws at most every 100 ms, and is erased") {
  tracker::ManualClock clock(1'000'000'000'000);
  std::ostringstream out;
  tracker::TerminalProgress line(out, clock, 1'000'000'000);
  {
    tracker::Progress progress(&line, "reading changed stories", 1024);
    for (int i = 0; i < 512; ++i) progress.step();
    CHECK(out.str().empty());  // quicker than a second: nothing at all
    clock.advance_seconds(1);
    for (int i = 0; i < 256; ++i) progress.step();
    CHECK(out.str() == "\r\033[Kreading changed stories: 768/1024");
    for (int i = 0; i < 256; ++i) progress.step();  // within 100 ms of the last draw
    CHECK(out.str() == "\r\033[Kreading changed stories: 768/1024");
    clock.set_ns(clock.now_ns() + 200'000'000);
    progress.step();
  }
  CHECK(out.str() == "\r\033[Kreading changed stories: 768/1024\r\033[K");

  // A quick operation writes nothing, not even the erasure.
  std::ostringstream quiet;
  tracker::TerminalProgress other(quiet, clock, 1'000'000'000);
  {
    tracker::Progress progress(&other, "reading history (commits)", 0);
    for (int i = 0; i < 1000; ++i) progress.step();
  }
  CHECK(quiet.str().empty());
}

TEST_CASE("a commit of more stories than the open-file limit allows raises the soft limit, or refuses saying why") {
  Board board;
  fs::path root = board.root();
  write_stories(root, 10, 120);
  RunOptions o;
  o.cwd = root;
  // A hard limit too low for 120 story locks: refused, nothing committed.
  int commits = board.commit_count();
  auto r = run({"sh", "-c", "ulimit -n 200 && exec \"$0\" commit", TRACKER_BIN}, o);
  CHECK(r.code == 1);
  CHECK(r.err ==
        "tracker: cannot lock 120 stories at once: this process may open only 200 files (ulimit -n); commit them in "
        "parts (tracker commit <id>...)\n");
  CHECK(board.commit_count() == commits);
  // A low soft limit under a higher hard one is raised.
  r = run({"sh", "-c", "ulimit -Sn 64 && ulimit -Hn 1024 && exec \"$0\" commit", TRACKER_BIN}, o);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(board.commit_count() == commits + 1);
}

TEST_CASE("log and flow trust a Tracker trailer only when the commit's tree agrees, and read a merge's moves once") {
  Board board;
  fs::path root = board.root();
  board.create({"Alpha"});
  board.create({"Beta"});
  // A plain commit that changes nothing, with forged trailers of a move to done.
  git(root, {"commit", "-q", "--allow-empty", "-m",
             "looks like a move\n\nTracker-Action: move\nTracker-Story: 1\nTracker-From: backlog\nTracker-To: done"});
  json log = json::parse(run_tracker(root, {"--json", "log", "1"}).out);
  for (const auto& e : log) CHECK(e["action"] != "move");
  json flow = json::parse(run_tracker(root, {"--json", "flow"}).out);
  int done = 0;
  for (const auto& week : flow["throughput"]) done += week["done"].get<int>();
  CHECK(done == 0);
  // Forged trailers on a commit that changed something else: read from its tree.
  write(root / "NOTES", "notes\n");
  git(root, {"add", "NOTES"});
  git(root, {"commit", "-q", "-m", "notes\n\nTracker-Action: move\nTracker-Story: 2\nTracker-From: backlog\nTracker-To: qa"});
  log = json::parse(run_tracker(root, {"--json", "log", "2"}).out);
  for (const auto& e : log) CHECK(e["action"] != "move");

  // A branch's moves merged in: each is listed once, from its own commit.
  git(root, {"checkout", "-q", "-b", "side"});
  REQUIRE(run_tracker(root, {"move", "2", "current"}).code == 0);
  REQUIRE(run_tracker(root, {"move", "2", "qa"}).code == 0);
  git(root, {"checkout", "-q", "main"});
  REQUIRE(run_tracker(root, {"set", "1", "priority=3"}).code == 0);
  git(root, {"merge", "-q", "--no-ff", "--no-edit", "side"});
  log = json::parse(run_tracker(root, {"--json", "log", "2"}).out);
  int moves = 0;
  for (const auto& e : log) moves += e["action"] == "move";
  CHECK(moves == 2);
}
