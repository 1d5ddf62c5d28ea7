// A newcomer's first hour: init's edges, usage, help, unknown words with suggestions.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "output.hpp"

#include <nlohmann/json.hpp>
#include <sstream>

using namespace testing;
using json = nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

RunOptions without_identity(const fs::path& home) {
  RunOptions o;
  o.env["HOME"] = home.string();  // libgit2 reads ~/.gitconfig
  o.env["XDG_CONFIG_HOME"] = home.string();
  for (const char* v : {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"})
    o.env[v] = "\x01unset";
  return o;
}

std::size_t entries(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("init refuses a bare repository and the inside of .git, and creates nothing") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "--bare", "repo.git"});
  const std::size_t before = entries(dir / "repo.git");
  auto r = run_tracker(dir / "repo.git", {"init"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "tracker init must be run in a work tree"));
  CHECK(entries(dir / "repo.git") == before);
  CHECK_FALSE(fs::exists(dir / "repo.git/.tracker"));
  CHECK_FALSE(fs::exists(dir / "repo.git/work"));
  CHECK_FALSE(fs::exists(dir / "repo.git/.git"));

  git(dir.path(), {"init", "-q", "tree"});
  r = run_tracker(dir / "tree/.git", {"init"});
  CHECK(r.code == 2);
  CHECK_FALSE(fs::exists(dir / "tree/.git/.tracker"));
}

TEST_CASE("init without a git identity writes nothing, and a second init finishes an unfinished one") {
  TempDir dir, home;
  auto r = run_tracker(dir.path(), {"init"}, without_identity(home.path()));
  CHECK(r.code == 1);
  CHECK(contains(r.err, "no git identity"));
  CHECK(entries(dir.path()) == 0);  // not even .git

  // In a repository: nothing is written either.
  git(dir.path(), {"init", "-q", "-b", "main"});
  r = run_tracker(dir.path(), {"init"}, without_identity(home.path()));
  CHECK(r.code == 1);
  CHECK_FALSE(fs::exists(dir / ".tracker"));
  CHECK_FALSE(fs::exists(dir / "work"));
  CHECK(fs::exists(dir / ".git"));  // the user's repository stays

  // An init that wrote its files and made no commit (--no-commit, or an older
  // version): a second init commits them and keeps the config as it is.
  REQUIRE(run_tracker(dir.path(), {"--no-commit", "init", "--stages", "todo,done"}).code == 0);
  write(dir / ".tracker/config.yml", read(dir / ".tracker/config.yml") + "# mine\n");
  r = run_tracker(dir.path(), {"init"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(contains(git(dir.path(), {"show", "HEAD:.tracker/config.yml"}), "# mine"));
  CHECK(git(dir.path(), {"status", "--porcelain"}).empty());
  r = run_tracker(dir.path(), {"init"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "already a tracker workspace"));
}

TEST_CASE("init --stages: an empty name is refused, and a claim never moves work to a done stage") {
  TempDir dir;
  auto r = run_tracker(dir.path(), {"init", "--stages", "todo,,done"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: --stages 'todo,,done' has an empty stage name\n");
  CHECK_FALSE(fs::exists(dir / ".tracker"));
  REQUIRE(run_tracker(dir.path(), {"init", "--stages", "todo,done"}).code == 0);
  CHECK(contains(read(dir / ".tracker/config.yml"), "move_to: todo"));
  TempDir other;
  REQUIRE(run_tracker(other.path(), {"init", "--stages", "todo,review,done"}).code == 0);
  CHECK(contains(read(other / ".tracker/config.yml"), "move_to: review"));
}

TEST_CASE("bare tracker prints the usage, and unknown options and commands are named with a suggestion") {
  Board board;
  auto r = run_tracker(board.root(), {});
  CHECK(r.code == 2);
  CHECK(contains(r.out, "Usage: tracker"));
  CHECK(contains(r.out, "move"));
  r = run_tracker(board.root(), {"index"});
  CHECK(r.code == 2);
  CHECK(contains(r.out, "Usage: tracker index"));
  CHECK(contains(r.out, "rebuild"));

  r = run_tracker(board.root(), {"--foo"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: unknown option '--foo'; see 'tracker --help'\n");
  r = run_tracker(board.root(), {"--jsn", "list"});
  CHECK(r.err == "tracker: unknown option '--jsn' (did you mean '--json'?); see 'tracker --help'\n");
  r = run_tracker(board.root(), {"index", "stauts"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "tracker: unknown command 'index stauts' (did you mean 'status'?); see 'tracker index --help'\n");
  r = run_tracker(board.root(), {"claim", "--ownr", "x"});
  CHECK(r.code == 2);
  CHECK(r.err ==
        "tracker: unknown option '--ownr' for 'tracker claim' (did you mean '--owner'?); see 'tracker claim "
        "--help'\n");
  r = run_tracker(board.root(), {"--json", "list", "--stge", "x"});
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(json::parse(r.err)["error"] ==
        "unknown option '--stge' for 'tracker list' (did you mean '--stage'?); see 'tracker list --help'");
  r = run_tracker(board.root(), {"-C"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: option '-C' needs a value; see 'tracker --help'\n");
  r = run_tracker(board.root(), {"list", "--limit"});
  CHECK(r.err == "tracker: option '--limit' needs a value; see 'tracker list --help'\n");
  // Global options may come after the command; option values may start with '-'.
  CHECK(run_tracker(board.root(), {"list", "--json"}).code == 0);
  CHECK(run_tracker(board.root(), {"show", "-1"}).err == "tracker: invalid id '-1': ids are positive integers\n");
}

TEST_CASE("search: a word after the query that starts with '-' is an exclusion, not an option") {
  Board board;
  board.create({"Login with email"});
  board.create({"Login with oauth"});
  auto r = run_tracker(board.root(), {"--json", "search", "login", "-oauth"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json hits = json::parse(r.out);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0]["id"] == 1);
  r = run_tracker(board.root(), {"search", "-oauth", "login", "--limit", "5", "--json"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out).size() == 1);
}

TEST_CASE("help: tracker help <command>, examples and the global options in every command's help") {
  Board board;
  auto r = run_tracker(board.root(), {"help", "move"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "Usage: tracker move"));
  CHECK(contains(r.out, "Examples:\n  tracker move 42 current"));
  CHECK(contains(r.out, "Global options (any command): -C <dir>, --json"));
  CHECK(r.out == run_tracker(board.root(), {"move", "--help"}).out);
  r = run_tracker(board.root(), {"help", "index", "status"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "Usage: tracker index status"));
  r = run_tracker(board.root(), {"help", "mvoe"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: no command 'tracker mvoe'; see 'tracker help'\n");
  // Every command has examples.
  for (const char* command : {"init", "new", "list", "show", "move", "claim", "release", "renew", "reclaim", "done",
                              "ready", "block", "unblock", "link", "unlink", "stats", "check", "set", "unset", "edit",
                              "commit", "renumber", "diff", "log", "search", "doctor", "index"}) {
    INFO(command);
    CHECK(contains(run_tracker(board.root(), {"help", command}).out, "Examples:\n  tracker "));
  }
}

TEST_CASE("a command's help names what an option takes in words, never in CLI11's types, and lists commands by group") {
  Board board;
  // Every command, from the man page's ".SS <command>" lines.
  std::vector<std::vector<std::string>> commands = {{}};
  for (const auto& line : lines(run_tracker(board.root(), {"help", "--man"}).out))
    if (line.starts_with(".SS ")) {
      std::vector<std::string> path;
      std::istringstream words(line.substr(4));
      for (std::string w; words >> w;) {
        if (auto dash = w.find("\\-"); dash != std::string::npos) w.erase(dash, 1);  // roff's "merge\-file"
        path.push_back(w);
      }
      commands.push_back(path);
    }
  REQUIRE(commands.size() > 30);
  for (const auto& path : commands) {
    std::vector<std::string> args = path;
    args.push_back("--help");
    auto r = run_tracker(board.root(), args);
    INFO(r.out);
    CHECK(r.code == 0);
    for (const char* type : {" TEXT", " INT", "REQUIRED", ":{", "FLOAT", " UINT", "INT:", "HELP", "FORCE"})
      CHECK_FALSE(contains(r.out, type));
  }
  auto claim = run_tracker(board.root(), {"claim", "--help"}).out;
  CHECK(contains(claim, "  --owner NAME  "));
  CHECK(contains(claim, "  --ttl DURATION  "));
  CHECK(contains(claim, "  id  "));
  CHECK(contains(run_tracker(board.root(), {"list", "--help"}).out, "  --sort stage|priority|id|updated\n"));
  CHECK(contains(run_tracker(board.root(), {"delete", "--help"}).out, "  ids ...  "));
  auto serve = run_tracker(board.root(), {"serve", "--help"}).out;
  CHECK(contains(serve, "  --port PORT "));
  CHECK(contains(serve, "(default: 7410)"));
  // tracker's own help: the commands by group, daily use first.
  auto top = run_tracker(board.root(), {"--help"}).out;
  auto at = [&](const std::string& text) { return top.find(text); };
  CHECK(at("\nStories:\n  new ") < at("\nClaims:\n  claim "));
  CHECK(at("\nClaims:\n") < at("\nHistory:\n  log "));
  CHECK(at("\nHistory:\n") < at("\nThe board and its repository:\n  init "));
  CHECK(at("\nThe board and its repository:\n") < at("\nOther doors:\n  serve "));
  CHECK(at("\nMore:") == std::string::npos);  // every command has its group
  CHECK(contains(top, "  -C DIR  "));
  CHECK(contains(top, "  --color auto|always|never  "));
}

TEST_CASE("the man page is generated from the help text and docs/tracker.1 is up to date") {
  auto r = run_tracker(fs::current_path(), {"help", "--man"});
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, ".TH TRACKER 1"));
  CHECK(contains(r.out, ".SS move"));
  CHECK(contains(r.out, "tracker move 42 current"));
  CHECK(r.out == read(fs::path(TRACKER_SOURCE_DIR) / "docs/tracker.1"));
}

TEST_CASE("show --raw prints any file, a malformed one too") {
  Board board;
  write(board.root() / "work/1_backlog/7_story_bad.md", "---\nname: [unclosed\n---\nBody\n");
  auto r = run_tracker(board.root(), {"show", "7", "--raw"});
  CHECK(r.code == 0);
  CHECK(r.out == "---\nname: [unclosed\n---\nBody\n");
  CHECK(run_tracker(board.root(), {"show", "7"}).code == 5);
  CHECK(run_tracker(board.root(), {"show", "8", "--raw"}).code == 4);
}

TEST_CASE("a story without a priority shows none: blank in tables, null in JSON") {
  Board board;
  board.create({"No priority"});
  board.create({"Some", "--priority", "0"});
  json listed = json::parse(run_tracker(board.root(), {"list", "--json", "--sort", "id"}).out);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["priority"].is_null());
  CHECK(listed[1]["priority"] == 0);
  auto r = run_tracker(board.root(), {"show", "1"});
  CHECK_FALSE(contains(r.out, "priority:"));
  CHECK(contains(run_tracker(board.root(), {"show", "2"}).out, "priority:   0"));
  // Setting it names no made-up old value, and log reads the change back whole.
  r = run_tracker(board.root(), {"set", "1", "priority=3"});
  CHECK(r.out == "#1: priority (none) -> 3\n");
  json log = json::parse(run_tracker(board.root(), {"--json", "log", "1"}).out);
  CHECK(log[0]["detail"] == "priority (none) -> 3");
}

TEST_CASE("a move into a done stage ends the story's claim, as done does") {
  Board board;
  board.create({"Work"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "bot"}).code == 0);
  auto r = run_tracker(board.root(), {"--json", "move", "1", "done", "--owner", "bot"});
  REQUIRE(r.code == 0);
  json moved = json::parse(r.out);
  CHECK(moved["claims_ended"] == json::parse(R"([{"id": 1, "owner": "bot"}])"));
  CHECK(run_tracker(board.root(), {"list", "--claimed", "--json"}).out == "[]\n");
  CHECK(run_tracker(board.root(), {"check"}).code == 0);
  // release has nothing to release, and the story stays done.
  CHECK(run_tracker(board.root(), {"release", "1", "--owner", "bot"}).out == "#1 is not claimed; nothing to release\n");
  CHECK(board.path_of(1).find("/5_done/") != std::string::npos);
}

TEST_CASE("list --open hides done stages, --reverse reverses before the limit, --where filters on any key") {
  Board board;
  fs::path root = board.root();
  board.create({"A", "--priority", "1", "--label", "ui"});  // 1
  board.create({"B", "--label", "api"});                    // 2
  board.create({"C"});                                      // 3
  board.create({"D"});                                      // 4
  REQUIRE(run_tracker(root, {"move", "3", "done"}).code == 0);
  REQUIRE(run_tracker(root, {"move", "4", "archived"}).code == 0);
  REQUIRE(run_tracker(root, {"set", "2", "team=core"}).code == 0);
  auto ids = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"list", "--json"});
    auto r = run_tracker(root, args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    std::vector<long> out;
    for (const auto& s : nlohmann::json::parse(r.out)) out.push_back(s["id"].get<long>());
    return out;
  };
  CHECK(ids({}) == std::vector<long>{1, 2, 3, 4});  // the default stays "all stories"
  CHECK(ids({"--open"}) == std::vector<long>{1, 2});
  CHECK(ids({"--open", "--stage", "done"}).empty());
  CHECK(ids({"--reverse"}) == std::vector<long>{4, 3, 2, 1});
  CHECK(ids({"--reverse", "--limit", "1"}) == std::vector<long>{4});
  CHECK(ids({"--where", "labels=ui"}) == std::vector<long>{1});
  CHECK(ids({"--where", "team=core"}) == std::vector<long>{2});
  CHECK(ids({"--where", "priority=1"}) == std::vector<long>{1});
  CHECK(ids({"--where", "priority="}) == std::vector<long>{2, 3, 4});
  CHECK(ids({"--where", "stage=backlog", "--where", "labels=api"}) == std::vector<long>{2});
  CHECK(ids({"--where", "team=nobody"}).empty());
  CHECK(ids({"--where", "priority=", "--limit", "2"}) == std::vector<long>{2, 3});
  auto r = run_tracker(root, {"list", "--where", "team"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: --where takes key=value (e.g. --where agent=coder-1), not 'team'\n");
  r = run_tracker(root, {"list", "--open", "--stage", "nosuch"});
  CHECK(r.code == 2);
  // The table says the same.
  CHECK(run_tracker(root, {"list", "--open", "--where", "labels=ui"}).out == "ID  TYPE   STAGE    PRI  NAME\n1   story  backlog  1    A\n");
}

TEST_CASE("delete removes stories in one commit and their ids are never given out again, in any clone") {
  Board board;
  fs::path root = board.root();
  board.create({"A"});                       // 1
  board.create({"B", "--depends-on", "1"});  // 2
  board.create({"C"});                       // 3
  board.create({"D"});                       // 4
  REQUIRE(run_tracker(root, {"claim", "4", "--owner", "ann"}).code == 0);
  int commits = board.commit_count();

  // Refusals name what to do; nothing is deleted.
  auto r = run_tracker(root, {"delete", "1"});
  CHECK(r.code == 3);
  CHECK(r.err == "tracker: story #2 depends on #1; unlink it first ('tracker unlink 2 1'), or delete with --force\n");
  r = run_tracker(root, {"delete", "4"});
  CHECK(r.code == 3);
  CHECK(r.err.find("story #4 is claimed by ann until ") != std::string::npos);
  CHECK(run_tracker(root, {"delete", "3", "99"}).code == 4);  // every id checked first
  CHECK(run_tracker(root, {"delete", "0"}).code == 2);
  CHECK(board.commit_count() == commits);
  CHECK(fs::exists(root / board.path_of(3)));

  r = run_tracker(root, {"delete", "3", "4", "--force", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["deleted"].size() == 2);
  CHECK(j["deleted"][0] == json{{"id", 3}, {"name", "C"}, {"from", "backlog"}, {"path", "work/1_backlog/3_story_c.md"}});
  CHECK(j["claims_ended"] == json::array({{{"id", 4}, {"owner", "ann"}}}));
  CHECK(board.commit_count() == commits + 1);
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: delete #3 C, #4 D\n");
  CHECK(git(root, {"status", "--porcelain"}).empty());
  CHECK(read(root / ".tracker/id-floor") == "4\n");
  json log = json::parse(run_tracker(root, {"log", "--limit", "2", "--json"}).out);
  CHECK(log[0]["action"] == "delete");
  CHECK(log[0]["from"] == "backlog");
  CHECK(log[0]["to"].is_null());
  CHECK(run_tracker(root, {"check"}).code == 0);

  // The next id is 5, here and in a fresh clone that never saw 3 or 4.
  CHECK(board.create({"E"}) == 5);
  TempDir other;
  git(other.path(), {"clone", "-q", root.string(), "clone"});
  fs::path clone = other.path() / "clone";
  auto made = run_tracker(clone, {"new", "F", "--json"});
  INFO(made.err);
  REQUIRE(made.code == 0);
  CHECK(json::parse(made.out)["id"] == 6);
}

TEST_CASE("archive moves stories to the archive stage, and ends their claims") {
  Board board;
  fs::path root = board.root();
  board.create({"A"});
  board.create({"B"});
  REQUIRE(run_tracker(root, {"claim", "1", "--owner", "ann"}).code == 0);
  // Another's claim holds #1: nothing is archived until the holder does it, or --force.
  int commits = board.commit_count();
  auto r = run_tracker(root, {"archive", "1", "2"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "story #1 is claimed by ann until "));
  CHECK(board.commit_count() == commits);
  r = run_tracker(root, {"archive", "1", "2", "--force"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == "archived #1 current -> archived\narchived #2 backlog -> archived\nended ann's claim on #1\n"
                 "forced by author@example.com (recorded as Tracker-Forced-By)\n");
  CHECK(contains(git(root, {"log", "-1", "--format=%B"}), "\nTracker-Forced-By: author@example.com\n"));
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: move #1 current -> archived, #2 backlog -> archived\n");
  CHECK(json::parse(run_tracker(root, {"list", "--claimed", "--json"}).out).empty());
  r = run_tracker(root, {"archive", "2"});
  CHECK(r.code == 0);
  CHECK(r.out == "#2 is already in archived\n");
  CHECK(run_tracker(root, {"archive", "7"}).code == 4);
}

TEST_CASE("completion: a real bash completes commands, options, stages and ids, and the zsh and fish scripts parse") {
  Board board;
  fs::path root = board.root();
  for (const char* name : {"A", "B", "C", "D", "E"}) board.create({name});  // 1..5
  write(root / "work/1_backlog/40_story_forty.md", "---\nname: Forty\n---\n");
  write(root / "work/2_current/41_bug_forty-one.md", "---\nname: Forty-one\nlabels: [ui, api]\n---\n");
  fs::path bin_dir = fs::path(TRACKER_BIN).parent_path();
  std::string bash = run_tracker(root, {"completion", "bash"}).out;
  REQUIRE(run({"bash", "-n", "-c", bash}).code == 0);

  // COMP_WORDS and COMP_CWORD as bash sets them on <TAB>; the function fills COMPREPLY.
  auto tab = [&](const std::string& words, int cword) {
    RunOptions o;
    o.cwd = root;
    o.env["PATH"] = bin_dir.string() + ":" + std::string(std::getenv("PATH"));
    o.env["SCRIPT"] = bash;
    auto r = run({"bash", "-c",
                  "eval \"$SCRIPT\"; complete -p tracker >/dev/null || exit 9; COMP_WORDS=(" + words +
                      "); COMP_CWORD=" + std::to_string(cword) + "; _tracker; [ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\\n' \"${COMPREPLY[@]}\""},
                 o);
    INFO(r.err);
    REQUIRE(r.code == 0);
    return lines(r.out);
  };
  using V = std::vector<std::string>;
  CHECK(tab("tracker mo", 1) == V{"move"});
  CHECK(tab("tracker move 4", 2) == V{"4", "40", "41"});
  CHECK(tab("tracker move 4 ''", 3) == V{"backlog", "current", "qa", "merge", "done", "archived", "1", "2", "3", "4",
                                          "5", "40", "41"});
  CHECK(tab("tracker list --st", 2) == V{"--stage"});
  CHECK(tab("tracker list --stage c", 3) == V{"current"});
  CHECK(tab("tracker list --label ''", 3) == V{"api", "ui"});
  CHECK(tab("tracker new x --type b", 4) == V{"bug"});
  CHECK(tab("tracker index s", 2) == V{"status"});
  CHECK(tab("tracker help co", 2) == V{"commit", "completion"});
  CHECK(tab("tracker -C . sh", 3) == V{"show"});
  CHECK(tab("tracker claim --owner ''", 3).empty());  // an owner: nothing to offer
  // Every global option goes with a command.
  CHECK(tab("tracker claim --o", 2) == V{"--owner", "--offline"});
  CHECK(tab("tracker claim -", 2) == V{"--help", "-h", "--owner", "--ttl", "--pid", "--force", "-C", "--json",
                                       "--no-commit", "--no-verify", "--no-pager", "--offline", "--color"});
  // After `set <id>`, keys, the board's own too; after `key=`, its values.
  write(root / "work/1_backlog/42_story_custom.md", "---\nname: Custom\nestimate: 3\n---\n");
  CHECK(tab("tracker set 41 pr", 3) == V{"priority="});
  CHECK(tab("tracker set 41 es", 3) == V{"estimate="});
  CHECK(tab("tracker unset 41 ag", 3) == V{"agent"});
  CHECK(tab("tracker set 41 blocked = t", 5) == V{"true"});  // bash splits at '='
  CHECK(tab("tracker set 41 ty", 3).empty());  // the type is the file name's: set refuses it
  CHECK(tab("tracker set 41 labels = ''", 5) == V{"api", "ui"});
  CHECK(tab("tracker set 4", 2) == V{"4", "40", "41", "42"});  // the id first
  CHECK(run_tracker(root, {"__complete", "set", "41", "labels=u"}).out == "labels=ui\n");  // zsh, fish
  CHECK(run_tracker(root, {"__complete", "set", "41", "blocked="}).out == "blocked=false\nblocked=true\n");

  // zsh and fish get descriptions: the story's name after a tab.
  auto r = run_tracker(root, {"__complete", "show", "4"});
  CHECK(r.out == "4\tD\n40\tForty\n41\tForty-one\n42\tCustom\n");
  for (const char* shell : {"zsh", "fish"}) {
    std::string script = run_tracker(root, {"completion", shell}).out;
    CHECK(script.find("tracker __complete") != std::string::npos);
    if (run({"sh", "-c", std::string("command -v ") + shell}).code == 0)
      CHECK(run({shell, "-n", "-c", script}).code == 0);
  }
  r = run_tracker(root, {"completion", "tcsh"});
  CHECK(r.code == 2);
  // Outside a board, commands still complete, and nothing fails.
  TempDir empty;
  CHECK(run_tracker(empty.path(), {"__complete", "sh"}).out == "show\n");
  CHECK(run_tracker(empty.path(), {"__complete", "show", ""}).code == 0);
}

TEST_CASE("a new name renames the file to its slug in the same commit, unless --keep-file-name") {
  Board board;
  fs::path root = board.root();
  board.create({"Émoji 🚀 ünïcode café"});
  CHECK(board.path_of(1) == "work/1_backlog/1_story_emoji-unicode-cafe.md");
  board.create({"日本語のタイトル"});
  CHECK(board.path_of(2) == "work/1_backlog/2_story_日本語のタイトル.md");
  int commits = board.commit_count();
  auto r = run_tracker(root, {"set", "1", "name=Login page, v2", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["path"] == "work/1_backlog/1_story_login-page-v2.md");
  CHECK(board.commit_count() == commits + 1);
  CHECK(git(root, {"show", "--name-status", "--format=", "-M30%", "HEAD"}).starts_with(
      "R"));  // one rename in the one commit
  CHECK(git(root, {"show", "--name-status", "--format=", "-M30%", "HEAD"}).find(
            "\twork/1_backlog/1_story_emoji-unicode-cafe.md\twork/1_backlog/1_story_login-page-v2.md\n") !=
        std::string::npos);
  CHECK(git(root, {"status", "--porcelain"}).empty());
  json log = json::parse(run_tracker(root, {"log", "1", "--json"}).out);
  CHECK(log[0]["action"] == "set");
  CHECK(log[0]["detail"] == "name");  // long values are named, not quoted
  r = run_tracker(root, {"set", "1", "name=Something else", "--keep-file-name"});
  REQUIRE(r.code == 0);
  CHECK(board.path_of(1) == "work/1_backlog/1_story_login-page-v2.md");
  // Other keys never rename.
  REQUIRE(run_tracker(root, {"set", "1", "priority=2"}).code == 0);
  CHECK(board.path_of(1) == "work/1_backlog/1_story_login-page-v2.md");
  CHECK(run_tracker(root, {"check"}).code == 0);
}

TEST_CASE("set type= renames the file in one commit and leaves the text alone - unset type and unknown types are refused") {
  Board board;
  fs::path root = board.root();
  board.create({"Crash on start", "--priority", "2"});
  std::string text = read(root / board.path_of(1));
  int commits = board.commit_count();
  auto r = run_tracker(root, {"set", "1", "type=bug"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out == "#1: type story -> bug\n");
  CHECK(board.path_of(1) == "work/1_backlog/1_bug_crash-on-start.md");
  CHECK(read(root / board.path_of(1)) == text);
  CHECK(board.commit_count() == commits + 1);
  CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: set #1 (type story -> bug)\n");
  CHECK(git(root, {"show", "--name-status", "--format=", "HEAD"}) ==
        "R100\twork/1_backlog/1_story_crash-on-start.md\twork/1_backlog/1_bug_crash-on-start.md\n");
  CHECK(json::parse(run_tracker(root, {"--json", "show", "1"}).out)["type"] == "bug");
  CHECK(run_tracker(root, {"list", "--type", "bug"}).out.find("Crash on start") != std::string::npos);
  // The same type again: nothing to do. With a new name, one rename to both.
  CHECK(run_tracker(root, {"set", "1", "type=bug"}).out == "#1: nothing to change\n");
  CHECK(board.commit_count() == commits + 1);
  r = run_tracker(root, {"--json", "set", "1", "type=spike", "name=Why does it crash", "priority=3"});
  REQUIRE(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["path"] == "work/1_backlog/1_spike_why-does-it-crash.md");
  CHECK(j["changes"] == json::array({"type bug -> spike", "name Crash on start -> Why does it crash", "priority 2 -> 3"}));
  CHECK(board.commit_count() == commits + 2);
  CHECK(run_tracker(root, {"check"}).code == 0);
  CHECK(git(root, {"status", "--porcelain"}).empty());
}

TEST_CASE("on a terminal, log, list, diff and show go through the pager, unless --no-pager, --json or a pipe") {
  if (run({"sh", "-c", "command -v script"}).code != 0) return;  // util-linux script gives us a pty
  Board board;
  fs::path root = board.root();
  board.create({"Alpha"});
  RunOptions o;
  o.cwd = root;
  o.env["TRACKER_PAGER"] = "sed s/^/PAGED:/";
  o.env["NO_COLOR"] = "1";
  auto on_tty = [&](const std::string& args) {
    auto r = run({"script", "-qec", std::string(TRACKER_BIN) + " " + args, "/dev/null"}, o);
    return r;
  };
  for (const char* cmd : {"list", "log", "show 1", "diff HEAD~1"}) {
    INFO(cmd);
    auto r = on_tty(cmd);
    CHECK(r.code == 0);
    CHECK(r.out.starts_with("PAGED:"));
  }
  CHECK(on_tty("--no-pager list").out.starts_with("ID"));
  CHECK(on_tty("list --json").out.starts_with("["));
  CHECK(on_tty("stats").out.find("PAGED:") == std::string::npos);  // not a paged command
  // An error still exits with its code, and PAGER is used when TRACKER_PAGER is not set.
  CHECK(on_tty("show 9").code == 4);
  o.env["TRACKER_PAGER"] = "\x01unset";
  o.env["PAGER"] = "sed s/^/VIA-PAGER:/";
  CHECK(on_tty("list").out.starts_with("VIA-PAGER:"));
  o.env["PAGER"] = "cat";
  CHECK(on_tty("list").out.starts_with("ID"));
  // In a pipe: never.
  o.env["TRACKER_PAGER"] = "sed s/^/PAGED:/";
  CHECK(run({TRACKER_BIN, "list"}, o).out.starts_with("ID"));
}

TEST_CASE("board shows the open stages as columns of cards, filtered by stage and label, plain in a pipe") {
  Board board;
  fs::path root = board.root();
  board.create({"Login page", "--priority", "2", "--label", "auth"});               // 1
  board.create({"Fix the crash on an empty password", "--type", "bug", "--label", "auth"});  // 2
  board.create({"日本語のタイトルがとても長い場合の表示について", "--priority", "5"});  // 3
  board.create({"Shipped"});                                                         // 4
  REQUIRE(run_tracker(root, {"claim", "2", "--owner", "ann"}).code == 0);
  REQUIRE(run_tracker(root, {"move", "4", "done"}).code == 0);
  REQUIRE(run_tracker(root, {"block", "1", "--reason", "design"}).code == 0);
  auto board_at = [&](int columns, std::vector<std::string> args = {}) {
    RunOptions o;
    o.cwd = root;
    o.env["COLUMNS"] = std::to_string(columns);
    args.insert(args.begin(), {TRACKER_BIN, "board"});
    auto r = run(args, o);
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(r.out.find('\033') == std::string::npos);  // no colour in a pipe
    // No line is wider than the terminal, wide letters counted as two columns.
    for (const auto& row : lines(r.out)) CHECK(tracker::cli::display_width(row) <= static_cast<std::size_t>(columns));
    return lines(r.out);
  };

  // 200 columns: the four open stages side by side, 48 columns each and a gap of 2.
  std::vector<std::string> rows = board_at(200);
  CHECK(rows[0].starts_with("backlog (2) "));
  CHECK(rows[0].find("current (1)") == 50);
  CHECK(rows[0].find("qa (0)") == 100);
  CHECK(rows[2].starts_with("#3 P5 日本語のタイトルがとても長い場合の表示に…"));  // priority 5 first, cut to 48
  auto second = rows[2].find("#2 bug Fix the crash on an empty password");
  REQUIRE(second != std::string::npos);
  CHECK(tracker::cli::display_width(rows[2].substr(0, second)) == 50);  // wide letters count two columns
  CHECK(rows[3].starts_with("#1 P2 Login page"));
  CHECK(rows[3].find("@ann  auth") != std::string::npos);  // who holds it, then the labels
  CHECK(rows[4] == "  auth  blocked");
  CHECK(rows.back() == "Cards by priority: a higher number first (P5 before P2), then by id");
  // A card is one line, or two when it has labels, a holder or a block: no age line.
  CHECK(rows.size() == 2 + 3 + 2);

  // 80 columns: too narrow for four columns: the stages one under another, each
  // card cut to the width (a wide letter is not cut in half).
  rows = board_at(80);
  CHECK(rows[0] == "backlog (2)");
  CHECK(rows[1] == "-----------");
  CHECK(rows[2] == "#3 P5 日本語のタイトルがとても長い場合の表示について");
  CHECK(rows[3] == "#1 P2 Login page");
  CHECK(rows[4] == "  auth  blocked");
  CHECK(std::find(rows.begin(), rows.end(), "current (1)") != rows.end());
  CHECK(std::find(rows.begin(), rows.end(), "#2 bug Fix the crash on an empty password") != rows.end());

  // 40 columns: the same, cut to 40.
  rows = board_at(40);
  CHECK(rows[2] == "#3 P5 日本語のタイトルがとても長い場合…");
  CHECK(tracker::cli::display_width(rows[2]) <= 40);
  CHECK(std::find(rows.begin(), rows.end(), "#2 bug Fix the crash on an empty passwo…") != rows.end());

  // The done stages only when asked for; the label filter.
  std::string open = run_tracker(root, {"board"}).out;
  CHECK(open.find("done (") == std::string::npos);
  CHECK(open.find("Shipped") == std::string::npos);
  std::string all = run_tracker(root, {"board", "--all"}).out;
  CHECK(all.find("done (1)") != std::string::npos);
  std::string auth = run_tracker(root, {"board", "--label", "auth"}).out;
  CHECK(auth.find("日本語") == std::string::npos);
  CHECK(auth.find("backlog (1)") != std::string::npos);
  json j = json::parse(run_tracker(root, {"board", "--json"}).out);
  CHECK(j[0]["stage"] == "backlog");
  CHECK(j[0]["stories"].size() == 2);
  CHECK(run_tracker(root, {"board", "--stage", "nosuch"}).code == 2);
  // On a terminal, colour.
  if (run({"sh", "-c", "command -v script"}).code == 0) {
    RunOptions o;
    o.cwd = root;
    auto tty = run({"script", "-qec", "stty cols 200; " + std::string(TRACKER_BIN) + " --no-pager board", "/dev/null"}, o);
    CHECK(tty.out.find("\033[1mbacklog (2)") != std::string::npos);
    CHECK(tty.out.find("\033[33m#3 P5\033[0m") != std::string::npos);
    // Long boards go through the pager on a terminal, as list does.
    o.env["TRACKER_PAGER"] = "sed s/^/paged:/";
    auto paged = run({"script", "-qec", "stty cols 200; " + std::string(TRACKER_BIN) + " board", "/dev/null"}, o);
    CHECK(paged.out.find("paged:") != std::string::npos);
  }
}
