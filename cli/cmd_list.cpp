#include "output.hpp"
#include "views.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

int run_list(const ListFilter& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  std::map<std::int64_t, Claim> claims = tracker->live_claims();
  auto each = [&](const std::function<void(Story&&)>& visit) { each_listed(*tracker, opts, claims, !g.json, visit); };
  if (g.json) {
    {
      JsonArrayPrinter out;
      each([&](Story&& s) {
        auto it = claims.find(s.id);
        out.add(story_json(s, false, it == claims.end() ? nullptr : &it->second));
      });
    }
    report_issues(tracker->issues(), g);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  each([&](Story&& s) {
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
  auto opts = std::make_shared<ListFilter>();
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
  sub->add_flag("--open", opts->open, "Hide the stories in done stages (done, archived)");
  sub->add_flag("--reverse", opts->reverse, "The order reversed");
  sub->add_option("--where", opts->where,
                  "Only stories whose front matter key has this value, key=value (a list: holds it; key=: no such key); "
                  "repeatable");
  return {sub, [opts, &g] { return run_list(*opts, g); }};
}

}  // namespace tracker::cli
