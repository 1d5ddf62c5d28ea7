#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>
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
  bool open = false;
  bool reverse = false;
  std::vector<std::string> where;
};

/// One `--where key=value`: a story matches when the key's value is `value` (for
/// a list: holds it). `key=` matches a story without the key.
struct Where {
  std::string key, value;
  bool matches(const Story& s) const {
    nlohmann::ordered_json v = field_value(s, key);
    auto same = [&](const nlohmann::ordered_json& x) {
      if (x.is_null()) return value.empty();
      if (x.is_string()) return x.get<std::string>() == value;
      return x.dump() == value;
    };
    if (v.is_array()) return std::any_of(v.begin(), v.end(), same);
    return same(v);
  }
};

std::vector<Where> parse_where(const std::vector<std::string>& specs) {
  std::vector<Where> out;
  for (const auto& spec : specs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--where takes key=value (e.g. --where agent=coder-1), not '" + spec + "'");
    out.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
  }
  return out;
}

int run_list(const ListOptions& opts, const GlobalOptions& g) {
  std::vector<Where> where = parse_where(opts.where);
  auto tracker = open_tracker(g);
  ListQuery q;
  q.stages = opts.stages;
  if (opts.open) {
    const Config& config = tracker->workspace().config();
    if (q.stages.empty())
      for (const auto& st : config.stages) q.stages.push_back(st.name);
    for (const auto& name : q.stages) config.stage(name);  // an unknown one is named as such
    std::erase_if(q.stages, [&](const std::string& name) { return config.is_done_stage(config.stage(name).name); });
  }
  bool nothing = opts.open && q.stages.empty();  // only done stages asked for: nothing is open
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
  // A filter of ours or the reversal comes before the limit: the index then gives all.
  bool filtered = !where.empty() || opts.reverse;
  q.limit = filtered ? std::nullopt : opts.limit;
  q.summary_only = !g.json && where.empty();
  std::map<std::int64_t, Claim> claims = tracker->live_claims();
  std::vector<std::int64_t> claimed;
  for (const auto& [id, c] : claims) claimed.push_back(id);
  if (opts.claimed) q.only_ids = claimed;
  if (opts.ready) {
    q.ready_only = true;
    q.exclude_ids = claimed;
  }
  // One story at a time: a 100,000-story board is never all in memory (unless
  // --reverse asks for the end first).
  std::vector<Story> held;
  std::int64_t taken = 0;
  auto each = [&](const std::function<void(Story&&)>& visit) {
    if (nothing) return;
    tracker->list_each(q, [&](Story&& s) {
      if (!std::all_of(where.begin(), where.end(), [&](const Where& w) { return w.matches(s); })) return;
      if (opts.reverse) {
        held.push_back(std::move(s));
        return;
      }
      if (opts.limit && taken >= *opts.limit) return;
      ++taken;
      visit(std::move(s));
    });
    if (!opts.reverse) return;
    std::reverse(held.begin(), held.end());
    if (opts.limit && static_cast<std::int64_t>(held.size()) > *opts.limit) held.resize(*opts.limit);
    for (auto& s : held) visit(std::move(s));
  };
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
  sub->add_flag("--open", opts->open, "Hide the stories in done stages (done, archived)");
  sub->add_flag("--reverse", opts->reverse, "The order reversed");
  sub->add_option("--where", opts->where,
                  "Only stories whose front matter key has this value, key=value (a list: holds it; key=: no such key); "
                  "repeatable");
  return {sub, [opts, &g] { return run_list(*opts, g); }};
}

}  // namespace tracker::cli
