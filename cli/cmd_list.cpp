#include "output.hpp"

#include <cstdio>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct ListOptions {
  std::vector<std::string> stages;
  std::optional<std::string> type;
  std::optional<std::string> label;
  std::optional<std::string> agent;
  bool blocked = false;
  bool ready = false;
  bool claimed = false;
  std::string sort = "stage";
  std::optional<std::int64_t> limit;
};

int run_list(const ListOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  ListQuery q;
  q.stages = opts.stages;
  q.type = opts.type;
  q.label = opts.label;
  q.agent = opts.agent;
  q.blocked_only = opts.blocked;
  if (opts.sort == "priority")
    q.sort = SortKey::priority;
  else if (opts.sort == "id")
    q.sort = SortKey::id;
  else if (opts.sort == "updated")
    q.sort = SortKey::updated;
  q.limit = opts.limit;
  q.summary_only = !g.json;
  std::map<std::int64_t, Claim> claims = tracker->live_claims();
  std::vector<std::int64_t> claimed;
  for (const auto& [id, c] : claims) claimed.push_back(id);
  if (opts.claimed) q.only_ids = claimed;
  if (opts.ready) {
    q.ready_only = true;
    q.exclude_ids = claimed;
  }
  // One story at a time: a 100,000-story board is never all in memory.
  if (g.json) {
    {
      JsonArrayPrinter out;
      tracker->list_each(q, [&](Story&& s) {
        auto it = claims.find(s.id);
        out.add(story_json(s, false, it == claims.end() ? nullptr : &it->second));
      });
    }
    report_issues(tracker->issues(), g);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  tracker->list_each(q, [&](Story&& s) {
    std::string name = std::move(s.name);
    if (s.blocked) name += " [blocked]";
    if (!s.agent.empty()) name += " @" + s.agent;
    if (auto it = claims.find(s.id); it != claims.end())
      name += it->second.owner == s.agent ? " [claimed]" : " (claimed by " + it->second.owner + ")";
    rows.push_back(
        {std::to_string(s.id), std::move(s.type), std::move(s.stage), priority_text(s), std::move(name)});
  });
  report_issues(tracker->issues(), g);
  if (rows.empty()) return 0;
  Style style = make_style(g);
  std::string table =
      format_table(style, {"ID", "TYPE", "STAGE", "PRI", "NAME"}, rows, {"33", "36", "32", nullptr, nullptr});
  rows.clear();
  rows.shrink_to_fit();
  std::fwrite(table.data(), 1, table.size(), stdout);
  return 0;
}

}  // namespace

Command register_list(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ListOptions>();
  CLI::App* sub = app.add_subcommand("list", "List stories");
  sub->alias("ls");
  sub->add_option("--stage", opts->stages, "Only this stage (repeatable)");
  sub->add_option("--type", opts->type, "Only this type");
  sub->add_option("--label", opts->label, "Only stories with this label");
  sub->add_option("--agent", opts->agent, "Only stories of this agent");
  sub->add_flag("--blocked", opts->blocked, "Only blocked stories");
  sub->add_flag("--ready", opts->ready, "Only ready stories (see 'tracker ready')");
  sub->add_flag("--claimed", opts->claimed, "Only stories with a claim that holds");
  sub->add_option("--sort", opts->sort, "Order: stage, priority, id or updated")
      ->check(CLI::IsMember({"stage", "priority", "id", "updated"}))
      ->capture_default_str();
  sub->add_option("--limit", opts->limit, "At most this many stories")->transform(positive_number("--limit"));
  return {sub, [opts, &g] { return run_list(*opts, g); }};
}

}  // namespace tracker::cli
