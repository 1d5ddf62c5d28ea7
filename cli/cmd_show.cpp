#include "catalogue.hpp"
#include "output.hpp"

#include <cstdio>
#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct ShowOptions {
  std::int64_t id = 0;
  bool raw = false;
};

int run_show(const ShowOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  if (opts.raw) {
    std::string text = tracker->raw(opts.id);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  Story s = tracker->show(opts.id);
  report_issues([&] {
    std::vector<StoryIssue> out;
    for (const auto& w : s.warnings) out.push_back({s.path, w.line, w.message, false});
    return out;
  }(), g);
  std::map<std::int64_t, Claim> claims = tracker->live_claims();
  const Claim* claim = claims.count(s.id) ? &claims.at(s.id) : nullptr;
  // A claim of this clone's that another clone took over: its holder is fenced.
  std::optional<Claim> lost = claim ? std::nullopt : tracker->lost_claim(s.id);
  const ChildProgress progress = tracker->progress(s.id);
  if (g.json) {
    nlohmann::ordered_json out = story_json(s, true, claim);
    out["progress"] = progress_json(progress);
    if (lost)
      out["claim"] = {{"owner", lost->owner}, {"expires", format_iso8601(lost->expires)}, {"lost_to", lost->lost_to}};
    print_json(out);
    return 0;
  }
  Style style = make_style(g);
  std::string out = paint(style, "#" + std::to_string(s.id), "33") + " " + paint(style, s.name, "1") + "\n";
  // The fields first, then one column for their values, as wide as the longest key
  // (a custom field's too) needs.
  std::vector<std::pair<std::string, std::string>> fields;
  auto field = [&](const std::string& key, const std::string& value) {
    if (!value.empty()) fields.emplace_back(key + ":", value);
  };
  field("type", s.type);
  field("stage", s.stage);
  if (s.priority) field("priority", std::to_string(*s.priority));
  field("labels", join(s.labels, ", "));
  std::vector<std::string> deps;
  for (auto d : s.depends_on) deps.push_back("#" + std::to_string(d));
  field("depends on", join(deps, ", "));
  if (s.parent) field("parent", "#" + std::to_string(*s.parent));
  field("children", progress_text(progress));
  field("agent", s.agent);
  if (claim) field("claim", claim->owner + " until " + format_iso8601(claim->expires));
  if (lost) field("claim", lost->owner + "'s claim was taken over by " + lost->lost_to + " on the remote (fenced)");
  if (s.blocked) field("blocked", blocked_reason(s).empty() ? "yes" : "yes: " + blocked_reason(s));
  if (s.retry_count) field("retries", std::to_string(s.retry_count));
  field("created", s.created);
  field("path", s.path);
  for (const auto& f : s.fields) {
    if (f.key == "blocked_reason" && s.blocked) continue;  // said with blocked
    auto value = nlohmann::ordered_json::parse(f.json);
    field(f.key, value.is_string() ? value.get<std::string>() : f.json);
  }
  std::size_t width = 12;
  for (const auto& [key, value] : fields) width = std::max(width, display_width(key) + 1);
  for (const auto& [key, value] : fields)
    out += paint(style, key + std::string(width - display_width(key), ' '), "2") + value + "\n";
  if (!trim(s.body).empty()) out += "\n" + s.body + (s.body.ends_with('\n') ? "" : "\n");
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command register_show(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ShowOptions>();
  const auto& op = catalogue::operation("show");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "raw", opts->raw);
  return {sub, [opts, &g] { return run_show(*opts, g); }};
}

}  // namespace tracker::cli
