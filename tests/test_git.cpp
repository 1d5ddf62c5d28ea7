#include <catch2/catch.hpp>

#include <tracker/git.hpp>
#include "helpers.hpp"

#include <tracker/error.hpp>

#include <algorithm>

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

// The readers sync uses (GitRepo::commits, tree_changes, files_at, resolve, head_ref,
// refs_under) against the git executable's own answers on the same repository: a
// root commit, a side branch merged in, a file made a symlink, a file removed, and
// an author date with a negative zone.
TEST_CASE("libgit2's history, tree and ref readers give what git log, diff-tree, ls-tree and for-each-ref give") {
  TempDir dir;
  fs::path r = dir.path();
  git(r, {"init", "-q", "-b", "main"});
  auto commit = [&](const std::string& message, const std::string& date) {
    git(r, {"add", "-A"});
    testing::RunOptions o;
    o.cwd = r;
    o.env["GIT_AUTHOR_DATE"] = date;
    REQUIRE(testing::run({"git", "commit", "-q", "-m", message}, o).code == 0);
  };
  testing::write(r / "a.txt", "a\n");
  testing::write(r / "dir/b.txt", "b\n");
  commit("root\n\nwith a body", "@1700000000 -0330");
  git(r, {"checkout", "-q", "-b", "side"});
  testing::write(r / "dir/side.txt", "side\n");
  commit("on the side", "@1700000100 +0000");
  git(r, {"checkout", "-q", "main"});
  fs::remove(r / "a.txt");
  fs::create_symlink("dir/b.txt", r / "a.txt");
  testing::write(r / "dir/c.txt", "c\n");
  commit("main: a symlink, c added", "@1700000200 +0100");
  git(r, {"merge", "-q", "--no-edit", "side"});
  fs::remove(r / "dir/b.txt");
  commit("b removed", "@1700000300 +0530");
  git(r, {"update-ref", "refs/tracker/remote-claims/7", "HEAD~1"});
  git(r, {"update-ref", "refs/tracker/remote-claims/12", "HEAD"});

  tracker::GitRepo repo = tracker::GitRepo::open(r);
  auto shas = [](const std::vector<tracker::GitRepo::CommitRecord>& list) {
    std::string out;
    for (const auto& c : list) out += c.sha + "\n";
    return out;
  };
  std::string root = git(r, {"rev-list", "--max-parents=0", "HEAD"});
  root.pop_back();
  CHECK(shas(repo.commits("", "HEAD", true)) == git(r, {"log", "--first-parent", "--reverse", "--format=%H", "HEAD"}));
  CHECK(shas(repo.commits(root, "HEAD", true)) ==
        git(r, {"log", "--first-parent", "--reverse", "--format=%H", root + "..HEAD"}));
  // Every parent's line: the same commits as git log (the order of the two lines may differ).
  auto sorted = [](std::string text) {
    auto l = testing::lines(text);
    std::sort(l.begin(), l.end());
    return l;
  };
  CHECK(sorted(shas(repo.commits(root, "HEAD", false))) == sorted(git(r, {"log", "--format=%H", root + "..HEAD"})));
  for (const auto& c : repo.commits("", "HEAD", true)) {
    INFO(c.sha);
    CHECK(c.author_name + " <" + c.author_email + "> " + std::to_string(c.author_time) + "\n" ==
          git(r, {"log", "-1", "--format=%an <%ae> %at", c.sha}));
    CHECK(c.message + "\n" == git(r, {"log", "-1", "--format=%B", c.sha}));
    std::string parents;
    for (const auto& p : c.parents) parents += (parents.empty() ? "" : " ") + p;
    CHECK(parents + "\n" == git(r, {"log", "-1", "--format=%P", c.sha}));
  }
  CHECK(repo.commit("HEAD~2")->author_offset == 60);
  CHECK(repo.commit("HEAD")->author_offset == 330);
  CHECK(repo.commits("", root, true).front().author_offset == -210);
  CHECK_FALSE(repo.commit("nosuch"));

  // Tree diffs, as diff-tree -r --no-renames prints them.
  auto diff_tree = [&](const std::string& from, const std::string& to) {
    std::string out;
    for (const auto& c : repo.tree_changes(from, to))
      out += ":" + (c.before.absent() ? "000000" : c.before.mode) + " " + (c.after.absent() ? "000000" : c.after.mode) +
             " " + (c.before.absent() ? std::string(40, '0') : c.before.id) + " " +
             (c.after.absent() ? std::string(40, '0') : c.after.id) + "\t" + c.path + "\n";
    return out;
  };
  auto git_diff_tree = [&](const std::string& from, const std::string& to) {
    std::string out;
    for (const auto& line : testing::lines(git(r, {"diff-tree", "-r", "--no-renames", "--no-commit-id", from, to}))) {
      auto tab = line.find('\t');
      out += line.substr(0, tab - 2) + line.substr(tab) + "\n";  // without the status letter
    }
    return out;
  };
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {root, "HEAD"}, {"HEAD~2", "HEAD~1"}, {"HEAD~1", "HEAD"}, {"HEAD~1^2", "HEAD~1"}, {"HEAD~2", "HEAD~1^2"}, {"HEAD", root}}) {
    INFO(from << " " << to);
    CHECK(diff_tree(from, to) == git_diff_tree(from, to));
  }
  CHECK(repo.tree_changes("", root).size() == 2);  // from the empty tree: every file added

  // Every blob of a tree, as ls-tree -r lists it.
  std::string listed;
  for (const auto& [path, f] : repo.files_at("HEAD~1")) listed += f.mode + " blob " + f.id + "\t" + path + "\n";
  CHECK(listed == git(r, {"ls-tree", "-r", "HEAD~1"}));
  CHECK_THROWS_AS(repo.files_at("nosuch"), tracker::UsageError);

  // Revisions and refs.
  CHECK(repo.resolve("HEAD^{tree}") + "\n" == git(r, {"rev-parse", "HEAD^{tree}"}));
  CHECK(repo.resolve("HEAD:dir/c.txt") + "\n" == git(r, {"rev-parse", "HEAD:dir/c.txt"}));
  CHECK(repo.resolve("nosuch") == "");
  CHECK(repo.head_ref() == "refs/heads/main");
  std::string refs;
  for (const auto& [name, id] : repo.refs_under("refs/tracker/remote-claims/")) refs += id + " " + name + "\n";
  CHECK(refs == git(r, {"for-each-ref", "--format=%(objectname) %(refname)", "refs/tracker/remote-claims/"}));
  git(r, {"checkout", "-q", "--detach"});
  CHECK(repo.head_ref() == "");
}
