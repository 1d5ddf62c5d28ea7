// The repository's policy holds for tracker's commits as for `git commit`: hooks,
// signing, `git -c`, GIT_DIR / GIT_WORK_TREE, and the filters of .gitattributes.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <sys/stat.h>
#include <nlohmann/json.hpp>

using testing::Board;
using testing::BoardState;
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

void hook(const Board& board, const std::string& name, const std::string& script) {
  fs::path path = board.root() / ".git/hooks" / name;
  write(path, "#!/bin/sh\n" + script);
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
}

std::string head(const Board& board) {
  return git(board.root(), {"rev-parse", "HEAD"});
}

}  // namespace

TEST_CASE("a commit-msg hook that appends a line is honoured") {
  Board board;
  hook(board, "commit-msg", "printf 'Reviewed-by: Hook <hook@example.com>\\n' >> \"$1\"\n");
  board.create({"Hooked"});
  std::string message = git(board.root(), {"log", "-1", "--format=%B"});
  CHECK(message.find("tracker: create #1 Hooked") == 0);
  CHECK(message.find("Tracker-Action: create\n") != std::string::npos);
  CHECK(message.find("Reviewed-by: Hook <hook@example.com>\n") != std::string::npos);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("a failing pre-commit hook refuses the transition and leaves the files and HEAD as they were") {
  Board board;
  board.create({"Alpha"});
  board.create({"Beta"});
  hook(board, "pre-commit", "echo 'lint: story 1 is not ready' >&2\nexit 1\n");
  BoardState before(board.root());

  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"move", "1", "current"},
                                             {"set", "2", "priority=5"},
                                             {"new", "Gamma"},
                                             {"claim", "1", "--owner", "bot"},
                                             {"block", "2", "--reason", "waiting"},
                                             {"link", "2", "1"}}) {
    INFO(args.front());
    auto r = run_tracker(board.root(), args);
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("lint: story 1 is not ready") != std::string::npos);  // the hook's output is shown
    CHECK(r.err.find("pre-commit hook refused the commit") != std::string::npos);
    CHECK(BoardState(board.root()) == before);
  }
  CHECK_FALSE(fs::exists(board.root() / ".git/tracker/claims/1.lock"));  // the claim went with its commit

  // The id of the refused `new` was given back.
  auto r = run_tracker(board.root(), {"--no-verify", "new", "Gamma"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "3\n");
}

TEST_CASE("pre-commit and commit-msg are skipped with --no-verify and with commit.verify: false") {
  Board board;
  board.create({"Alpha"});
  hook(board, "pre-commit", "exit 1\n");
  hook(board, "commit-msg", "exit 1\n");
  CHECK(run_tracker(board.root(), {"move", "1", "current"}).code == 1);
  auto r = run_tracker(board.root(), {"--no-verify", "move", "1", "current"});
  CHECK(r.code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: move #1 backlog -> current\n");

  fs::path config = board.root() / ".tracker/config.yml";
  std::string text = read(config);
  auto at = text.find("commit:\n  enabled: true");
  REQUIRE(at != std::string::npos);
  text.insert(text.find('\n', text.find("enabled: true", at)) + 1, "  verify: false\n");
  write(config, text);
  git(board.root(), {"commit", "-qam", "no hooks for tracker", "--no-verify"});
  CHECK(run_tracker(board.root(), {"move", "1", "qa"}).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: move #1 current -> qa\n");
}

TEST_CASE("the pre-commit hook sees HEAD plus the commit's own paths, not what the user staged") {
  Board board;
  board.create({"Alpha"});
  write(board.root() / "notes.txt", "staged by the user\n");
  git(board.root(), {"add", "notes.txt"});
  fs::path seen = board.root() / ".git/seen";
  hook(board, "pre-commit", "git diff --cached -M --name-status > '" + seen.string() + "'\n");
  REQUIRE(run_tracker(board.root(), {"move", "1", "current"}).code == 0);
  CHECK(read(seen) == "R100\twork/1_backlog/1_story_alpha.md\twork/2_current/1_story_alpha.md\n");
  CHECK(git(board.root(), {"status", "--porcelain"}) == "A  notes.txt\n");
}

TEST_CASE("hooks are found through core.hooksPath, relative to the work tree") {
  Board board;
  write(board.root() / "githooks/commit-msg", "#!/bin/sh\necho 'Hooks-Path: yes' >> \"$1\"\n");
  fs::permissions(board.root() / "githooks/commit-msg", fs::perms::owner_all);
  git(board.root(), {"config", "core.hooksPath", "githooks"});
  board.create({"Alpha"});
  CHECK(git(board.root(), {"log", "-1", "--format=%B"}).find("Hooks-Path: yes") != std::string::npos);
}

TEST_CASE("post-commit runs after the commit, and its failure undoes nothing") {
  Board board;
  fs::path ran = board.root() / ".git/post-commit-ran";
  hook(board, "post-commit", "git rev-parse HEAD > '" + ran.string() + "'\nexit 1\n");
  board.create({"Alpha"});
  CHECK(read(ran) == head(board));
  CHECK(fs::exists(board.root() / "work/1_backlog/1_story_alpha.md"));
}

TEST_CASE("commit.gpgsign with gpg.format ssh signs every commit, git verify-commit accepts them") {
  Board board;
  TempDir keys;
  REQUIRE(
      run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", (keys.path() / "key").string()}).code ==
      0);
  std::string pub = read(keys.path() / "key.pub");
  write(keys.path() / "allowed", "committer@example.com " + pub);
  git(board.root(), {"config", "gpg.format", "ssh"});
  git(board.root(), {"config", "user.signingkey", (keys.path() / "key.pub").string()});
  git(board.root(), {"config", "gpg.ssh.allowedSignersFile", (keys.path() / "allowed").string()});
  git(board.root(), {"config", "commit.gpgsign", "true"});
  board.create({"Signed"});
  REQUIRE(run_tracker(board.root(), {"move", "1", "current"}).code == 0);
  for (const char* rev : {"HEAD", "HEAD~1"}) {
    auto v = run({"git", "-C", board.root().string(), "verify-commit", rev});
    INFO(v.err);
    CHECK(v.code == 0);
    CHECK(v.err.find("Good \"git\" signature for committer@example.com") != std::string::npos);
  }
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("commit.gpgsign with openpgp signs through gpg, git verify-commit accepts them") {
  Board board;
  TempDir gnupg;
  RunOptions env;
  env.env["GNUPGHOME"] = gnupg.path().string();
  fs::permissions(gnupg.path(), fs::perms::owner_all);
  auto gen = run({"gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
                  "Test Committer <committer@example.com>", "ed25519", "sign", "never"},
                 env);
  INFO(gen.err);
  REQUIRE(gen.code == 0);
  git(board.root(), {"config", "commit.gpgsign", "true"});
  REQUIRE(run_tracker(board.root(), {"new", "Signed"}, env).code == 0);
  auto v = run({"git", "-C", board.root().string(), "verify-commit", "HEAD"}, env);
  INFO(v.err);
  CHECK(v.code == 0);
  CHECK(v.err.find("Good signature from \"Test Committer <committer@example.com>\"") != std::string::npos);
  run({"gpgconf", "--kill", "gpg-agent"}, env);
}

TEST_CASE("a signing failure refuses the transition") {
  Board board;
  board.create({"Alpha"});
  BoardState before(board.root());
  git(board.root(), {"config", "commit.gpgsign", "true"});
  git(board.root(), {"config", "gpg.program", "false"});
  auto r = run_tracker(board.root(), {"move", "1", "current"});
  CHECK(r.code == 1);
  CHECK(r.err.find("cannot sign the commit") != std::string::npos);
  CHECK(BoardState(board.root()) == before);
}

TEST_CASE("`git -c` settings reach tracker's commits through GIT_CONFIG_PARAMETERS and GIT_CONFIG_COUNT") {
  Board board;
  RunOptions env;
  for (const char* v : {"GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"}) env.env[v] = "\x01unset";
  env.env["GIT_CONFIG_PARAMETERS"] = "'user.name'='Dash C' 'commit.gpgSign'='false'";
  REQUIRE(run_tracker(board.root(), {"new", "One"}, env).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%an|%cn"}) == "Dash C|Dash C\n");
  env.env["GIT_CONFIG_PARAMETERS"] = "'user.name=Old Style'";  // git before 2.31
  REQUIRE(run_tracker(board.root(), {"new", "Two"}, env).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%an"}) == "Old Style\n");
  env.env.erase("GIT_CONFIG_PARAMETERS");
  env.env["GIT_CONFIG_COUNT"] = "1";
  env.env["GIT_CONFIG_KEY_0"] = "user.name";
  env.env["GIT_CONFIG_VALUE_0"] = "Counted";
  REQUIRE(run_tracker(board.root(), {"new", "Three"}, env).code == 0);
  CHECK(git(board.root(), {"log", "-1", "--format=%an"}) == "Counted\n");

  env.env["GIT_CONFIG_PARAMETERS"] = "'user.name";  // unterminated
  auto r = run_tracker(board.root(), {"new", "Four"}, env);
  CHECK(r.code == 2);
  CHECK(r.err.find("GIT_CONFIG_PARAMETERS") != std::string::npos);
  CHECK_FALSE(fs::exists(board.root() / "work/1_backlog/4_story_four.md"));
}

TEST_CASE("GIT_DIR and GIT_WORK_TREE are honoured") {
  TempDir dir;
  fs::path git_dir = dir.path() / "store.git", work = dir.path() / "checkout";
  fs::create_directories(work);
  REQUIRE(
      run({"git", "--git-dir=" + git_dir.string(), "--work-tree=" + work.string(), "init", "-q", "-b", "main"}).code ==
      0);
  RunOptions env;
  env.env["GIT_DIR"] = git_dir.string();
  env.env["GIT_WORK_TREE"] = work.string();
  auto r = run_tracker(work, {"init"}, env);
  INFO(r.err);
  REQUIRE(r.code == 0);
  REQUIRE(run_tracker(work, {"new", "Elsewhere"}, env).code == 0);
  REQUIRE(run_tracker(work, {"move", "1", "current"}, env).code == 0);
  CHECK_FALSE(fs::exists(work / ".git"));
  CHECK(fs::exists(git_dir / "tracker/index.db"));
  auto log = run({"git", "log", "--format=%s"}, [&] {
    RunOptions o = env;
    o.cwd = work;
    return o;
  }());
  CHECK(log.out ==
        "tracker: move #1 backlog -> current\ntracker: create #1 Elsewhere\ntracker: init backlog, current, qa, merge, "
        "done, archived\n");
  RunOptions in_work = env;
  in_work.cwd = work;
  CHECK(run({"git", "status", "--porcelain"}, in_work).out.empty());

  // From a directory outside the work tree, as git: the board is the one they name.
  fs::path elsewhere = dir.path() / "elsewhere";
  fs::create_directories(elsewhere);
  r = run_tracker(elsewhere, {"new", "From outside"}, env);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(r.out == "2\n");
  CHECK(fs::exists(work / "work/1_backlog/2_story_from-outside.md"));
  CHECK_FALSE(fs::exists(elsewhere / "work"));
  CHECK(json::parse(run_tracker(elsewhere, {"--json", "list"}, env).out).size() == 2);
  CHECK(run({"git", "log", "-1", "--format=%s"}, in_work).out == "tracker: create #2 From outside\n");
  // GIT_DIR alone makes the current directory the work tree, as git does: there is no board there.
  RunOptions dir_only = env;
  dir_only.env.erase("GIT_WORK_TREE");
  r = run_tracker(elsewhere, {"list"}, dir_only);
  CHECK(r.code == 2);
  CHECK(r.err.find("not a tracker workspace") != std::string::npos);
}

TEST_CASE("GIT_CEILING_DIRECTORIES stops the search for the board where it stops git's") {
  Board board;
  fs::path sub = board.root() / "docs/notes";
  fs::create_directories(sub);
  auto with_ceiling = [](const fs::path& ceiling) {
    RunOptions o;
    o.env["GIT_CEILING_DIRECTORIES"] = "/nonexistent:relative/dir:" + ceiling.string() + "/";
    return o;
  };
  // A ceiling above the board: the board is found from below it.
  CHECK(run_tracker(sub, {"list"}, with_ceiling(board.root().parent_path())).code == 0);
  // The board's own directory as the ceiling: neither git nor tracker looks there from below.
  RunOptions at_root = with_ceiling(board.root());
  at_root.cwd = sub;
  CHECK(run({"git", "rev-parse", "--show-toplevel"}, at_root).code != 0);
  auto r = run_tracker(sub, {"list"}, at_root);
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: not a tracker workspace: no .tracker/config.yml in " + sub.string() +
                     " or any parent; run 'tracker init' to create one, or use -C <dir>\n");
  // A ceiling that is where the search starts stops nothing, for git as for tracker.
  RunOptions at_start = with_ceiling(sub);
  at_start.cwd = sub;
  CHECK(run({"git", "rev-parse", "--show-toplevel"}, at_start).code == 0);
  CHECK(run_tracker(sub, {"list"}, with_ceiling(sub)).code == 0);
  // Started in the board's directory, the ceiling there stops nothing either.
  CHECK(run_tracker(board.root(), {"list"}, at_root).code == 0);
}

TEST_CASE("blobs go through the filters: a CRLF story under eol=lf is committed with LF") {
  Board board;
  write(board.root() / ".gitattributes", "*.md text eol=lf\n");
  git(board.root(), {"add", ".gitattributes"});
  git(board.root(), {"commit", "-qm", "attributes"});
  write(board.root() / "work/1_backlog/1_story_windows.md", "---\r\nname: Windows\r\npriority: 1\r\n---\r\nBody\r\n");
  auto r = run_tracker(board.root(), {"commit"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  REQUIRE(run_tracker(board.root(), {"set", "1", "priority=2"}).code == 0);
  CHECK(read(board.root() / "work/1_backlog/1_story_windows.md") ==
        "---\r\nname: Windows\r\npriority: 2\r\n---\r\nBody\r\n");
  CHECK(git(board.root(), {"show", "HEAD:work/1_backlog/1_story_windows.md"}) ==
        "---\nname: Windows\npriority: 2\n---\nBody\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  REQUIRE(run_tracker(board.root(), {"move", "1", "current"}).code == 0);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK(git(board.root(), {"show", "--format=", "--name-status", "-M", "HEAD"}) ==
        "R100\twork/1_backlog/1_story_windows.md\twork/2_current/1_story_windows.md\n");
}

TEST_CASE("init and init --adopt honour --no-verify too") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "-b", "main"});
  write(dir.path() / ".git/hooks/pre-commit", "#!/bin/sh\nexit 1\n");
  fs::permissions(dir.path() / ".git/hooks/pre-commit", fs::perms::owner_all);
  auto r = run_tracker(dir.path(), {"--no-verify", "init"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(git(dir.path(), {"log", "-1", "--format=%s"}).starts_with("tracker: init"));

  TempDir other;
  git(other.path(), {"init", "-q", "-b", "main"});
  write(other.path() / "board/1_todo/1_story_a.md", "---\nname: A\n---\n");
  write(other.path() / ".git/hooks/pre-commit", "#!/bin/sh\nexit 1\n");
  fs::permissions(other.path() / ".git/hooks/pre-commit", fs::perms::owner_all);
  r = run_tracker(other.path(), {"--no-verify", "init", "--adopt", "board"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(git(other.path(), {"log", "-1", "--format=%s"}).starts_with("tracker: adopt board"));
}
