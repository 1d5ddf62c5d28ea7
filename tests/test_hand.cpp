// Hand edits without the tool: list and show see them, `tracker commit` commits them.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <nlohmann/json.hpp>

using namespace testing;
using nlohmann::json;

namespace {

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("hand edits, moves, creations and deletions show at once and commit as one semantic commit") {
  Board board;
  for (const char* name : {"Alpha", "Beta", "Gamma", "Delta"}) board.create({name, "--priority", "1"});
  fs::path root = board.root();
  write(root / board.path_of(1), replace(read(root / board.path_of(1)), "priority: 1", "priority: 5"));
  git(root, {"mv", board.path_of(2), "work/3_qa/"});
  fs::remove(root / board.path_of(4));
  write(root / "work/1_backlog/9_bug_hand-made.md", "---\nname: Hand made\n---\n\nFound by hand.\n");
  // Unrelated work in the tree: a staged change and an untracked file.
  write(root / "README.md", "# project\n");
  git(root, {"add", "README.md"});
  write(root / "work/notes.txt", "scratch\n");

  // The next list and show reflect every hand change, before any commit.
  json list = json::parse(run_tracker(root, {"list", "--json", "--sort", "id"}).out);
  REQUIRE(list.size() == 4);
  CHECK(list[0]["priority"] == 5);
  CHECK(list[1]["stage"] == "qa");
  CHECK(list[3]["id"] == 9);
  CHECK(list[3]["type"] == "bug");
  CHECK(run_tracker(root, {"show", "4"}).code == 4);
  CHECK(json::parse(run_tracker(root, {"show", "9", "--json"}).out)["body"] == "Found by hand.\n");

  int commits = board.commit_count();
  auto r = run_tracker(root, {"commit", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["subject"] == "tracker: edit #1 (priority), move #2 backlog -> qa, delete #4, create #9");
  CHECK(j["changes"][0] == json{{"id", 1},
                                {"change", "edited"},
                                {"name", "Alpha"},
                                {"from", "backlog"},
                                {"to", "backlog"},
                                {"fields", {{"priority", {1, 5}}}},
                                {"body_changed", false},
                     {"malformed", nullptr}});
  CHECK(j["changes"][1]["change"] == "moved");
  CHECK(json::parse(r.err) == json{{"warning", "not a story file, left out: work/notes.txt"}});
  CHECK(board.commit_count() == commits + 1);
  CHECK(git(root, {"log", "-1", "--format=%B"}) ==
        "tracker: edit #1 (priority), move #2 backlog -> qa, delete #4, create #9\n\nTracker-Action: commit\n"
        "Tracker-Story: 1\nTracker-Story: 2\nTracker-Story: 4\nTracker-Story: 9\n\n");
  // Exactly the story files: the staged README stays staged, the notes untracked.
  CHECK(git(root, {"show", "--name-status", "--no-renames", "--format=", "HEAD"}) ==
        "M\twork/1_backlog/1_story_alpha.md\nD\twork/1_backlog/2_story_beta.md\nD\twork/1_backlog/4_story_delta.md\n"
        "A\twork/1_backlog/9_bug_hand-made.md\nA\twork/3_qa/2_story_beta.md\n");
  CHECK(git(root, {"status", "--porcelain"}) == "A  README.md\n?? work/notes.txt\n");

  r = run_tracker(root, {"commit"});
  CHECK(r.code == 6);
  CHECK(r.err == "tracker: warning: not a story file, left out: work/notes.txt\ntracker: no story file changed since HEAD\n");
}

TEST_CASE("commit: -m, a hand move resets retry_count, invalid stories are refused") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  fs::path root = board.root();
  REQUIRE(run_tracker(root, {"set", "1", "retry_count=2"}).code == 0);
  const std::string beta_path = board.path_of(2);

  // A move by hand (plain mv, not git mv) starts the retries afresh.
  fs::rename(root / board.path_of(1), root / "work/2_current/1_story_alpha.md");
  auto r = run_tracker(root, {"commit", "-m", "Start alpha by hand"});
  REQUIRE(r.code == 0);
  CHECK(git(root, {"log", "-1", "--format=%B"}) ==
        "Start alpha by hand\n\nmove #1 backlog -> current (retry_count)\n\nTracker-Action: commit\nTracker-Story: "
        "1\n\n");
  CHECK(read(root / "work/2_current/1_story_alpha.md").find("retry_count: 0\n") != std::string::npos);
  CHECK(git(root, {"status", "--porcelain"}).empty());

  // A malformed or wrongly typed story is not committed; nothing else is either.
  std::string beta = read(root / beta_path);
  write(root / beta_path, replace(beta, "name: Beta", "name: [Beta"));
  int commits = board.commit_count();
  r = run_tracker(root, {"commit"});
  CHECK(r.code == 5);
  CHECK(r.err.rfind("tracker: " + beta_path + ":", 0) == 0);
  const std::string refused =
      "tracker: 1 problem in the stories to commit (above); nothing was committed. Fix them, or commit some stories "
      "alone: tracker commit <id>...\n";
  CHECK(r.err.ends_with(refused));
  write(root / beta_path, replace(beta, "name: Beta\n", "name: Beta\npriority: high\n"));
  r = run_tracker(root, {"commit"});
  CHECK(r.code == 5);
  CHECK(r.err == "tracker: " + beta_path + ":3: priority: expected an integer, got 'high'\n" + refused);
  write(root / "work/1_backlog/7_epic_big.md", "---\nname: Big\n---\n");
  write(root / beta_path, beta);
  r = run_tracker(root, {"commit"});
  CHECK(r.code == 5);
  CHECK(r.err == "tracker: work/1_backlog/7_epic_big.md: unknown type 'epic'\n" + refused);
  CHECK(board.commit_count() == commits);
}

TEST_CASE("commit and check --changed judge the stories to commit by the same rules, naming every problem") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  fs::path root = board.root();
  // A story already committed with a problem does not stop the commit of others.
  write(root / "work/1_backlog/5_story_old.md", "---\nname: Old\ndepends_on: [555]\n---\n");
  git(root, {"add", "-A"});
  git(root, {"commit", "-qm", "a bad story, committed by git"});
  CHECK(run_tracker(root, {"check"}).code == 5);

  // Three bad files and one good change.
  write(root / "work/1_backlog/7_story_dangling.md", "---\nname: Dangling\ndepends_on: [777]\n---\n");
  write(root / "work/1_backlog/8_story_broken.md", "---\nname: [Broken\n---\n");
  write(root / "work/1_backlog/9_story_self.md", "---\nname: Self\ndepends_on: [9]\n---\n");
  std::string alpha = read(root / board.path_of(1));
  write(root / board.path_of(1), replace(alpha, "name: Alpha", "name: Alpha, edited"));
  int commits = board.commit_count();

  auto r = run_tracker(root, {"commit"});
  CHECK(r.code == 5);
  std::vector<std::string> err = lines(r.err);
  REQUIRE(err.size() == 4);
  CHECK(err[0] == "tracker: work/1_backlog/7_story_dangling.md:3: depends_on: no story #777");
  CHECK(err[1].starts_with("tracker: work/1_backlog/8_story_broken.md:2: the list opened with '['"));
  CHECK(err[2].starts_with("tracker: work/1_backlog/9_story_self.md:3: "));
  CHECK(err[3].starts_with("tracker: 3 problems in the stories to commit (above); nothing was committed."));
  CHECK(board.commit_count() == commits);
  // check --changed names the same problems, and none of the committed story's.
  auto c = run_tracker(root, {"check", "--changed", "--json"});
  CHECK(c.code == 5);
  json report = json::parse(c.out);
  REQUIRE(report["problems"].size() == 3);
  CHECK(report["problems"][0]["kind"] == "missing-dependency");
  CHECK(report["problems"][0]["path"] == "work/1_backlog/7_story_dangling.md");
  CHECK(report["stories"] == 4);
  // Under --json the problems are JSON lines on stderr, and stdout stays empty.
  r = run_tracker(root, {"commit", "--json"});
  CHECK(r.code == 5);
  CHECK(r.out.empty());
  CHECK(json::parse(lines(r.err)[0]) == json{{"problem", "depends_on: no story #777"},
                                             {"path", "work/1_backlog/7_story_dangling.md"},
                                             {"line", 3},
                                             {"kind", "missing-dependency"}});

  // The good change alone can be committed by id; the bad files stay as they are.
  r = run_tracker(root, {"commit", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: edit #1 (name)\n");
  CHECK(git(root, {"status", "--porcelain", "--untracked-files=all"}) ==
        "?? work/1_backlog/7_story_dangling.md\n?? work/1_backlog/8_story_broken.md\n?? work/1_backlog/9_story_self.md\n");
  CHECK(run_tracker(root, {"commit", "2"}).code == 6);  // no change to commit
  CHECK(run_tracker(root, {"check", "--changed"}).code == 5);
  // Fixed, they commit, and check --changed is clean.
  write(root / "work/1_backlog/7_story_dangling.md", "---\nname: Dangling\ndepends_on: [2]\n---\n");
  fs::remove(root / "work/1_backlog/8_story_broken.md");
  write(root / "work/1_backlog/9_story_self.md", "---\nname: Self\n---\n");
  CHECK(run_tracker(root, {"check", "--changed"}).code == 0);
  CHECK(run_tracker(root, {"commit"}).code == 0);
  CHECK(run_tracker(root, {"commit", "-m", ""}).code == 2);
}

TEST_CASE("commit of many changes keeps the subject short and lists them in the body") {
  Board board;
  for (int i = 1; i <= 12; ++i) board.create({"Story " + std::to_string(i)});
  fs::path root = board.root();
  for (int i = 1; i <= 12; ++i) git(root, {"mv", board.path_of(i), "work/5_done/"});
  auto r = run_tracker(root, {"commit"});
  REQUIRE(r.code == 0);
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: commit 12 stories (12 moved)\n");
  std::string body = git(root, {"log", "-1", "--format=%b"});
  CHECK(body.find("move #1 backlog -> done\nmove #2 backlog -> done\n") == 0);
  CHECK(git(root, {"status", "--porcelain"}).empty());
}

TEST_CASE("renumber gives a duplicate id (two merged branches) a fresh id and rewrites the references it can") {
  Board board;
  board.create({"Base"});
  board.create({"Other"});
  board.create({"Needs other", "--depends-on", "2"});
  fs::path root = board.root();
  // What a merge of two branches that each created #4 leaves behind.
  write(root / "work/1_backlog/4_story_login.md", "---\nname: Login\n---\n");
  write(root / "work/2_current/4_story_search.md", "---\nname: Search\npriority: 2\n---\n");
  write(root / "work/1_backlog/5_story_uses-four.md", "---\nname: Uses four\ndepends_on:\n  - 4\n  - 1\n---\n");
  git(root, {"add", "-A"});
  git(root, {"commit", "-qm", "merge"});
  CHECK(run_tracker(root, {"check"}).code == 5);

  auto r = run_tracker(root, {"renumber", "4"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "tracker: story #4 exists 2 times (work/1_backlog/4_story_login.md, work/2_current/4_story_search.md);"
        " say which one with --path\n");
  CHECK(run_tracker(root, {"renumber", "4", "--path", "work/1_backlog/nope.md"}).code == 2);
  CHECK(run_tracker(root, {"renumber", "4", "--path", "work/2_current/4_story_search.md", "--refs", "3"}).code == 2);

  r = run_tracker(root, {"renumber", "4", "--path", "work/2_current/4_story_search.md", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["new_id"] == 6);
  CHECK(j["to"] == "work/2_current/6_story_search.md");
  CHECK(j["ambiguous"] == json::array({5}));  // #5 may have meant Login: left alone, and said so
  CHECK(r.err.find("#5 depends on #4, which may have meant either copy") != std::string::npos);
  CHECK(read(root / "work/2_current/6_story_search.md") == "---\nname: Search\npriority: 2\n---\n");
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: renumber #4 -> #6\n");
  CHECK(git(root, {"status", "--porcelain"}).empty());
  CHECK(run_tracker(root, {"check"}).code == 0);

  // A unique id: every reference means it, so every reference follows.
  r = run_tracker(root, {"renumber", "2"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "renumbered #2 -> #7: work/1_backlog/7_story_other.md\n#3 now depends on #7\n");
  CHECK(json::parse(run_tracker(root, {"show", "3", "--json"}).out)["depends_on"] == json::array({7}));
  CHECK(git(root, {"show", "--stat", "--format=", "HEAD"}).find("2 files changed") != std::string::npos);

  // With --refs the stories named are rewritten, in their own list style.
  write(root / "work/2_current/4_story_dup.md", "---\nname: Dup\n---\n");
  git(root, {"add", "-A"});
  git(root, {"commit", "-qm", "another dup"});
  r = run_tracker(root, {"renumber", "4", "--path", "work/2_current/4_story_dup.md", "--refs", "5"});
  REQUIRE(r.code == 0);
  CHECK(read(root / "work/1_backlog/5_story_uses-four.md") == "---\nname: Uses four\ndepends_on:\n  - 1\n  - 8\n---\n");
  CHECK(run_tracker(root, {"renumber", "99"}).code == 4);
}

TEST_CASE("renumber of a parent repoints its children's parent and the related lists, and adds no dependency") {
  Board board;
  fs::path root = board.root();
  board.create({"Epic"});                                         // 1
  board.create({"Child", "--parent", "1"});                       // 2
  board.create({"Other"});                                        // 3
  board.create({"Child that waits", "--depends-on", "3", "--parent", "1"});  // 4
  board.create({"Needs the epic", "--depends-on", "1"});          // 5
  fs::path related = root / board.path_of(3);
  std::string text = read(related);
  write(related, text.replace(text.find("---\n", 3), 4, "related: [1, 4]\n---\n"));
  git(root, {"commit", "-qam", "related by hand"});
  std::string child = read(root / board.path_of(2));

  auto r = run_tracker(root, {"renumber", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == "renumbered #1 -> #6: work/1_backlog/6_story_epic.md\n#2 now is part of #6\n"
                 "#3 now is related to #6\n#4 now is part of #6\n#5 now depends on #6\n");
  // The child's one line changes; it gains no depends_on.
  std::string now = read(root / board.path_of(2));
  CHECK(now == std::string(child).replace(child.find("parent: 1"), 9, "parent: 6"));
  json four = json::parse(run_tracker(root, {"--json", "show", "4"}).out);
  CHECK(four["depends_on"] == json::array({3}));
  CHECK(four["parent"] == 6);
  CHECK(json::parse(run_tracker(root, {"--json", "show", "5"}).out)["depends_on"] == json::array({6}));
  CHECK(read(related).find("related: [4, 6]\n") != std::string::npos);
  json j = json::parse(run_tracker(root, {"--json", "show", "3"}).out);
  CHECK(j["fields"]["related"] == json::array({4, 6}));
  CHECK(run_tracker(root, {"check"}).code == 0);
  CHECK(git(root, {"status", "--porcelain"}).empty());
}

TEST_CASE("the example pre-commit hook refuses a commit of a story with problems, judging only what changed") {
  Board board;
  board.create({"Alpha"});
  fs::path root = board.root();
  fs::copy_file(EXAMPLES_DIR "/hooks/pre-commit", root / ".git/hooks/pre-commit", fs::copy_options::overwrite_existing);
  RunOptions opts;
  opts.cwd = root;
  opts.env["TRACKER"] = TRACKER_BIN;
  write(root / "work/1_backlog/2_story_broken.md", "---\nname: [broken\n---\n");
  git(root, {"add", "-A"});
  auto r = run({"git", "commit", "-qm", "add a broken story"}, opts);
  CHECK(r.code != 0);
  CHECK((r.out + r.err).find("work/1_backlog/2_story_broken.md:") !=
        std::string::npos);  // git sends hook output to stderr
  CHECK(r.err.find("pre-commit: the changed stories have problems") != std::string::npos);
  write(root / "work/1_backlog/2_story_broken.md", "---\nname: Fixed\n---\n");
  git(root, {"add", "-A"});
  r = run({"git", "commit", "-qm", "add a good story"}, opts);
  CHECK(r.code == 0);
  // It judges only what changed: an old bad story does not stop the next commit.
  write(root / "work/1_backlog/3_story_dangling.md", "---\nname: Dangling\ndepends_on: [777]\n---\n");
  git(root, {"add", "-A"});
  CHECK(run({"git", "commit", "-qm", "a bad one", "--no-verify"}, opts).code == 0);
  write(root / "work/1_backlog/4_story_new.md", "---\nname: New\n---\n");
  git(root, {"add", "-A"});
  r = run({"git", "commit", "-qm", "a good one"}, opts);
  INFO(r.err);
  CHECK(r.code == 0);
}

TEST_CASE("init --adopt takes a huskies board as it is, without touching a story file") {
  TempDir dir;
  fs::path root = dir.path() / "project";
  fs::copy(FIXTURES_DIR "/huskies", root, fs::copy_options::recursive);
  fs::create_directories(root / ".huskies/work/old-stuff");
  write(root / ".huskies/work/1_backlog/17_epic_billing.md", "---\nname: Billing\n---\n");
  git(root, {"init", "-q", "-b", "main"});
  git(root, {"add", "-A"});
  git(root, {"commit", "-qm", "a huskies project"});
  std::string tree_before = git(root, {"ls-tree", "-r", "HEAD", ".huskies"});

  CHECK(run_tracker(root, {"init", "--adopt", ".huskies/work", "--stages", "a,b"}).code == 2);
  CHECK(run_tracker(root, {"init", "--adopt", ".huskies/nothing"}).code == 2);
  CHECK(run_tracker(root, {"init", "--adopt", ".huskies"}).code == 2);  // no <n>_<name> directories there
  auto r = run_tracker(root, {"init", "--adopt", ".huskies/work", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["stories_dir"] == ".huskies/work");
  CHECK(j["stories"] == 9);
  CHECK(j["types"] == json::array({"story", "bug", "spike", "refactor", "epic"}));
  CHECK(j["stages"][3] == json{{"name", "merge"}, {"dir", "4_merge"}});
  CHECK(r.err == "tracker: not a stage directory (<n>_<name>), left alone: .huskies/work/old-stuff\n");
  // One commit, of the config alone; every story file is as it was.
  CHECK(git(root, {"show", "--name-only", "--format=%s", "HEAD"}) ==
        "tracker: adopt .huskies/work (backlog, current, qa, merge, done, archived)\n\n.tracker/config.yml\n");
  CHECK(git(root, {"ls-tree", "-r", "HEAD", ".huskies"}) == tree_before);
  CHECK(git(root, {"status", "--porcelain"}).empty());
  CHECK(run_tracker(root, {"init", "--adopt", ".huskies/work"}).code == 2);

  // The board works unchanged: huskies' keys read, the queue, claims, check.
  json list = json::parse(run_tracker(root, {"list", "--json"}).out);
  CHECK(list.size() == 9);
  json qa = json::parse(run_tracker(root, {"show", "11", "--json"}).out);
  CHECK(qa["agent"] == "qa-1");
  CHECK(qa["fields"] == json{{"qa", "human"}, {"review_hold", true}});
  json merge = json::parse(run_tracker(root, {"show", "9", "--json"}).out);
  CHECK(merge["retry_count"] == 2);
  CHECK(merge["fields"]["merge_failure"] == "conflict in server/src/http.rs");
  CHECK(json::parse(run_tracker(root, {"show", "15", "--json"}).out)["blocked"] == true);
  CHECK(json::parse(run_tracker(root, {"show", "14", "--json"}).out)["depends_on"] == json::array({9}));
  std::vector<long> ready;
  for (const auto& s : json::parse(run_tracker(root, {"ready", "--json"}).out)) ready.push_back(s["id"].get<long>());
  CHECK(ready == std::vector<long>{16, 17});
  CHECK(run_tracker(root, {"check"}).code == 5);  // old-stuff is no stage: check says so
  fs::remove(root / ".huskies/work/old-stuff");
  CHECK(run_tracker(root, {"check"}).code == 0);
  REQUIRE(run_tracker(root, {"claim", "16", "--owner", "coder-2"}).code == 0);
  CHECK(fs::exists(root / ".huskies/work/2_current/16_spike_evaluate-sqlite-fts.md"));
  REQUIRE(run_tracker(root, {"move", "9", "done"}).code == 0);
  CHECK(fs::exists(root / ".huskies/work/5_done/9_refactor_split-the-server-module.md"));
  CHECK(run_tracker(root, {"ready", "--json"}).out.find("\"id\": 14") != std::string::npos);
}

TEST_CASE("diff: the board's changes between HEAD and the working tree, or revisions, as text, markdown or JSON") {
  Board board;
  board.create({"Alpha", "--priority", "1"});
  board.create({"Beta"});
  board.create({"Gamma"});
  fs::path root = board.root();
  CHECK(run_tracker(root, {"diff"}).out.empty());
  write(root / board.path_of(1), replace(read(root / board.path_of(1)), "priority: 1", "priority: 3"));
  git(root, {"mv", board.path_of(2), "work/2_current/"});
  fs::remove(root / board.path_of(3));
  write(root / "work/1_backlog/4_story_delta.md", "---\nname: Delta\n---\n\nNew.\n");

  auto r = run_tracker(root, {"diff"}, RunOptions{});
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "edited  #1 Alpha: priority 1 -> 3\n"
        "moved   #2 Beta  backlog -> current\n"
        "deleted #3 Gamma\n"
        "created #4 Delta  (backlog)\n");
  json j = json::parse(run_tracker(root, {"diff", "--json"}).out);
  CHECK(j[0] == json{{"id", 1},
                     {"change", "edited"},
                     {"name", "Alpha"},
                     {"from", "backlog"},
                     {"to", "backlog"},
                     {"fields", {{"priority", {1, 3}}}},
                     {"body_changed", false},
                     {"malformed", nullptr}});
  CHECK(j[2]["to"].is_null());
  CHECK(j[3]["from"].is_null());
  std::string markdown = run_tracker(root, {"diff", "--format", "markdown"}).out;
  CHECK(markdown ==
        "### Board changes\n\n"
        "- **Edited** #1 Alpha: priority 1 → 3\n"
        "- **Moved** #2 Beta: backlog → current\n"
        "- **Deleted** #3 Gamma (was in backlog)\n"
        "- **Created** #4 Delta (backlog)\n");

  // Committed, the same changes show between revisions, and against an older one.
  REQUIRE(run_tracker(root, {"commit"}).code == 0);
  CHECK(run_tracker(root, {"diff"}).out.empty());
  CHECK(run_tracker(root, {"diff", "HEAD~1..HEAD"}).out == r.out);
  CHECK(run_tracker(root, {"diff", "HEAD~1.."}).out == r.out);
  CHECK(run_tracker(root, {"diff", "HEAD~1"}).out == r.out);

  // A...B: what a branch did since it left main, whatever main did since.
  git(root, {"checkout", "-qb", "topic"});
  REQUIRE(run_tracker(root, {"set", "4", "priority=7"}).code == 0);
  git(root, {"checkout", "-q", "main"});
  REQUIRE(run_tracker(root, {"move", "1", "qa"}).code == 0);
  CHECK(run_tracker(root, {"diff", "main...topic"}).out == "edited  #4 Delta: priority (none) -> 7\n");
  CHECK(run_tracker(root, {"diff", "main..topic"}).out ==
        "moved   #1 Alpha  qa -> backlog\nedited  #4 Delta: priority (none) -> 7\n");

  CHECK(run_tracker(root, {"diff", "no-such-rev"}).code == 2);
  CHECK(run_tracker(root, {"diff", "no-such-rev"}).err == "tracker: unknown revision 'no-such-rev'\n");
  CHECK(run_tracker(root, {"diff", "--format", "html"}).code == 2);
}

TEST_CASE("log: transitions newest first, from trailers and, for hand commits, from the tree") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  fs::path root = board.root();
  REQUIRE(run_tracker(root, {"claim", "1", "--owner", "coder-1"}).code == 0);
  REQUIRE(run_tracker(root, {"move", "1", "2", "qa", "--owner", "coder-1"}).code == 0);
  // A move and an edit by hand, committed with plain git.
  git(root, {"mv", "work/3_qa/2_story_beta.md", "work/5_done/"});
  write(root / "work/3_qa/1_story_alpha.md", read(root / "work/3_qa/1_story_alpha.md") + "More.\n");
  git(root, {"commit", "-qam", "by hand"});

  auto r = run_tracker(root, {"log", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  REQUIRE(j.size() == 7);
  CHECK(j[0]["action"] == "edit");
  CHECK(j[0]["id"] == 1);
  CHECK(j[0]["owner"].is_null());
  CHECK(j[0]["detail"] == "body");
  CHECK(j[1]["action"] == "move");
  CHECK(j[1]["detail"].is_null());
  CHECK(j[1]["id"] == 2);
  CHECK(j[1]["from"] == "qa");
  CHECK(j[1]["to"] == "done");
  CHECK(j[2]["id"] == 1);  // one move commit of two stories: both listed
  CHECK(j[2]["from"] == "current");
  CHECK(j[3]["id"] == 2);
  CHECK(j[3]["from"] == "backlog");
  CHECK(j[3]["to"] == "qa");
  CHECK(j[4] == json{{"commit", j[4]["commit"]},
                     {"time", j[4]["time"]},
                     {"author", j[4]["author"]},
                     {"action", "claim"},
                     {"id", 1},
                     {"from", "backlog"},
                     {"to", "current"},
                     {"owner", "coder-1"},
                     {"detail", nullptr}});
  CHECK(j[5]["action"] == "create");
  CHECK(j[6]["action"] == "create");
  CHECK(j[4]["commit"].get<std::string>().size() == 40);

  json one = json::parse(run_tracker(root, {"log", "1", "--json"}).out);
  CHECK(one.size() == 4);
  for (const auto& e : one) CHECK(e["id"] == 1);
  CHECK(json::parse(run_tracker(root, {"log", "--limit", "2", "--json"}).out).size() == 2);
  std::string text = run_tracker(root, {"log", "1", "--limit", "1"}).out;

  CHECK(text.find("  edit    #1  qa  body\n") != std::string::npos);
  // The board's log names each story (as it is called now); one story's log does not.
  std::string board_log = run_tracker(root, {"log", "--limit", "1"}).out;
  std::string name = json::parse(run_tracker(root, {"show", "1", "--json"}).out)["name"];
  CHECK(board_log.find("  edit    #1 " + name + "  qa  body\n") != std::string::npos);
  REQUIRE(run_tracker(root, {"set", "2", "priority=3"}).code == 0);
  json set = json::parse(run_tracker(root, {"log", "2", "--limit", "1", "--json"}).out);
  CHECK(set[0]["action"] == "set");
  CHECK(set[0]["from"] == "done");
  CHECK(set[0]["to"] == "done");
  CHECK(set[0]["detail"] == "priority (none) -> 3");
  CHECK(run_tracker(root, {"log", "--limit", "0"}).code == 2);
  CHECK(run_tracker(root, {"log", "x"}).code == 2);
  CHECK(json::parse(run_tracker(root, {"log", "99", "--json"}).out).empty());
}
