// The repository matrix: tracker's commands in repositories set up the ways git
// users set them up. After each, git fsck --strict is clean, git status shows only
// what the user had, and what the user staged is still staged.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <functional>
#include <nlohmann/json.hpp>

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

/// A repository with a committed board, a staged file and an untracked one.
struct Repo {
  TempDir dir;
  fs::path root;
  fs::path work;  ///< where the commands run (the main work tree, or another worktree)
  RunOptions env;
  /// git 2.39 itself leaves its sparse index's cache tree naming trees it never
  /// wrote once the user stages a file (`git add` alone makes fsck say "missing
  /// tree"): then the object store is checked with the index set aside.
  bool fsck_without_index = false;

  explicit Repo(const std::string& name = "repo") : root(dir.path() / name), work(root) {
    fs::create_directories(root);
    git(root, {"init", "-q", "-b", "main"});
    write(root / "README.md", "a project\n");
    write(root / "src/main.c", "int main(void) { return 0; }\n");
    git(root, {"add", "-A"});
    git(root, {"commit", "-qm", "project"});
    auto r = run_tracker(root, {"init"});
    INFO(r.err);
    REQUIRE(r.code == 0);
  }

  /// The user's own work in progress: one staged file, one untracked.
  void user_changes() {
    write(work / "notes.txt", "staged by the user\n");
    git(work, {"add", "notes.txt"});
    write(work / "scratch.txt", "untracked\n");
  }

  void tracker(const std::vector<std::string>& args) {
    auto r = run_tracker(work, args, env);
    INFO("tracker " << args.front() << ": " << r.err);
    REQUIRE(r.code == 0);
  }

  /// new, move, set, claim, done and a hand edit with `tracker commit`.
  void run_commands() {
    tracker({"new", "Alpha"});
    tracker({"new", "Beta", "--priority", "2"});
    tracker({"move", "1", "current"});
    tracker({"set", "2", "priority=3"});
    tracker({"claim", "2", "--owner", "bot"});
    tracker({"done", "1"});
    fs::path beta = work / "work/2_current/2_story_beta.md";
    write(beta, read(beta) + "\nEdited by hand.\n");
    tracker({"commit"});
    json stories = json::parse(run_tracker(work, {"list", "--json"}, env).out);
    REQUIRE(stories.size() == 2);
    CHECK(stories[0]["stage"] == "current");
    CHECK(stories[0]["agent"] == "bot");
    CHECK(stories[1]["stage"] == "done");
  }

  /// What every case must hold afterwards.
  void check_clean() {
    RunOptions fsck_env;
    if (fsck_without_index) fsck_env.env["GIT_INDEX_FILE"] = (dir.path() / "no-index").string();
    auto fsck = run({"git", "-C", work.string(), "fsck", "--strict", "--no-dangling"}, fsck_env);
    INFO(fsck.out << fsck.err);
    CHECK(fsck.code == 0);
    CHECK(git(work, {"status", "--porcelain"}) == "A  notes.txt\n?? scratch.txt\n");
    CHECK(git(work, {"diff", "--cached", "--name-only"}) == "notes.txt\n");
    CHECK(git(work, {"log", "-1", "--format=%s"}) == "tracker: edit #2 (body)\n");
    // The git index agrees with HEAD for the board.
    CHECK(git(work, {"diff", "--cached", "--name-only", "HEAD", "--", "work"}).empty());
  }
};

void matrix_case(const std::function<void(Repo&)>& setup) {
  Repo repo;
  setup(repo);
  repo.user_changes();
  repo.run_commands();
  repo.check_clean();
}

}  // namespace

TEST_CASE("matrix: a split index") {
  matrix_case([](Repo& r) {
    git(r.root, {"config", "core.splitIndex", "true"});
    git(r.root, {"update-index", "--split-index"});
  });
}

TEST_CASE("matrix: index version 4") {
  matrix_case([](Repo& r) { git(r.root, {"update-index", "--index-version", "4"}); });
  // And it stays version 4.
  Repo repo;
  git(repo.root, {"update-index", "--index-version", "4"});
  repo.tracker({"new", "Alpha"});
  CHECK(read(repo.root / ".git/index").substr(4, 4) == std::string("\0\0\0\4", 4));
}

TEST_CASE("matrix: the untracked cache") {
  matrix_case([](Repo& r) {
    git(r.root, {"config", "core.untrackedCache", "true"});
    git(r.root, {"update-index", "--untracked-cache"});
    git(r.root, {"status", "--porcelain"});
  });
}

TEST_CASE("matrix: a sparse checkout with a sparse index") {
  matrix_case([](Repo& r) {
    write(r.root / "docs/guide.md", "outside the cone\n");
    git(r.root, {"add", "docs"});
    git(r.root, {"commit", "-qm", "docs"});
    git(r.root, {"sparse-checkout", "init", "--cone", "--sparse-index"});
    git(r.root, {"sparse-checkout", "set", "work", ".tracker", "src"});
    REQUIRE_FALSE(fs::exists(r.root / "docs/guide.md"));
    r.fsck_without_index = true;
  });
}

TEST_CASE("matrix: a sparse index, without changes of the user's, stays clean for a full fsck") {
  Repo repo;
  write(repo.root / "docs/guide.md", "outside the cone\n");
  git(repo.root, {"add", "docs"});
  git(repo.root, {"commit", "-qm", "docs"});
  git(repo.root, {"sparse-checkout", "init", "--cone", "--sparse-index"});
  git(repo.root, {"sparse-checkout", "set", "work", ".tracker", "src"});
  repo.tracker({"new", "Alpha"});
  repo.tracker({"new", "Beta"});
  repo.tracker({"move", "1", "current"});
  repo.tracker({"set", "2", "priority=3"});
  repo.tracker({"claim", "2", "--owner", "bot"});
  repo.tracker({"done", "1"});
  auto fsck = run({"git", "-C", repo.root.string(), "fsck", "--strict", "--no-dangling"});
  INFO(fsck.out << fsck.err);
  CHECK(fsck.code == 0);
  CHECK(git(repo.root, {"status", "--porcelain"}).empty());
  CHECK(git(repo.root, {"ls-files", "--sparse"}).find("docs/\n") != std::string::npos);  // still sparse
}

TEST_CASE("matrix: a multi-pack-index written by git maintenance") {
  matrix_case([](Repo& r) {
    for (int i = 0; i < 3; ++i) {
      write(r.root / ("src/file" + std::to_string(i) + ".c"), std::to_string(i) + "\n");
      git(r.root, {"add", "-A"});
      git(r.root, {"commit", "-qm", "more " + std::to_string(i)});
      git(r.root, {"repack", "-q", "-d"});
    }
    git(r.root, {"multi-pack-index", "write"});
    git(r.root, {"maintenance", "run", "--task=incremental-repack"});
    REQUIRE(fs::exists(r.root / ".git/objects/pack/multi-pack-index"));
  });
}

TEST_CASE("matrix: the multi-pack-index still verifies after tracker's commits") {
  Repo repo;
  for (int i = 0; i < 2; ++i) {
    write(repo.root / ("f" + std::to_string(i)), "x\n");
    git(repo.root, {"add", "-A"});
    git(repo.root, {"commit", "-qm", "x"});
    git(repo.root, {"repack", "-q", "-d"});
  }
  git(repo.root, {"multi-pack-index", "write"});
  repo.user_changes();
  repo.run_commands();
  git(repo.root, {"multi-pack-index", "verify"});
  repo.check_clean();
}

TEST_CASE("matrix: packed refs") {
  matrix_case([](Repo& r) {
    git(r.root, {"pack-refs", "--all"});
    REQUIRE_FALSE(fs::exists(r.root / ".git/refs/heads/main"));
  });
}

TEST_CASE("matrix: a second worktree") {
  Repo repo;
  fs::path other = repo.dir.path() / "second";
  git(repo.root, {"worktree", "add", "-q", "-b", "side", other.string()});
  repo.work = other;
  repo.user_changes();
  repo.run_commands();
  repo.check_clean();
  CHECK(git(repo.root, {"log", "-1", "--format=%s", "main"}).starts_with("tracker: init"));
  CHECK(git(repo.root, {"status", "--porcelain"}).empty());  // the main work tree is untouched
  // Both worktrees commit, each on its own branch.
  repo.work = repo.root;
  repo.tracker({"new", "In main"});
  CHECK(git(repo.root, {"log", "-1", "--format=%s", "main"}) == "tracker: create #3 In main\n");
  CHECK(git(repo.root, {"status", "--porcelain"}).empty());
}

TEST_CASE("matrix: a detached HEAD") {
  Repo repo;
  std::string main_before = git(repo.root, {"rev-parse", "main"});
  git(repo.root, {"checkout", "-q", "--detach"});
  repo.user_changes();
  repo.run_commands();
  repo.check_clean();
  CHECK(git(repo.root, {"rev-parse", "main"}) == main_before);
  CHECK(git(repo.root, {"rev-list", "--count", "main..HEAD"}) == "7\n");
}

TEST_CASE("matrix: a path with spaces and non-ASCII letters") {
  Repo repo("my böard — ünïcode dir");
  repo.user_changes();
  repo.run_commands();
  repo.check_clean();
}

TEST_CASE("matrix: the identity from git -c user.name") {
  Repo repo;
  for (const char* v : {"GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"}) repo.env.env[v] = "\x01unset";
  repo.env.env["GIT_CONFIG_PARAMETERS"] = "'user.name'='Matrix User'";
  repo.user_changes();
  repo.run_commands();
  repo.check_clean();
  auto who = testing::lines(git(repo.root, {"log", "-7", "--format=%an|%cn"}));
  REQUIRE(who.size() == 7);
  for (const auto& w : who) CHECK(w == "Matrix User|Matrix User");
}
