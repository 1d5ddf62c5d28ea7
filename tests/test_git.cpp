#include <catch2/catch.hpp>

#include <tracker/git.hpp>
#include "helpers.hpp"

using testing::Board;
using testing::git;
using testing::run_tracker;
using testing::TempDir;
namespace fs = std::filesystem;

TEST_CASE("a commit holds only the tool's paths, what the user staged stays staged") {
  Board board;
  long id = board.create({"Story"});
  testing::write(board.root() / "notes.txt", "staged by the user\n");
  testing::write(board.root() / "other.txt", "not staged\n");
  git(board.root(), {"add", "notes.txt"});

  REQUIRE(run_tracker(board.root(), {"move", std::to_string(id), "current"}).code == 0);
  std::string files = git(board.root(), {"show", "--name-status", "--format=", "-M", "HEAD"});
  CHECK(files.find("notes.txt") == std::string::npos);
  CHECK(files.find("R100") != std::string::npos);
  CHECK(git(board.root(), {"diff", "--cached", "--name-only"}) == "notes.txt\n");
  std::string status = git(board.root(), {"status", "--porcelain"});
  CHECK(status == "A  notes.txt\n?? other.txt\n");
}

TEST_CASE("author and committer come from the environment, else from git config") {
  Board board;
  board.create({"From env"});
  CHECK(git(board.root(), {"log", "-1", "--format=%an <%ae>|%cn <%ce>"}) ==
        "Test Author <author@example.com>|Test Committer <committer@example.com>\n");

  git(board.root(), {"config", "user.name", "Config User"});
  git(board.root(), {"config", "user.email", "config@example.com"});
  testing::RunOptions no_env;
  for (const char* v : {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"})
    no_env.env[v] = "\x01unset";
  no_env.env["GIT_AUTHOR_DATE"] = "@1700000000 +0100";
  REQUIRE(run_tracker(board.root(), {"new", "From config"}, no_env).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%an <%ae>|%cn <%ce>|%ad"}) ==
        "Config User <config@example.com>|Config User <config@example.com>|Tue Nov 14 23:13:20 2023 +0100\n");
}

TEST_CASE("without any identity the commit fails clearly, before any file is written") {
  Board board;
  testing::RunOptions no_env;
  for (const char* v : {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"})
    no_env.env[v] = "\x01unset";
  no_env.env["HOME"] = board.root().string();
  auto r = run_tracker(board.root(), {"new", "Nobody"}, no_env);
  CHECK(r.code == 1);
  CHECK(r.err.find("git config user.name") != std::string::npos);
  CHECK_FALSE(fs::exists(board.root() / "work" / "1_backlog" / "1_story_nobody.md"));
  // The id was not used up: the retry gets #1.
  auto again = run_tracker(board.root(), {"new", "Nobody"});
  REQUIRE(again.code == 0);
  CHECK(again.out == "1\n");
}

TEST_CASE("an unborn HEAD gets a root commit") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "-b", "trunk"});
  REQUIRE(run_tracker(dir.path(), {"--no-commit", "init"}).code == 0);
  CHECK(testing::run({"git", "-C", dir.path().string(), "rev-parse", "--verify", "-q", "HEAD"}).code != 0);
  REQUIRE(run_tracker(dir.path(), {"new", "First"}).code == 0);
  CHECK(git(dir.path(), {"rev-list", "--count", "trunk"}) == "1\n");
  CHECK(git(dir.path(), {"log", "-1", "--format=%P"}) == "\n");  // no parent
  CHECK(git(dir.path(), {"show", "--name-only", "--format=", "HEAD"}) == "work/1_backlog/1_story_first.md\n");
}

TEST_CASE("a detached HEAD moves and the branch stays") {
  Board board;
  std::string main_before = git(board.root(), {"rev-parse", "main"});
  git(board.root(), {"checkout", "-q", "--detach"});
  REQUIRE(run_tracker(board.root(), {"new", "Detached"}).code == 0);
  CHECK(git(board.root(), {"rev-parse", "main"}) == main_before);
  CHECK(git(board.root(), {"rev-parse", "HEAD~1"}) == main_before);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: create #1 Detached\n");
}

TEST_CASE("no-commit mode changes the files and commits nothing") {
  Board board;
  long id = board.create({"Story"});
  int before = board.commit_count();
  REQUIRE(run_tracker(board.root(), {"--no-commit", "move", std::to_string(id), "qa"}).code == 0);
  CHECK(board.commit_count() == before);
  CHECK(fs::exists(board.root() / "work" / "3_qa" / "1_story_story.md"));
}

TEST_CASE("format_commit_message puts trailers after a blank line") {
  tracker::CommitRequest r{
      "tracker: move #42 backlog -> current", {{"Tracker-Action", "move"}, {"Tracker-Story", "42"}}, {}};
  CHECK(tracker::format_commit_message(r) ==
        "tracker: move #42 backlog -> current\n\nTracker-Action: move\nTracker-Story: 42\n");
}

TEST_CASE("a worktree commits on its own branch and shares the id sequence") {
  Board board;
  REQUIRE(run_tracker(board.root(), {"new", "In main"}).code == 0);
  TempDir other;
  fs::path wt = other.path() / "wt";
  git(board.root(), {"worktree", "add", "-q", "-b", "side", wt.string()});
  auto r = run_tracker(wt, {"new", "In worktree"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "2\n");  // ids come from the shared high-water mark
  CHECK(git(wt, {"log", "-1", "--format=%s"}) == "tracker: create #2 In worktree\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%s", "main"}) == "tracker: create #1 In main\n");
  CHECK(git(wt, {"status", "--porcelain"}).empty());
  CHECK(fs::exists(board.root() / ".git/worktrees/wt/tracker/index.db"));  // the index is per worktree
  REQUIRE(run_tracker(board.root(), {"new", "Back in main"}).code == 0);
  CHECK(board.path_of(3) == "work/1_backlog/3_story_back-in-main.md");
}
