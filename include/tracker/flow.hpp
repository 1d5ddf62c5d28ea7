// Flow metrics from the board's history (`tracker flow`): throughput, cycle time,
// lead time, work in progress and work item age, time in each stage, and a
// cumulative flow series. Every figure comes from the stage history `log` reads
// (commit trailers, and tree diffs for hand commits), so it is exact. The
// definitions are in docs/flow.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tracker/config.hpp>
#include <tracker/story.hpp>

namespace tracker {

struct LogEntry;

/// The longest window `flow` measures: 100 years (36,600 days). A longer one is a
/// mistake (`--since 3650000d`), refused as a usage error.
inline constexpr std::int64_t kMaxFlowDays = 36600;

struct FlowQuery {
  std::int64_t since = 0;  ///< unix seconds: the window [since, until]
  std::int64_t until = 0;
  std::optional<std::string> label;  ///< only stories with this label now (deleted ones have none)
  std::optional<std::string> type;   ///< only stories of this type now
  std::optional<std::int64_t> parent;  ///< only the children of this story now (an epic's flow)
};

/// Nearest-rank percentiles of a set of durations (seconds); all zero when empty.
struct Percentiles {
  std::int64_t count = 0;
  std::int64_t p50 = 0, p85 = 0, p95 = 0;
};

/// The value at nearest rank p (ceil(p/100 * n), 1-based) of `values`, sorted or not.
std::int64_t percentile(std::vector<std::int64_t> values, int p);
Percentiles percentiles(const std::vector<std::int64_t>& values);

struct FlowReport {
  std::int64_t since = 0, until = 0;
  std::vector<std::string> stages;  ///< in the config's order

  struct Week {
    std::string start;  ///< the Monday, YYYY-MM-DD (UTC)
    std::int64_t done = 0;
  };
  std::vector<Week> throughput;  ///< every week of the window, oldest first

  Percentiles cycle;  ///< of the stories first done within the window
  Percentiles lead;
  struct Bucket {
    std::int64_t days = 0;  ///< whole days of cycle time: [days, days + 1)
    std::int64_t count = 0;
  };
  std::vector<Bucket> cycle_histogram;  ///< from 0 days to the longest, gaps included

  struct Aged {
    std::int64_t id = 0;
    std::string name;
    std::optional<std::int64_t> age_seconds;  ///< none when its start is not known
  };
  struct StageNow {
    std::string stage;
    std::int64_t wip = 0;        ///< stories in it now
    std::vector<Aged> oldest;    ///< the three oldest, oldest first
  };
  std::vector<StageNow> now;  ///< every stage that is not a done stage

  struct StageTime {
    std::string stage;
    Percentiles time;  ///< visits that ended within the window
  };
  std::vector<StageTime> time_in_stage;

  struct Day {
    std::string date;                   ///< YYYY-MM-DD (UTC)
    std::vector<std::int64_t> counts;   ///< stories per stage at the day's end, `stages` order
  };
  std::vector<Day> cumulative_flow;
};

/// Computes the report from the board's transitions (`log` entries, in any order
/// of the log: newest first, as log gives them), the stories on the board now and
/// the config's stages. `now` dates the work item ages.
FlowReport compute_flow(const std::vector<LogEntry>& newest_first, const std::vector<Story>& board,
                        const Config& config, const FlowQuery& query, std::int64_t now);

/// "2026-11-30" (UTC) of unix seconds.
std::string utc_date(std::int64_t unix_seconds);

}  // namespace tracker
