#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>
#include <map>
#include <set>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct LogOptions {
  std::optional<std::int64_t> id;
  std::optional<std::int64_t> limit;
};

int run_log(const LogOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  std::vector<LogEntry> entries = tracker->log(opts.id, opts.limit);
  if (g.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& e : entries)
      out.push_back(log_entry_json(e));
    print_json(out);
    return 0;
  }
  Style style = make_style(g);
  // The board's log names each story as it is called now (one query for them all);
  // a story's own log has its name in `show`. A story deleted since has none.
  std::map<std::int64_t, std::string> names;
  if (!opts.id && !entries.empty()) {
    ListQuery q;
    std::set<std::int64_t> ids;  // one a story, however many transitions it had
    for (const auto& e : entries) ids.insert(e.id);
    q.only_ids.emplace(ids.begin(), ids.end());
    q.summary_only = true;
    tracker->list_each(q, [&](Story&& s) { names[s.id] = std::move(s.name); });
  }
  for (const auto& e : entries) {
    std::string when = format_iso8601(e.time);
    when = when.substr(0, 10) + " " + when.substr(11, 5);
    std::string stages = e.from == e.to || e.to.empty() ? e.from : (e.from.empty() ? e.to : e.from + " -> " + e.to);
    std::cout << paint(style, e.commit.substr(0, 10), "33") << "  " << when << "  " << pad(e.action, 8) << "#" << e.id
              << (names.count(e.id) ? " " + names[e.id] : "")
              << (stages.empty() ? "" : "  " + stages) << (e.owner.empty() ? "" : "  (" + e.owner + ")")
              << (e.detail.empty() ? "" : "  " + e.detail) << "\n";
  }
  return 0;
}

}  // namespace

Command register_log(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<LogOptions>();
  const auto& op = catalogue::operation("log");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "limit", opts->limit);
  return {sub, [opts, &g] { return run_log(*opts, g); }};
}

}  // namespace tracker::cli
