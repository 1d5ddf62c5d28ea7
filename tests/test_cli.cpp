// End-to-end tests: the real tracker binary in real git repositories.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <nlohmann/json.hpp>
#include <set>

using namespace testing;
using nlohmann::json;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("init creates the config and stage directories and commits them") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "-b", "main"});
  auto r = run_tracker(dir.path(), {"init"});
  REQUIRE(r.code == 0);
  CHECK(fs::exists(dir / ".tracker/config.yml"));
  for (const char* stage : {"1_backlog", "2_current", "3_qa", "4_merge", "5_done", "6_archived"})
    CHECK(fs::exists(dir.path() / "work" / stage / ".gitkeep"));
  CHECK(git(dir.path(), {"log", "--format=%B"}) ==
        "tracker: init backlog, current, qa, merge, done, archived\n\nTracker-Action: init\n\n");
  CHECK(git(dir.path(), {"status", "--porcelain"}).empty());

  r = run_tracker(dir.path(), {"init"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "already a tracker workspace"));
}

TEST_CASE("init outside a git repository runs git init first") {
  TempDir dir;
  auto r = run_tracker(dir.path(), {"init", "--dir", "tasks", "--stages", "todo,doing,done"});
  REQUIRE(r.code == 0);
  CHECK(fs::exists(dir / ".git"));
  CHECK(fs::exists(dir / "tasks/3_done/.gitkeep"));
  CHECK(git(dir.path(), {"rev-list", "--count", "HEAD"}) == "1\n");
  CHECK(contains(read(dir / ".tracker/config.yml"), "stories_dir: tasks"));
  r = run_tracker(dir.path(), {"new", "Thing"});
  REQUIRE(r.code == 0);
  CHECK(fs::exists(dir / "tasks/1_todo/1_story_thing.md"));
}

TEST_CASE("init rejects bad stage names") {
  TempDir dir;
  auto r = run_tracker(dir.path(), {"init", "--stages", "todo,Bad Stage"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "bad stage name 'Bad Stage'"));
  CHECK_FALSE(fs::exists(dir / ".tracker/config.yml"));
}

TEST_CASE("commands find the workspace from a subdirectory or -C, and explain when there is none") {
  Board board;
  board.create({"Story"});
  fs::create_directories(board.root() / "src/sub");
  auto r = run_tracker(board.root() / "src/sub", {"list"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "Story"));

  TempDir elsewhere;
  r = run_tracker(elsewhere.path(), {"-C", (board.root() / "src").string(), "list"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "Story"));

  r = run_tracker(elsewhere.path(), {"list"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "not a tracker workspace"));
  CHECK(contains(r.err, "tracker init"));
  CHECK(lines(r.err).size() == 1);

  r = run_tracker(elsewhere.path(), {"-C", "/no/such/dir", "list"});
  CHECK(r.code == 2);
}

TEST_CASE("a bad config is reported with its line and exit 5") {
  Board board;
  write(board.root() / ".tracker/config.yml",
        "stories_dir: work\nstages:\n  - backlog\n  - name: current\n    colour: red\n");
  auto r = run_tracker(board.root(), {"list"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "config.yml:5: unknown key 'colour' in a stage"));
}

TEST_CASE("new prints the id, list prints an aligned table") {
  Board board;
  auto r = run_tracker(board.root(), {"new", "Add", "login", "page", "--priority", "2", "--label", "auth"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "1\n");
  CHECK(fs::exists(board.root() / "work/1_backlog/1_story_add-login-page.md"));
  r = run_tracker(board.root(), {"new", "Fix crash on empty title", "--type", "bug", "--depends-on", "1"});
  CHECK(r.out == "2\n");
  r = run_tracker(board.root(), {"list"});
  REQUIRE(r.code == 0);
  CHECK(r.out ==
        "ID  TYPE   STAGE    PRI  NAME\n"
        "1   story  backlog  2    Add login page\n"
        "2   bug    backlog       Fix crash on empty title\n");
  CHECK(r.err.empty());
  CHECK(!contains(r.out, "\033["));  // no colour when not a terminal
  r = run_tracker(board.root(), {"--color", "always", "list"});
  CHECK(contains(r.out, "\033[33m1\033[0m"));
}

TEST_CASE("new rejects bad input and creates nothing") {
  Board board;
  auto r = run_tracker(board.root(), {"new", "X", "--type", "bgu"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "did you mean 'bug'?"));
  r = run_tracker(board.root(), {"new", "X", "--stage", "nowhere"});
  CHECK(r.code == 2);
  r = run_tracker(board.root(), {"new", "X", "--depends-on", "99"});
  CHECK(r.code == 4);
  CHECK(contains(r.err, "no story #99"));
  r = run_tracker(board.root(), {"new", "X", "--priority", "high"});
  CHECK(r.code == 2);
  r = run_tracker(board.root(), {"new", "   "});
  CHECK(r.code == 2);
  r = run_tracker(board.root(), {"new", "X", "--body-file", "/no/such/file"});
  CHECK(r.code == 2);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK(board.commit_count() == 1);
}

TEST_CASE("new takes the body from --body, --body-file and stdin") {
  Board board;
  board.create({"One", "--body", "inline body"});
  write(board.root() / "body.md", "from a file\n");
  board.create({"Two", "--body-file", "body.md"});
  RunOptions in;
  in.input = "from stdin\n";
  REQUIRE(run_tracker(board.root(), {"new", "Three", "--body-file", "-"}, in).code == 0);
  CHECK(json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out)["body"] == "inline body\n");
  CHECK(json::parse(run_tracker(board.root(), {"show", "2", "--json"}).out)["body"] == "from a file\n");
  CHECK(json::parse(run_tracker(board.root(), {"show", "3", "--json"}).out)["body"] == "from stdin\n");
}

TEST_CASE("list --json follows CLI.md exactly") {
  Board board;
  board.create({"Add login", "--priority", "2", "--label", "auth", "--body", "text"});
  write(board.root() / "work/2_current/7_story_hand-made.md",
        "---\nname: Hand made\nagent: coder-1\nreview_hold: true\nqa: {by: sam}\n---\nbody\n");
  auto r = run_tracker(board.root(), {"list", "--stage", "backlog", "--label", "auth", "--sort", "priority", "--json"});
  REQUIRE(r.code == 0);
  json arr = json::parse(r.out);
  REQUIRE(arr.size() == 1);
  json s = arr[0];
  std::vector<std::string> keys;
  for (auto it = s.begin(); it != s.end(); ++it) keys.push_back(it.key());
  std::set<std::string> key_set(keys.begin(), keys.end());
  CHECK(key_set == std::set<std::string>{"id", "type", "name", "stage", "path", "priority", "labels", "depends_on", "parent",
                                         "agent", "blocked", "retry_count", "created", "claim", "fields"});
  CHECK(s["id"] == 1);
  CHECK(s["type"] == "story");
  CHECK(s["stage"] == "backlog");
  CHECK(s["path"] == "work/1_backlog/1_story_add-login.md");
  CHECK(s["labels"] == json::array({"auth"}));
  CHECK(s["agent"].is_null());
  CHECK(s["claim"].is_null());
  CHECK(s["fields"] == json::object());

  r = run_tracker(board.root(), {"list", "--stage", "2_current", "--json"});
  arr = json::parse(r.out);
  REQUIRE(arr.size() == 1);
  CHECK(arr[0]["agent"] == "coder-1");
  CHECK(r.out.find("\"review_hold\"") < r.out.find("\"qa\""));  // unknown keys keep their order
  CHECK(arr[0]["fields"]["qa"]["by"] == "sam");

  CHECK(run_tracker(board.root(), {"list", "--stage", "nope"}).code == 2);
  CHECK(run_tracker(board.root(), {"list", "--sort", "size"}).code == 2);
  CHECK(run_tracker(board.root(), {"list", "--limit", "0"}).code == 2);
  CHECK(json::parse(run_tracker(board.root(), {"list", "--json", "--limit", "1", "--sort", "id"}).out).size() == 1);
}

TEST_CASE("show prints fields and body, --raw prints the file, --json adds the body") {
  Board board;
  board.create({"Add login", "--priority", "2", "--label", "auth", "--body", "Steps to do.\n"});
  auto r = run_tracker(board.root(), {"show", "1"});
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, "#1 Add login\n"));
  CHECK(contains(r.out, "priority:   2\n"));
  CHECK(contains(r.out, "labels:     auth\n"));
  CHECK(contains(r.out, "\nSteps to do.\n"));
  r = run_tracker(board.root(), {"show", "1", "--raw"});
  CHECK(r.out == read(board.root() / "work/1_backlog/1_story_add-login.md"));
  r = run_tracker(board.root(), {"show", "1", "--json"});
  json s = json::parse(r.out);
  CHECK(s["body"] == "Steps to do.\n");
  CHECK(s["name"] == "Add login");
  r = run_tracker(board.root(), {"show", "9"});
  CHECK(r.code == 4);
  CHECK(r.err == "tracker: no story #9\n");
  r = run_tracker(board.root(), {"show", "9", "--json"});
  CHECK(r.code == 4);
  CHECK(json::parse(r.err) == json{{"error", "no story #9"}, {"code", 4}});
  CHECK(run_tracker(board.root(), {"show", "abc"}).code == 2);

  // A blocked story says why beside `blocked:`, and a long custom key widens the
  // key column for every line instead of pushing its value out of it.
  REQUIRE(run_tracker(board.root(), {"block", "1", "--reason", "waiting on vendor"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"set", "1", "estimate_in_days=3"}).code == 0);
  r = run_tracker(board.root(), {"show", "1"});
  CHECK(contains(r.out, "\npriority:         2\n"));
  CHECK(contains(r.out, "\nblocked:          yes: waiting on vendor\n"));
  CHECK(contains(r.out, "\nestimate_in_days: 3\n"));
  CHECK(!contains(r.out, "blocked_reason"));
}

TEST_CASE("a JSON listing that fails prints nothing on stdout, only the error") {
  Board board;
  board.create({"One"});
  auto r = run_tracker(board.root(), {"--json", "list", "--stage", "nosuch"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(contains(r.err, "nosuch"));
  r = run_tracker(board.root(), {"--json", "list", "--type", "nosuch"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(run_tracker(board.root(), {"--json", "list", "--stage", "backlog"}).out.starts_with("[\n  {"));
}

TEST_CASE("story files: no front matter, CRLF, BOM and malformed files") {
  Board board;
  board.create({"Good one"});
  write(board.root() / "work/1_backlog/2_story_plain.md", "# Plain heading\n\nNo front matter here.\n");
  write(board.root() / "work/1_backlog/3_bug_windows.md",
        "\xEF\xBB\xBF---\r\nname: Windows\r\npriority: 3\r\n---\r\nBody\r\n");
  write(board.root() / "work/2_current/4_story_broken.md", "---\nname: Broken\npriority: [1\nlabels: x\n---\n");
  write(board.root() / "work/1_backlog/5_story_typed.md", "---\nname: Typed\npriority: high\n---\n");

  auto r = run_tracker(board.root(), {"list", "--sort", "id"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "Good one"));
  CHECK(contains(r.out, "Plain heading"));
  CHECK(contains(r.out, "Windows"));
  CHECK(contains(r.out, "Typed"));
  CHECK(!contains(r.out, "Broken"));
  CHECK(contains(r.err, "work/2_current/4_story_broken.md:"));
  CHECK(contains(r.err, "work/1_backlog/5_story_typed.md:3: priority: expected an integer, got 'high'"));
  for (const auto& line : lines(r.err)) CHECK(line.find("work/") == 0);  // "path:line: message"

  r = run_tracker(board.root(), {"show", "4"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "work/2_current/4_story_broken.md:"));
  CHECK(contains(r.err, "work/2_current/4_story_broken.md:3: the list opened with '[' is not closed"));
  CHECK(json::parse(run_tracker(board.root(), {"show", "3", "--json"}).out)["priority"] == 3);
}

TEST_CASE("ids: highest on disk plus one, never reusing a deleted id") {
  Board board;
  board.create({"One"});
  write(board.root() / "work/3_qa/40_story_hand-made.md", "---\nname: Hand made\n---\n");
  CHECK(board.create({"Next"}) == 41);
  fs::remove(board.root() / board.path_of(41));
  fs::remove(board.root() / "work/3_qa/40_story_hand-made.md");
  CHECK(board.create({"After delete"}) == 42);
  fs::remove(board.root() / ".git/tracker/index.db");  // the mark survives the index too
  CHECK(board.create({"After index loss"}) == 43);
}

TEST_CASE("new with a key is idempotent") {
  Board board;
  auto r1 = run_tracker(board.root(), {"new", "Once", "--key", "ticket-77"});
  auto r2 = run_tracker(board.root(), {"new", "Once", "--key", "ticket-77"});
  auto r3 = run_tracker(board.root(), {"new", "Once", "--key", "ticket-77", "--json"});
  REQUIRE(r1.code == 0);
  CHECK(r2.code == 0);
  CHECK(r1.out == "1\n");
  CHECK(r2.out == "1\n");
  CHECK(json::parse(r3.out) ==
        json{{"id", 1}, {"path", "work/1_backlog/1_story_once.md"}, {"created", false}, {"commit", nullptr}});
  CHECK(board.commit_count() == 2);
  CHECK(board.create({"Other", "--key", "ticket-78"}) == 2);
}

TEST_CASE("move renames the file byte for byte and commits it") {
  Board board;
  board.create({"Add login"});
  std::string before = read(board.root() / "work/1_backlog/1_story_add-login.md");
  auto r = run_tracker(board.root(), {"move", "1", "current"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "moved #1 backlog -> current\n");
  CHECK(read(board.root() / "work/2_current/1_story_add-login.md") == before);
  CHECK(!fs::exists(board.root() / "work/1_backlog/1_story_add-login.md"));
  CHECK(git(board.root(), {"show", "-M", "--name-status", "--format=", "HEAD"}) ==
        "R100\twork/1_backlog/1_story_add-login.md\twork/2_current/1_story_add-login.md\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%B"}) ==
        "tracker: move #1 backlog -> current\n\nTracker-Action: move\nTracker-Story: 1\nTracker-From: "
        "backlog\nTracker-To: current\n\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());

  // The directory name works too, and the index sees the move at once.
  REQUIRE(run_tracker(board.root(), {"move", "#1", "3_qa"}).code == 0);
  CHECK(json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out)["stage"] == "qa");
}

TEST_CASE("move resets a non-zero retry_count and changes nothing else") {
  Board board;
  write(board.root() / "work/1_backlog/1_story_flaky.md",
        "---\nname: Flaky\n# keep me\nretry_count: 4\nzeta: 1\n---\n\nbody\n");
  git(board.root(), {"add", "-A"});
  git(board.root(), {"commit", "-qm", "add flaky"});
  REQUIRE(run_tracker(board.root(), {"move", "1", "current"}).code == 0);
  CHECK(read(board.root() / "work/2_current/1_story_flaky.md") ==
        "---\nname: Flaky\n# keep me\nretry_count: 0\nzeta: 1\n---\n\nbody\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("move: several stories in one commit, bad stage, bad id, same stage") {
  Board board;
  board.create({"A"});
  board.create({"B"});
  board.create({"C", "--stage", "qa"});
  int commits = board.commit_count();

  auto r = run_tracker(board.root(), {"move", "1", "2", "curent"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "unknown stage 'curent' (did you mean 'current'?)"));
  r = run_tracker(board.root(), {"move", "1", "99", "qa"});
  CHECK(r.code == 4);
  CHECK(fs::exists(board.root() / board.path_of(1)));
  CHECK(board.path_of(1).starts_with("work/1_backlog/"));  // nothing moved
  CHECK(board.commit_count() == commits);

  r = run_tracker(board.root(), {"move", "3", "qa"});
  CHECK(r.code == 0);
  CHECK(r.out == "#3 is already in qa\n");
  CHECK(board.commit_count() == commits);

  r = run_tracker(board.root(), {"move", "1", "2", "3", "qa", "--json"});
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["moved"].size() == 2);
  CHECK(j["unchanged"] == json::array({3}));
  CHECK(board.commit_count() == commits + 1);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: move #1 backlog -> qa, #2 backlog -> qa\n");
  CHECK(run_tracker(board.root(), {"move", "qa"}).code == 2);
}

TEST_CASE("hand edits, additions and deletions show up in the very next list") {
  Board board;
  board.create({"Original name"});
  auto r = run_tracker(board.root(), {"list"});
  REQUIRE(contains(r.out, "Original name"));
  fs::path p = board.root() / "work/1_backlog/1_story_original-name.md";
  std::string text = read(p);
  text.replace(text.find("Original name"), 13, "Renamed story");  // same length, same second
  write(p, text);
  write(board.root() / "work/2_current/8_spike_by-hand.md", "---\nname: Added by hand\n---\n");
  r = run_tracker(board.root(), {"list"});
  CHECK(contains(r.out, "Renamed story"));
  CHECK(contains(r.out, "Added by hand"));
  fs::remove(board.root() / "work/2_current/8_spike_by-hand.md");
  git(board.root(), {"mv", "work/1_backlog/1_story_original-name.md", "work/5_done/1_story_original-name.md"});
  r = run_tracker(board.root(), {"list"});
  CHECK(!contains(r.out, "Added by hand"));
  CHECK(contains(r.out, "done"));
}

TEST_CASE("index status and rebuild") {
  Board board;
  board.create({"A"});
  board.create({"B", "--stage", "qa"});
  auto r = run_tracker(board.root(), {"index", "status", "--json"});
  REQUIRE(r.code == 0);
  json s = json::parse(r.out);
  CHECK(s["stories"] == 2);
  CHECK(s["stages"]["qa"] == 1);
  CHECK(s["schema_version"] == 14);
  CHECK(s["last_rebuild"].is_string());
  r = run_tracker(board.root(), {"index", "rebuild"});
  CHECK(r.code == 0);
  CHECK(r.out == "rebuilt the index from 2 story files\n");
  r = run_tracker(board.root(), {"index", "status"});
  CHECK(contains(r.out, "stories:      2 (0 malformed)"));
  CHECK(run_tracker(board.root(), {"index", "frobnicate"}).code == 2);
}

TEST_CASE("unknown commands and options exit 2 with a suggestion") {
  Board board;
  auto r = run_tracker(board.root(), {"lst"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: unknown command 'lst' (did you mean 'list'?); see 'tracker --help'\n");
  r = run_tracker(board.root(), {"--json", "shwo", "1"});
  CHECK(r.code == 2);
  CHECK(json::parse(r.err)["code"] == 2);
  CHECK(run_tracker(board.root(), {"list", "--bogus"}).code == 2);
  CHECK(run_tracker(board.root(), {}).code == 2);
  r = run_tracker(board.root(), {"--help"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "move"));
}


// A command line that names a command builds only that command's parser: what it
// accepts and says must be what the whole parser accepts and says.
TEST_CASE("a command line builds only the command it names, and behaves as with every command built") {
  Board board;
  REQUIRE(run_tracker(board.root(), {"new", "First"}).code == 0);
  // Global options before the command, with their values, and aliases.
  auto r = run_tracker(board.root(), {"-C", board.root().string(), "--color", "never", "ls"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "First"));
  r = run_tracker(board.root(), {"--color=never", "-C" + board.root().string(), "mv", "1", "current"});
  CHECK(r.code == 0);
  // A global option's value that is a command's name is no command.
  r = run_tracker(board.root(), {"-C", "list", "show", "1"});
  CHECK(r.code != 0);
  CHECK(contains(r.err, "list"));
  // --version builds no command, and wins over --help as it always did.
  for (const auto& args : {std::vector<std::string>{"--version"}, {"--help", "--version"}, {"--json", "--version"}}) {
    r = run_tracker(board.root(), args);
    CHECK(r.code == 0);
    CHECK(r.out == "tracker 0.1.0\n");
  }
  r = run_tracker(board.root(), {"--help"});
  CHECK(contains(r.out, "renumber"));
  // One command's help, its option errors, and `--` before any command.
  r = run_tracker(board.root(), {"show", "--help"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "--raw"));
  r = run_tracker(board.root(), {"show", "--rwa", "1"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "did you mean '--raw'?"));
  CHECK(run_tracker(board.root(), {"--", "list"}).code == 2);
}
TEST_CASE("20 concurrent tracker new get 20 distinct ids and 20 commits", "[stress]") {
  Board board;
  int before = board.commit_count();
  std::vector<int> pids;
  for (int i = 0; i < 20; ++i)
    pids.push_back(spawn({TRACKER_BIN, "-C", board.root().string(), "new", "Concurrent " + std::to_string(i)}));
  for (int pid : pids) CHECK(wait_for(pid) == 0);
  CHECK(board.commit_count() == before + 20);
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(board.root() / "work/1_backlog"))
    if (e.path().extension() == ".md") files.insert(e.path().filename().string());
  CHECK(files.size() == 20);
  std::set<long> ids;
  for (const auto& f : files) ids.insert(std::stol(f));
  CHECK(ids.size() == 20);
  CHECK(*ids.rbegin() == 20);
  // Every story is in HEAD, and nothing is left dirty.
  CHECK(lines(git(board.root(), {"ls-tree", "--name-only", "HEAD", "work/1_backlog/"})).size() == 21);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK(git(board.root(), {"rev-list", "--merges", "--count", "HEAD"}) == "0\n");
}

TEST_CASE("8 processes moving 8 stories give 8 commits on a linear history", "[stress]") {
  Board board;
  for (int i = 0; i < 8; ++i) board.create({"Story " + std::to_string(i)});
  int before = board.commit_count();
  std::vector<int> pids;
  const char* stages[] = {"current", "qa", "merge", "done"};
  for (int i = 1; i <= 8; ++i)
    pids.push_back(spawn({TRACKER_BIN, "-C", board.root().string(), "move", std::to_string(i), stages[i % 4]}));
  for (int pid : pids) CHECK(wait_for(pid) == 0);
  CHECK(board.commit_count() == before + 8);
  CHECK(git(board.root(), {"rev-list", "--merges", "--count", "HEAD"}) == "0\n");
  std::string subjects = git(board.root(), {"log", "-8", "--format=%s"});
  for (int i = 1; i <= 8; ++i) CHECK(contains(subjects, "move #" + std::to_string(i) + " backlog -> "));
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK(lines(git(board.root(), {"ls-tree", "-r", "--name-only", "HEAD", "work/1_backlog/"})).size() == 1);  // .gitkeep
  CHECK(run({"git", "-C", board.root().string(), "fsck", "--strict"}).code == 0);
}

TEST_CASE("on a terminal, long names are cut to its width") {
  if (run({"sh", "-c", "command -v script"}).code != 0) return;  // util-linux's script gives us a pty
  Board board;
  board.create({"A rather long story name that cannot possibly fit into forty columns"});
  std::string cmd =
      std::string("COLUMNS=40 ") + TRACKER_BIN + " -C " + board.root().string() + " --color never --no-pager list";
  auto r = run({"script", "-qec", cmd, "/dev/null"});
  REQUIRE(r.code == 0);
  auto rows = lines(r.out);
  REQUIRE(rows.size() >= 2);
  std::string row = rows[1];
  if (!row.empty() && row.back() == '\r') row.pop_back();
  CHECK(contains(row, "…"));
  std::size_t width = 0;
  for (unsigned char c : row)
    if ((c & 0xC0) != 0x80) ++width;
  CHECK(width == 40);
}

TEST_CASE("commit.enabled: false in the config changes files without commits") {
  Board board;
  std::string config = read(board.root() / ".tracker/config.yml");
  config.replace(config.find("enabled: true"), 13, "enabled: false");
  write(board.root() / ".tracker/config.yml", config);
  int before = board.commit_count();
  board.create({"Uncommitted"});
  REQUIRE(run_tracker(board.root(), {"move", "1", "qa"}).code == 0);
  CHECK(board.commit_count() == before);
  CHECK(fs::exists(board.root() / "work/3_qa/1_story_uncommitted.md"));
}

TEST_CASE("an id used by two files is reported, not guessed") {
  Board board;
  board.create({"First"});
  write(board.root() / "work/3_qa/1_story_copy.md", "---\nname: Copy\n---\n");
  auto r = run_tracker(board.root(), {"show", "1"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "exists more than once"));
  r = run_tracker(board.root(), {"move", "1", "done"});
  CHECK(r.code == 5);
  CHECK(fs::exists(board.root() / "work/1_backlog/1_story_first.md"));
  CHECK(board.create({"Second"}) == 2);
}

TEST_CASE("a story moved by hand and then by the tool is committed once, not twice") {
  Board board;
  board.create({"Wanderer"});
  // An uncommitted hand move (or a move interrupted before its commit).
  fs::rename(board.root() / "work/1_backlog/1_story_wanderer.md", board.root() / "work/3_qa/1_story_wanderer.md");
  REQUIRE(run_tracker(board.root(), {"move", "1", "current"}).code == 0);
  CHECK(git(board.root(), {"ls-tree", "-r", "--name-only", "HEAD", "work/"}).find("1_story_wanderer.md") ==
        git(board.root(), {"ls-tree", "-r", "--name-only", "HEAD", "work/"}).rfind("1_story_wanderer.md"));
  CHECK(git(board.root(), {"show", "-M", "--name-status", "--format=", "HEAD"}) ==
        "R100\twork/1_backlog/1_story_wanderer.md\twork/2_current/1_story_wanderer.md\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}
