// End-to-end tests of the work queue: claim, release, ready, with real processes.
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <signal.h>
#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <regex>
#include <thread>

using namespace testing;
using nlohmann::json;

namespace {

/// Runs a command as if a minute ago (the binary's clock seam, TRACKER_TEST_TIME_OFFSET):
/// a claim made so with a 30 s ttl has held and expired by now, with no sleep.
RunOptions a_minute_ago() {
  RunOptions o;
  o.env["TRACKER_TEST_TIME_OFFSET"] = "-60";
  return o;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> lock_dir_entries(const fs::path& root) {
  std::vector<std::string> out;
  fs::path dir = root / ".git/tracker/claims";
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  return out;
}

std::vector<long> ready_ids(const fs::path& root) {
  std::vector<long> ids;
  for (const auto& s : json::parse(run_tracker(root, {"ready", "--json"}).out)) ids.push_back(s["id"].get<long>());
  return ids;
}

/// `n` ready stories written by hand and committed with git.
void seed_ready(const Board& board, int n) {
  for (int i = 1; i <= n; ++i)
    write(board.root() / ("work/1_backlog/" + std::to_string(i) + "_story_s" + std::to_string(i) + ".md"),
          "---\nname: S" + std::to_string(i) + "\n---\n");
  git(board.root(), {"add", "-A"});
  git(board.root(), {"commit", "-qm", std::to_string(n) + " stories"});
}

/// `count` processes that each claim until tracker says there is nothing left
/// (exit 6), each appending its claims' lines to its own file.
struct Claimers {
  std::vector<int> pids;
  std::vector<fs::path> outs;

  Claimers(const Board& board, int count, const RunOptions& options = {}) {
    std::string script =
        std::string("while :; do \"") + TRACKER_BIN + "\" -C \"" + board.root().string() +
        "\" claim --owner \"$0\" >> \"$1\" 2>> \"$1.err\"; rc=$?; [ $rc -eq 0 ] || break; done; [ $rc -eq 6 ]";
    for (int w = 0; w < count; ++w) {
      outs.push_back(board.root() / (".claims-w" + std::to_string(w) + ".txt"));
      pids.push_back(spawn({"sh", "-c", script, "w" + std::to_string(w), outs.back().string()}, options));
    }
  }
  /// Waits for every one of them to stop on exit 6.
  void wait() const {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      int code = wait_for(pids[i]);
      INFO(read(outs[i].string() + ".err"));
      CHECK(code == 0);
    }
  }
  /// "claimed #<id>" of every claim made, one entry per claim.
  std::multiset<std::string> claimed() const {
    std::multiset<std::string> out;
    for (const auto& file : outs)
      for (const auto& line : lines(read(file))) out.insert(line.substr(0, line.find(' ', 9)));
    return out;
  }
};

std::size_t claim_commits(const fs::path& root) {
  std::size_t n = 0;
  for (const auto& l : lines(git(root, {"log", "--format=%s"}))) n += l.starts_with("tracker: claim #");
  return n;
}

}  // namespace

TEST_CASE("claim sets agent, moves to current, commits with an owner trailer") {
  Board board;
  board.create({"Work item"});
  auto r = run_tracker(board.root(), {"claim", "1", "--owner", "coder-1", "--json"});
  REQUIRE(r.code == 0);
  json s = json::parse(r.out);
  CHECK(s["stage"] == "current");
  CHECK(s["agent"] == "coder-1");
  CHECK(s["claim"]["owner"] == "coder-1");
  CHECK(s["claim"]["expires"].is_string());
  CHECK(read(board.root() / "work/2_current/1_story_work-item.md").find("agent: coder-1\n") != std::string::npos);
  CHECK(git(board.root(), {"log", "-1", "--format=%B"}) ==
        "tracker: claim #1 by coder-1 (backlog -> current)\n\nTracker-Action: claim\nTracker-Story: 1\n"
        "Tracker-From: backlog\nTracker-To: current\nTracker-Owner: coder-1\n\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  CHECK(json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out)["claim"]["owner"] == "coder-1");

  // Another owner is refused, with who holds it and until when; the same owner renews.
  r = run_tracker(board.root(), {"claim", "1", "--owner", "coder-2"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "claimed by coder-1 until "));
  int commits = board.commit_count();
  r = run_tracker(board.root(), {"claim", "1", "--owner", "coder-1", "--ttl", "2h"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "renewed #1"));
  CHECK(board.commit_count() == commits);
}

TEST_CASE("release reverses a claim") {
  Board board;
  write(board.root() / "work/1_backlog/1_story_x.md", "---\nname: X\n# note\npriority: 2\n---\nbody\n");
  git(board.root(), {"add", "-A"});
  git(board.root(), {"commit", "-qm", "x"});
  std::string before = read(board.root() / "work/1_backlog/1_story_x.md");
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a"}).code == 0);
  CHECK(run_tracker(board.root(), {"release", "1", "--owner", "b"}).code == 3);
  auto r = run_tracker(board.root(), {"release", "1", "--owner", "a"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "released #1 from a (current -> backlog)\n");
  CHECK(read(board.root() / "work/1_backlog/1_story_x.md") == before);  // byte for byte
  CHECK(lock_dir_entries(board.root()).empty());
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: release #1 by a (current -> backlog)\n");
  // Released already: what was asked for holds, so exit 0, no commit, and it says so.
  int commits = board.commit_count();
  r = run_tracker(board.root(), {"release", "1"});
  CHECK(r.code == 0);
  CHECK(r.out == "#1 is not claimed; nothing to release\n");
  r = run_tracker(board.root(), {"--json", "release", "1", "--owner", "a"});
  CHECK(r.code == 0);
  CHECK(json::parse(r.out) == json::parse(R"({"id": 1, "from": "backlog", "to": "backlog", "owner": null,
                                              "changed": false, "claim_only": false, "forced_by": null,
                                              "commit": null})"));
  CHECK(board.commit_count() == commits);
  CHECK(run_tracker(board.root(), {"release", "9"}).code == 4);
}

TEST_CASE("claim rejects bad input") {
  Board board;
  board.create({"X"});
  // Without --owner a claim acts as TRACKER_OWNER, else git's author email; with
  // neither, it is refused.
  TempDir home;  // libgit2 reads $HOME/.gitconfig whatever GIT_CONFIG_GLOBAL says
  RunOptions nobody{board.root(),
                    {{"GIT_AUTHOR_EMAIL", "\x01unset"},
                     {"EMAIL", "\x01unset"},
                     {"HOME", home.path().string()},
                     {"XDG_CONFIG_HOME", home.path().string()}},
                    ""};
  auto r = run_tracker(board.root(), {"claim", "1"}, nobody);
  CHECK(r.code == 2);
  CHECK(contains(r.err, "a claim needs an owner: --owner NAME, TRACKER_OWNER, or git config user.email"));
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "91d"}).code == 2);
  r = run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "99999999999999h"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: a claim lasts at most 90 days (--ttl 90d); renew it to hold it longer\n");
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "9223372036854775807s"}).code == 2);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "99999999999999999999h"}).code == 2);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "0"}).code == 2);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "-5m"}).code == 2);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "soon"}).code == 2);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", " "}).code == 2);
  CHECK(run_tracker(board.root(), {"claim", "9", "--owner", "a"}).code == 4);
  REQUIRE(run_tracker(board.root(), {"move", "1", "done"}).code == 0);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "a"}).code == 2);
  CHECK(lock_dir_entries(board.root()).empty());
}

TEST_CASE("claim by id refuses a blocked story and one waiting on an unfinished dependency, unless --force") {
  Board board;
  fs::path root = board.root();
  board.create({"Base"});                              // 1
  board.create({"Waits for 1", "--depends-on", "1"});  // 2
  board.create({"Blocked"});                           // 3
  REQUIRE(run_tracker(root, {"block", "3", "--reason", "waiting on legal"}).code == 0);
  // A story waiting on one that does not exist (tracker commit would refuse it).
  write(root / "work/1_backlog/4_story_waits-for-nothing.md", "---\nname: Waits for 99\ndepends_on: [99]\n---\n");
  git(root, {"add", "-A"});
  git(root, {"commit", "-qm", "by hand"});
  int commits = board.commit_count();

  auto r = run_tracker(root, {"claim", "2", "--owner", "a"});
  CHECK(r.code == 3);
  CHECK(r.err == "tracker: story #2 depends on #1 (backlog), which is not done; claim it with --force to take it anyway\n");
  r = run_tracker(root, {"claim", "3", "--owner", "a"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "story #3 is blocked (waiting on legal); unblock it first ('tracker unblock 3'), or claim it with --force"));
  r = run_tracker(root, {"claim", "4", "--owner", "a", "--json"});
  CHECK(r.code == 3);
  CHECK(r.out.empty());
  CHECK(contains(r.err, "depends on #99 (no such story)"));
  // Nothing was claimed, moved or committed.
  CHECK(lock_dir_entries(root).empty());
  CHECK(board.commit_count() == commits);
  CHECK(json::parse(run_tracker(root, {"show", "2", "--json"}).out)["stage"] == "backlog");

  // --force takes it; the claim is an ordinary one.
  r = run_tracker(root, {"claim", "2", "--owner", "a", "--force"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json::parse(run_tracker(root, {"show", "2", "--json"}).out)["agent"] == "a");
  REQUIRE(run_tracker(root, {"claim", "3", "--owner", "b", "--force"}).code == 0);
  // The holder claiming again renews, blocked or not.
  CHECK(run_tracker(root, {"claim", "3", "--owner", "b"}).code == 0);
  // Once the dependency is done, no --force is needed.
  REQUIRE(run_tracker(root, {"release", "2", "--owner", "a"}).code == 0);
  REQUIRE(run_tracker(root, {"move", "1", "done"}).code == 0);
  CHECK(run_tracker(root, {"claim", "2", "--owner", "a"}).code == 0);
}

TEST_CASE("the ready queue: priority then id, skipping blocked, claimed and waiting stories") {
  Board board;
  board.create({"Low", "--priority", "1"});                               // 1
  board.create({"High", "--priority", "5"});                              // 2
  board.create({"Also high", "--priority", "5"});                         // 3
  board.create({"Waits for 1", "--priority", "9", "--depends-on", "1"});  // 4
  board.create({"In qa", "--stage", "qa", "--priority", "9"});            // 5
  write(board.root() / "work/1_backlog/6_story_blocked.md", "---\nname: Blocked\npriority: 9\nblocked: true\n---\n");
  CHECK(ready_ids(board.root()) == std::vector<long>{2, 3, 1});
  CHECK(json::parse(run_tracker(board.root(), {"ready", "--json", "--limit", "1"}).out).size() == 1);

  REQUIRE(run_tracker(board.root(), {"claim", "3", "--owner", "a", "--no-commit"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"release", "3", "--owner", "a", "--no-commit"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "3", "--owner", "a"}).code == 0);
  CHECK(ready_ids(board.root()) == std::vector<long>{2, 1});
  CHECK(json::parse(run_tracker(board.root(), {"list", "--claimed", "--json"}).out).size() == 1);
  CHECK(json::parse(run_tracker(board.root(), {"list", "--ready", "--json"}).out).size() == 2);

  // Once its dependency is done, the waiting story is ready, and comes first.
  REQUIRE(run_tracker(board.root(), {"move", "1", "done"}).code == 0);
  CHECK(ready_ids(board.root()) == std::vector<long>{4, 2});
  // claim with no id takes the first ready story.
  auto r = run_tracker(board.root(), {"claim", "--owner", "b", "--json"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["id"] == 4);
  REQUIRE(run_tracker(board.root(), {"claim", "--owner", "b"}).code == 0);
  r = run_tracker(board.root(), {"claim", "--owner", "b"});
  CHECK(r.code == 6);
  CHECK(contains(r.err, "no ready story"));
}

TEST_CASE("a claim with --pid ends when that process dies, without it, only at expiry") {
  Board board;
  board.create({"Eight"});
  int sleeper = spawn({"sleep", "60"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--pid", std::to_string(sleeper)}).code == 0);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "b"}).code == 3);
  kill(sleeper, SIGKILL);
  wait_for(sleeper);
  auto r = run_tracker(board.root(), {"claim", "1", "--owner", "b", "--json"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["agent"] == "b");
  CHECK(json::parse(r.out)["retry_count"] == 0);  // the holder died: not an expiry

  // Without --pid the claim holds after the claiming process has exited.
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "c"}).code == 3);
}

TEST_CASE("an expired claim can be taken over, counting a retry") {
  Board board;
  board.create({"Short"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "30s"}, a_minute_ago()).code == 0);
  CHECK(run_tracker(board.root(), {"claim", "1", "--owner", "b"}, a_minute_ago()).code == 3);  // it held then
  CHECK(json::parse(run_tracker(board.root(), {"list", "--claimed", "--json"}).out).empty());
  auto r = run_tracker(board.root(), {"claim", "1", "--owner", "b", "--json"});
  REQUIRE(r.code == 0);
  json s = json::parse(r.out);
  CHECK(s["agent"] == "b");
  CHECK(s["retry_count"] == 1);
  CHECK(read(board.root() / "work/2_current/1_story_short.md").find("retry_count: 1\n") != std::string::npos);
  // Released, it goes back to the stage of the first claim.
  r = run_tracker(board.root(), {"release", "1", "--owner", "b"});
  CHECK(r.out == "released #1 from b (current -> backlog)\n");
}

TEST_CASE("two worktrees of one repository share claims") {
  Board board;
  board.create({"Shared"});
  TempDir other;
  fs::path wt = other.path() / "wt";
  git(board.root(), {"worktree", "add", "-q", "-b", "side", wt.string()});
  REQUIRE(run_tracker(wt, {"claim", "1", "--owner", "in-worktree"}).code == 0);
  auto r = run_tracker(board.root(), {"claim", "1", "--owner", "in-main"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "in-worktree"));
  CHECK(ready_ids(board.root()).empty());
}

TEST_CASE("50 processes race for one story: exactly one wins", "[stress]") {
  Board board;
  for (int i = 0; i < 7; ++i) board.create({"Story " + std::to_string(i + 1)});
  std::vector<int> pids;
  for (int i = 0; i < 50; ++i)
    pids.push_back(spawn({TRACKER_BIN, "-C", board.root().string(), "claim", "7", "--owner", "w" + std::to_string(i)}));
  int won = 0, refused = 0;
  for (int pid : pids) {
    int code = wait_for(pid);
    won += code == 0;
    refused += code == 3;
  }
  CHECK(won == 1);
  CHECK(refused == 49);
  CHECK(lock_dir_entries(board.root()) == std::vector<std::string>{"7.lock"});
  CHECK(git(board.root(), {"log", "--format=%s"}).find("claim #7") != std::string::npos);
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("8 claimers drain 200 ready stories, each claimed exactly once", "[stress]") {
  const bool watch = GENERATE(false, true);  // refreshes that walk, and refreshes that ask the watcher
  INFO("watcher: " << watch);
  Board board;
  seed_ready(board, 200);
  Claimers workers(board, 8, {{}, {{"TRACKER_WATCH", watch ? "1" : "0"}}, {}});
  workers.wait();
  if (watch) {
    auto status = nlohmann::json::parse(run_tracker(board.root(), {"index", "watch", "status", "--json"}).out);
    CHECK(status["running"] == true);
    CHECK(status["queries"].get<int>() >= 150);  // nearly every claim asked it, instead of walking
    run_tracker(board.root(), {"index", "watch", "stop"});
  }
  std::multiset<std::string> claimed = workers.claimed();
  CHECK(claimed.size() == 200);
  CHECK(std::set<std::string>(claimed.begin(), claimed.end()).size() == 200);
  CHECK(lock_dir_entries(board.root()).size() == 200);
  CHECK(claim_commits(board.root()) == 200);
  CHECK(run({"git", "-C", board.root().string(), "fsck", "--strict"}).code == 0);
  CHECK(ready_ids(board.root()).empty());
  // Each claim commit touches exactly its story's file, in the stage it left and the
  // one it entered, with its own owner's trailer; each has its reflog line, and the
  // git index agrees with the work tree.
  std::string log = git(
      board.root(), {"log", "--name-status", "--no-renames", "--format=>%s%n%(trailers:key=Tracker-Owner,valueonly)"});
  std::vector<std::string> commit_lines;
  std::size_t checked = 0;
  auto check_commit = [&] {
    if (commit_lines.empty() || !commit_lines[0].starts_with(">tracker: claim #")) return;
    INFO(testing::join_lines(commit_lines));
    std::string id = commit_lines[0].substr(17, commit_lines[0].find(' ', 17) - 17);
    std::string owner = commit_lines[0].substr(commit_lines[0].find(" by ") + 4);
    owner = owner.substr(0, owner.find(' '));
    std::vector<std::string> changes;
    bool trailer = false;
    for (std::size_t i = 1; i < commit_lines.size(); ++i) {
      if (commit_lines[i] == owner)
        trailer = true;
      else if (!commit_lines[i].empty())
        changes.push_back(commit_lines[i]);
    }
    CHECK(trailer);
    REQUIRE(changes.size() == 2);
    std::string name = id + "_story_s" + id + ".md";
    std::sort(changes.begin(), changes.end());
    CHECK(changes == std::vector<std::string>{"A\twork/2_current/" + name, "D\twork/1_backlog/" + name});
    ++checked;
  };
  for (const auto& l : lines(log)) {
    if (l.starts_with(">")) {
      check_commit();
      commit_lines.clear();
    }
    commit_lines.push_back(l);
  }
  check_commit();
  CHECK(checked == 200);
  std::size_t reflog_claims = 0;
  for (const auto& l : lines(git(board.root(), {"reflog", "--format=%gs"})))
    reflog_claims += l.starts_with("commit: tracker: claim #");
  CHECK(reflog_claims == 200);
  CHECK(git(board.root(), {"status", "--porcelain", "--", "work"}).empty());
  fs::path pending = board.root() / ".git/tracker/pending-index";
  CHECK((!fs::exists(pending) || fs::is_empty(pending)));  // every git index update finished
}

TEST_CASE("claims stay whole while git gc repacks the repository under them", "[stress]") {
  // tracker's packs take over one another; git's gc repacks and removes packs at the
  // same time. Every claim must land, with every object it needs.
  Board board;
  seed_ready(board, 60);
  fs::path stop = board.root() / ".stop-gc";
  int gc = spawn({"sh", "-c",
                  "n=0; while [ ! -e \"$1\" ]; do git -C \"$0\" gc -q 2>/dev/null; n=$((n+1)); done; [ $n -gt 0 ]",
                  board.root().string(), stop.string()});
  Claimers workers(board, 4);
  workers.wait();
  write(stop, "");
  CHECK(wait_for(gc) == 0);  // gc ran at least once, alongside the claims
  std::multiset<std::string> claimed = workers.claimed();
  CHECK(claimed.size() == 60);
  CHECK(std::set<std::string>(claimed.begin(), claimed.end()).size() == 60);
  CHECK(claim_commits(board.root()) == 60);
  auto fsck = run({"git", "-C", board.root().string(), "fsck", "--strict", "--no-dangling"});
  CHECK(fsck.code == 0);
  CHECK(fsck.err.empty());
  CHECK(git(board.root(), {"status", "--porcelain", "--", "work"}).empty());
}

TEST_CASE("reclaim returns an expired claim's story: retry_count + 1, agent cleared, one commit") {
  Board board;
  board.create({"Expiring"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "30s"}, a_minute_ago()).code == 0);
  auto r = run_tracker(board.root(), {"reclaim", "1"}, a_minute_ago());
  CHECK(r.code == 3);  // it held then
  int commits = board.commit_count();
  r = run_tracker(board.root(), {"reclaim", "--json"});
  REQUIRE(r.code == 0);
  json changes = json::parse(r.out)["reclaimed"];
  REQUIRE(changes.size() == 1);
  CHECK(changes[0]["id"] == 1);
  CHECK(changes[0]["to"] == "backlog");
  CHECK(board.commit_count() == commits + 1);
  json s = json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out);
  CHECK(s["stage"] == "backlog");
  CHECK(s["retry_count"] == 1);
  CHECK(s["agent"].is_null());
  CHECK(s["claim"].is_null());
  CHECK(lock_dir_entries(board.root()).empty());
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: reclaim #1 from a (current -> backlog)\n");
  // Nothing expired: nothing to do, and no commit.
  r = run_tracker(board.root(), {"reclaim"});
  CHECK(r.code == 0);
  CHECK(r.out == "nothing to reclaim: every claim holds\n");
  CHECK(run_tracker(board.root(), {"--json", "reclaim"}).out == "{\n  \"reclaimed\": []\n}\n");
  r = run_tracker(board.root(), {"reclaim", "1"});
  CHECK(r.code == 0);
  CHECK(r.out == "#1 is not claimed; nothing to reclaim\n");
  CHECK(run_tracker(board.root(), {"reclaim", "9"}).code == 4);
  CHECK(board.commit_count() == commits + 1);
  // A hand move resets the retry count again.
  REQUIRE(run_tracker(board.root(), {"move", "1", "qa"}).code == 0);
  CHECK(json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out)["retry_count"] == 0);
}

TEST_CASE("renew extends only the holder's claim") {
  Board board;
  board.create({"Long job"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a", "--ttl", "1m"}).code == 0);
  std::string before = json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out)["claim"]["expires"];
  auto r = run_tracker(board.root(), {"renew", "1", "--owner", "a", "--ttl", "2h", "--json"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["expires"].get<std::string>() > before);
  CHECK(run_tracker(board.root(), {"renew", "1", "--owner", "b"}).code == 3);
  CHECK(run_tracker(board.root(), {"renew", "1", "--owner", "a", "--ttl", "0"}).code == 2);
  board.create({"Unclaimed"});
  // Renewing a claim that is gone is a lost claim: exit 3 tells the agent to stop.
  r = run_tracker(board.root(), {"renew", "2", "--owner", "a"});
  CHECK(r.code == 3);
  CHECK(r.err ==
        "tracker: story #2 is not claimed by a: the claim ended (released, reclaimed or done); stop, or claim it "
        "again\n");
  CHECK(run_tracker(board.root(), {"renew", "9", "--owner", "a"}).code == 4);
}

TEST_CASE("done moves to the done stage and ends the claim, it satisfies dependants") {
  Board board;
  board.create({"Base"});
  board.create({"Dependant", "--depends-on", "1"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "a"}).code == 0);
  CHECK(ready_ids(board.root()).empty());
  // Only the holder finishes a claim: another identity is refused, naming the holder.
  int commits = board.commit_count();
  auto r = run_tracker(board.root(), {"done", "1"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "story #1 is claimed by a until "));
  CHECK(contains(r.err, "only its holder may finish it, and you act as author@example.com"));
  CHECK(board.commit_count() == commits);
  r = run_tracker(board.root(), {"done", "1", "--owner", "a"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "done #1 (was a) current -> done\n");
  CHECK(lock_dir_entries(board.root()).empty());
  CHECK(git(board.root(), {"log", "-1", "--format=%B"}) ==
        "tracker: done #1 (current -> done)\n\nTracker-Action: done\nTracker-Story: 1\nTracker-From: current\n"
        "Tracker-To: done\nTracker-Owner: a\n\n");
  CHECK(ready_ids(board.root()) == std::vector<long>{2});
  CHECK(run_tracker(board.root(), {"done", "1"}).out == "#1 is already done\n");
  // One story, one object; the same shape as release's.
  r = run_tracker(board.root(), {"--json", "done", "2"});
  REQUIRE(r.code == 0);
  json done = json::parse(r.out);
  CHECK(done["id"] == 2);
  CHECK(done["from"] == "backlog");
  CHECK(done["to"] == "done");
  CHECK(done["changed"] == true);
  CHECK(done["commit"].get<std::string>().size() == 40);
  CHECK(json::parse(run_tracker(board.root(), {"--json", "done", "2"}).out) ==
        json::parse(R"({"id": 2, "from": "done", "to": "done", "owner": null, "changed": false, "claim_only": false,
                        "forced_by": null, "commit": null})"));
  CHECK(run_tracker(board.root(), {"done", "9"}).code == 4);
}

TEST_CASE("block and unblock change one line each and gate the ready queue") {
  Board board;
  board.create({"Gate"});
  std::string before = read(board.root() / "work/1_backlog/1_story_gate.md");
  auto r = run_tracker(board.root(), {"block", "1", "--reason", "waiting: design"});
  REQUIRE(r.code == 0);
  std::string blocked = read(board.root() / "work/1_backlog/1_story_gate.md");
  CHECK(blocked.find("blocked: true\nblocked_reason: \"waiting: design\"\n") != std::string::npos);
  CHECK(ready_ids(board.root()).empty());
  CHECK(json::parse(run_tracker(board.root(), {"list", "--blocked", "--json"}).out).size() == 1);
  CHECK(json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out)["fields"]["blocked_reason"] ==
        "waiting: design");
  REQUIRE(run_tracker(board.root(), {"unblock", "1"}).code == 0);
  CHECK(ready_ids(board.root()) == std::vector<long>{1});
  CHECK(read(board.root() / "work/1_backlog/1_story_gate.md") == before);  // no `blocked: false` left behind
  CHECK(run_tracker(board.root(), {"unblock", "1"}).out == "#1 is already unblocked\n");
  CHECK(run_tracker(board.root(), {"block", "1", "--reason", "two\nlines"}).code == 2);
}

TEST_CASE("stats counts stages, ready, blocked, claimed and expired claims") {
  Board board;
  board.create({"One"});
  board.create({"Two"});
  board.create({"Three", "--stage", "qa"});
  REQUIRE(run_tracker(board.root(), {"block", "2"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "3", "--owner", "a", "--ttl", "30s"}, a_minute_ago()).code == 0);
  auto r = run_tracker(board.root(), {"stats", "--json"});
  REQUIRE(r.code == 0);
  json s = json::parse(r.out);
  CHECK(s["stages"]["backlog"] == 2);
  CHECK(s["stages"]["qa"] == 1);  // a claim moves a story forward only: in qa it stays
  CHECK(s["stages"]["current"] == 0);
  CHECK(s["total"] == 3);
  CHECK(s["ready"] == 1);
  CHECK(s["blocked"] == 1);
  CHECK(s["claimed"] == 0);
  CHECK(s["expired_claims"] == 1);
  CHECK(s["oldest_ready"]["id"] == 1);
  r = run_tracker(board.root(), {"stats"});
  CHECK(contains(r.out, "expired claims: 1 (run 'tracker reclaim')"));
}

TEST_CASE("a claim killed with SIGKILL at any point leaves no half lock and loses no story", "[stress]") {
  Board board;
  board.create({"Contested"});
  std::srand(12345);
  int completed = 0;
  for (int round = 0; round < 25; ++round) {
    // The claim names a holder process; killing it ends the claim at once.
    int holder = spawn({"sleep", "30"});
    int claimer = spawn({TRACKER_BIN, "-C", board.root().string(), "claim", "1", "--owner", "k" + std::to_string(round),
                         "--pid", std::to_string(holder)});
    std::this_thread::sleep_for(std::chrono::microseconds(std::rand() % 60000));
    kill(claimer, SIGKILL);
    completed += wait_for(claimer) == 0;
    kill(holder, SIGKILL);
    wait_for(holder);
    // git itself leaves index.lock or a ref .lock behind when killed inside a write;
    // those are git's to clear, and this test is about the tracker's own state.
    fs::remove(board.root() / ".git/index.lock");
    fs::remove(board.root() / ".git/refs/heads/main.lock");

    for (const auto& name : lock_dir_entries(board.root())) {
      if (!name.ends_with(".lock")) continue;  // a temp file of the killed claimer, never a lock
      CHECK(name == "1.lock");
      std::string text = read(board.root() / ".git/tracker/claims" / name);
      CHECK(contains(text, "nonce: "));  // every lock is whole: the last line is there
      CHECK(contains(text, "expires_unix: "));
    }
    int copies = 0;
    for (const auto& stage : fs::directory_iterator(board.root() / "work"))
      for (const auto& f : fs::directory_iterator(stage.path()))
        copies += f.path().filename().string().starts_with("1_");
    CHECK(copies == 1);

    // check sees exactly the mismatches the kill left: a lock taken before the file
    // was edited is a lock whose story has another agent.
    auto checked = run_tracker(board.root(), {"check", "--json"});
    json report = json::parse(checked.out);
    std::optional<std::string> owner;
    if (fs::exists(board.root() / ".git/tracker/claims/1.lock")) {
      std::string text = read(board.root() / ".git/tracker/claims/1.lock");
      auto at = text.find("owner: ") + 7;
      owner = text.substr(at, text.find('\n', at) - at);
    }
    json show = json::parse(run_tracker(board.root(), {"show", "1", "--json"}).out);
    bool mismatch = owner && show["agent"] != *owner;
    CHECK(checked.code == (mismatch ? 5 : 0));
    CHECK(report["problems"].size() == (mismatch ? 1u : 0u));
    if (mismatch) CHECK(report["problems"][0]["kind"] == "claim");
  }
  // The last holder is dead, so the story can be claimed again at once.
  auto r = run_tracker(board.root(), {"claim", "1", "--owner", "final", "--json"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(json::parse(r.out)["agent"] == "final");
  CHECK(run_tracker(board.root(), {"check"}).code == 0);
  CHECK(run({"git", "-C", board.root().string(), "fsck"}).code == 0);
  // HEAD never holds the story twice, even when a killed claim moved it uncommitted.
  int in_head = 0;
  for (const auto& path : lines(git(board.root(), {"ls-tree", "-r", "--name-only", "HEAD", "work/"})))
    in_head += fs::path(path).filename().string().starts_with("1_");
  CHECK(in_head == 1);
  INFO("claims that completed before the kill: " << completed);
}

TEST_CASE("claim with no id breaks a stale lock left on a ready story") {
  Board board;
  board.create({"Orphaned"});
  // What a claimer killed right after creating its lock leaves: a lock, an unmoved story.
  write(board.root() / ".git/tracker/claims/1.lock",
        "id: 1\nowner: ghost\nhost: nowhere\ncreated_unix: 1000\nexpires_unix: 1001\nfrom: backlog\nnonce: "
        "00000000deadbeef\n");
  CHECK(ready_ids(board.root()) == std::vector<long>{1});  // an expired lock does not hold
  auto r = run_tracker(board.root(), {"claim", "--owner", "b", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json s = json::parse(r.out);
  CHECK(s["id"] == 1);
  CHECK(s["retry_count"] == 1);
  CHECK(s["claim"]["owner"] == "b");
  CHECK(lock_dir_entries(board.root()) == std::vector<std::string>{"1.lock"});
}

TEST_CASE("link and unlink: one-line diffs, refusals, and the ready queue follows") {
  Board board;
  board.create({"Schema"});
  board.create({"API"});
  board.create({"UI"});
  auto r = run_tracker(board.root(), {"link", "3", "2"});
  REQUIRE(r.code == 0);
  CHECK(r.out == "#3 now depends on #2\n");
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: link #3 to #2\n");
  CHECK(git(board.root(), {"status", "--porcelain"}).empty());
  REQUIRE(run_tracker(board.root(), {"link", "2", "1"}).code == 0);
  CHECK(ready_ids(board.root()) == std::vector<long>{1});

  // A second link edits the list's one line: exactly one line out, one line in.
  REQUIRE(run_tracker(board.root(), {"link", "3", "1", "--json"}).code == 0);
  std::string diff = git(board.root(), {"diff", "-U0", "HEAD~1", "--", board.path_of(3)});
  CHECK(contains(diff, "\n-depends_on: [2]\n+depends_on: [2, 1]\n"));
  CHECK(git(board.root(), {"diff", "--numstat", "HEAD~1"}) == "1\t1\t" + board.path_of(3) + "\n");

  // Refusals: unknown id (4), self-link and cycles (5) with the cycle shown; nothing changes.
  int commits = board.commit_count();
  r = run_tracker(board.root(), {"link", "3", "9"});
  CHECK(r.code == 4);
  CHECK(r.err == "tracker: no story #9\n");
  CHECK(run_tracker(board.root(), {"link", "9", "3"}).code == 4);
  r = run_tracker(board.root(), {"link", "2", "2"});
  CHECK(r.code == 5);
  CHECK(contains(r.err, "cannot depend on itself"));
  r = run_tracker(board.root(), {"link", "1", "3"});
  CHECK(r.code == 5);
  CHECK(r.err == "tracker: linking #1 to #3 would make a dependency cycle: #1 -> #3 -> #1\n");
  r = run_tracker(board.root(), {"link", "1", "2", "--json"});
  CHECK(r.code == 5);
  CHECK(json::parse(r.err)["error"] == "linking #1 to #2 would make a dependency cycle: #1 -> #2 -> #1");
  CHECK(run_tracker(board.root(), {"link", "x", "2"}).code == 2);
  CHECK(run_tracker(board.root(), {"link", "1"}).code == 2);
  CHECK(board.commit_count() == commits);

  // Already linked: nothing to commit.
  r = run_tracker(board.root(), {"link", "3", "2", "--json"});
  CHECK(r.code == 0);
  json j = json::parse(r.out);
  CHECK(j["changed"] == false);
  CHECK(j["commit"].is_null());
  CHECK(j["depends_on"] == json::array({2, 1}));
  CHECK(board.commit_count() == commits);

  // Unlink, also of an id that no longer exists (a dangling reference).
  r = run_tracker(board.root(), {"unlink", "3", "2", "--json"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["depends_on"] == json::array({1}));
  CHECK(git(board.root(), {"log", "-1", "--format=%s"}) == "tracker: unlink #3 from #2\n");
  CHECK(run_tracker(board.root(), {"unlink", "3", "2"}).out == "#3 does not depend on #2\n");
  std::string hand = read(board.root() / board.path_of(2));
  write(board.root() / board.path_of(2), hand.replace(hand.find("depends_on: [1]"), 15, "depends_on:\n  - 1\n  - 77"));
  git(board.root(), {"commit", "-qam", "hand edit"});
  REQUIRE(run_tracker(board.root(), {"unlink", "2", "77"}).code == 0);
  CHECK(git(board.root(), {"diff", "-U0", "HEAD~1", "--", board.path_of(2)}).find("\n-  - 77\n") != std::string::npos);
  CHECK(contains(read(board.root() / board.path_of(2)), "depends_on:\n  - 1\n"));

  // Once the dependencies are done, the dependants become ready.
  REQUIRE(run_tracker(board.root(), {"done", "1"}).code == 0);
  CHECK(ready_ids(board.root()) == std::vector<long>{2, 3});
}

TEST_CASE("check finds every kind of problem, with path and line, and exits 5") {
  Board board;
  board.create({"One"});
  board.create({"Two"});
  board.create({"Three"});
  auto r = run_tracker(board.root(), {"check"});
  CHECK(r.code == 0);
  CHECK(r.out.empty());
  CHECK(r.err == "checked 3 stories: no problems\n");

  fs::path work = board.root() / "work";
  write(work / "1_backlog/5_story_bad.md", "---\nname: [oops\n---\n");
  write(work / "2_current/3_story_twin.md", "---\nname: Twin\n---\n");
  write(work / "1_backlog/7_feature_t.md", "---\nname: T\npriority: high\ndepends_on: [99, 8]\n---\n");
  write(work / "1_backlog/8_story_u.md", "---\nname: U\ndepends_on: [9]\n---\n");
  write(work / "1_backlog/9_story_v.md", "---\nname: V\ndepends_on:\n  - 7\n---\n");
  write(work / "1_backlog/notes.md", "free text\n");
  write(work / "1_backlog/todo.txt", "free text\n");
  write(work / "README.md", "about the board\n");
  write(work / "1_backlog/.gitkeep", "");
  fs::create_directories(work / "7_later");
  fs::create_directories(work / "2_current/old");
  r = run_tracker(board.root(), {"check"});
  CHECK(r.code == 5);
  CHECK(r.err == "checked 9 stories: 12 problems\n");
  std::vector<std::string> expected = {
      "work/1_backlog/3_story_three.md: error: story #3 exists 2 times (work/1_backlog/3_story_three.md, "
      "work/2_current/3_story_twin.md); tracker renumber 3 --path <file> gives one a new id",
      "work/1_backlog/5_story_bad.md:2: error: the list opened with '[' is not closed; end it with ']': name: [oops], "
      "or if it is text, put it in quotes: name: \"[oops\"",
      "work/1_backlog/7_feature_t.md: error: unknown type 'feature'",
      "work/1_backlog/7_feature_t.md:3: error: priority: expected an integer, got 'high'",
      "work/1_backlog/7_feature_t.md:4: error: dependency cycle: #7 -> #8 -> #9 -> #7",
      "work/1_backlog/7_feature_t.md:4: error: depends_on: no story #99",
      "work/1_backlog/notes.md: error: not a story file name: expected <id>_<type>_<slug>.md",
      "work/1_backlog/todo.txt: error: not a story file: story files end in .md",
      "work/2_current/3_story_twin.md: error: story #3 exists 2 times (work/1_backlog/3_story_three.md, "
      "work/2_current/3_story_twin.md); tracker renumber 3 --path <file> gives one a new id",
      "work/2_current/old: error: directory inside a stage directory: its files are not stories",
      "work/7_later: error: unknown stage directory",
      "work/README.md: error: file outside the stage directories 1_backlog, 2_current, 3_qa, 4_merge, 5_done, "
      "6_archived",
  };
  auto got = lines(r.out);
  CHECK(got.size() == 12);
  for (const auto& line : expected) CHECK(std::find(got.begin(), got.end(), line) != got.end());

  json report = json::parse(run_tracker(board.root(), {"check", "--json"}).out);
  CHECK(report["ok"] == false);
  CHECK(report["stories"] == 9);
  std::set<std::string> kinds;
  for (const auto& p : report["problems"]) kinds.insert(p["kind"].get<std::string>());
  CHECK(kinds == std::set<std::string>{"bad-value", "cycle", "duplicate-id", "file-name", "malformed",
                                       "missing-dependency", "outside-stage", "unknown-stage", "unknown-type"});
  CHECK(report["problems"][1]["line"] == 2);
  CHECK(report["problems"][0]["line"].is_null());
  CHECK(run_tracker(board.root(), {"check", "extra"}).code == 2);
}

TEST_CASE("check compares claim locks with the story files") {
  Board board;
  board.create({"Held"});
  board.create({"Gone"});
  board.create({"Expired"});
  board.create({"Finished"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "bob"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "2", "--owner", "al"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "3", "--owner", "cy", "--ttl", "30s"}, a_minute_ago()).code == 0);
  REQUIRE(run_tracker(board.root(), {"claim", "4", "--owner", "di"}).code == 0);
  CHECK(run_tracker(board.root(), {"check"}).code == 0);

  // A hand edit changes the agent, a story is deleted, one is moved to done by hand.
  std::string held = read(board.root() / board.path_of(1));
  write(board.root() / board.path_of(1), held.replace(held.find("agent: bob"), 10, "agent: eve"));
  fs::remove(board.root() / board.path_of(2));
  git(board.root(), {"mv", board.path_of(4), "work/5_done/"});
  auto r = run_tracker(board.root(), {"check"});
  CHECK(r.code == 5);
  auto out = lines(r.out);
  REQUIRE(out.size() == 4);
  CHECK(out[0] ==
        ".git/tracker/claims/2.lock: error: claim on #2 by al, but there is no story #2; tracker reclaim 2 clears it");
  CHECK(out[1] == "work/2_current/1_story_held.md:4: error: claim on #1 by bob, but the story's agent is eve");
  CHECK(out[2] ==
        "work/5_done/4_story_finished.md: error: claim on #4 by di, but the story is done; tracker done 4 ends it");
  CHECK(contains(out[3], ".git/tracker/claims/3.lock: note: claim on #3 by cy expired at "));

  // The fixes the messages name clear every problem.
  REQUIRE(run_tracker(board.root(), {"reclaim"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"done", "4", "--owner", "di"}).code == 0);
  REQUIRE(run_tracker(board.root(), {"release", "1", "--owner", "bob"}).code == 0);
  r = run_tracker(board.root(), {"check"});
  INFO(r.out);
  CHECK(r.code == 0);

  // An agent with no claim here is a note, not a failure: the claim may live in another clone.
  std::string s = read(board.root() / board.path_of(1));
  write(board.root() / board.path_of(1), s.replace(s.find("---\n", 3), 4, "agent: zed\n---\n"));
  r = run_tracker(board.root(), {"check"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "note: agent: zed, but no claim here holds #1"));
}

TEST_CASE("ready --explain and a claim that finds nothing say why the nearest stories are not ready") {
  Board board;
  fs::path root = board.root();
  board.create({"Base", "--stage", "current"});                          // 1
  board.create({"Login", "--depends-on", "1", "--priority", "3"});       // 2
  board.create({"Vendor sync", "--priority", "2"});                      // 3
  REQUIRE(run_tracker(root, {"block", "3", "--reason", "waiting on vendor"}).code == 0);

  // Nothing ready: the claim says why, on one line, and exits 6.
  auto r = run_tracker(root, {"claim", "--owner", "agent-7"});
  CHECK(r.code == 6);
  CHECK(r.err == "tracker: no ready story to claim: #2 waits for #1 (current), #3 blocked: waiting on vendor\n");
  r = run_tracker(root, {"ready", "--explain"});
  CHECK(r.code == 0);
  CHECK(r.out ==
        "no story is ready:\n"
        "  #2 P3 Login: waits for #1 (current)\n"
        "  #3 P2 Vendor sync: blocked: waiting on vendor\n");
  CHECK(run_tracker(root, {"ready"}).out.empty());  // without --explain, as before

  // A part not done holds its parent; a dependency on no story holds too; what is
  // ready is listed first.
  board.create({"Epic", "--priority", "9"});                           // 4
  board.create({"Part", "--parent", "4", "--priority", "1"});          // 5
  write(root / "work/1_backlog/6_story_ghost.md", "---\nname: Ghost\ndepends_on: [99]\n---\n");
  r = run_tracker(root, {"ready", "--explain"});
  CHECK(r.out ==
        "ID  TYPE   PRI  NAME\n"
        "5   story  1    Part\n"
        "\n"
        "not ready:\n"
        "  #4 P9 Epic: waits for its part #5 (backlog)\n"
        "  #2 P3 Login: waits for #1 (current)\n"
        "  #3 P2 Vendor sync: blocked: waiting on vendor\n"
        "  #6 Ghost: waits for #99 (no such story)\n");
  json j = json::parse(run_tracker(root, {"ready", "--explain", "--json"}).out);
  CHECK(j["ready"].size() == 1);
  CHECK(j["not_ready"][0] == json::parse(R"J({"id": 4, "name": "Epic", "stage": "backlog", "priority": 9,
      "why": "waits for its part #5 (backlog)", "reasons": [{"kind": "part", "id": 5, "stage": "backlog"}]})J"));
  CHECK(j["not_ready"][2]["reasons"] == json::parse(R"([{"kind": "blocked", "reason": "waiting on vendor"}])"));
  CHECK(j["not_ready"][3]["reasons"] == json::parse(R"([{"kind": "dependency", "id": 99, "stage": null}])"));

  // A claim that leaves the story in a ready stage (claim.move_to: backlog) holds it.
  std::string config = read(root / ".tracker/config.yml");
  write(root / ".tracker/config.yml", std::regex_replace(config, std::regex("move_to: current"), "move_to: backlog"));
  REQUIRE(run_tracker(root, {"claim", "5", "--owner", "coder-1"}).code == 0);
  j = json::parse(run_tracker(root, {"ready", "--explain", "--json"}).out);
  CHECK(j["ready"].empty());
  bool named = false;
  for (const auto& n : j["not_ready"])
    if (n["id"] == 5) {
      named = true;
      CHECK(n["reasons"][0]["kind"] == "claimed");
      CHECK(n["reasons"][0]["owner"] == "coder-1");
      CHECK(n["why"].get<std::string>().starts_with("claimed by coder-1 until 20"));
    }
  CHECK(named);
  r = run_tracker(root, {"claim", "--owner", "agent-7"});
  CHECK(r.code == 6);
  CHECK(contains(r.err, "#4 waits for its part #5 (backlog), #2 waits for #1 (current), #3 blocked: waiting on vendor, and more"));
}
