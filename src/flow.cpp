#include <tracker/flow.hpp>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "services.hpp"
#include <tracker/util.hpp>

namespace tracker {

namespace {

constexpr std::int64_t kDay = 86400;

/// One stay of a story in a stage.
struct Visit {
  std::string stage;
  std::int64_t from = 0, to = 0;
};

/// What the history says of one story.
struct Timeline {
  std::string stage;  ///< where it is after the last event read ("" when deleted)
  std::int64_t entered = 0;
  std::optional<std::int64_t> created, started, done;
  std::vector<Visit> visits;  ///< finished stays
  /// (time, stage after) for every change of stage, oldest first: the flow series.
  std::vector<std::pair<std::int64_t, std::string>> moves;
};

/// The Monday 00:00 UTC on or before `t`.
std::int64_t week_start(std::int64_t t) {
  std::int64_t day = (t >= 0 ? t / kDay : (t - kDay + 1) / kDay);
  std::int64_t weekday = ((day % 7) + 7 + 3) % 7;  // 1970-01-01 was a Thursday: 0 = Monday
  return (day - weekday) * kDay;
}

std::int64_t day_start(std::int64_t t) { return (t >= 0 ? t / kDay : (t - kDay + 1) / kDay) * kDay; }

}  // namespace

std::string utc_date(std::int64_t unix_seconds) { return format_iso8601(unix_seconds).substr(0, 10); }

std::int64_t percentile(std::vector<std::int64_t> values, int p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(static_cast<double>(p) / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

Percentiles percentiles(const std::vector<std::int64_t>& values) {
  return {static_cast<std::int64_t>(values.size()), percentile(values, 50), percentile(values, 85),
          percentile(values, 95)};
}

FlowReport compute_flow(const std::vector<LogEntry>& newest_first, const std::vector<Story>& board,
                        const Config& config, const FlowQuery& query, std::int64_t now) {
  FlowReport r;
  r.since = query.since;
  r.until = query.until;
  for (const auto& s : config.stages) r.stages.push_back(s.name);

  // Who counts: with a label, type or parent, the stories on the board now that have it.
  std::optional<std::set<std::int64_t>> only;
  if (query.label || query.type || query.parent) {
    only.emplace();
    for (const auto& s : board)
      if ((!query.label || std::find(s.labels.begin(), s.labels.end(), *query.label) != s.labels.end()) &&
          (!query.type || s.type == *query.type) && (!query.parent || s.parent == query.parent))
        only->insert(s.id);
  }
  auto counts = [&](std::int64_t id) { return !only || only->count(id); };

  // Replay the history, oldest first: each change of stage is a move.
  std::map<std::int64_t, Timeline> stories;
  for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
    const LogEntry& e = *it;
    if (e.id <= 0 || !counts(e.id)) continue;
    Timeline& t = stories[e.id];
    std::string to = e.action == "delete" ? std::string() : e.to;
    if (to.empty() && e.action != "delete") continue;  // nothing known of where it went
    if (!t.created) {
      if (to.empty()) continue;  // deleted before anything else was seen of it
      t.created = e.time;
    } else if (to == t.stage) {
      continue;  // an edit in place
    }
    if (!t.stage.empty()) t.visits.push_back({t.stage, t.entered, e.time});
    const bool was_ready = t.stage.empty() || config.is_ready_stage(t.stage);
    if (!to.empty()) {
      if (!t.started && (config.is_done_stage(to) || (was_ready && !config.is_ready_stage(to))))
        t.started = e.time;  // first left a ready stage (or was made past it)
      if (!t.done && config.is_done_stage(to)) t.done = e.time;
    }
    t.stage = to;
    t.entered = e.time;
    t.moves.emplace_back(e.time, to);
  }

  // The series (weeks, days) cover the window where the board has a history: from
  // its first change (a window that starts earlier adds only zeros) to now. So their
  // length is bounded by the board's age, whatever window was asked for.
  std::int64_t first = now;
  for (const auto& [id, t] : stories)
    if (t.created) first = std::min(first, *t.created);
  const std::int64_t series_from = std::max(query.since, std::min(first, query.until));
  const std::int64_t series_to = std::max(series_from, std::min(query.until, std::max(now, first)));

  // Throughput, cycle time and lead time: stories first done within the window.
  std::map<std::int64_t, std::int64_t> per_week;
  for (std::int64_t w = week_start(series_from); w <= week_start(series_to); w += 7 * kDay) per_week[w] = 0;
  std::vector<std::int64_t> cycle, lead;
  for (const auto& [id, t] : stories) {
    if (!t.done || *t.done < query.since || *t.done > query.until) continue;
    ++per_week[week_start(*t.done)];
    cycle.push_back(*t.done - t.started.value_or(*t.done));
    lead.push_back(*t.done - *t.created);
  }
  for (const auto& [w, n] : per_week) r.throughput.push_back({utc_date(w), n});
  r.cycle = percentiles(cycle);
  r.lead = percentiles(lead);
  if (!cycle.empty()) {
    std::int64_t longest = *std::max_element(cycle.begin(), cycle.end()) / kDay;
    for (std::int64_t d = 0; d <= longest; ++d) r.cycle_histogram.push_back({d, 0});
    for (auto c : cycle) ++r.cycle_histogram[static_cast<std::size_t>(c / kDay)].count;
  }

  // Work in progress and work item age, from the board as it is now: the age is
  // since the story started (left a ready stage), or since it was created while it
  // is still in one.
  std::map<std::string, std::vector<FlowReport::Aged>> in_stage;
  for (const auto& s : board) {
    if (!counts(s.id) || config.is_done_stage(s.stage)) continue;
    std::optional<std::int64_t> since;
    if (auto t = stories.find(s.id); t != stories.end()) {
      since = config.is_ready_stage(s.stage) ? t->second.created : (t->second.started ? t->second.started : t->second.created);
    } else if (auto created = parse_iso8601(s.created)) {
      since = *created;  // older than the history read (adopted, or made in the first commit)
    }
    in_stage[s.stage].push_back({s.id, s.name, since ? std::optional<std::int64_t>(now - *since) : std::nullopt});
  }
  for (const auto& st : config.stages) {
    if (config.is_done_stage(st.name)) continue;
    FlowReport::StageNow n{st.name, 0, {}};
    auto& aged = in_stage[st.name];
    n.wip = static_cast<std::int64_t>(aged.size());
    std::sort(aged.begin(), aged.end(), [](const FlowReport::Aged& a, const FlowReport::Aged& b) {
      if (a.age_seconds.has_value() != b.age_seconds.has_value()) return a.age_seconds.has_value();
      if (a.age_seconds != b.age_seconds) return a.age_seconds > b.age_seconds;
      return a.id < b.id;
    });
    for (std::size_t i = 0; i < aged.size() && i < 3; ++i) n.oldest.push_back(aged[i]);
    r.now.push_back(std::move(n));
  }

  // Time in each stage: the stays that ended within the window.
  std::map<std::string, std::vector<std::int64_t>> stays;
  for (const auto& [id, t] : stories)
    for (const auto& v : t.visits)
      if (v.to >= query.since && v.to <= query.until) stays[v.stage].push_back(v.to - v.from);
  for (const auto& st : config.stages) r.time_in_stage.push_back({st.name, percentiles(stays[st.name])});

  // The cumulative flow series: per day of the window, where each story was at the
  // day's end. One sweep over every move in time order.
  std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> moves;  // time, id, stage after
  for (const auto& [id, t] : stories)
    for (const auto& [time, stage] : t.moves) moves.emplace_back(time, id, stage);
  std::stable_sort(moves.begin(), moves.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < r.stages.size(); ++i) column[r.stages[i]] = i;
  std::vector<std::int64_t> count(r.stages.size(), 0);
  std::map<std::int64_t, std::string> where;
  std::size_t next = 0;
  auto apply = [&](const std::tuple<std::int64_t, std::int64_t, std::string>& m) {
    const auto& [time, id, stage] = m;
    auto& at = where[id];
    if (auto c = column.find(at); c != column.end()) --count[c->second];
    at = stage;
    if (auto c = column.find(at); c != column.end()) ++count[c->second];
  };
  for (std::int64_t day = day_start(series_from); day <= day_start(series_to); day += kDay) {
    std::int64_t end = day + kDay - 1;
    while (next < moves.size() && std::get<0>(moves[next]) <= end) apply(moves[next++]);
    r.cumulative_flow.push_back({utc_date(day), count});
  }
  return r;
}

FlowReport History::flow(const FlowQuery& query) {
  if (query.until < query.since) throw UsageError(param_ref("until") + " is before " + param_ref("since") + ": nothing to measure");
  if (query.since < query.until - kMaxFlowDays * kDay)  // written so that nothing overflows
    throw UsageError("the window is " + std::to_string(query.until / kDay - query.since / kDay) +
                     " days; flow measures at most " +
                     std::to_string(kMaxFlowDays) + " (100 years)");
  std::vector<LogEntry> history = log(std::nullopt, std::nullopt);
  std::vector<Story> board = all_.board.list(ListQuery{});
  return compute_flow(history, board, s_.ws.config(), query, s_.clock.now_seconds());
}

}  // namespace tracker
