// The native commit writer (src/gitnative.cpp) against libgit2 and against git
// itself: the same commits byte for byte, a git index git agrees with, packed
// objects read through their deltas, and libgit2 where the writer steps aside.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <csignal>
#include <sstream>

using testing::Board;
using testing::git;
using testing::run_tracker;
using testing::RunOptions;
using testing::TempDir;
namespace fs = std::filesystem;

namespace {

RunOptions fixed_dates(bool libgit2) {
  RunOptions o;
  o.env["GIT_AUTHOR_DATE"] = "@1790000000 +0130";
  o.env["GIT_COMMITTER_DATE"] = "@1790000100 -0700";
  o.env["TRACKER_LIBGIT2"] = libgit2 ? "1" : "\x01unset";
  return o;
}

/// The same actions on `dir`, natively or through libgit2; returns HEAD.
std::string act(const fs::path& dir, bool libgit2) {
  RunOptions o = fixed_dates(libgit2);
  for (const auto& args : std::vector<std::vector<std::string>>{{"move", "1", "current"},
                                                                 {"claim", "2", "--owner", "ann"},
                                                                 {"set", "3", "priority=4"},
                                                                 {"done", "1"},
                                                                 {"block", "4", "--reason", "waits"}}) {
    auto r = run_tracker(dir, args, o);
    INFO(args[0] << ": " << r.err);
    REQUIRE(r.code == 0);
  }
  return git(dir, {"rev-parse", "HEAD"});
}

void copy_tree(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

/// What git itself says about the repository after our commits.
void check_git_agrees(const fs::path& dir) {
  CHECK(git(dir, {"status", "--porcelain"}).empty());
  CHECK(git(dir, {"diff", "--cached", "--name-only"}).empty());
  // The cache tree of the git index was invalidated where it had to be: the tree git
  // writes from the index is HEAD's.
  CHECK(git(dir, {"write-tree"}) == git(dir, {"rev-parse", "HEAD^{tree}"}));
  auto fsck = testing::run({"git", "-C", dir.string(), "fsck", "--strict", "--no-progress"});
  CHECK(fsck.code == 0);
  CHECK(fsck.err.empty());
}

}  // namespace

TEST_CASE("native commits are libgit2's, byte for byte, and git agrees with the index they leave") {
  Board board;
  for (int i = 1; i <= 4; ++i) board.create({"Story " + std::to_string(i)});
  git(board.root(), {"write-tree"});  // a cache tree (TREE extension) in the git index
  TempDir other;
  fs::path copy = other.path() / "copy";
  copy_tree(board.root(), copy);

  std::string native = act(board.root(), false);
  std::string libgit2 = act(copy, true);
  CHECK(native == libgit2);
  CHECK(git(board.root(), {"ls-files", "-s"}) == git(copy, {"ls-files", "-s"}));
  check_git_agrees(board.root());
  // The reflogs of the branch and of HEAD record each commit.
  CHECK(git(board.root(), {"reflog", "-1", "--format=%gs", "main"}) == "commit: tracker: block #4\n");
  CHECK(git(board.root(), {"reflog", "-1", "--format=%gs", "HEAD"}) == "commit: tracker: block #4\n");
}

TEST_CASE("native commits read packed objects through their delta chains") {
  Board board;
  for (int i = 1; i <= 30; ++i) board.create({"Story " + std::to_string(i)});
  for (int i = 1; i <= 10; ++i) REQUIRE(run_tracker(board.root(), {"move", std::to_string(i), "qa"}).code == 0);
  git(board.root(), {"gc", "-q", "--aggressive", "--prune=now"});
  REQUIRE(fs::is_empty(board.root() / ".git/objects/pack") == false);
  TempDir other;
  fs::path copy = other.path() / "copy";
  copy_tree(board.root(), copy);

  std::string native = act(board.root(), false);
  CHECK(native == act(copy, true));
  check_git_agrees(board.root());
}

namespace {

std::vector<fs::path> packs(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir / ".git/objects/pack"))
    if (e.path().extension() == ".pack") out.push_back(e.path());
  return out;
}

/// The longest delta chain `git verify-pack -v` reports across the packs.
int longest_chain(const fs::path& dir) {
  int longest = 0;
  for (const auto& pack : packs(dir)) {
    fs::path idx = pack;
    auto r = testing::run({"git", "-C", dir.string(), "verify-pack", "-v", idx.replace_extension(".idx").string()});
    REQUIRE(r.code == 0);
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      if (line.starts_with("chain length = ")) longest = std::max(longest, std::stoi(line.substr(15)));
  }
  return longest;
}

}  // namespace

TEST_CASE("native commits write their objects as one pack, which takes over the last small one") {
  Board board;
  std::string loose_before = git(board.root(), {"count-objects"});
  for (int i = 1; i <= 40; ++i) REQUIRE(run_tracker(board.root(), {"new", "Story " + std::to_string(i)}).code == 0);
  for (int i = 1; i <= 30; ++i) REQUIRE(run_tracker(board.root(), {"move", std::to_string(i), "qa"}).code == 0);
  // One pack: each commit's pack holds the one before it whole. Stage trees are
  // deltas, never more than 16 deep. No loose object: the blobs are in the pack too.
  CHECK(packs(board.root()).size() == 1);
  CHECK(longest_chain(board.root()) > 1);
  CHECK(longest_chain(board.root()) <= 16);
  CHECK(git(board.root(), {"count-objects"}) == loose_before);
  check_git_agrees(board.root());
  CHECK(git(board.root(), {"log", "--format=%s", "-1"}) == "tracker: move #30 backlog -> qa\n");
  // git's own small pack is taken over too.
  git(board.root(), {"gc", "-q", "--prune=now"});
  REQUIRE(run_tracker(board.root(), {"move", "40", "qa"}).code == 0);
  CHECK(packs(board.root()).size() == 1);
  check_git_agrees(board.root());

  // A pack with a .keep file is git's to manage: a commit leaves it alone.
  fs::path kept = packs(board.root()).front();
  testing::write(fs::path(kept).replace_extension(".keep"), "");
  REQUIRE(run_tracker(board.root(), {"move", "31", "qa"}).code == 0);
  CHECK(fs::exists(kept));
  CHECK(packs(board.root()).size() == 2);
  fs::remove(fs::path(kept).replace_extension(".keep"));
  check_git_agrees(board.root());

  // A pack far larger than its largest object is not copied: a new pack beside it.
  for (int i = 0; i < 24; ++i) {
    std::string noise;
    std::uint64_t x = 88172645463325252ull + static_cast<std::uint64_t>(i);
    for (int j = 0; j < 80 * 1024; ++j) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      noise += static_cast<char>(x);
    }
    testing::write(board.root() / ("noise" + std::to_string(i) + ".bin"), noise);
  }
  git(board.root(), {"add", "-A"});
  git(board.root(), {"commit", "-qm", "noise"});
  git(board.root(), {"gc", "-q", "--prune=now"});
  REQUIRE(packs(board.root()).size() == 1);
  fs::path big = packs(board.root()).front();
  REQUIRE(fs::file_size(big) > (1 << 20));
  REQUIRE(run_tracker(board.root(), {"move", "32", "qa"}).code == 0);
  CHECK(fs::exists(big));
  CHECK(packs(board.root()).size() == 2);
  REQUIRE(run_tracker(board.root(), {"move", "33", "qa"}).code == 0);
  CHECK(packs(board.root()).size() == 2);  // the small new one was taken over
  check_git_agrees(board.root());
}

TEST_CASE("packed refs, a branch in a subdirectory and a git that holds index.lock") {
  Board board;
  board.create({"One"});
  git(board.root(), {"checkout", "-q", "-b", "team/board"});
  git(board.root(), {"pack-refs", "--all"});
  REQUIRE(!fs::exists(board.root() / ".git/refs/heads/team/board"));
  std::string before = git(board.root(), {"rev-parse", "HEAD"});
  REQUIRE(run_tracker(board.root(), {"new", "Two"}).code == 0);
  CHECK(git(board.root(), {"rev-parse", "team/board~1"}) == before);
  CHECK(git(board.root(), {"rev-parse", "main"}) == before);
  check_git_agrees(board.root());

  // A git command holding index.lock: the commit lands, and the index is updated
  // once the lock goes away.
  testing::write(board.root() / ".git/index.lock", "");
  int holder = testing::spawn({"sh", "-c", "sleep 0.3; rm -f '" + (board.root() / ".git/index.lock").string() + "'"});
  REQUIRE(run_tracker(board.root(), {"move", "1", "qa"}).code == 0);
  testing::wait_for(holder);
  check_git_agrees(board.root());
}

TEST_CASE("the identity comes from git config files as git reads them") {
  Board board;
  TempDir home;
  testing::write(home.path() / ".gitconfig",
                 "# a global config\n[User]\n\tname = \"Quoted  Name\" ; a comment\n"
                 "\temail = quoted@example.com   \n[core]\n\teditor = vi\n");
  RunOptions o;
  for (const char* v : {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"}) o.env[v] = "\x01unset";
  o.env["HOME"] = home.path().string();
  o.env["XDG_CONFIG_HOME"] = (home.path() / "xdg").string();
  o.env["GIT_CONFIG_NOSYSTEM"] = "1";
  o.env["GIT_CONFIG_GLOBAL"] = "\x01unset";
  REQUIRE(run_tracker(board.root(), {"new", "Configured"}, o).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%an <%ae>|%cn <%ce>"}) ==
        "Quoted  Name <quoted@example.com>|Quoted  Name <quoted@example.com>\n");

  // The repository's config wins over the global one.
  git(board.root(), {"config", "user.name", "Repo User"});
  REQUIRE(run_tracker(board.root(), {"new", "Local"}, o).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%an <%ae>"}) == "Repo User <quoted@example.com>\n");
}

TEST_CASE("repositories the native writer does not handle commit through libgit2") {
  auto check_commits = [](const fs::path& root) {
    std::string before = git(root, {"rev-parse", "HEAD"});
    REQUIRE(run_tracker(root, {"new", "Through libgit2"}).code == 0);
    CHECK(git(root, {"rev-parse", "HEAD~1"}) == before);
    CHECK(git(root, {"log", "-1", "--format=%s"}) == "tracker: create #2 Through libgit2\n");
    CHECK(git(root, {"status", "--porcelain"}).empty());
  };
  SECTION("index version 4") {
    Board board;
    board.create({"One"});
    git(board.root(), {"update-index", "--index-version", "4"});
    check_commits(board.root());
  }
  SECTION("a config with an include") {
    Board board;
    board.create({"One"});
    TempDir extra;
    testing::write(extra.path() / "inc", "[user]\n\tname = Included\n");
    git(board.root(), {"config", "include.path", (extra.path() / "inc").string()});
    check_commits(board.root());
  }
}

TEST_CASE("the commit queue: an older tracker's request is committed, an answered one is not redone") {
  Board board;
  board.create({"One"});
  board.create({"Two"});
  fs::path queue = board.root() / ".git/tracker/commit-queue";
  fs::create_directories(queue);
  int waiter = testing::spawn({"sleep", "30"});  // the live process the requests name
  std::string pid = std::to_string(waiter);

  // Version 1 (an older tracker): the blob is already written loose.
  testing::write(board.root() / "notes.txt", "queued\n");
  std::string blob = git(board.root(), {"hash-object", "-w", "notes.txt"});
  blob.pop_back();
  std::string message = "queued by an older tracker\n";
  testing::write(queue / ("00000000000000000001-" + pid + "-0000000000000001.req"),
                 "tracker-commit 1\nauthor Old <old@example.com> 1790000000 +0000\n"
                 "committer Old <old@example.com> 1790000000 +0000\nsubject queued by an older tracker\n"
                 "change 0 0 " + blob + " 0 0 0 0 0 0 0 0 7 9 notes.txt\nmessage " +
                     std::to_string(message.size()) + "\n" + message);
  // Answered by a leader that died before renaming it: not committed again.
  std::string answered = "tracker-commit 2\nauthor Old <old@example.com> 1790000000 +0000\n"
                         "committer Old <old@example.com> 1790000000 +0000\nsubject done already\n"
                         "message 13\ndone already\n\nanswer " + std::string(40, 'a') + "\n";
  testing::write(queue / ("00000000000000000002-" + pid + "-0000000000000002.req"), answered);

  REQUIRE(run_tracker(board.root(), {"move", "1", "qa"}).code == 0);
  CHECK(git(board.root(), {"log", "-3", "--format=%s"}) ==
        "tracker: move #1 backlog -> qa\nqueued by an older tracker\ntracker: create #2 Two\n");
  CHECK(git(board.root(), {"show", "HEAD~1:notes.txt"}) == "queued\n");
  // Each request became its answer, for its process to read.
  std::string first = testing::read(queue / ("00000000000000000001-" + pid + "-0000000000000001.sha"));
  CHECK(first.ends_with("\nanswer " + git(board.root(), {"rev-parse", "HEAD~1"})));
  CHECK(testing::read(queue / ("00000000000000000002-" + pid + "-0000000000000002.sha")) == answered);
  CHECK(!fs::exists(queue / ("00000000000000000001-" + pid + "-0000000000000001.req")));
  CHECK(!fs::exists(queue / ("00000000000000000002-" + pid + "-0000000000000002.req")));
  ::kill(waiter, SIGKILL);
  testing::wait_for(waiter);
  check_git_agrees(board.root());
}
