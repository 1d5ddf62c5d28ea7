// The merge driver for story files: real git merges of real branches.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tracker/remote.hpp>
#include <tracker/story.hpp>
#include <tracker/util.hpp>

#include <cstdlib>
#include <set>

using namespace testing;
using nlohmann::json;

namespace {

/// git with the tracker binary on PATH, as a user who installed it has it.
RunResult git_with_tracker(const fs::path& cwd, const std::vector<std::string>& args) {
  RunOptions o;
  o.cwd = cwd;
  o.env["PATH"] = fs::path(TRACKER_BIN).parent_path().string() + ":" + std::getenv("PATH");
  std::vector<std::string> argv = {"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, o);
}

/// Edits story `id` on branch `branch` (made from main) with `tracker set`, commits.
void on_branch(Board& board, const std::string& branch, const std::vector<std::string>& set_args) {
  git(board.root(), {"checkout", "-q", "-B", branch, "main"});
  std::vector<std::string> args = {"set"};
  args.insert(args.end(), set_args.begin(), set_args.end());
  auto r = run_tracker(board.root(), args);
  INFO(r.err);
  REQUIRE(r.code == 0);
}

}  // namespace

TEST_CASE("merge driver: front matter merges field by field, labels and depends_on as sets") {
  Board board;
  board.create({"Merge me", "--priority", "1", "--label", "api", "--body", "Line one.\n\nLine two.\n"});
  board.create({"Other"});
  board.create({"Third"});
  const std::string file = board.path_of(1);
  CHECK(read(board.root() / ".gitattributes") == "work/**/*.md merge=tracker\n");
  CHECK(git(board.root(), {"config", "merge.tracker.driver"}) == "tracker merge-file %O %A %B %P %S %X %Y\n");

  // Different fields on each side, and a label (and a dependency) added on each.
  on_branch(board, "a", {"1", "priority=3", "labels=api,ui", "depends_on=2"});
  on_branch(board, "b", {"1", "agent=bot", "labels=api,auth", "depends_on=3"});
  git(board.root(), {"checkout", "-q", "a"});
  auto r = git_with_tracker(board.root(), {"merge", "-q", "--no-edit", "b"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  json s = json::parse(run_tracker(board.root(), {"--json", "show", "1"}).out);
  CHECK(s["priority"] == 3);
  CHECK(s["agent"] == "bot");
  CHECK(s["labels"] == json::array({"api", "ui", "auth"}));
  CHECK(s["depends_on"] == json::array({2, 3}));
  CHECK(s["body"] == "Line one.\n\nLine two.\n");
  CHECK(run_tracker(board.root(), {"check"}).code == 0);

  // A label removed on one side and another added on the other: both happen.
  git(board.root(), {"checkout", "-q", "main"});
  git(board.root(), {"merge", "-q", "a"});
  on_branch(board, "c", {"1", "labels=ui,auth"});  // api removed
  on_branch(board, "d", {"1", "labels=api,ui,auth,db"});  // db added
  git(board.root(), {"checkout", "-q", "c"});
  r = git_with_tracker(board.root(), {"merge", "-q", "--no-edit", "d"});
  REQUIRE(r.code == 0);
  s = json::parse(run_tracker(board.root(), {"--json", "show", "1"}).out);
  CHECK(s["labels"] == json::array({"ui", "auth", "db"}));
}

TEST_CASE("merge driver: the same field changed on both sides is a conflict on that field alone") {
  Board board;
  board.create({"Contested", "--priority", "1", "--body", "First line.\nSecond line.\nThird line.\n"});
  const std::string file = board.path_of(1);
  on_branch(board, "a", {"1", "priority=3", "agent=ann"});
  on_branch(board, "b", {"1", "priority=5"});
  // b also edits the body by hand, on a line a does not touch.
  std::string text = read(board.root() / file);
  text.replace(text.find("Third line."), 11, "Third line, edited.");
  write(board.root() / file, text);
  REQUIRE(run_tracker(board.root(), {"commit", "-m", "body"}).code == 0);

  git(board.root(), {"checkout", "-q", "a"});
  auto r = git_with_tracker(board.root(), {"merge", "--no-edit", "b"});
  CHECK(r.code != 0);
  CHECK(r.out.find("CONFLICT (content): Merge conflict in " + file) != std::string::npos);
  std::string merged = read(board.root() / file);
  CHECK(merged.find("<<<<<<< ours\npriority: 3\n=======\npriority: 5\n>>>>>>> theirs\n") != std::string::npos);
  CHECK(merged.find("agent: ann\n") != std::string::npos);           // a's other change is in
  CHECK(merged.find("Third line, edited.\n") != std::string::npos);  // and b's body change
  CHECK(std::count(merged.begin(), merged.end(), '<') == 7);         // one conflict, nothing else marked
  // check reports the conflicted file as malformed until it is resolved.
  CHECK(run_tracker(board.root(), {"check"}).code == 5);
}

TEST_CASE("merge driver: bodies changed on both sides are merged line by line, as in a pull request") {
  Board board;
  board.create({"Spec", "--body", "Intro.\n\nStep one.\n\nStep two.\n\nOutro.\n"});
  const std::string file = board.path_of(1);
  // A feature branch edits the start of the body, main edits the end meanwhile.
  git(board.root(), {"checkout", "-q", "-b", "feature"});
  std::string text = read(board.root() / file);
  write(board.root() / file, text.replace(text.find("Intro."), 6, "A better intro."));
  REQUIRE(run_tracker(board.root(), {"commit", "-m", "intro"}).code == 0);
  git(board.root(), {"checkout", "-q", "main"});
  text = read(board.root() / file);
  write(board.root() / file, text.replace(text.find("Outro."), 6, "A better outro."));
  REQUIRE(run_tracker(board.root(), {"commit", "-m", "outro"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"set", "1", "priority=2"}).code == 0);
  auto r = git_with_tracker(board.root(), {"merge", "-q", "--no-ff", "--no-edit", "feature"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  json s = json::parse(run_tracker(board.root(), {"--json", "show", "1"}).out);
  CHECK(s["body"] == "A better intro.\n\nStep one.\n\nStep two.\n\nA better outro.\n");
  CHECK(s["priority"] == 2);
}

TEST_CASE("merge driver: merge_story_file falls back to a line merge for what is not a story") {
  auto lines3 = [](std::string_view b, std::string_view o, std::string_view t) { return tracker::git_line_merge(b, o, t); };
  tracker::Story where;
  // Not front matter at all: git's line merge, conflict markers and all.
  tracker::StoryFileMerge m = tracker::merge_story_file(where, "a\n", "b\n", "c\n", {}, lines3);
  CHECK(m.conflicts == 1);
  CHECK(m.text == "<<<<<<< ours\nb\n=======\nc\n>>>>>>> theirs\n");
  // depends_on removed on one side, another added on the other.
  std::string base = "---\nname: X\ndepends_on: [1, 2]\n---\n";
  m = tracker::merge_story_file(where, base, "---\nname: X\ndepends_on: [2]\n---\n",
                                "---\nname: X\ndepends_on: [1, 2, 3]\n---\n", {}, lines3);
  CHECK(m.conflicts == 0);
  CHECK(m.text == "---\nname: X\ndepends_on: [2, 3]\n---\n");
}

TEST_CASE("merge-file --install registers the driver in a clone, and bad arguments are refused") {
  Board board;
  TempDir other;
  git(other.path(), {"clone", "-q", board.root().string(), "c"});
  fs::path clone = other / "c";
  CHECK(run({"git", "-C", clone.string(), "config", "merge.tracker.driver"}).code != 0);
  auto r = run_tracker(clone, {"merge-file", "--install"});
  CHECK(r.code == 0);
  CHECK(git(clone, {"config", "merge.tracker.driver"}) == "tracker merge-file %O %A %B %P %S %X %Y\n");
  CHECK(run_tracker(clone, {"merge-file", "a", "b"}).code == 2);
  CHECK(run_tracker(clone, {"merge-file", "nope1", "nope2", "nope3"}).err == "tracker: merge-file: cannot read 'nope1'\n");
}

TEST_CASE("merge driver: two similar stories git pairs wrongly are a conflict that says so, never a silent merge") {
  Board board;
  const std::string body =
      "x\nLine two of the shared body text, which is long enough.\nLine three keeps going so that the files are near "
      "identical.\nLine four ends the body.\n";
  board.create({"Story a", "--body", body});
  board.create({"Story b", "--body", body});
  // Branch B: #1 gets many labels and moves, #2 is renamed; main sets #1's priority.
  git(board.root(), {"checkout", "-q", "-b", "B"});
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"set", "1", "labels=ui,api,backend,frontend,security,performance,docs,testing,infra,mobile,desktop,web,cli,db"},
        {"move", "1", "current"},
        {"set", "2", "name=B name"}})
    REQUIRE(run_tracker(board.root(), args).code == 0);
  git(board.root(), {"checkout", "-q", "main"});
  REQUIRE(run_tracker(board.root(), {"set", "1", "priority=5"}).code == 0);
  auto r = git_with_tracker(board.root(), {"merge", "--no-edit", "B"});
  INFO(r.out << r.err);
  // Whichever pairing git's rename detection made, #1's priority never lands in #2.
  for (const auto& entry : fs::recursive_directory_iterator(board.root() / "work")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".md") continue;
    std::string name = entry.path().filename().string();
    std::string text = read(entry.path());
    if (name.starts_with("2_") && text.find("<<<<<<<") == std::string::npos)
      CHECK(text.find("priority: 5") == std::string::npos);
  }
  // git 2.39 pairs main's #1 with B's renamed #2 here: the driver refuses, naming
  // both ids, and check flags the file until it is resolved.
  CHECK(r.code != 0);
  if (r.code != 0) {
    CHECK(r.err.find("git paired different stories") != std::string::npos);
    CHECK(r.err.find("#1") != std::string::npos);
    CHECK(r.err.find("#2") != std::string::npos);
    CHECK(run_tracker(board.root(), {"check"}).code == 5);
  }
}

TEST_CASE("merge driver: the sides' ids are read from the commits of a merge and of a rebase, through libgit2") {
  Board board;
  board.create({"Story a", "--body", "first body\n"});
  board.create({"Story b", "--body", "second body\n"});
  std::string p1 = board.path_of(1), p2 = board.path_of(2);
  std::string c1 = std::string(tracker::trim(git(board.root(), {"rev-parse", "HEAD"})));
  git(board.root(), {"checkout", "-q", "-b", "B"});
  REQUIRE(run_tracker(board.root(), {"set", "2", "priority=4"}).code == 0);
  std::string b = std::string(tracker::trim(git(board.root(), {"rev-parse", "HEAD"})));
  git(board.root(), {"checkout", "-q", "main"});
  REQUIRE(run_tracker(board.root(), {"set", "1", "priority=5"}).code == 0);
  std::string base = git(board.root(), {"show", c1 + ":" + p2});
  std::string ours = git(board.root(), {"show", "HEAD:" + p1});
  std::string theirs = git(board.root(), {"show", b + ":" + p2});
  const std::set<std::int64_t> one = {1}, two = {2};

  SECTION("a merge names the commit it merges in GITHEAD_<sha>; the base is the merge base") {
    std::string var = "GITHEAD_" + b;
    ::setenv(var.c_str(), "B", 1);
    tracker::MergeSides sides = tracker::locate_merge_sides(board.root(), base, ours, theirs);
    ::unsetenv(var.c_str());
    CHECK(sides.ours == one);
    CHECK(sides.theirs == two);
    CHECK(sides.base == two);
    CHECK(tracker::merge_sides_mismatch(sides, 1).value_or("").find("git paired different stories") != std::string::npos);
  }
  SECTION("a rebase lists the commit it picks last in rebase-merge/done; the base is its parent") {
    write(board.root() / ".git" / "rebase-merge" / "done", "pick " + b + " tracker: set\n");
    tracker::MergeSides sides = tracker::locate_merge_sides(board.root(), base, ours, theirs);
    CHECK(sides.ours == one);
    CHECK(sides.theirs == two);
    CHECK(sides.base == two);
  }
  SECTION("outside a repository no side is known, and nothing throws") {
    TempDir elsewhere;
    tracker::MergeSides sides = tracker::locate_merge_sides(elsewhere.path(), base, ours, theirs);
    CHECK(sides.ours.empty());
    CHECK(sides.theirs.empty());
    CHECK(sides.base.empty());
  }
}

TEST_CASE("merge driver: sides with different line endings give the majority's, never a mix") {
  TempDir dir;
  write(dir / "base", "---\nname: X\npriority: 1\n---\nBody.\n");
  write(dir / "ours", "---\r\nname: X\r\npriority: 2\r\n---\r\nBody.\r\n");
  write(dir / "theirs", "---\nname: X\npriority: 1\nlabels: [ui]\n---\nBody.\n");
  auto r = run_tracker(dir.path(), {"merge-file", (dir / "base").string(), (dir / "ours").string(),
                                    (dir / "theirs").string(), "work/1_backlog/1_story_x.md"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string merged = read(dir / "ours");
  CHECK(merged.find('\r') == std::string::npos);  // two sides of three are LF
  CHECK(merged.find("priority: 2\n") != std::string::npos);
  CHECK(merged.find("labels: [ui]\n") != std::string::npos);
  // Two CRLF sides of three: CRLF throughout.
  write(dir / "base", "---\r\nname: X\r\npriority: 1\r\n---\r\nBody.\r\n");
  write(dir / "ours", "---\r\nname: X\r\npriority: 2\r\n---\r\nBody.\r\n");
  write(dir / "theirs", "---\nname: X\npriority: 1\nlabels: [ui]\n---\nBody.\n");
  r = run_tracker(dir.path(), {"merge-file", (dir / "base").string(), (dir / "ours").string(),
                               (dir / "theirs").string(), "work/1_backlog/1_story_x.md"});
  REQUIRE(r.code == 0);
  merged = read(dir / "ours");
  auto lf = std::count(merged.begin(), merged.end(), '\n');
  CHECK(lf == std::count(merged.begin(), merged.end(), '\r'));
  CHECK(merged.find("labels: [ui]\r\n") != std::string::npos);
}

TEST_CASE("init --dir with a space writes a .gitattributes line git reads, so the driver stays on") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "-b", "main"});
  auto r = run_tracker(dir.path(), {"init", "--dir", "my work"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(read(dir / ".gitattributes") == "\"my work/**/*.md\" merge=tracker\n");
  RunResult attr = run({"git", "check-attr", "merge", "--", "my work/1_backlog/1_story_x.md"}, RunOptions{dir.path(), {}, ""});
  CHECK(attr.out == "my work/1_backlog/1_story_x.md: merge: tracker\n");
  CHECK(attr.err.empty());  // and git does not warn about the line
  CHECK(run({"git", "status"}, RunOptions{dir.path(), {}, ""}).err.empty());
}
