// `tracker flow`: figures from a board built by a scripted history with fixed commit
// dates, checked against the same figures worked out by hand.
#include <catch2/catch.hpp>

#include "manual_clock.hpp"
#include "helpers.hpp"

#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

using namespace testing;
using namespace tracker;
using Json = nlohmann::json;

namespace {

constexpr std::int64_t kHour = 3600, kDay = 86400;
// Monday 2026-01-05 00:00 UTC.
constexpr std::int64_t D = 1767571200;

/// Runs tracker as if at unix time `t` (author and committer dates).
RunResult at(const fs::path& root, std::int64_t t, const std::vector<std::string>& args) {
  std::string when = "@" + std::to_string(t) + " +0000";
  RunResult r = run_tracker(root, args, RunOptions{root, {{"GIT_COMMITTER_DATE", when}, {"GIT_AUTHOR_DATE", when}}, ""});
  INFO(join_lines(args) << "\n" << r.err);
  REQUIRE(r.code == 0);
  return r;
}

/// A commit made by hand at time `t`, of everything staged.
void hand_commit(const fs::path& root, std::int64_t t, const std::string& message) {
  std::string when = "@" + std::to_string(t) + " +0000";
  RunResult r = run({"git", "commit", "-q", "-m", message},
                    RunOptions{root, {{"GIT_COMMITTER_DATE", when}, {"GIT_AUTHOR_DATE", when}}, ""});
  INFO(r.err);
  REQUIRE(r.code == 0);
}

/// A pid that no process has any more.
long dead_pid() {
  int pid = spawn({"true"});
  wait_for(pid);
  return pid;
}

/// The board of the script (see the test): six stories over ten days.
struct ScriptedBoard {
  TempDir dir;
  fs::path root;
  ScriptedBoard() : root(dir.path()) {
    git(root, {"init", "-q", "-b", "main"});
    at(root, D, {"init"});
    const std::int64_t t = D + 10 * kHour;
    at(root, t, {"new", "Alpha", "--label", "ui"});   // #1
    at(root, t, {"new", "Bravo"});                     // #2
    at(root, t, {"new", "Charlie"});                   // #3: stays in the backlog
    at(root, t, {"new", "Delta"});                     // #4: deleted
    at(root, t, {"new", "Echo"});                      // #5: claimed on day 7, still in progress
    // In time order: #1 is claimed, goes to qa, back to current, to qa again, and
    // is done; #2 is moved by hand (git mv, git commit) to current and later to
    // done; #4 is deleted; #6 is made by hand, claimed, reclaimed (its holder
    // died), claimed again and done; #5 is claimed on day 7.
    at(root, t + 1 * kDay, {"claim", "1", "--owner", "a", "--ttl", "30d"});
    git(root, {"mv", "work/1_backlog/2_story_bravo.md", "work/2_current/2_story_bravo.md"});
    hand_commit(root, t + 2 * kDay, "start bravo");
    at(root, t + 2 * kDay + 2 * kHour, {"delete", "4"});
    at(root, t + 3 * kDay, {"move", "1", "qa", "--owner", "a"});
    write(root / "work/1_backlog/6_story_foxtrot.md", "---\nname: Foxtrot\n---\n");
    git(root, {"add", "work/1_backlog/6_story_foxtrot.md"});
    hand_commit(root, t + 3 * kDay, "foxtrot");
    at(root, t + 4 * kDay, {"move", "1", "current", "--owner", "a"});
    at(root, t + 4 * kDay, {"claim", "6", "--owner", "b", "--pid", std::to_string(dead_pid())});
    at(root, t + 5 * kDay, {"move", "1", "qa", "--owner", "a"});
    at(root, t + 5 * kDay, {"reclaim", "6"});
    at(root, t + 6 * kDay, {"done", "1", "--owner", "a"});
    at(root, t + 6 * kDay, {"claim", "6", "--owner", "b", "--ttl", "30d"});
    at(root, t + 7 * kDay, {"claim", "5", "--owner", "c", "--ttl", "30d"});
    at(root, t + 8 * kDay, {"done", "6", "--owner", "b"});
    git(root, {"mv", "work/2_current/2_story_bravo.md", "work/5_done/2_story_bravo.md"});
    hand_commit(root, t + 9 * kDay, "bravo is done");
  }
  FlowReport flow(FlowQuery q, std::int64_t now) {
    ManualClock clock(now * 1'000'000'000);
    Tracker tracker(Workspace::discover(root), {}, clock);
    return tracker.flow(q);
  }
};

}  // namespace

TEST_CASE("flow: throughput, cycle and lead time, WIP and age, time in stage, cumulative flow, by hand") {
  ScriptedBoard b;
  const std::int64_t t = D + 10 * kHour;
  FlowQuery q;
  q.since = D;
  q.until = D + 14 * kDay - 1;
  FlowReport r = b.flow(q, t + 10 * kDay);

  // Throughput: #1 done on day 6 (the first week); #6 on day 8 and #2 on day 9 (the second).
  REQUIRE(r.throughput.size() == 2);
  CHECK(r.throughput[0].start == "2026-01-05");
  CHECK(r.throughput[0].done == 1);
  CHECK(r.throughput[1].start == "2026-01-12");
  CHECK(r.throughput[1].done == 2);

  // Cycle time, from first leaving the backlog to first done: #1 5 days (day 1 to
  // 6, qa -> current on the way), #2 7 days (hand moves, day 2 to 9), #6 4 days
  // (day 4 to 8: the reclaim does not start it again). Sorted 4, 5, 7: nearest rank.
  CHECK(r.cycle.count == 3);
  CHECK(r.cycle.p50 == 5 * kDay);
  CHECK(r.cycle.p85 == 7 * kDay);
  CHECK(r.cycle.p95 == 7 * kDay);
  // Lead time, from creation: #1 6 days, #2 9 days, #6 5 days (made by hand on day 3).
  CHECK(r.lead.p50 == 6 * kDay);
  CHECK(r.lead.p85 == 9 * kDay);
  REQUIRE(r.cycle_histogram.size() == 8);
  CHECK(r.cycle_histogram[4].count == 1);
  CHECK(r.cycle_histogram[5].count == 1);
  CHECK(r.cycle_histogram[7].count == 1);
  CHECK(r.cycle_histogram[0].count == 0);

  // WIP now (day 10, 10:00): #3 in the backlog since day 0; #5 in current since day 7.
  REQUIRE(r.now.size() == 4);  // backlog, current, qa, merge: not the done stages
  CHECK(r.now[0].stage == "backlog");
  CHECK(r.now[0].wip == 1);
  CHECK(r.now[0].oldest[0].id == 3);
  CHECK(r.now[0].oldest[0].age_seconds == 10 * kDay);
  CHECK(r.now[1].stage == "current");
  CHECK(r.now[1].wip == 1);
  CHECK(r.now[1].oldest[0].id == 5);
  CHECK(r.now[1].oldest[0].age_seconds == 3 * kDay);
  CHECK(r.now[2].wip == 0);

  // Time in stage. Backlog stays: #1 1d, #2 2d, #4 2d 2h (then deleted), #5 7d,
  // #6 1d and, after the reclaim, 1d again: 1, 1, 1, 2, 2.08, 7 days.
  auto stage_time = [&](const std::string& stage) {
    for (const auto& s : r.time_in_stage)
      if (s.stage == stage) return s.time;
    FAIL("no stage " << stage);
    return Percentiles{};
  };
  CHECK(stage_time("backlog").count == 6);
  CHECK(stage_time("backlog").p50 == 1 * kDay);
  CHECK(stage_time("backlog").p85 == 7 * kDay);
  // Current: #1 2d then 1d, #2 7d, #6 1d then 2d: 1, 1, 2, 2, 7.
  CHECK(stage_time("current").count == 5);
  CHECK(stage_time("current").p50 == 2 * kDay);
  CHECK(stage_time("current").p85 == 7 * kDay);
  CHECK(stage_time("qa").count == 2);
  CHECK(stage_time("qa").p50 == 1 * kDay);

  // The cumulative flow at each day's end (backlog, current, qa, merge, done, archived),
  // from the window's start to now (day 10): the days after now are not measured.
  REQUIRE(r.cumulative_flow.size() == 11);
  std::vector<std::vector<std::int64_t>> expected = {
      {5, 0, 0, 0, 0, 0},  // day 0: five stories made
      {4, 1, 0, 0, 0, 0},  // #1 claimed
      {2, 2, 0, 0, 0, 0},  // #2 moved by hand, #4 deleted
      {3, 1, 1, 0, 0, 0},  // #1 to qa, #6 made by hand
      {2, 3, 0, 0, 0, 0},  // #1 back to current, #6 claimed
      {3, 1, 1, 0, 0, 0},  // #1 to qa, #6 reclaimed
      {2, 2, 0, 0, 1, 0},  // #1 done, #6 claimed again
      {1, 3, 0, 0, 1, 0},  // #5 claimed
      {1, 2, 0, 0, 2, 0},  // #6 done
      {1, 1, 0, 0, 3, 0},  // #2 done by hand
  };
  for (std::size_t day = 0; day < r.cumulative_flow.size(); ++day) {
    INFO("day " << day << " " << r.cumulative_flow[day].date);
    CHECK(r.cumulative_flow[day].counts == expected[std::min<std::size_t>(day, expected.size() - 1)]);
  }
  CHECK(r.cumulative_flow[0].date == "2026-01-05");
  CHECK(run({"git", "fsck", "--strict"}, RunOptions{b.root, {}, ""}).code == 0);
}

TEST_CASE("flow: a label or a type counts only those stories, and a window only what it holds") {
  ScriptedBoard b;
  const std::int64_t t = D + 10 * kHour;
  FlowQuery q;
  q.since = D;
  q.until = D + 14 * kDay - 1;
  q.label = "ui";
  FlowReport r = b.flow(q, t + 10 * kDay);
  CHECK(r.cycle.count == 1);
  CHECK(r.cycle.p50 == 5 * kDay);
  CHECK(r.throughput[0].done == 1);
  CHECK(r.throughput[1].done == 0);
  CHECK(r.cumulative_flow[0].counts[0] == 1);

  FlowQuery second_week;
  second_week.since = D + 7 * kDay;
  second_week.until = D + 14 * kDay - 1;
  r = b.flow(second_week, t + 10 * kDay);
  REQUIRE(r.throughput.size() == 1);
  CHECK(r.throughput[0].done == 2);
  CHECK(r.cycle.count == 2);  // #6 and #2; #1 was done in the first week
  CHECK(r.cumulative_flow[0].counts == std::vector<std::int64_t>{1, 3, 0, 0, 1, 0});  // day 7's end
}

TEST_CASE("flow: the CLI's text and JSON, and its bad input") {
  ScriptedBoard b;
  RunResult r = run_tracker(b.root, {"flow", "--since", "2026-01-05", "--until", "2026-01-18", "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  Json j = Json::parse(r.out);
  CHECK(j["since"] == "2026-01-05T00:00:00Z");
  CHECK(j["until"] == "2026-01-18T23:59:59Z");
  CHECK(j["throughput"] == Json::parse(R"([{"week":"2026-01-05","done":1},{"week":"2026-01-12","done":2}])"));
  CHECK(j["cycle_time"] == Json{{"count", 3}, {"p50", 5 * kDay}, {"p85", 7 * kDay}, {"p95", 7 * kDay}});
  CHECK(j["cumulative_flow"]["stages"][0] == "backlog");
  CHECK(j["cumulative_flow"]["days"][9]["counts"]["done"] == 3);
  CHECK(j["wip"][0]["oldest"][0]["id"] == 3);

  RunResult text = run_tracker(b.root, {"flow", "--since", "2026-01-05", "--until", "2026-01-18"});
  CHECK(text.code == 0);
  CHECK(text.out.find("cycle time: p50 5d 0h, p85 7d 0h, p95 7d 0h (3 stories)") != std::string::npos);
  CHECK(text.out.find("2026-01-12  2") != std::string::npos);

  RunResult bad = run_tracker(b.root, {"flow", "--since", "last tuesday"});
  CHECK(bad.code == 2);
  CHECK(bad.err.find("bad --since 'last tuesday'") != std::string::npos);
  CHECK(run_tracker(b.root, {"flow", "--until", "5d"}).code == 2);
  RunResult backwards = run_tracker(b.root, {"flow", "--since", "2026-02-01", "--until", "2026-01-01"});
  CHECK(backwards.code == 2);
  CHECK(backwards.err == "tracker: --until is before --since: nothing to measure\n");

  // A window is at most 100 years; a longer one is a mistake, refused before any
  // memory is spent on it. The longest allowed costs what the board's history costs.
  for (const char* since : {"3650000d", "36601d", "0001-01-01", "99999999999d"}) {
    RunResult refused = run_tracker(b.root, {"flow", "--since", since});
    INFO(since << " " << refused.err);
    CHECK(refused.code == 2);
    CHECK(refused.out.empty());
  }
  CHECK(run_tracker(b.root, {"flow", "--since", "3650000d"}).err.find("flow measures at most 36600 (100 years)") !=
        std::string::npos);
  RunResult century = run_tracker(b.root, {"--json", "flow", "--since", "36600d"});
  REQUIRE(century.code == 0);
  // From the board's first day (2026-01-05) to now, not from 36,600 days ago.
  Json days = Json::parse(century.out)["cumulative_flow"]["days"];
  REQUIRE(!days.empty());
  CHECK(days[0]["date"] == "2026-01-05");
}

TEST_CASE("flow: percentiles are nearest-rank") {
  CHECK(percentile({}, 50) == 0);
  CHECK(percentile({7}, 95) == 7);
  CHECK(percentile({4, 1, 3, 2}, 50) == 2);
  CHECK(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 85) == 9);
  CHECK(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 95) == 10);
}
