// Why the stories of the ready stages that are not ready are not: what `ready
// --explain` prints and what a claim that finds nothing ready says (exit 6).
#include <tracker/results.hpp>
#include <tracker/util.hpp>

#include "ready_queue.hpp"
#include "services.hpp"

#include <algorithm>
#include <set>

namespace tracker {

std::string describe_wait(const WaitReason& r) {
  auto other = [&] {
    return "#" + std::to_string(r.other) + (r.other_stage.empty() ? " (no such story)" : " (" + r.other_stage + ")");
  };
  switch (r.kind) {
    case WaitReason::Kind::dependency:
      return "waits for " + other();
    case WaitReason::Kind::part:
      return "waits for its part " + other();
    case WaitReason::Kind::blocked:
      return r.text.empty() ? "blocked" : "blocked: " + r.text;
    case WaitReason::Kind::claimed:
      return r.text.empty() ? "claimed on the remote"
                            : "claimed by " + r.text + (r.until ? " until " + format_iso8601(r.until) : "");
  }
  return "";
}

std::string NotReady::why() const {
  std::vector<std::string> parts;
  for (const auto& r : reasons) parts.push_back(describe_wait(r));
  return join(parts, "; ");
}

namespace {

WaitReason wait(WaitReason::Kind kind, std::int64_t other = 0, std::string other_stage = "", std::string text = "",
                std::int64_t until = 0) {
  WaitReason r;
  r.kind = kind;
  r.other = other;
  r.other_stage = std::move(other_stage);
  r.text = std::move(text);
  r.until = until;
  return r;
}

}  // namespace

std::vector<NotReady> BoardReader::not_ready(std::size_t limit) {
  const Config& config = s_.ws.config();
  if (config.ready_stages.empty() || limit == 0) return {};
  std::map<std::int64_t, Claim> claims = all_.claiming.live_claims();
  std::vector<std::int64_t> claimed = all_.claiming.claimed_ids(claims);
  // The ready queue's ids, then the ready stages' stories in the queue's order: the
  // first `limit` that are not in it. Ids only, so a big board costs a list.
  std::set<std::int64_t> ready;
  ListQuery ready_ids = ready_query(claimed, std::nullopt);
  ready_ids.summary_only = true;
  s_.shadow->list_each(ready_ids, [&](Story&& s) { ready.insert(s.id); });
  std::vector<Story> waiting;
  ListQuery in_stages;
  in_stages.stages = config.ready_stages;
  in_stages.sort = SortKey::priority;
  s_.shadow->list_each(in_stages, [&](Story&& s) {
    if (waiting.size() < limit && !ready.count(s.id)) waiting.push_back(std::move(s));
  });

  // The stages of the stories they wait for, in one query.
  std::vector<std::int64_t> others;
  for (const auto& s : waiting) others.insert(others.end(), s.depends_on.begin(), s.depends_on.end());
  std::map<std::int64_t, std::string> stage_of;
  if (!others.empty()) {
    ListQuery q;
    q.only_ids = others;
    q.summary_only = true;
    s_.shadow->list_each(q, [&](Story&& s) { stage_of[s.id] = s.stage; });
  }
  const std::set<std::int64_t> remote_claims(claimed.begin(), claimed.end());
  std::vector<NotReady> out;
  for (auto& s : waiting) {
    NotReady n;
    if (s.blocked) {
      n.reasons.push_back(wait(WaitReason::Kind::blocked, 0, "", blocked_reason(s)));
    }
    if (auto c = claims.find(s.id); c != claims.end())
      n.reasons.push_back(wait(WaitReason::Kind::claimed, 0, "", c->second.owner, c->second.expires));
    else if (remote_claims.count(s.id))
      n.reasons.push_back(wait(WaitReason::Kind::claimed));
    for (auto dep : s.depends_on) {
      auto at = stage_of.find(dep);
      if (at != stage_of.end() && config.is_done_stage(at->second)) continue;
      n.reasons.push_back(wait(WaitReason::Kind::dependency, dep, at == stage_of.end() ? "" : at->second));
    }
    ListQuery children;
    children.parent = s.id;
    children.summary_only = true;
    s_.shadow->list_each(children, [&](Story&& child) {
      if (!config.is_done_stage(child.stage))
        n.reasons.push_back(wait(WaitReason::Kind::part, child.id, child.stage));
    });
    n.story = std::move(s);
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace tracker
