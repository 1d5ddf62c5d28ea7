#include "catalogue.hpp"
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
  const auto& op = catalogue::operation("list");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  sub->alias("ls");
  catalogue::add_param(sub, op, "stage", opts->stages);
  catalogue::add_param(sub, op, "type", opts->type);
  catalogue::add_param(sub, op, "label", opts->label);
  catalogue::add_param(sub, op, "agent", opts->agent);
  catalogue::add_param(sub, op, "blocked", opts->blocked);
  catalogue::add_param(sub, op, "parent", opts->parent);
  catalogue::add_param(sub, op, "ready", opts->ready);
  catalogue::add_param(sub, op, "claimed", opts->claimed);
  catalogue::add_param(sub, op, "sort", opts->sort)->capture_default_str();
  catalogue::add_param(sub, op, "limit", opts->limit);
  catalogue::add_param(sub, op, "open", opts->open);
  catalogue::add_param(sub, op, "reverse", opts->reverse);
  catalogue::add_param(sub, op, "where", opts->where);
  return {sub, [opts, &g] { return run_list(*opts, g); }};
}

}  // namespace tracker::cli
