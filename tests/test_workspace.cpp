#include <catch2/catch.hpp>

#include <tracker/error.hpp>
#include <tracker/tracker.hpp>
#include <tracker/workspace.hpp>
#include "helpers.hpp"

using namespace tracker;
using testing::Board;
using testing::TempDir;

TEST_CASE("discovery walks up from a subdirectory") {
  Board board;
  fs::create_directories(board.root() / "src" / "deep");
  Workspace ws = Workspace::discover(board.root() / "src" / "deep");
  CHECK(ws.root() == board.root());
  CHECK(ws.git_dir() == board.root() / ".git");
  CHECK(ws.common_dir() == board.root() / ".git");
  CHECK(ws.stage_dir(ws.config().stage("qa")) == board.root() / "work" / "3_qa");
}

TEST_CASE("outside any workspace, discovery says how to fix it") {
  TempDir dir;
  try {
    Workspace::discover(dir.path());
    FAIL("no error");
  } catch (const UsageError& e) {
    CHECK(std::string(e.what()).find("tracker init") != std::string::npos);
  }
}

TEST_CASE("a git worktree has its own git dir and shares the common dir") {
  Board board;
  TempDir other;
  fs::path wt = other.path() / "wt";
  testing::git(board.root(), {"worktree", "add", "-q", wt.string()});
  Workspace ws = Workspace::discover(wt);
  CHECK(ws.root() == wt);
  CHECK(ws.git_dir() == board.root() / ".git" / "worktrees" / "wt");
  CHECK(ws.common_dir() == board.root() / ".git");
  CHECK(ws.shared_state_dir() == board.root() / ".git" / "tracker");
}

TEST_CASE("id allocation keeps a high-water mark and idempotency keys") {
  Board board;
  Workspace ws = Workspace::discover(board.root());
  {
    IdAllocation ids(ws);
    CHECK(ids.reserve(0) == 1);
    CHECK(ids.reserve(0) == 2);
    CHECK(ids.reserve(10) == 11);  // files on disk win when they are higher
    CHECK(ids.reserve(3) == 12);   // a deleted story's id is never handed out again
    CHECK_FALSE(ids.find_key("k-1"));
    ids.record_key("k-1", 12);
    ids.record_key(std::string(300, 'x'), 5);
    ids.record_key(std::string(300, 'x') + "y", 6);  // same file-name prefix, different key
  }
  IdAllocation again(ws);
  CHECK(again.find_key("k-1") == 12);
  CHECK(again.find_key(std::string(300, 'x')) == 5);
  CHECK(again.find_key(std::string(300, 'x') + "y") == 6);
  CHECK_FALSE(again.find_key("k-2"));
}
