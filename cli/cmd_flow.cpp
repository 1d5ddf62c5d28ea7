#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <cstdio>
#include <tracker/config.hpp>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct FlowOptions {
  std::string since = "90d";
  std::optional<std::string> until;
  std::optional<std::string> label;
  std::optional<std::int64_t> parent;
  std::optional<std::string> type;
};

/// `--since` / `--until`: a date (2026-09-01), a time (2026-09-01T12:00:00Z), or
/// for --since a duration back from now (90d, 12h). A date alone is its start for
/// --since and its end for --until.
std::int64_t parse_when(const std::string& option, const std::string& text, std::int64_t now, bool end_of_day) {
  if (text.size() == 10 && text[4] == '-' && text[7] == '-')
    if (auto t = parse_iso8601(text + "T00:00:00Z")) return end_of_day ? *t + 86399 : *t;
  if (auto t = parse_iso8601(text)) return *t;
  if (option == "--since") {
    try {
      return now - parse_duration(text);
    } catch (const UsageError&) {
    }
  }
  throw UsageError("bad " + option + " '" + text + "': a date (2026-09-01), a time (2026-09-01T12:00:00Z)" +
                   (option == "--since" ? std::string(" or a duration back from now (90d, 12h)") : std::string()));
}

std::string percentiles_text(const Percentiles& p, bool p95, const std::string& noun) {
  if (p.count == 0) return "no " + noun;
  std::string out = "p50 " + human_age(p.p50) + ", p85 " + human_age(p.p85);
  if (p95) out += ", p95 " + human_age(p.p95);
  return out + " (" + std::to_string(p.count) + " " + noun + ")";
}

int run_flow(const FlowOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  std::int64_t now = system_clock().now_seconds();
  FlowQuery q;
  q.since = parse_when("--since", opts.since, now, false);
  q.until = opts.until ? parse_when("--until", *opts.until, now, true) : now;
  q.label = opts.label;
  q.type = opts.type;
  q.parent = opts.parent;
  FlowReport r = tracker->flow(q);
  if (g.json) {
    print_json(flow_json(r));
    return 0;
  }
  Style style = make_style(g);
  std::string out = paint(style, "flow from " + utc_date(r.since) + " to " + utc_date(r.until), "1") + "\n\n";
  out += "throughput, stories done per week:\n";
  for (const auto& w : r.throughput) out += "  " + w.start + "  " + std::to_string(w.done) + "\n";
  out += "\ncycle time: " + percentiles_text(r.cycle, true, "stories") + "\n";
  out += "lead time:  " + percentiles_text(r.lead, true, "stories") + "\n";
  if (!r.cycle_histogram.empty()) {
    out += "\ncycle time in days:\n";
    for (const auto& b : r.cycle_histogram)
      out += "  " + pad(std::to_string(b.days), 4) + std::string(static_cast<std::size_t>(std::min<std::int64_t>(b.count, 60)), '#') +
             (b.count ? " " + std::to_string(b.count) : std::string()) + "\n";
  }
  out += "\nwork in progress now, and the oldest:\n";
  for (const auto& n : r.now) {
    out += "  " + pad(n.stage, 12) + pad(std::to_string(n.wip), 6);
    std::vector<std::string> oldest;
    for (const auto& a : n.oldest)
      oldest.push_back("#" + std::to_string(a.id) + " " + truncate_to(a.name, 30) +
                       (a.age_seconds ? " (" + human_age(*a.age_seconds) + ")" : std::string()));
    out += join(oldest, ", ") + "\n";
  }
  out += "\ntime in stage, stays that ended in the window:\n";
  for (const auto& t : r.time_in_stage) out += "  " + pad(t.stage, 12) + percentiles_text(t.time, false, "stays") + "\n";
  out += "\n(--json adds the cycle time histogram and the cumulative flow, per day and stage)\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command register_flow(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<FlowOptions>();
  const auto& op = catalogue::operation("flow");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "since", opts->since);
  catalogue::add_param(sub, op, "until", opts->until);
  catalogue::add_param(sub, op, "label", opts->label);
  catalogue::add_param(sub, op, "type", opts->type);
  catalogue::add_param(sub, op, "parent", opts->parent);
  return {sub, [opts, &g] { return run_flow(*opts, g); }};
}

}  // namespace tracker::cli
