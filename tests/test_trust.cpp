// Trust across machines: sync never damages or drops work, and a claim binds at
// every door (docs/remote.md "Who may do what" and "Conflicts"). Real clones of a
// shared remote, behind `git daemon` on 127.0.0.1 and over file://.
#include <catch2/catch.hpp>

#include "helpers.hpp"
#include "remote_helpers.hpp"

#include <tracker/util.hpp>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

using namespace testing;
using nlohmann::json;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A command that must succeed, run as if at `when`.
RunResult ok_at(const fs::path& root, const std::string& when, const std::vector<std::string>& args) {
  RunResult r = run_tracker(root, args, at_time(root, when));
  INFO(join_lines(args) << "\n" << r.err);
  REQUIRE(r.code == 0);
  return r;
}

RunResult ok(const fs::path& root, const std::vector<std::string>& args) {
  RunResult r = run_tracker(root, args);
  INFO(join_lines(args) << "\n" << r.err);
  REQUIRE(r.code == 0);
  return r;
}

/// `tracker --json sync`, which must succeed.
json sync_json(const fs::path& root) { return json::parse(ok(root, {"--json", "sync"}).out); }

/// Every clone synced, every clone's board checked clean, every work tree clean,
/// every HEAD the remote's, and the remote's repository sound.
void all_agree(const SharedRemote& remote, const std::vector<const Clone*>& clones) {
  // Twice round: the first clones get what the later ones sent.
  for (int round = 0; round < 2; ++round)
    for (const Clone* c : clones) ok(c->root(), {"sync"});
  std::string head = git(remote.bare(), {"rev-parse", "main"});
  for (const Clone* c : clones) {
    INFO(c->root());
    CHECK(git(c->root(), {"rev-parse", "HEAD"}) == head);
    RunResult check = run_tracker(c->root(), {"check"});
    INFO(check.out << check.err);
    CHECK(check.code == 0);
    CHECK(git(c->root(), {"status", "--porcelain"}).empty());
  }
  CHECK(run({"git", "-C", remote.bare().string(), "fsck", "--strict", "--no-progress"}).code == 0);
}

/// Nothing on the remote's branch holds a conflict marker.
void no_markers(const SharedRemote& remote) {
  RunResult grep = run({"git", "-C", remote.bare().string(), "grep", "-n", "-e", "^<<<<<<<", "-e", "^>>>>>>>", "main"});
  INFO(grep.out);
  CHECK(grep.code == 1);  // no match
}

/// Sets the config's remote key `line` (e.g. "  clock_skew: 1s") in a clone and commits it.
void add_remote_setting(const Clone& c, const std::string& line) {
  std::string config = read(c.root() / ".tracker/config.yml");
  write(c.root() / ".tracker/config.yml", config + line + "\n");
  git(c.root(), {"commit", "-qam", "setting"});
}

}  // namespace

TEST_CASE("sync: a key changed in three clones takes the later change, reported, and never conflict markers") {
  for (bool daemon : {true, false}) {
    INFO((daemon ? "git daemon" : "file://"));
    SharedRemote remote(daemon);
    seed(remote, 2);
    Clone c1(remote), c2(remote), c3(remote);
    ok_at(c1.root(), "2026-03-01T10:00:00Z", {"set", "1", "priority=100"});
    ok_at(c2.root(), "2026-03-01T10:00:02Z", {"set", "1", "priority=200"});
    ok_at(c3.root(), "2026-03-01T10:00:01Z", {"set", "1", "priority=300"});
    CHECK(sync_json(c2.root())["conflicts"].empty());
    // c1's change is older than the remote's: the remote's stands, and c1 is told.
    RunResult r = ok(c1.root(), {"sync"});
    CHECK(r.out.starts_with("conflict: #1 was changed here and on origin differently (priority: 100 here, 200 on "
                            "origin): the later change (origin) is kept\n"));
    json out = sync_json(c3.root());
    REQUIRE(out["conflicts"].size() == 1);
    CHECK(out["conflicts"][0]["kind"] == "changed");
    CHECK(out["conflicts"][0]["kept"] == "remote");
    CHECK(contains(out["conflicts"][0]["message"], "priority: 300 here, 200 on origin"));
    std::string story = remote_story(remote, 1);
    CHECK(contains(story, "priority: 200\n"));
    no_markers(remote);
    // The history says what was settled, in the replayed commits.
    std::string log = git(remote.bare(), {"log", "--format=%B", "main"});
    CHECK(contains(log, "Tracker-Conflict: #1 was changed here and on origin differently (priority: 100 here, 200 on "
                        "origin): the later change (origin) is kept\n"));
    CHECK(contains(log, "Tracker-Conflict: #1 was changed here and on origin differently (priority: 300 here"));

    // Later here than there: this clone's change wins.
    ok_at(c3.root(), "2026-03-01T11:00:00Z", {"set", "1", "priority=7"});
    ok_at(c1.root(), "2026-03-01T12:00:00Z", {"set", "1", "priority=8"});
    ok(c3.root(), {"sync"});
    out = sync_json(c1.root());
    REQUIRE(out["conflicts"].size() == 1);
    CHECK(out["conflicts"][0]["kept"] == "here");
    CHECK(contains(remote_story(remote, 1), "priority: 8\n"));

    // The same second on both sides: the change already on the remote stands,
    // whichever clone syncs second, and the report says why.
    ok_at(c2.root(), "2026-03-01T13:00:00Z", {"sync"});
    ok_at(c2.root(), "2026-03-01T13:00:00Z", {"set", "1", "priority=41"});
    ok_at(c3.root(), "2026-03-01T13:00:00Z", {"sync"});
    ok_at(c3.root(), "2026-03-01T13:00:00Z", {"set", "1", "priority=42"});
    ok(c3.root(), {"sync"});
    out = sync_json(c2.root());
    REQUIRE(out["conflicts"].size() == 1);
    CHECK(out["conflicts"][0]["kept"] == "remote");
    CHECK(contains(out["conflicts"][0]["message"], "(the same second: the change already on origin stands)"));
    CHECK(contains(remote_story(remote, 1), "priority: 42\n"));
    all_agree(remote, {&c1, &c2, &c3});
    for (const Clone* c : {&c1, &c2, &c3})
      CHECK(json::parse(ok(c->root(), {"--json", "show", "1"}).out)["priority"] == 42);
  }
}

TEST_CASE("sync: name, blocked_reason and agent changed on both sides take the later value - the file name follows the name") {
  SharedRemote remote(true);
  seed(remote, 3);
  Clone a(remote), b(remote);
  ok_at(a.root(), "2026-03-02T10:00:00Z", {"set", "1", "name=Alpha one"});
  ok_at(b.root(), "2026-03-02T10:00:05Z", {"set", "1", "name=Beta one"});
  ok_at(a.root(), "2026-03-02T10:00:09Z", {"block", "2", "--reason", "waits for legal"});
  ok_at(b.root(), "2026-03-02T10:00:01Z", {"block", "2", "--reason", "waits for design"});
  ok_at(a.root(), "2026-03-02T10:00:01Z", {"set", "3", "agent=ann"});
  ok_at(b.root(), "2026-03-02T10:00:02Z", {"set", "3", "agent=bob"});
  ok(b.root(), {"sync"});
  json out = sync_json(a.root());
  std::set<std::string> kept;
  for (const auto& c : out["conflicts"]) kept.insert(std::to_string(c["id"].get<int>()) + c["kept"].get<std::string>());
  CHECK(kept == std::set<std::string>{"1remote", "2here", "3remote"});
  no_markers(remote);
  auto board = remote_board(remote);
  CHECK(board.count(1) == 1);
  // The later name, and the file name with its slug.
  CHECK(contains(remote_story(remote, 1), "name: Beta one\n"));
  CHECK(git(remote.bare(), {"ls-tree", "--name-only", "main", "work/1_backlog/"}).find("1_story_beta-one.md") !=
        std::string::npos);
  CHECK(contains(remote_story(remote, 2), "blocked_reason: waits for legal\n"));
  CHECK(contains(remote_story(remote, 3), "agent: bob\n"));
  all_agree(remote, {&a, &b});
}

TEST_CASE("sync: a lease taken over and both clones synced leave one readable story, the new holder's") {
  SharedRemote remote(false);
  seed(remote, 1);
  Clone a(remote), b(remote);
  for (const Clone* c : {&a, &b}) add_remote_setting(*c, "  clock_skew: 1s");
  ok(a.root(), {"claim", "1", "--owner", "ann", "--ttl", "1s"});
  ok(a.root(), {"sync"});
  REQUIRE(eventually([&] { return run_tracker(b.root(), {"claim", "1", "--owner", "bob"}).code == 0; }));
  ok(b.root(), {"sync"});
  // ann, fenced, still tries: set agent back, then sync.
  CHECK(run_tracker(a.root(), {"set", "1", "agent=ann", "--owner", "ann"}).code == 3);
  ok(a.root(), {"sync"});
  no_markers(remote);
  std::string story = remote_story(remote, 1);
  CHECK(contains(story, "agent: bob\n"));
  CHECK(contains(story, "retry_count: 1\n"));
  all_agree(remote, {&a, &b});
}

TEST_CASE("sync: a merge that would not read as a story is never pushed - the remote's story stays readable") {
  SharedRemote remote(false);
  seed(remote, 1);
  Clone a(remote), b(remote);
  ok_at(b.root(), "2026-03-03T10:00:00Z", {"set", "1", "priority=5"});
  ok(b.root(), {"sync"});
  // A hand commit in a that breaks the front matter (git commit takes anything).
  fs::path file = a.root() / "work/1_backlog/1_story_story-1.md";
  std::string text = read(file);
  write(file, text.replace(text.find("---\n", 3), 4, "labels: [oops\n---\n"));
  git(a.root(), {"commit", "-qam", "broken by hand"});
  ok(a.root(), {"sync"});
  std::string story = remote_story(remote, 1);
  CHECK(contains(story, "priority: 5\n"));
  CHECK(!contains(story, "[oops"));
  Clone fresh(remote);
  CHECK(run_tracker(fresh.root(), {"check"}).code == 0);
}

TEST_CASE("sync: a renumber is a rename: edits made meanwhile to the old id follow the story, both ways") {
  for (bool renumber_first : {false, true}) {
    INFO((renumber_first ? "the renumber reaches the remote first" : "the edit reaches the remote first"));
    SharedRemote remote(true);
    seed(remote, 3);
    Clone a(remote), b(remote);
    RunResult r = ok(a.root(), {"--json", "renumber", "2"});
    std::int64_t new_id = json::parse(r.out)["new_id"];
    CHECK(new_id == 4);
    ok(b.root(), {"set", "2", "priority=99", "estimate=8"});
    if (renumber_first) {
      ok(a.root(), {"sync"});
      json out = sync_json(b.root());
      CHECK(out["conflicts"].empty());
    } else {
      ok(b.root(), {"sync"});
      json out = sync_json(a.root());
      CHECK(out["conflicts"].empty());
    }
    auto board = remote_board(remote);
    CHECK(board.count(2) == 0);
    REQUIRE(board.count(4) == 1);
    std::string story = remote_story(remote, 4);
    CHECK(contains(story, "priority: 99\n"));
    CHECK(contains(story, "estimate: 8\n"));
    all_agree(remote, {&a, &b});
    // The id counter knows #4: a new story in either clone gets #5.
    CHECK(json::parse(ok(b.root(), {"--json", "new", "Fifth"}).out)["id"] == 5);
  }
}

TEST_CASE("sync: a type changed in one clone and a key in the other: one file, of the new type, with the key") {
  for (bool retype_first : {false, true}) {
    INFO((retype_first ? "the type change reaches the remote first" : "the edit reaches the remote first"));
    SharedRemote remote(true);
    seed(remote, 2);
    Clone a(remote), b(remote);
    ok_at(a.root(), "2026-03-04T10:00:00Z", {"set", "1", "type=bug"});
    ok_at(b.root(), "2026-03-04T10:00:01Z", {"set", "1", "priority=7", "estimate=3"});
    ok_at(b.root(), "2026-03-04T10:00:02Z", {"move", "1", "current"});
    const Clone& first = retype_first ? a : b;
    const Clone& second = retype_first ? b : a;
    ok(first.root(), {"sync"});
    json out = sync_json(second.root());
    CHECK(out["conflicts"].empty());
    std::string listing = git(remote.bare(), {"ls-tree", "-r", "--name-only", "main", "work/"});
    INFO(listing);
    CHECK(contains(listing, "work/2_current/1_bug_story-1.md\n"));
    CHECK(!contains(listing, "1_story_story-1.md"));
    std::string story = remote_story(remote, 1);
    CHECK(contains(story, "priority: 7\n"));
    CHECK(contains(story, "estimate: 3\n"));
    all_agree(remote, {&a, &b});
    CHECK(json::parse(ok(a.root(), {"--json", "show", "1"}).out)["type"] == "bug");
  }
}

TEST_CASE("sync: moves of one story in the same second: the remote's stands, and the loser is told, in the history too") {
  SharedRemote remote(true);
  seed(remote, 1);
  Clone a(remote), b(remote);
  for (const Clone* c : {&a, &b}) add_remote_setting(*c, "  auto_sync: true");
  ok(a.root(), {"sync"});
  ok(b.root(), {"sync"});
  const std::string when = "2026-03-04T10:00:00Z";
  ok_at(a.root(), when, {"move", "1", "qa"});
  RunResult r = ok_at(b.root(), when, {"move", "1", "merge"});
  CHECK(r.out == "moved #1 backlog -> merge\n");
  // auto_sync's output is the command's, but a conflict is said on stderr.
  CHECK(contains(r.err, "tracker: warning: conflict: #1 was moved to merge here and to qa on origin: the later move, "
                        "to qa, is kept (the same second: the change already on origin stands)"));
  CHECK(remote_board(remote).find(1)->second == "3_qa");
  // The lost move stays in the history with what settled it, and is no move there.
  std::string log = git(remote.bare(), {"log", "--format=%B", "main"});
  CHECK(contains(log, "Tracker-Conflict: #1 was moved to merge here and to qa on origin"));
  all_agree(remote, {&a, &b});
  json moves = json::parse(ok(b.root(), {"--json", "log", "1"}).out);
  std::vector<std::string> to;
  for (const auto& e : moves)
    if (e["action"] == "move") to.push_back(e["to"]);
  CHECK(to == std::vector<std::string>{"qa"});
}

TEST_CASE("the rule of claims across clones: only the holder ends a claim - --force does, and says who") {
  for (bool daemon : {true, false}) {
    INFO((daemon ? "git daemon" : "file://"));
    SharedRemote remote(daemon);
    seed(remote, 4);
    Clone a(remote), b(remote), c(remote);
    ok(a.root(), {"claim", "1", "--owner", "ann"});
    ok(a.root(), {"claim", "2", "--owner", "ann"});
    ok(a.root(), {"sync"});
    ok(b.root(), {"sync"});
    std::string head = git(remote.bare(), {"rev-parse", "main"});
    // From another clone: done, release, a move out of the claimed stage, delete,
    // archive and set agent are refused, naming the holder and the expiry.
    for (const auto& args : std::vector<std::vector<std::string>>{{"done", "1"},
                                                                  {"release", "1"},
                                                                  {"move", "1", "backlog"},
                                                                  {"delete", "1"},
                                                                  {"archive", "1"},
                                                                  {"set", "1", "agent=bob"},
                                                                  {"unset", "1", "agent"},
                                                                  {"done", "1", "--owner", "bob"}}) {
      RunResult r = run_tracker(b.root(), args);
      INFO(join_lines(args) << "\n" << r.err);
      CHECK(r.code == 3);
      CHECK(contains(r.err, "story #1 is claimed by ann until "));
      CHECK(contains(r.err, "(on the remote 'origin')"));
    }
    RunResult renew = run_tracker(b.root(), {"renew", "1", "--owner", "bob"});
    CHECK(renew.code == 3);
    CHECK(contains(renew.err, "claimed by ann until "));
    ok(b.root(), {"sync"});
    CHECK(git(remote.bare(), {"rev-parse", "main"}) == head);
    CHECK(remote_claim_refs(remote) == std::set<std::string>{"refs/tracker/claims/1", "refs/tracker/claims/2"});

    // The holder acts from any clone: TRACKER_OWNER names her in c.
    RunResult mine = run_tracker(c.root(), {"--json", "done", "1"}, RunOptions{c.root(), {{"TRACKER_OWNER", "ann"}}, ""});
    INFO(mine.err);
    REQUIRE(mine.code == 0);
    CHECK(json::parse(mine.out)["forced_by"].is_null());
    CHECK(remote_board(remote).find(1)->second == "5_done");
    CHECK(remote_claim_refs(remote) == std::set<std::string>{"refs/tracker/claims/2"});

    // A move from under the holder with --force ends her claim and its lease; the
    // story is ready again; the commit says who forced it.
    RunResult forced = run_tracker(b.root(), {"--json", "move", "2", "backlog", "--owner", "lead", "--force"});
    INFO(forced.err);
    REQUIRE(forced.code == 0);
    json moved = json::parse(forced.out);
    CHECK(moved["forced_by"] == "lead");
    CHECK(moved["claims_ended"] == json::parse(R"([{"id": 2, "owner": "ann"}])"));
    CHECK(remote_claim_refs(remote).empty());
    CHECK(contains(git(b.root(), {"log", "-1", "--format=%B"}), "Tracker-Forced-By: lead\n"));
    ok(b.root(), {"sync"});
    ok(c.root(), {"sync"});
    json ready = json::parse(ok(c.root(), {"--json", "ready"}).out);
    std::set<long> ids;
    for (const auto& s : ready) ids.insert(s["id"].get<long>());
    CHECK(ids.count(2) == 1);
    // A forced delete ends a lease too.
    ok(a.root(), {"claim", "3", "--owner", "ann"});
    CHECK(run_tracker(c.root(), {"delete", "3"}).code == 3);
    RunResult del = run_tracker(c.root(), {"--json", "delete", "3", "--force"});
    INFO(del.err);
    REQUIRE(del.code == 0);
    CHECK(json::parse(del.out)["forced_by"] == "author@example.com");
    CHECK(remote_claim_refs(remote).empty());
    all_agree(remote, {&a, &b, &c});
  }
}

TEST_CASE("the holder's done from a clone that has not seen her claim, in the same second, is done on the remote") {
  // The claim's move and the done are stamped with the same second: a done made from
  // the stale stage would lose to the claim's move by the tie rule and leave the
  // story in current with its lease gone. The done is made on top of the claim.
  SharedRemote remote(false);
  seed(remote, 2);
  Clone a(remote), c(remote);
  std::string when = "@" + std::to_string(std::time(nullptr)) + " +0000";
  RunResult claimed = run_tracker(a.root(), {"claim", "1", "--owner", "ann"}, at_time(a.root(), when));
  REQUIRE(claimed.code == 0);
  ok(a.root(), {"sync"});
  RunOptions as_ann = at_time(c.root(), when);
  as_ann.env["TRACKER_OWNER"] = "ann";
  RunResult done = run_tracker(c.root(), {"--json", "done", "1"}, as_ann);
  INFO(done.err);
  REQUIRE(done.code == 0);
  CHECK(remote_board(remote).find(1)->second == "5_done");
  CHECK(remote_claim_refs(remote).empty());
  CHECK(json::parse(done.out)["from"] == "current");
}

TEST_CASE("a fenced holder stays fenced: a second try, another story and sync do not get past the new holder") {
  SharedRemote remote(true);
  seed(remote, 3);
  Clone a(remote), b(remote);
  for (const Clone* c : {&a, &b}) add_remote_setting(*c, "  clock_skew: 1s");
  ok(a.root(), {"sync"});
  ok(b.root(), {"sync"});
  ok(a.root(), {"claim", "1", "--owner", "ann", "--ttl", "1s"});
  ok(a.root(), {"claim", "2", "--owner", "ann", "--ttl", "1s"});
  REQUIRE(eventually([&] { return run_tracker(b.root(), {"claim", "1", "--owner", "bob"}).code == 0; }));
  // ann's second lease was taken a moment later: it may expire a second later too.
  REQUIRE(eventually([&] { return run_tracker(b.root(), {"claim", "2", "--owner", "bob"}).code == 0; }));
  RunOptions as_ann{a.root(), {{"TRACKER_OWNER", "ann"}}, ""};
  for (int attempt = 0; attempt < 2; ++attempt) {
    RunResult r = run_tracker(a.root(), {"done", "1"}, as_ann);
    CHECK(r.code == 3);
    CHECK(contains(r.err, "taken over by bob"));
  }
  CHECK(run_tracker(a.root(), {"move", "2", "done"}, as_ann).code == 3);
  json shown = json::parse(run_tracker(a.root(), {"--json", "show", "1"}, as_ann).out);
  CHECK(shown["claim"]["lost_to"] == "bob");
  // Offline, this clone knows no better and commits; sync does not send it.
  RunResult offline = run_tracker(a.root(), {"--offline", "move", "2", "done"}, as_ann);
  INFO(offline.err);
  json out = sync_json(a.root());
  for (const auto& c : out["conflicts"]) CHECK(c["kind"] == "fenced");
  CHECK(!out["conflicts"].empty());
  auto board = remote_board(remote);
  CHECK(board.find(1)->second != "5_done");
  CHECK(board.find(2)->second != "5_done");
  ok(b.root(), {"sync"});
  board = remote_board(remote);
  CHECK(board.find(1)->second == "2_current");
  CHECK(board.find(2)->second == "2_current");
  CHECK(claim_owner_on_remote(remote, 1) == "bob");
  CHECK(claim_owner_on_remote(remote, 2) == "bob");
  // reclaim clears the record of the lost claim; bob's claim stays.
  ok(a.root(), {"reclaim"});
  CHECK(!fs::exists(a.root() / ".git/tracker/claims/1.lock"));
  CHECK(claim_owner_on_remote(remote, 1) == "bob");
  all_agree(remote, {&a, &b});
}

TEST_CASE("a claim by a person needs no --owner, claim.move_to moves only forward, renew names the holder") {
  SharedRemote remote(false);
  seed(remote, 2);
  Clone a(remote), b(remote);
  ok(a.root(), {"move", "2", "qa"});
  ok(a.root(), {"sync"});
  RunResult r = ok(a.root(), {"--json", "claim", "1"});
  CHECK(json::parse(r.out)["claim"]["owner"] == "author@example.com");
  r = ok(a.root(), {"claim", "2", "--owner", "reviewer"});
  CHECK(contains(r.out, "(qa)"));
  CHECK(claim_owner_on_remote(remote, 2) == "reviewer");
  r = run_tracker(b.root(), {"renew", "2", "--owner", "bob"});
  CHECK(r.code == 3);
  CHECK(contains(r.err, "story #2 is claimed by reviewer until "));
  ok(a.root(), {"sync"});
  CHECK(remote_board(remote).find(2)->second == "3_qa");
}

TEST_CASE("a lease ref that holds no readable claim is reported and cleared by doctor and reclaim") {
  SharedRemote remote(false);
  seed(remote, 3);
  Clone a(remote);
  // A blob, a tree without claim.yml, and YAML that is no claim, each as a lease.
  std::string blob(tracker::trim(run({"git", "hash-object", "-w", "--stdin"}, RunOptions{a.root(), {}, "junk\n"}).out));
  std::string tree(tracker::trim(run({"git", "mktree"}, RunOptions{a.root(), {}, "100644 blob " + blob + "\tother.txt\n"}).out));
  std::string bad_yaml(tracker::trim(run({"git", "hash-object", "-w", "--stdin"}, RunOptions{a.root(), {}, "owner: [\n"}).out));
  std::string bad_tree(tracker::trim(
      run({"git", "mktree"}, RunOptions{a.root(), {}, "100644 blob " + bad_yaml + "\tclaim.yml\n"}).out));
  std::string bad_commit(tracker::trim(git(a.root(), {"commit-tree", "-m", "bad", bad_tree})));
  git(a.root(), {"push", "-q", "origin", blob + ":refs/tracker/claims/1", tree + ":refs/tracker/claims/2",
                 bad_commit + ":refs/tracker/claims/3"});
  CHECK(json::parse(ok(a.root(), {"--json", "ready"}).out).empty());  // each blocks its story
  RunResult dry = ok(a.root(), {"--json", "doctor", "--dry-run"});
  INFO(dry.out);
  int leases = 0;
  json report = json::parse(dry.out);
  for (const auto& f : report["findings"]) leases += f["kind"] == "lease" ? 1 : 0;
  CHECK(leases == 3);
  CHECK(remote_claim_refs(remote).size() == 3);
  RunResult doctor = ok(a.root(), {"--json", "doctor"});
  CHECK(remote_claim_refs(remote).empty());
  // And reclaim does the same.
  git(a.root(), {"push", "-q", "origin", blob + ":refs/tracker/claims/1"});
  RunResult r = ok(a.root(), {"reclaim"});
  CHECK(contains(r.out, "deleted the lease on #1"));
  CHECK(remote_claim_refs(remote).empty());
  CHECK(json::parse(ok(a.root(), {"--json", "ready"}).out).size() == 3);
}

TEST_CASE("the id counter deleted on the remote starts again from the highest id its branch ever held") {
  SharedRemote remote(true);
  seed(remote, 2);
  Clone a(remote), b(remote);
  for (int i = 0; i < 3; ++i) ok(a.root(), {"new", "From a " + std::to_string(i)});  // #3 #4 #5
  ok(a.root(), {"delete", "5"});
  ok(a.root(), {"sync"});
  git(remote.bare(), {"update-ref", "-d", "refs/tracker/ids"});
  // b has not synced: it knows #1 and #2 only.
  RunResult r = ok(b.root(), {"--json", "new", "From b"});
  CHECK(json::parse(r.out)["id"] == 6);
  CHECK(contains(r.err, "the id counter refs/tracker/ids is not on the remote 'origin'; it starts again from the "
                        "highest id its branch has ever held (#5)"));
  all_agree(remote, {&a, &b});
}

TEST_CASE("done killed half way: a rerun finishes it, whatever was left") {
  SharedRemote remote(false);
  seed(remote, 2);
  Clone a(remote);
  RunOptions as_ann{a.root(), {{"TRACKER_OWNER", "ann"}}, ""};
  // Killed after its commit, before the push: the story is done here, the lease on.
  ok(a.root(), {"claim", "1", "--owner", "ann"});
  git(a.root(), {"mv", "work/2_current/1_story_story-1.md", "work/5_done/"});
  git(a.root(), {"commit", "-qm",
                 "tracker: done #1 (current -> done)\n\nTracker-Action: done\nTracker-Story: 1\nTracker-From: current\n"
                 "Tracker-To: done\nTracker-Owner: ann"});
  RunResult r = run_tracker(a.root(), {"done", "1"}, as_ann);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(remote_claim_refs(remote).empty());
  CHECK(remote_board(remote).find(1)->second == "5_done");
  CHECK(!fs::exists(a.root() / ".git/tracker/claims/1.lock"));
  // Killed after the push landed, before its lock went: the rerun ends the lock, and
  // no other clone is blamed.
  ok(a.root(), {"claim", "2", "--owner", "ann"});
  std::string lock = read(a.root() / ".git/tracker/claims/2.lock");
  ok(a.root(), {"done", "2", "--owner", "ann"});
  write(a.root() / ".git/tracker/claims/2.lock", lock);
  r = run_tracker(a.root(), {"done", "2"}, as_ann);
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(!contains(r.err, "another clone"));
  CHECK(!fs::exists(a.root() / ".git/tracker/claims/2.lock"));
  CHECK(remote_claim_refs(remote).empty());
}

TEST_CASE("a full local disk during sync is a local error (exit 1), not an unreachable remote") {
  if (!can_unshare()) {
    WARN("skipped: this machine gives tests no mount namespace");
    return;
  }
  SharedRemote remote(false);
  seed(remote, 1);
  Clone a(remote), b(remote);
  // The remote moves on by more than the little room a's object store has: data
  // that does not compress.
  std::string big;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 200 * 1024; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    big += static_cast<char>('a' + x % 26);
  }
  for (int i = 0; i < 4; ++i) {
    write(b.root() / ("blob" + std::to_string(i)), big.substr(i * 1000) + big.substr(0, i * 1000));
    git(b.root(), {"add", "-A"});
    git(b.root(), {"commit", "-qm", "big"});
  }
  git(b.root(), {"push", "-q", "origin", "HEAD:main"});
  ok(a.root(), {"move", "1", "qa"});
  std::string script =
      "cd \"$D\" && cp -a .git/objects .saved && mount -t tmpfs -o size=2m tmpfs .git/objects && "
      "cp -a .saved/. .git/objects/ && (dd if=/dev/zero of=.git/objects/fill bs=4k 2> /dev/null || true) && "
      "truncate -s -131072 .git/objects/fill; \"$T\" sync; echo \"rc=$?\"";
  RunResult r = in_namespace(script, a.root());
  INFO(r.out << r.err);
  CHECK(contains(r.out, "rc=1"));
  CHECK(contains(r.err, "its disk failed, not the remote 'origin'"));
}

TEST_CASE("three clones changing one story and syncing at once: the remote's story always reads, and all end equal") {
  SharedRemote remote(true);
  seed(remote, 2);
  Clone c1(remote), c2(remote), c3(remote);
  const std::vector<const Clone*> clones = {&c1, &c2, &c3};
  const std::vector<std::string> stages = {"current", "qa", "merge"};
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < clones.size(); ++i) {
      const fs::path& root = clones[i]->root();
      std::string n = std::to_string(round * 10 + static_cast<int>(i));
      ok(root, {"set", "1", "priority=" + n, "name=Story " + n, "owner_note=" + n});
      ok(root, {"move", "1", stages[(static_cast<std::size_t>(round) + i) % stages.size()]});
      ok(root, {"set", "2", "labels=l" + n});
    }
    std::vector<int> pids;
    for (const Clone* c : clones) pids.push_back(spawn({TRACKER_BIN, "-C", c->root().string(), "sync"}));
    for (int pid : pids) CHECK(wait_for(pid) == 0);
    no_markers(remote);
    Clone fresh(remote);
    RunResult check = run_tracker(fresh.root(), {"check"});
    INFO(check.out);
    CHECK(check.code == 0);
  }
  all_agree(remote, {&c1, &c2, &c3});
  CHECK(remote_board(remote).count(1) == 1);
}
