// Faults on the commit path: each gives a clear error, and afterwards the board on
// disk and HEAD agree.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

using testing::Board;
using testing::BoardState;
using testing::can_unshare;
using testing::in_namespace;
using testing::git;
using testing::read;
using testing::run;
using testing::run_tracker;
using testing::RunOptions;
using testing::TempDir;
using testing::write;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

/// "key=value" lines of a script's output.
std::map<std::string, std::string> values(const std::string& out) {
  std::map<std::string, std::string> v;
  for (const auto& line : testing::lines(out))
    if (auto eq = line.find('='); eq != std::string::npos) v[line.substr(0, eq)] += line.substr(eq + 1);
  return v;
}

}  // namespace

TEST_CASE(
    "a stale index.lock: the commit lands, the warning names the lock, and the next command updates the git index") {
  Board board;
  board.create({"Alpha"});
  write(board.root() / ".git/index.lock", "");
  auto r = run_tracker(board.root(), {"move", "1", "current"});
  CHECK(r.code == 0);
  CHECK(r.out == "moved #1 backlog -> current\n");
  CHECK(r.err.find("tracker: warning: committed ") == 0);
  CHECK(r.err.find("index.lock exists") != std::string::npos);
  CHECK(r.err.find("rm -f " + (board.root() / ".git/index.lock").string()) != std::string::npos);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: move #1 backlog -> current\n");
  CHECK(fs::exists(board.root() / "work/2_current/1_story_alpha.md"));

  // A new story under the stale lock is created once: the command succeeds, so
  // nobody retries it.
  auto n = run_tracker(board.root(), {"new", "Beta", "--json"});
  CHECK(n.code == 0);
  CHECK(json::parse(n.out)["id"] == 2);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: create #2 Beta\n");

  fs::remove(board.root() / ".git/index.lock");
  auto l = run_tracker(board.root(), {"list"});
  CHECK(l.code == 0);
  CHECK(l.err.empty());
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  fs::path pending = board.root() / ".git/tracker/pending-index";
  CHECK((!fs::exists(pending) || fs::is_empty(pending)));
}

TEST_CASE("a stale ref lock: nothing is committed, the files are put back, and the lock is named") {
  Board board;
  board.create({"Alpha"});
  fs::path lock = board.root() / ".git/refs/heads/main.lock";
  write(lock, "");
  REQUIRE(run({"touch", "-d", "3 minutes ago", lock.string()}).code == 0);
  BoardState before(board.root(), BoardState::Status::no);

  auto r = run_tracker(board.root(), {"move", "1", "current"});
  CHECK(r.code == 3);
  CHECK(r.err.find("refs/heads/main is locked: " + lock.string() + " exists (last changed 3 minutes ago)") !=
        std::string::npos);
  CHECK(r.err.find("rm -f " + lock.string()) != std::string::npos);
  CHECK(r.err.find("nothing was committed") != std::string::npos);
  CHECK(BoardState(board.root(), BoardState::Status::no) == before);

  auto n = run_tracker(board.root(), {"new", "Beta"});
  CHECK(n.code == 3);
  CHECK(BoardState(board.root(), BoardState::Status::no) == before);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());

  fs::remove(lock);
  n = run_tracker(board.root(), {"new", "Beta"});
  CHECK(n.code == 0);
  CHECK(n.out == "2\n");  // the refused attempt gave its id back
}

TEST_CASE("a corrupt git index: the commit is refused before any file changes") {
  Board board;
  board.create({"Alpha"});
  BoardState before(board.root(), BoardState::Status::no);
  write(board.root() / ".git/index", "DIRC this is not an index");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"move", "1", "current"}, {"new", "Beta"}, {"set", "1", "priority=4"}}) {
    auto r = run_tracker(board.root(), args);
    CHECK(r.code == 1);
    CHECK(r.err.find("cannot read the git index") != std::string::npos);
    CHECK(r.err.find("git reset") != std::string::npos);
    CHECK(BoardState(board.root(), BoardState::Status::no) == before);
  }
}

namespace {

/// A fault made in a mount namespace of its own, on a board of two stories: the
/// commands run under it one by one, then it is undone and a move must work.
struct Fault {
  std::string before;  ///< run in $D before the board is made there (a mount)
  std::string make;    ///< makes the fault
  std::vector<std::string> commands;
  std::string undo;
};

/// Runs `fault`; "key=value" lines: rc, err and head (each once per command, run
/// together), files, beta (the line `set 2 priority=7` would write), claims, after
/// (the move's exit status once the fault is undone), status and fsck.
std::map<std::string, std::string> run_fault(const Fault& fault) {
  TempDir dir;
  std::string script = "set -e\ncd \"$D\"\n" + fault.before +
                       "\ncd \"$D\"\ngit init -q -b main\n\"$T\" init > /dev/null\n\"$T\" new Alpha > /dev/null\n"
                       "\"$T\" new Beta > /dev/null\n\"$T\" list > /dev/null\nhead=$(git rev-parse HEAD)\n" +
                       fault.make + "\nset +e\n";
  for (const auto& command : fault.commands)
    script += "err=$(\"$T\" " + command +
              " 2>&1 > /dev/null); echo \"rc=$?\"\n"
              "echo \"err=$(echo \"$err\" | head -c 300 | tr '\\n' ' ')\"\n"
              "[ \"$(git rev-parse HEAD)\" = \"$head\" ] && echo head=same || echo head=moved\n";
  script +=
      "echo \"files=$(find work -name '*.md' | sort | tr '\\n' ' ')\"\n"
      "echo \"beta=$(grep -c 'priority: 7' work/1_backlog/2_story_beta.md)\"\n"
      "echo \"claims=$(ls .git/tracker/claims 2> /dev/null | wc -l)\"\n" +
      fault.undo +
      "\n\"$T\" move 1 current > /dev/null 2>&1; echo \"after=$?\"\n"
      "echo \"status=$(git status --porcelain -- work | tr '\\n' ' ')\"\n"
      "git fsck --strict --no-dangling > /dev/null 2>&1; echo \"fsck=$?\"\n";
  auto r = in_namespace(script, dir.path());
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  return values(r.out);
}

/// What every fault must leave: each command failed and changed nothing, and once
/// the fault is gone the board works and the repository is whole.
void check_fault_left_nothing(std::map<std::string, std::string>& v, std::size_t commands) {
  CHECK(v["rc"] == std::string(commands, '1'));
  std::string same;
  for (std::size_t i = 0; i < commands; ++i) same += "same";
  CHECK(v["head"] == same);
  CHECK(v["files"] == "work/1_backlog/1_story_alpha.md work/1_backlog/2_story_beta.md ");
  CHECK(v["beta"] == "0");
  CHECK(v["claims"] == "0");
  CHECK(v["after"] == "0");
  CHECK(v["status"].empty());
  CHECK(v["fsck"] == "0");
}

const std::vector<std::string> kWrites = {"move 1 current", "set 2 priority=7", "new Gamma", "claim 1 --owner bot"};

}  // namespace

TEST_CASE("a full disk: the commit fails with a clear error and the board and HEAD agree") {
  if (!can_unshare()) {
    WARN("skipped: this machine gives tests no mount namespace");
    return;
  }
  auto v = run_fault({"mount -t tmpfs -o size=4m tmpfs \"$D\"",
                      "dd if=/dev/zero of=\"$D/.fill\" bs=16k 2> /dev/null || true", kWrites, "rm -f \"$D/.fill\""});
  // SQLite's index or git's objects, whichever is written first, says so.
  CHECK((v["err"].find("No space left on device") != std::string::npos ||
         v["err"].find("database or disk is full") != std::string::npos));
  check_fault_left_nothing(v, kWrites.size());
}

TEST_CASE("a full object store: git's write fails, nothing is committed and the files are put back") {
  if (!can_unshare()) {
    WARN("skipped: this machine gives tests no mount namespace");
    return;
  }
  auto v =
      run_fault({"",
                 "cp -a .git/objects .saved && mount -t tmpfs -o size=256k tmpfs .git/objects && "
                 "cp -a .saved/. .git/objects/ && (dd if=/dev/zero of=.git/objects/fill bs=4k 2> /dev/null || true)",
                 kWrites, "rm -f .git/objects/fill"});
  CHECK(v["err"].find("No space left on device") != std::string::npos);
  CHECK(v["err"].find("nothing was committed") != std::string::npos);
  check_fault_left_nothing(v, kWrites.size());
}

TEST_CASE("a read-only object directory: the commit fails with a clear error and the board and HEAD agree") {
  if (!can_unshare()) {
    WARN("skipped: this machine gives tests no mount namespace");
    return;
  }
  auto v = run_fault({"", "mount --bind .git/objects .git/objects && mount -o remount,bind,ro .git/objects", kWrites,
                      "mount -o remount,bind,rw .git/objects"});
  CHECK(v["err"].find("Read-only file system") != std::string::npos);
  check_fault_left_nothing(v, kWrites.size());
}

TEST_CASE("doctor repairs a git index left behind HEAD and commits a move left uncommitted") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  REQUIRE(run_tracker(board.root(), {"move", "1", "current"}).code == 0);
  // The git index as a crash between the ref update and the index update leaves it.
  git(board.root(), {"update-index", "--force-remove", "work/2_current/1_story_alpha.md"});
  std::string blob = git(board.root(), {"rev-parse", "HEAD~1:work/1_backlog/1_story_alpha.md"});
  git(board.root(),
      {"update-index", "--add", "--cacheinfo", "100644," + blob.substr(0, 40) + ",work/1_backlog/1_story_alpha.md"});
  // A move left uncommitted, as a crash between the rename and the commit leaves it.
  fs::rename(board.root() / "work/1_backlog/2_story_beta.md", board.root() / "work/3_qa/2_story_beta.md");
  // Temp files of dead processes.
  write(board.root() / ".git/tracker/tmp/.1_story_alpha.md.999.0123456789abcdef.tmp", "half");
  write(board.root() / "work/2_current/.1_story_alpha.md.999.0123456789abcdef.tmp", "half");
  for (const char* p : {".git/tracker/tmp/.1_story_alpha.md.999.0123456789abcdef.tmp",
                        "work/2_current/.1_story_alpha.md.999.0123456789abcdef.tmp"})
    REQUIRE(run({"touch", "-d", "1 minute ago", (board.root() / p).string()}).code == 0);
  std::string head = git(board.root(), {"rev-parse", "HEAD"});

  auto dry = run_tracker(board.root(), {"doctor", "--dry-run", "--json"});
  REQUIRE(dry.code == 0);
  json report = json::parse(dry.out);
  std::multiset<std::string> kinds;
  for (const auto& f : report["findings"]) {
    kinds.insert(f["kind"].get<std::string>());
    CHECK(f["repaired"] == false);
  }
  CHECK(kinds == std::multiset<std::string>{"git-index", "git-index", "temp-file", "temp-file", "uncommitted-move"});
  CHECK(git(board.root(), {"rev-parse", "HEAD"}) == head);  // the dry run changed nothing
  CHECK(fs::exists(board.root() / "work/2_current/.1_story_alpha.md.999.0123456789abcdef.tmp"));

  auto fix = run_tracker(board.root(), {"doctor"});
  INFO(fix.err);
  REQUIRE(fix.code == 0);
  CHECK(fix.out.find("work/2_current/1_story_alpha.md: git-index:") != std::string::npos);
  CHECK(fix.out.find("uncommitted-move: moved from backlog to qa on disk but not in HEAD; committed") !=
        std::string::npos);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: move #2 backlog -> qa (finished by doctor)\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK_FALSE(fs::exists(board.root() / "work/2_current/.1_story_alpha.md.999.0123456789abcdef.tmp"));
  auto again = run_tracker(board.root(), {"doctor"});
  CHECK(again.code == 0);
  CHECK(again.out.empty());
  CHECK(again.err == "doctor: nothing to repair\n");
}

TEST_CASE("doctor leaves a young git lock alone and removes one a dead tracker left") {
  Board board;
  write(board.root() / ".git/index.lock", "DIRC");  // git's, with content, just made
  auto r = run_tracker(board.root(), {"doctor"});
  CHECK(r.code == 0);
  CHECK(r.out.find("left alone") != std::string::npos);
  CHECK(fs::exists(board.root() / ".git/index.lock"));
  write(board.root() / ".git/index.lock", "");  // empty and held by nobody: a dead tracker's
  REQUIRE(run({"touch", "-d", "10 seconds ago", (board.root() / ".git/index.lock").string()}).code == 0);
  r = run_tracker(board.root(), {"doctor"});
  CHECK(r.code == 0);
  CHECK(r.out.find("removed") != std::string::npos);
  CHECK_FALSE(fs::exists(board.root() / ".git/index.lock"));
}

TEST_CASE("a libgit2 that cannot be loaded is an error that names it, never taken for a repository without commits") {
  Board board;
  // A library of libgit2's name that lacks its functions, found first on the path.
  TempDir libs;
  fs::path source = libs.path() / "empty.c";
  write(source, "int tracker_test_nothing(void) { return 0; }\n");
  REQUIRE(run({"cc", "-shared", "-fPIC", "-o", (libs.path() / TRACKER_LIBGIT2_SONAME).string(), source.string()}).code ==
          0);
  RunOptions o;
  o.env["LD_LIBRARY_PATH"] = libs.path().string();
  std::string head = git(board.root(), {"rev-parse", "HEAD"});
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"init"}, std::vector<std::string>{"new", "Lost?"}}) {
    auto r = run_tracker(board.root(), args, o);
    INFO(args[0] << ": " << r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("tracker: cannot load libgit2: " TRACKER_LIBGIT2_SONAME " lacks git_") == 0);
  }
  CHECK(git(board.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}
