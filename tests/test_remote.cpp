// Claims across clones through a shared git remote: a real `git daemon` on
// 127.0.0.1 (and the same over file://), real clones, real concurrent processes.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "remote_helpers.hpp"

#include <tracker/util.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>

using namespace testing;
using nlohmann::json;


TEST_CASE("a claim is a lease ref on the remote: one clone wins, the other is told who holds it") {
  for (bool daemon : {true, false}) {
    INFO((daemon ? "git daemon" : "file://"));
    SharedRemote remote(daemon);
    seed(remote, 2);
    Clone a(remote), b(remote);

    auto r = run_tracker(a.root(), {"claim", "1", "--owner", "ann"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(remote_claim_refs(remote) == std::set<std::string>{"refs/tracker/claims/1"});
    CHECK(claim_owner_on_remote(remote, 1) == "ann");
    // The lease commit holds claim.yml, and nothing else.
    CHECK(git(remote.bare(), {"ls-tree", "--name-only", "refs/tracker/claims/1"}) == "claim.yml\n");

    // Clone b's board still shows #1 in the backlog (nothing was pushed to the
    // branch), yet the remote says it is taken.
    r = run_tracker(b.root(), {"claim", "1", "--owner", "bob"});
    CHECK(r.code == 3);
    CHECK(r.err.find("story #1 is claimed by ann on ") != std::string::npos);
    CHECK(r.err.find("(on the remote 'origin')") != std::string::npos);
    CHECK(json::parse(run_tracker(b.root(), {"--json", "list", "--claimed"}).out).empty());
    // b's ready queue leaves #1 out, and a claim without an id takes #2.
    json ready = json::parse(run_tracker(b.root(), {"--json", "ready"}).out);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0]["id"] == 2);
    r = run_tracker(b.root(), {"--json", "claim", "--owner", "bob"});
    REQUIRE(r.code == 0);
    CHECK(json::parse(r.out)["id"] == 2);
    CHECK(claim_owner_on_remote(remote, 2) == "bob");
    CHECK(run_tracker(a.root(), {"claim", "--owner", "ann2"}).code == 6);  // nothing ready anywhere

    // Renew moves the lease on (a child commit); release removes it.
    std::string before = git(remote.bare(), {"rev-parse", "refs/tracker/claims/1"});
    REQUIRE(run_tracker(a.root(), {"renew", "1", "--owner", "ann", "--ttl", "1h"}).code == 0);
    CHECK(git(remote.bare(), {"rev-parse", "refs/tracker/claims/1^"}) == before);
    // Only the holder ends a claim, from any clone: b's user is refused #1.
    r = run_tracker(b.root(), {"release", "1"});
    CHECK(r.code == 3);
    CHECK(r.err.find("story #1 is claimed by ann until ") != std::string::npos);
    CHECK(run_tracker(b.root(), {"done", "1"}).code == 3);
    CHECK(run_tracker(b.root(), {"delete", "1"}).code == 3);
    REQUIRE(run_tracker(a.root(), {"release", "1", "--owner", "ann"}).code == 0);
    CHECK(remote_claim_refs(remote) == std::set<std::string>{"refs/tracker/claims/2"});
    // Done ends the lease too.
    REQUIRE(run_tracker(b.root(), {"done", "2", "--owner", "bob"}).code == 0);
    CHECK(remote_claim_refs(remote).empty());
    CHECK(run({"git", "-C", remote.bare().string(), "fsck", "--strict", "--no-progress"}).code == 0);
  }
}

TEST_CASE("an expired lease is taken over by another clone, and the old holder cannot renew it") {
  SharedRemote remote(true);
  seed(remote, 1);
  // A skew margin of 1 s keeps the test short; the default is 30 s.
  Clone a(remote), b(remote);
  for (const Clone* c : {&a, &b}) {
    std::string config = read(c->root() / ".tracker/config.yml");
    write(c->root() / ".tracker/config.yml", config + "  clock_skew: 1s\n");
    git(c->root(), {"commit", "-qam", "skew"});
  }
  REQUIRE(run_tracker(a.root(), {"claim", "1", "--owner", "ann", "--ttl", "1s"}).code == 0);
  std::string anns = git(remote.bare(), {"rev-parse", "refs/tracker/claims/1"});
  // While it holds (expiry plus the skew margin), b is refused.
  CHECK(run_tracker(b.root(), {"claim", "1", "--owner", "bob"}).code == 3);
  // Once it has passed, b takes it over: its retry_count goes up.
  REQUIRE(eventually([&] { return run_tracker(b.root(), {"claim", "1", "--owner", "bob"}).code == 0; }));
  CHECK(claim_owner_on_remote(remote, 1) == "bob");
  CHECK(git(remote.bare(), {"rev-parse", "refs/tracker/claims/1^"}) == anns);  // the lease chain goes on
  json shown = json::parse(run_tracker(b.root(), {"--json", "show", "1"}).out);
  CHECK(shown["retry_count"] == 1);
  CHECK(shown["agent"] == "bob");

  // The old holder is fenced off: renew and done exit 3 and change nothing there.
  std::string bobs = git(remote.bare(), {"rev-parse", "refs/tracker/claims/1"});
  auto r = run_tracker(a.root(), {"renew", "1", "--owner", "ann"});
  CHECK(r.code == 3);
  CHECK(r.err.find("your claim on story #1 was taken over by bob on the remote 'origin'") != std::string::npos);
  // And stays fenced: a second try, done, a move, and a claim of its own on this
  // machine alone do not get past bob's lease.
  int commits = std::stoi(git(a.root(), {"rev-list", "--count", "HEAD"}));
  for (const auto& args : std::vector<std::vector<std::string>>{{"renew", "1", "--owner", "ann"},
                                                                {"done", "1", "--owner", "ann"},
                                                                {"done", "1", "--owner", "ann"},
                                                                {"move", "1", "done", "--owner", "ann"},
                                                                {"release", "1", "--owner", "ann"}}) {
    r = run_tracker(a.root(), args);
    INFO(args[0] << ": " << r.err);
    CHECK(r.code == 3);
  }
  shown = json::parse(run_tracker(a.root(), {"--json", "show", "1"}).out);
  CHECK(shown["claim"]["lost_to"] == "bob");
  REQUIRE(run_tracker(a.root(), {"claim", "1", "--owner", "ann", "--offline"}).code == 0);  // this machine only
  r = run_tracker(a.root(), {"done", "1", "--owner", "ann"});
  CHECK(r.code == 3);  // bob's lease still holds on the remote
  CHECK(r.err.find("bob") != std::string::npos);
  CHECK(git(remote.bare(), {"rev-parse", "refs/tracker/claims/1"}) == bobs);
  // The offline claim is a commit here; sync does not send it past bob's lease.
  r = run_tracker(a.root(), {"--json", "sync"});
  REQUIRE(r.code == 0);
  json out = json::parse(r.out);
  REQUIRE(out["conflicts"].size() >= 1);
  CHECK(out["conflicts"][0]["kind"] == "fenced");
  CHECK(remote_board(remote).find(1)->second == "1_backlog");  // bob has not synced his claim yet
  CHECK(std::stoi(git(a.root(), {"rev-list", "--count", "HEAD"})) >= commits);
}

TEST_CASE("done by a holder whose lease was taken over exits 3 and changes nothing") {
  SharedRemote remote(false);
  seed(remote, 1);
  Clone a(remote), b(remote);
  REQUIRE(run_tracker(a.root(), {"claim", "1", "--owner", "ann"}).code == 0);
  // Another clone's lease replaces ann's on the remote (as a takeover after expiry does).
  std::string other = take_over_by_hand(b.root(), 1, "bob");

  std::string head = git(a.root(), {"rev-parse", "HEAD"});
  auto r = run_tracker(a.root(), {"done", "1", "--owner", "ann"});
  CHECK(r.code == 3);
  CHECK(r.err == "tracker: your claim on story #1 was taken over by bob on the remote 'origin'; you no longer hold it: "
                 "stop working on it (--force ends the other claim)\n");
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(git(remote.bare(), {"rev-parse", "refs/tracker/claims/1"}) == other + "\n");
  // ann's claim is void, and she stays fenced: release is refused too.
  r = run_tracker(a.root(), {"release", "1", "--owner", "ann"});
  CHECK(r.code == 3);
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  // --force by a supervisor ends bob's lease, and says who forced it.
  r = run_tracker(a.root(), {"--json", "done", "1", "--owner", "lead", "--force"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  json done = json::parse(r.out);
  CHECK(done["forced_by"] == "lead");
  CHECK(done["owner"] == "bob");
  CHECK(remote_claim_refs(remote).empty());
  CHECK(remote_board(remote).find(1)->second == "5_done");
  CHECK(git(remote.bare(), {"log", "-1", "--format=%B", "main"}).find("Tracker-Forced-By: lead\n") != std::string::npos);
}

TEST_CASE("50 processes across 5 clones claim the same story: exactly one wins", "[stress]") {
  SharedRemote remote(true);
  seed(remote, 1, "60s");
  std::vector<std::unique_ptr<Clone>> clones;
  for (int i = 0; i < 5; ++i) clones.push_back(std::make_unique<Clone>(remote));
  TempDir out;
  std::vector<int> pids;
  for (int i = 0; i < 50; ++i) {
    const Clone& c = *clones[static_cast<std::size_t>(i % 5)];
    pids.push_back(spawn({"sh", "-c",
                          std::string(TRACKER_BIN) + " claim 1 --owner w" + std::to_string(i) + " > " +
                              (out / ("out" + std::to_string(i))).string() + " 2>&1; echo $? > " +
                              (out / ("rc" + std::to_string(i))).string()},
                         RunOptions{c.root(), {}, ""}));
  }
  for (int pid : pids) wait_for(pid);
  int won = 0, refused = 0;
  std::string winner;
  for (int i = 0; i < 50; ++i) {
    std::string rc = read(out / ("rc" + std::to_string(i)));
    if (rc == "0\n") {
      ++won;
      winner = "w" + std::to_string(i);
    } else if (rc == "3\n") {
      ++refused;
    } else {
      FAIL("claimer " << i << " exited " << rc << ": " << read(out / ("out" + std::to_string(i))));
    }
  }
  CHECK(won == 1);
  CHECK(refused == 49);
  CHECK(claim_owner_on_remote(remote, 1) == winner);
}

TEST_CASE("4 clones with 2 claimers each take 60 stories: each story is claimed exactly once", "[stress]") {
  SharedRemote remote(true);
  seed(remote, 60, "60s");
  std::vector<std::unique_ptr<Clone>> clones;
  for (int i = 0; i < 4; ++i) clones.push_back(std::make_unique<Clone>(remote));
  TempDir out;
  std::vector<int> pids;
  for (int w = 0; w < 8; ++w) {
    const Clone& c = *clones[static_cast<std::size_t>(w / 2)];
    fs::path log = out / ("w" + std::to_string(w));
    pids.push_back(spawn({"sh", "-c",
                          "while :; do " + std::string(TRACKER_BIN) + " --json claim --owner w" + std::to_string(w) +
                              " >> " + log.string() + " 2>>" + log.string() + ".err; rc=$?; [ $rc = 0 ] || break; "
                              "done; echo $rc > " + log.string() + ".rc"},
                         RunOptions{c.root(), {}, ""}));
  }
  for (int pid : pids) wait_for(pid);
  std::map<long, std::string> taken;
  for (int w = 0; w < 8; ++w) {
    fs::path log = out / ("w" + std::to_string(w));
    INFO(read(log.string() + ".err"));
    CHECK(read(log.string() + ".rc") == "6\n");  // stopped because nothing was left
    for (const auto& [id, owner] : claims_in_output(fs::exists(log) ? read(log) : "")) {
      CHECK(taken.count(id) == 0);
      taken[id] = owner;
    }
  }
  CHECK(taken.size() == 60);
  CHECK(remote_claim_refs(remote).size() == 60);
  for (const auto& [id, owner] : taken) CHECK(claim_owner_on_remote(remote, id) == owner);

  // Every clone syncs, all at once: the remote's branch then holds each story in
  // current exactly once, with the owner that claimed it.
  pids.clear();
  for (int i = 0; i < 4; ++i)
    pids.push_back(spawn({"sh", "-c", std::string(TRACKER_BIN) + " sync > " + (out / ("sync" + std::to_string(i))).string() +
                                          " 2>&1"},
                         RunOptions{clones[static_cast<std::size_t>(i)]->root(), {}, ""}));
  for (std::size_t i = 0; i < pids.size(); ++i) {
    INFO(read(out / ("sync" + std::to_string(i))));
    CHECK(wait_for(pids[i]) == 0);
  }
  auto board = remote_board(remote);
  CHECK(board.size() == 60);
  for (const auto& [id, owner] : taken) {
    CHECK(board.count(id) == 1);
    CHECK(board.find(id)->second == "2_current");
    CHECK(remote_story(remote, id).find("agent: " + owner + "\n") != std::string::npos);
  }
  // A last sync brings every clone to the remote's branch.
  for (const auto& c : clones) {
    REQUIRE(run_tracker(c->root(), {"sync"}).code == 0);
    CHECK(git(c->root(), {"rev-parse", "HEAD"}) == git(remote.bare(), {"rev-parse", "main"}));
    CHECK(git(c->root(), {"status", "--porcelain"}).empty());
    CHECK(json::parse(run_tracker(c->root(), {"--json", "list", "--stage", "current"}).out).size() == 60);
  }
  CHECK(run({"git", "-C", remote.bare().string(), "fsck", "--strict", "--no-progress"}).code == 0);
}

TEST_CASE("a remote that takes the connection and never answers gives up at remote.timeout, pointing at --offline") {
  SharedRemote remote(true);
  seed(remote, 1, "1s");
  Clone a(remote);
  // A listener whose connections the kernel completes and nobody ever answers.
  auto [fd, port] = loopback_socket();
  REQUIRE(::listen(fd, 16) == 0);
  git(a.root(), {"remote", "set-url", "origin", "git://127.0.0.1:" + std::to_string(port) + "/board.git"});
  std::string head = git(a.root(), {"rev-parse", "HEAD"});
  auto started = std::chrono::steady_clock::now();
  auto r = run_tracker(a.root(), {"claim", "1", "--owner", "ann"});
  auto took = std::chrono::steady_clock::now() - started;
  ::close(fd);
  CHECK(r.code == 7);
  CHECK(r.err.starts_with("tracker: the remote 'origin' is unavailable ("));
  CHECK(r.err.find("no answer within remote.timeout (1s)") != std::string::npos);
  CHECK(r.err.ends_with("; --offline works on this clone alone\n"));
  // Without the timeout git would wait for ever: a bound far above the 1s asked
  // for, and far below for ever, on a loaded machine too.
  CHECK(took < std::chrono::seconds(20));
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(json::parse(run_tracker(a.root(), {"--json", "list", "--claimed"}).out).empty());
}

TEST_CASE("an unreachable remote is exit 7 with git's message, and --offline claims locally saying so") {
  SharedRemote remote(true);
  seed(remote, 2, "1s");
  Clone a(remote);
  remote.restart_later();  // the daemon is gone
  std::string head = git(a.root(), {"rev-parse", "HEAD"});
  auto r = run_tracker(a.root(), {"claim", "1", "--owner", "ann"});
  INFO(r.err);
  CHECK(r.code == 7);
  CHECK(r.err.starts_with("tracker: the remote 'origin' is unavailable ("));
  // Refused or cut off at the deadline (the push may then have landed): either way
  // the message says how long it tried and what works without the remote.
  CHECK(r.err.ends_with("(retried for 1s, remote.timeout); --offline works on this clone alone\n"));
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(json::parse(run_tracker(a.root(), {"--json", "list", "--claimed"}).out).empty());
  CHECK(run_tracker(a.root(), {"ready"}).code == 7);

  r = run_tracker(a.root(), {"--offline", "claim", "1", "--owner", "ann"});
  CHECK(r.code == 0);
  CHECK(r.err == "tracker: warning: offline: the claim on #1 holds on this machine only; other clones do not see it\n");

  // Back again: claims go through the remote as before.
  remote.start_on_same_port();
  r = run_tracker(a.root(), {"claim", "2", "--owner", "ann"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(remote_claim_refs(remote) == std::set<std::string>{"refs/tracker/claims/2"});
}

TEST_CASE("a remote whose hook refuses refs/tracker/ is named as the reason") {
  SharedRemote remote(false);
  seed(remote, 1);
  write(remote.bare() / "hooks/pre-receive",
        "#!/bin/sh\nwhile read old new ref; do case $ref in refs/tracker/*) echo \"custom refs are not allowed\" >&2; "
        "exit 1;; esac; done\n");
  ::chmod((remote.bare() / "hooks/pre-receive").c_str(), 0755);
  Clone a(remote);
  auto r = run_tracker(a.root(), {"claim", "1", "--owner", "ann"});
  CHECK(r.code == 1);
  CHECK(r.err.find("the remote 'origin' refused refs/tracker/claims/1: pre-receive hook declined") != std::string::npos);
  CHECK(r.err.find("must accept refs under refs/tracker/") != std::string::npos);
  CHECK(json::parse(run_tracker(a.root(), {"--json", "list", "--claimed"}).out).empty());
}

TEST_CASE("init --remote writes remote: into the config, and refuses a remote that is not there") {
  TempDir dir;
  git(dir.path(), {"init", "-q", "-b", "trunk"});
  auto r = run_tracker(dir.path(), {"init", "--remote", "origin"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: no git remote 'origin' in this repository: add it first (git remote add origin <url>), then "
                 "run tracker init --remote origin again\n");
  CHECK(!fs::exists(dir / ".tracker"));
  git(dir.path(), {"remote", "add", "origin", "file:///nowhere"});
  r = run_tracker(dir.path(), {"init", "--remote", "origin"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::string config = read(dir / ".tracker/config.yml");
  CHECK(config.find("remote:\n  name: origin\n  branch: trunk\n") != std::string::npos);
  // A bad remote: block is refused with its line.
  write(dir / ".tracker/config.yml", config + "  clock_skew: soon\n");
  r = run_tracker(dir.path(), {"list"});
  CHECK(r.code == 5);
  CHECK(r.err.find("config.yml") != std::string::npos);
}

TEST_CASE("ids across clones: 4 clones creating 10 stories each at once get 40 distinct ids", "[stress]") {
  SharedRemote remote(true);
  seed(remote, 1, "60s");  // #1 exists everywhere
  std::vector<std::unique_ptr<Clone>> clones;
  for (int i = 0; i < 4; ++i) clones.push_back(std::make_unique<Clone>(remote));
  std::vector<int> pids;
  for (const auto& c : clones)
    pids.push_back(spawn({"sh", "-c",
                          "for i in 1 2 3 4 5 6 7 8 9 10; do " + std::string(TRACKER_BIN) +
                              " new \"From a clone $i\" || exit 1; done"},
                         RunOptions{c->root(), {}, ""}));
  for (int pid : pids) CHECK(wait_for(pid) == 0);
  std::set<long> ids;
  for (const auto& c : clones) {
    json stories = json::parse(run_tracker(c->root(), {"--json", "list"}).out);
    CHECK(stories.size() == 11);
    for (const auto& s : stories)
      if (s["id"] != 1) CHECK(ids.insert(s["id"].get<long>()).second);
  }
  CHECK(ids.size() == 40);
  CHECK(*ids.begin() == 2);
  CHECK(*ids.rbegin() == 41);
  CHECK(git(remote.bare(), {"cat-file", "blob", "refs/tracker/ids:ids.yml"}) == "last: 41\n");
  // After every clone syncs (all at once), the remote's branch holds the 41
  // stories with distinct ids: nothing to renumber.
  pids.clear();
  for (const auto& c : clones) pids.push_back(spawn({TRACKER_BIN, "sync"}, RunOptions{c->root(), {}, ""}));
  for (int pid : pids) CHECK(wait_for(pid) == 0);
  auto board = remote_board(remote);
  CHECK(board.size() == 41);
  std::set<long> on_remote;
  for (const auto& [id, dir] : board) on_remote.insert(id);
  CHECK(on_remote.size() == 41);
  for (const auto& c : clones) {
    REQUIRE(run_tracker(c->root(), {"sync"}).code == 0);
    CHECK(run_tracker(c->root(), {"check"}).code == 0);  // no duplicate id
    CHECK(json::parse(run_tracker(c->root(), {"--json", "list"}).out).size() == 41);
  }
  CHECK(run({"git", "-C", remote.bare().string(), "fsck", "--strict", "--no-progress"}).code == 0);
}

TEST_CASE("id_block reserves ids in blocks, and an unreachable remote falls back to local ids with a warning") {
  SharedRemote remote(true);
  seed(remote, 1, "1s");
  Clone a(remote), b(remote);
  std::string config = read(a.root() / ".tracker/config.yml");
  write(a.root() / ".tracker/config.yml", config + "  id_block: 5\n");
  CHECK(run_tracker(a.root(), {"new", "A1"}).out == "2\n");
  CHECK(git(remote.bare(), {"cat-file", "blob", "refs/tracker/ids:ids.yml"}) == "last: 6\n");
  CHECK(run_tracker(a.root(), {"new", "A2"}).out == "3\n");  // from the block: no push
  CHECK(run_tracker(b.root(), {"new", "B1"}).out == "7\n");
  CHECK(run_tracker(a.root(), {"new", "A3"}).out == "4\n");

  remote.restart_later();
  auto r = run_tracker(b.root(), {"new", "B2"});
  CHECK(r.code == 0);
  CHECK(r.out == "8\n");
  CHECK(r.err.find("tracker: warning: the remote 'origin' is unavailable (reserving an id)") == 0);
  CHECK(r.err.find("the id comes from this clone alone") != std::string::npos);
}

TEST_CASE("the remote stopped mid-race: claimers exit 7, no story is lost or claimed twice, and the race finishes", "[stress]") {
  SharedRemote remote(true);
  seed(remote, 30, "2s");
  std::vector<std::unique_ptr<Clone>> clones;
  for (int i = 0; i < 4; ++i) clones.push_back(std::make_unique<Clone>(remote));
  TempDir out;
  auto race = [&](const std::string& round) {
    std::vector<int> pids;
    for (int w = 0; w < 8; ++w) {
      fs::path log = out / ("w" + std::to_string(w));
      pids.push_back(spawn({"sh", "-c",
                            "while :; do " + std::string(TRACKER_BIN) + " claim --owner w" + std::to_string(w) +
                                " >> " + log.string() + " 2>>" + log.string() + ".err; rc=$?; [ $rc = 0 ] || break; "
                                "done; echo $rc > " + log.string() + "." + round},
                           RunOptions{clones[static_cast<std::size_t>(w / 2)]->root(), {}, ""}));
    }
    return pids;
  };
  auto claimed_lines = [&] {
    std::vector<std::string> all;
    for (int w = 0; w < 8; ++w) {
      fs::path log = out / ("w" + std::to_string(w));
      if (!fs::exists(log)) continue;
      for (const auto& line : lines(read(log)))
        if (line.starts_with("claimed #")) all.push_back(line.substr(9, line.find(' ', 9) - 9));
    }
    return all;
  };
  std::vector<int> pids = race("first");
  REQUIRE(eventually([&] { return claimed_lines().size() >= 5; }));
  remote.restart_later();  // the daemon goes away in the middle of the race
  for (int pid : pids) wait_for(pid);
  for (int w = 0; w < 8; ++w) {
    std::string rc = read(out / ("w" + std::to_string(w) + ".first"));
    INFO(read(out / ("w" + std::to_string(w) + ".err")));
    CHECK((rc == "7\n" || rc == "6\n"));
  }
  CHECK(claimed_lines().size() < 30);
  remote.start_on_same_port();
  for (int pid : race("second")) wait_for(pid);
  for (int w = 0; w < 8; ++w) CHECK(read(out / ("w" + std::to_string(w) + ".second")) == "6\n");
  std::vector<std::string> ids = claimed_lines();
  std::set<std::string> distinct(ids.begin(), ids.end());
  CHECK(ids.size() == 30);
  CHECK(distinct.size() == 30);
  CHECK(remote_claim_refs(remote).size() == 30);
  CHECK(run({"git", "-C", remote.bare().string(), "fsck", "--strict", "--no-progress"}).code == 0);
}


TEST_CASE("sync: two clones exchange their transitions, fields merge key by key, and the later of two moves wins") {
  for (bool daemon : {true, false}) {
    INFO((daemon ? "git daemon" : "file://"));
    SharedRemote remote(daemon);
    seed(remote, 3);
    Clone a(remote), b(remote);
    // Nothing to do yet.
    auto r = run_tracker(a.root(), {"sync"});
    CHECK(r.code == 0);
    CHECK(r.out == "already up to date with origin/main\n");

    // a: #1 to qa and a label; b, later: #1 to merge and a priority; b sets #2's priority.
    REQUIRE(run_tracker(a.root(), {"set", "1", "labels=ui"}, at_time(a.root(), "2026-01-01T10:00:00Z")).code == 0);
    REQUIRE(run_tracker(a.root(), {"move", "1", "qa"}, at_time(a.root(), "2026-01-01T10:00:00Z")).code == 0);
    REQUIRE(run_tracker(b.root(), {"set", "1", "priority=2"}, at_time(b.root(), "2026-01-01T11:00:00Z")).code == 0);
    REQUIRE(run_tracker(b.root(), {"move", "1", "merge"}, at_time(b.root(), "2026-01-01T11:00:00Z")).code == 0);
    REQUIRE(run_tracker(b.root(), {"set", "2", "priority=5"}).code == 0);

    r = run_tracker(a.root(), {"--json", "sync"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    json out = json::parse(r.out);
    CHECK(out["incoming"].empty());
    CHECK(out["outgoing"].size() == 2);
    CHECK(out["pushed"] == true);
    CHECK(out["conflicts"].empty());

    r = run_tracker(b.root(), {"--json", "sync"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    out = json::parse(r.out);
    CHECK(out["incoming"].size() == 2);
    CHECK(out["outgoing"].size() == 3);
    REQUIRE(out["conflicts"].size() == 1);
    CHECK(out["conflicts"][0]["id"] == 1);
    CHECK(out["conflicts"][0]["kind"] == "moved");
    CHECK(out["conflicts"][0]["here"] == "merge");
    CHECK(out["conflicts"][0]["there"] == "qa");
    CHECK(out["conflicts"][0]["kept"] == "here");  // b's move was an hour later
    CHECK(out["head"] == git(remote.bare(), {"rev-parse", "main"}).substr(0, 40));

    // One copy of each story; #1 in merge with both fields, #2 with b's priority.
    auto board = remote_board(remote);
    CHECK(board.count(1) == 1);
    CHECK(board.find(1)->second == "4_merge");
    std::string one = remote_story(remote, 1);
    CHECK(one.find("labels: [ui]") != std::string::npos);
    CHECK(one.find("priority: 2") != std::string::npos);
    CHECK(remote_story(remote, 2).find("priority: 5") != std::string::npos);
    // The replayed move says what it settled.
    std::string log = git(remote.bare(), {"log", "--format=%B", "main"});
    CHECK(log.find("Tracker-Conflict: #1 was moved to merge here and to qa on origin: the later move, to merge, is "
                   "kept") != std::string::npos);
    // b's work tree and branch are the remote's; a gets them with its next sync.
    CHECK(git(b.root(), {"status", "--porcelain"}).empty());
    r = run_tracker(a.root(), {"sync"});
    CHECK(r.code == 0);
    CHECK(r.out.starts_with("received 3 commits from origin/main, sent 0 commits"));
    CHECK(git(a.root(), {"rev-parse", "HEAD"}) == git(remote.bare(), {"rev-parse", "main"}));
    CHECK(fs::exists(a.root() / "work/4_merge/1_story_story-1.md"));
    CHECK(git(a.root(), {"status", "--porcelain"}).empty());
    CHECK(run_tracker(a.root(), {"check"}).code == 0);
    CHECK(json::parse(run_tracker(a.root(), {"--json", "show", "1"}).out)["priority"] == 2);
    CHECK(run({"git", "-C", remote.bare().string(), "fsck", "--strict", "--no-progress"}).code == 0);
  }
}

TEST_CASE("sync refuses what it cannot do, and changes nothing") {
  SharedRemote remote(false);
  seed(remote, 2);
  Clone a(remote), b(remote);
  REQUIRE(run_tracker(b.root(), {"move", "1", "qa"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);
  std::string remote_head = git(remote.bare(), {"rev-parse", "main"});

  // An uncommitted hand edit of a story the sync would change is in the way.
  fs::path one = a.root() / "work/1_backlog/1_story_story-1.md";
  write(one, read(one) + "\nmy notes\n");
  std::string head = git(a.root(), {"rev-parse", "HEAD"});
  auto r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 3);
  CHECK(r.err.find("changes not committed to work/1_backlog/1_story_story-1.md are in the way") != std::string::npos);
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(read(one).ends_with("my notes\n"));
  REQUIRE(run_tracker(a.root(), {"commit"}).code == 0);
  r = run_tracker(a.root(), {"sync"});  // committed, it merges: the move and the notes
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(remote_story(remote, 1).ends_with("my notes\n"));
  CHECK(remote_board(remote).find(1)->second == "3_qa");

  // A file that is not a story, changed on both sides so that the lines conflict.
  write(a.root() / "NOTES", "a\n");
  git(a.root(), {"add", "NOTES"});
  git(a.root(), {"commit", "-qm", "notes a"});
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);
  write(b.root() / "NOTES", "b\n");
  git(b.root(), {"add", "NOTES"});
  git(b.root(), {"commit", "-qm", "notes b"});
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);
  remote_head = git(remote.bare(), {"rev-parse", "main"});
  head = git(a.root(), {"rev-parse", "HEAD"});
  r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 3);
  CHECK(r.err.find("sync: NOTES was changed here (") != std::string::npos);
  CHECK(r.err.find("in ways that do not merge; nothing was changed") != std::string::npos);
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(git(remote.bare(), {"rev-parse", "main"}) == remote_head);

  // No remote in the config; --offline.
  Board plain;
  r = run_tracker(plain.root(), {"sync"});
  CHECK(r.code == 2);
  CHECK(r.err.find("sync needs a shared remote: add 'remote:' to .tracker/config.yml") != std::string::npos);
  CHECK(run_tracker(b.root(), {"--offline", "sync"}).code == 2);
}

TEST_CASE("sync with the remote unreachable exits 7 and changes nothing, and a detached HEAD is refused") {
  SharedRemote remote(true);
  seed(remote, 1, "1s");
  Clone a(remote);
  REQUIRE(run_tracker(a.root(), {"move", "1", "qa"}).code == 0);
  std::string head = git(a.root(), {"rev-parse", "HEAD"});
  remote.restart_later();
  auto r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 7);
  CHECK(r.err.starts_with("tracker: the remote 'origin' is unavailable (fetching main)"));
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == head);
  remote.start_on_same_port();
  git(a.root(), {"checkout", "-q", "--detach"});
  r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 2);
  CHECK(r.err == "tracker: sync: HEAD is detached; check out the board's branch first\n");
}

TEST_CASE("a remote git refuses at once is reported in git's words, not as a timeout, after remote.timeout of retries") {
  SharedRemote remote(false);
  seed(remote, 1, "1s");
  Clone a(remote);
  git(a.root(), {"remote", "set-url", "origin", (a.root().parent_path() / "nowhere.git").string()});
  auto r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 7);
  INFO(r.err);
  CHECK(r.err.starts_with("tracker: the remote 'origin' is unavailable (fetching main): "));
  CHECK(r.err.find("does not appear to be a git repository") != std::string::npos);
  CHECK(r.err.find("no answer within") == std::string::npos);
  CHECK(r.err.ends_with("--offline works on this clone alone\n"));
}

TEST_CASE("done pushes the branch and deletes the lease in one atomic push, and a lost lease takes the commit back") {
  SharedRemote remote(true);
  seed(remote, 2);
  Clone a(remote), b(remote);
  REQUIRE(run_tracker(a.root(), {"claim", "1", "--owner", "ann"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"move", "2", "qa"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);  // the remote moved on meanwhile
  auto r = run_tracker(a.root(), {"--json", "done", "1", "--owner", "ann"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(remote_claim_refs(remote).empty());
  auto board = remote_board(remote);
  CHECK(board.find(1)->second == "5_done");
  CHECK(board.find(2)->second == "3_qa");
  std::string remote_head = git(remote.bare(), {"rev-parse", "main"});
  CHECK(json::parse(r.out)["commit"] == remote_head.substr(0, 40));
  CHECK(git(a.root(), {"rev-parse", "HEAD"}) == remote_head);
  CHECK(git(a.root(), {"status", "--porcelain"}).empty());

  // A lease replaced on the remote (as a takeover does): done exits 3, and the
  // done commit is taken back here; the remote's branch does not move.
  REQUIRE(run_tracker(a.root(), {"claim", "2", "--owner", "ann", "--force"}).code == 0);
  std::string other = take_over_by_hand(b.root(), 2, "bob");
  std::string head = git(a.root(), {"rev-parse", "HEAD"});
  remote_head = git(remote.bare(), {"rev-parse", "main"});
  r = run_tracker(a.root(), {"done", "2", "--owner", "ann"});
  CHECK(r.code == 3);
  CHECK(r.err.find("taken over by bob") != std::string::npos);
  CHECK(git(remote.bare(), {"rev-parse", "main"}) == remote_head);
  CHECK(git(remote.bare(), {"rev-parse", "refs/tracker/claims/2"}) == other + "\n");
  CHECK(git(a.root(), {"log", "-1", "--format=%s"}).starts_with("tracker: claim #2 by ann"));
  CHECK(fs::exists(a.root() / "work/3_qa/2_story_story-2.md"));  // claimed in qa, it stayed there
  CHECK(git(a.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("remote.auto_sync pushes each command's commits as it makes them, and an unreachable remote is a warning") {
  SharedRemote remote(true);
  seed(remote, 2, "1s");
  Clone a(remote);
  std::string config = read(a.root() / ".tracker/config.yml");
  write(a.root() / ".tracker/config.yml", config + "  auto_sync: true\n");
  git(a.root(), {"commit", "-qam", "auto sync"});
  auto r = run_tracker(a.root(), {"--json", "claim", "--owner", "ann"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["id"] == 1);  // stdout is the command's alone
  CHECK(git(remote.bare(), {"rev-parse", "main"}) == git(a.root(), {"rev-parse", "HEAD"}));
  CHECK(remote_board(remote).find(1)->second == "2_current");

  // The remote gone: the move is committed here, and the command says it is not synced.
  remote.restart_later();
  r = run_tracker(a.root(), {"move", "2", "qa"});
  CHECK(r.code == 0);
  CHECK(r.out == "moved #2 backlog -> qa\n");
  CHECK(r.err.find("tracker: warning: not synced (remote.auto_sync): the remote 'origin' is unavailable") !=
        std::string::npos);
  // Before the move, its claim was checked against the leases as last fetched.
  CHECK(r.err.find("claims are checked against the leases the last sync fetched") != std::string::npos);
  CHECK(r.err.find("tracker sync sends it") != std::string::npos);
  remote.start_on_same_port();
  r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 0);
  CHECK(remote_board(remote).find(2)->second == "3_qa");
}

TEST_CASE("reclaim ends another clone's expired lease, and puts its story back when the board shows the claim") {
  SharedRemote remote(false);
  seed(remote, 2);
  Clone a(remote), b(remote);
  for (const Clone* c : {&a, &b}) {  // a skew margin of 1 s keeps the test short
    std::string config = read(c->root() / ".tracker/config.yml");
    write(c->root() / ".tracker/config.yml", config + "  clock_skew: 1s\n");
    git(c->root(), {"commit", "-qam", "skew"});
  }
  // a claims #1 and syncs, then claims #2 without syncing, and is never heard of again.
  REQUIRE(run_tracker(a.root(), {"claim", "1", "--owner", "ann", "--ttl", "1s"}).code == 0);
  REQUIRE(run_tracker(a.root(), {"sync"}).code == 0);
  REQUIRE(run_tracker(a.root(), {"claim", "2", "--owner", "ann", "--ttl", "1s"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"sync"}).code == 0);
  CHECK(json::parse(run_tracker(b.root(), {"--json", "show", "1"}).out)["agent"] == "ann");
  CHECK(json::parse(run_tracker(b.root(), {"--json", "ready"}).out).empty());

  // While the leases hold (expiry plus the skew margin), reclaim leaves them. On a
  // slow machine (a sanitizer build) #1's may have passed already: then this
  // reclaim is the one that ends it.
  json reclaimed = json::array();
  auto r = run_tracker(b.root(), {"--json", "reclaim", "1"});
  if (r.code == 3) CHECK(r.err.find("story #1 is claimed by ann on ") != std::string::npos);
  if (r.code == 0) {
    json got = json::parse(r.out);  // named: a range-for over a temporary's member would read freed memory
    for (const auto& c : got["reclaimed"]) reclaimed.push_back(c);
  }
  // Once they have passed, reclaim ends both: #1 goes back to the backlog with its
  // retry_count up; #2 was never moved on b's board, so only its lease ends.
  REQUIRE(eventually([&] {
    r = run_tracker(b.root(), {"--json", "reclaim"});
    if (r.code != 0) return false;
    json got = json::parse(r.out)["reclaimed"];
    for (const auto& c : got) reclaimed.push_back(c);
    return reclaimed.size() >= 2;
  }));
  REQUIRE(reclaimed.size() == 2);
  for (const auto& c : reclaimed) {
    CHECK(c["owner"] == "ann");
    if (c["id"] == 1) {
      CHECK(c["from"] == "current");
      CHECK(c["to"] == "backlog");
      CHECK(c["claim_only"] == false);
    } else {
      CHECK(c["id"] == 2);
      CHECK(c["claim_only"] == true);
    }
  }
  CHECK(remote_claim_refs(remote).empty());
  json one = json::parse(run_tracker(b.root(), {"--json", "show", "1"}).out);
  CHECK(one["stage"] == "backlog");
  CHECK(one["retry_count"] == 1);
  CHECK(one["agent"].is_null());
  CHECK(json::parse(run_tracker(b.root(), {"--json", "ready"}).out).size() == 2);
  // And b claims #1 from the ready queue, as any ready story.
  r = run_tracker(b.root(), {"--json", "claim", "--owner", "bob"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["id"] == 1);
}

TEST_CASE("sync runs the pre-push hook, as git push does, and a refusal is named with the hook's words") {
  SharedRemote remote(false);
  seed(remote, 1);
  Clone a(remote);
  REQUIRE(run_tracker(a.root(), {"move", "1", "qa"}).code == 0);
  write(a.root() / ".git/hooks/pre-push", "#!/bin/sh\necho \"no pushing on fridays\" >&2\nexit 1\n");
  ::chmod((a.root() / ".git/hooks/pre-push").c_str(), 0755);
  std::string remote_head = git(remote.bare(), {"rev-parse", "main"});
  auto r = run_tracker(a.root(), {"sync"});
  CHECK(r.code == 1);
  CHECK(r.err == "tracker: the push to 'origin' was refused by the pre-push hook: no pushing on fridays; nothing was "
                 "pushed\n");
  CHECK(git(remote.bare(), {"rev-parse", "main"}) == remote_head);
  fs::remove(a.root() / ".git/hooks/pre-push");
  CHECK(run_tracker(a.root(), {"sync"}).code == 0);
  CHECK(remote_board(remote).find(1)->second == "3_qa");
}
