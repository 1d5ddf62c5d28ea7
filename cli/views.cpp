#include "views.hpp"

#include <algorithm>

#include "output.hpp"
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

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
      throw UsageError(param_ref("where") + " takes key=value (e.g. " + param_ref("where", "agent=coder-1") + "), not '" +
                       spec + "'");
    out.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
  }
  return out;
}

}  // namespace

void each_listed(Tracker& tracker, const ListFilter& filter, const std::map<std::int64_t, Claim>& claims,
                 bool summary_only, const std::function<void(Story&&)>& visit) {
  std::vector<Where> where = parse_where(filter.where);
  ListQuery q;
  q.stages = filter.stages;
  if (filter.open) {
    const Config& config = tracker.workspace().config();
    if (q.stages.empty())
      for (const auto& st : config.stages) q.stages.push_back(st.name);
    for (const auto& name : q.stages) config.stage(name);  // an unknown one is named as such
    std::erase_if(q.stages, [&](const std::string& name) { return config.is_done_stage(config.stage(name).name); });
    if (q.stages.empty()) return;  // only done stages asked for: nothing is open
  }
  q.type = filter.type;
  q.label = filter.label;
  q.agent = filter.agent;
  q.blocked_only = filter.blocked;
  q.parent = filter.parent;
  if (filter.sort == "priority")
    q.sort = SortKey::priority;
  else if (filter.sort == "id")
    q.sort = SortKey::id;
  else if (filter.sort == "updated")
    q.sort = SortKey::updated;
  else if (filter.sort != "stage")
    throw UsageError("unknown sort '" + filter.sort + "': stage, priority, id or updated");
  // A filter of ours or the reversal comes before the limit: the index then gives all.
  bool filtered = !where.empty() || filter.reverse;
  q.limit = filtered ? std::nullopt : filter.limit;
  q.summary_only = summary_only && where.empty();
  std::vector<std::int64_t> claimed;
  for (const auto& [id, c] : claims) claimed.push_back(id);
  if (filter.claimed) q.only_ids = claimed;
  if (filter.ready) {
    q.ready_only = true;
    q.exclude_ids = claimed;
  }
  std::vector<Story> held;
  std::int64_t taken = 0;
  tracker.list_each(q, [&](Story&& s) {
    if (!std::all_of(where.begin(), where.end(), [&](const Where& w) { return w.matches(s); })) return;
    if (filter.reverse) {
      held.push_back(std::move(s));
      return;
    }
    if (filter.limit && taken >= *filter.limit) return;
    ++taken;
    visit(std::move(s));
  });
  if (!filter.reverse) return;
  std::reverse(held.begin(), held.end());
  if (filter.limit && static_cast<std::int64_t>(held.size()) > *filter.limit) held.resize(*filter.limit);
  for (auto& s : held) visit(std::move(s));
}

std::vector<StoryDiff> diff_range(Tracker& tracker, const std::optional<std::string>& range) {
  std::string from = "HEAD";
  std::optional<std::string> to;
  if (range) {
    const std::string& r = *range;
    auto side = [](const std::string& s) { return s.empty() ? std::string("HEAD") : s; };
    if (auto at = r.find("..."); at != std::string::npos) {
      to = side(r.substr(at + 3));
      from = tracker.merge_base(side(r.substr(0, at)), *to);
    } else if (auto at2 = r.find(".."); at2 != std::string::npos) {
      from = side(r.substr(0, at2));
      to = side(r.substr(at2 + 2));
    } else {
      from = r;
    }
  }
  return tracker.board_changes(from, to);
}

std::vector<FieldEdit> field_edits(const nlohmann::ordered_json& fields) {
  std::vector<FieldEdit> edits;
  for (const auto& [key, value] : fields.items()) {
    if (value.is_null()) {
      edits.push_back({key, std::nullopt});
    } else if (value.is_string()) {
      edits.push_back({key, value.get<std::string>()});
    } else if (value.is_array()) {
      std::vector<std::string> items;
      for (const auto& v : value) items.push_back(v.is_string() ? v.get<std::string>() : v.dump());
      edits.push_back({key, join(items, ",")});
    } else {
      edits.push_back({key, value.dump()});
    }
  }
  return edits;
}

NewStoryRequest new_story_request(const nlohmann::ordered_json& args) {
  NewStoryRequest r;
  r.name = args["name"].get<std::string>();
  r.type = args.value("type", std::string("story"));
  if (args.contains("stage")) r.stage = args["stage"].get<std::string>();
  if (args.contains("priority")) r.priority = args["priority"].get<std::int64_t>();
  if (args.contains("labels")) r.labels = args["labels"].get<std::vector<std::string>>();
  if (args.contains("depends_on")) r.depends_on = args["depends_on"].get<std::vector<std::int64_t>>();
  if (args.contains("parent")) r.parent = args["parent"].get<std::int64_t>();
  r.body = args.value("body", std::string());
  if (args.contains("key")) r.key = args["key"].get<std::string>();
  return r;
}

nlohmann::ordered_json tree_node_json(const TreeNode& n) {
  nlohmann::ordered_json j = {{"id", n.story.id},          {"name", n.story.name},
                              {"type", n.story.type},      {"stage", n.story.stage},
                              {"depth", n.depth},          {"parent", nullptr},
                              {"progress", progress_json(n.progress)}};
  if (n.story.parent) j["parent"] = *n.story.parent;
  if (n.orphan) j["orphan"] = true;
  return j;
}

nlohmann::ordered_json change_json(const StoryChange& c) {
  return {{"id", c.id},
          {"from", string_or_null(c.from)},
          {"to", string_or_null(c.to)},
          {"owner", string_or_null(c.owner)},
          {"changed", c.changed},
          {"claim_only", c.claim_only},
          {"forced_by", string_or_null(c.forced_by)},
          {"commit", string_or_null(c.commit)}};
}

nlohmann::ordered_json block_json(const StoryChange& c) {
  return {{"id", c.id}, {"stage", c.to}, {"changed", c.changed}, {"commit", string_or_null(c.commit)}};
}

nlohmann::ordered_json move_json(const MoveResult& r) {
  auto moved = nlohmann::ordered_json::array();
  for (const auto& m : r.moved) moved.push_back({{"id", m.id}, {"from", m.from}, {"to", m.to}, {"path", m.path}});
  auto ended = nlohmann::ordered_json::array();
  for (const auto& c : r.claims_ended) ended.push_back({{"id", c.id}, {"owner", c.owner}});
  return {{"moved", moved},
          {"unchanged", r.already_there},
          {"claims_ended", ended},
          {"forced_by", string_or_null(r.forced_by)},
          {"commit", string_or_null(r.commit)}};
}

nlohmann::ordered_json set_json(const SetResult& r) {
  auto ended = nlohmann::ordered_json::array();
  for (const auto& c : r.claims_ended) ended.push_back({{"id", c.id}, {"owner", c.owner}});
  return {{"id", r.id},         {"changed", r.changed},
          {"changes", r.changes}, {"path", r.path},
          {"claims_ended", ended}, {"forced_by", string_or_null(r.forced_by)},
          {"commit", string_or_null(r.commit)}};
}

nlohmann::ordered_json link_json(const LinkResult& r) {
  return {{"id", r.id},
          {"dependency", r.dependency},
          {"depends_on", r.depends_on},
          {"changed", r.changed},
          {"commit", string_or_null(r.commit)}};
}

nlohmann::ordered_json new_json(const NewStoryResult& r) {
  return {{"id", r.id}, {"path", r.path}, {"created", r.created}, {"commit", string_or_null(r.commit)}};
}

nlohmann::ordered_json renew_json(const Claim& c) {
  return {{"id", c.id}, {"owner", c.owner}, {"expires", format_iso8601(c.expires)}};
}

nlohmann::ordered_json log_entry_json(const LogEntry& e) {
  return {{"commit", e.commit},
          {"time", format_iso8601(e.time)},
          {"author", e.author},
          {"action", e.action},
          {"id", e.id},
          {"from", string_or_null(e.from)},
          {"to", string_or_null(e.to)},
          {"owner", string_or_null(e.owner)},
          {"detail", string_or_null(e.detail)}};
}

nlohmann::ordered_json stats_json(const BoardStats& st) {
  nlohmann::ordered_json stages = nlohmann::ordered_json::object();
  for (const auto& [name, n] : st.per_stage) stages[name] = n;
  return {{"stages", stages},
          {"total", st.total},
          {"ready", st.ready},
          {"blocked", st.blocked},
          {"claimed", st.claimed},
          {"expired_claims", st.expired_claims},
          {"oldest_ready", st.oldest_ready_id ? nlohmann::ordered_json{{"id", *st.oldest_ready_id},
                                                                       {"age_seconds", *st.oldest_ready_age_seconds}}
                                              : nlohmann::ordered_json(nullptr)}};
}

static nlohmann::ordered_json percentiles_json(const Percentiles& p, bool p95) {
  nlohmann::ordered_json j = {{"count", p.count}, {"p50", p.p50}, {"p85", p.p85}};
  if (p95) j["p95"] = p.p95;
  return j;
}

nlohmann::ordered_json flow_json(const FlowReport& r) {
  auto weeks = nlohmann::ordered_json::array();
  for (const auto& w : r.throughput) weeks.push_back({{"week", w.start}, {"done", w.done}});
  auto histogram = nlohmann::ordered_json::array();
  for (const auto& b : r.cycle_histogram) histogram.push_back({{"days", b.days}, {"count", b.count}});
  auto wip = nlohmann::ordered_json::array();
  for (const auto& n : r.now) {
    auto oldest = nlohmann::ordered_json::array();
    for (const auto& a : n.oldest)
      oldest.push_back({{"id", a.id}, {"name", a.name},
                        {"age_seconds", a.age_seconds ? nlohmann::ordered_json(*a.age_seconds) : nlohmann::ordered_json()}});
    wip.push_back({{"stage", n.stage}, {"count", n.wip}, {"oldest", oldest}});
  }
  auto stages = nlohmann::ordered_json::array();
  for (const auto& t : r.time_in_stage) {
    auto j = percentiles_json(t.time, false);
    j["stage"] = t.stage;
    stages.push_back(j);
  }
  auto days = nlohmann::ordered_json::array();
  for (const auto& d : r.cumulative_flow) {
    nlohmann::ordered_json counts = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < r.stages.size(); ++i) counts[r.stages[i]] = d.counts[i];
    days.push_back({{"date", d.date}, {"counts", counts}});
  }
  return {{"since", format_iso8601(r.since)},
          {"until", format_iso8601(r.until)},
          {"throughput", weeks},
          {"cycle_time", percentiles_json(r.cycle, true)},
          {"cycle_time_histogram", histogram},
          {"lead_time", percentiles_json(r.lead, true)},
          {"wip", wip},
          {"time_in_stage", stages},
          {"cumulative_flow", {{"stages", r.stages}, {"days", days}}}};
}

nlohmann::ordered_json not_ready_json(const NotReady& n) {
  auto reasons = nlohmann::ordered_json::array();
  for (const auto& r : n.reasons) {
    switch (r.kind) {
      case WaitReason::Kind::dependency:
      case WaitReason::Kind::part:
        reasons.push_back({{"kind", r.kind == WaitReason::Kind::part ? "part" : "dependency"},
                           {"id", r.other},
                           {"stage", string_or_null(r.other_stage)}});
        break;
      case WaitReason::Kind::blocked:
        reasons.push_back({{"kind", "blocked"}, {"reason", string_or_null(r.text)}});
        break;
      case WaitReason::Kind::claimed:
        reasons.push_back({{"kind", "claimed"},
                           {"owner", string_or_null(r.text)},
                           {"until", r.until ? nlohmann::ordered_json(format_iso8601(r.until)) : nullptr}});
        break;
    }
  }
  return {{"id", n.story.id},
          {"name", n.story.name},
          {"stage", n.story.stage},
          {"priority", n.story.priority ? nlohmann::ordered_json(*n.story.priority) : nullptr},
          {"why", n.why()},
          {"reasons", reasons}};
}

}  // namespace tracker::cli
