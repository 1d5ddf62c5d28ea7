// Reading the board: list, show, search, ready and stats, from the shadow index.
#include <tracker/claim_spread.hpp>
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include <nlohmann/json.hpp>

#include "file_tx.hpp"
#include "process.hpp"
#include "limits.hpp"
#include "fs_internal.hpp"
#include "ready_queue.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <set>
#include <thread>

namespace tracker {

std::vector<Story> Tracker::list(const ListQuery& query) {
  std::vector<Story> out;
  list_each(query, [&](Story&& s) { out.push_back(std::move(s)); });
  return out;
}

void Tracker::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  ListQuery q = query;
  for (auto& s : q.stages) s = ws_.config().stage(s).name;
  if (q.type && !ws_.config().is_known_type(*q.type))
    throw UsageError("unknown type '" + *q.type + "'" + did_you_mean(*q.type, ws_.config().types));
  refresh_all();
  index_->list_each(q, visit);
}

SearchResult Tracker::search(const std::string& text, const std::vector<std::string>& stages,
                             std::optional<std::int64_t> limit) {
  SearchQuery query = parse_search_query(text);  // before the walk: a typo fails fast
  std::vector<int> orders;
  for (const auto& s : stages) orders.push_back(ws_.config().stage_order(ws_.config().stage(s).name));
  refresh_all();
  return index_->search(query, orders, limit);
}

std::vector<StoryIssue> Tracker::issues() {
  refresh_all();
  return index_->issues();
}

// show, raw and move need only their own stories: they stat those files instead of
// walking the whole board (and walk it when a file moved or changed).
Story Tracker::show(std::int64_t id) {
  return load(id);
}

BoardStats Tracker::stats() {
  refresh_all();
  BoardStats st;
  ListQuery all;
  all.summary_only = true;
  std::map<std::string, std::int64_t> counts;
  for (const auto& s : index_->list(all)) {
    ++counts[s.stage];
    ++st.total;
    if (s.blocked) ++st.blocked;
  }
  for (const auto& stage : ws_.config().stages) st.per_stage.emplace_back(stage.name, counts[stage.name]);
  std::int64_t now = clock_.now_seconds();
  std::vector<std::int64_t> live;
  for (const auto& c : claims().all()) {
    if (ClaimStore::state(c, now) == ClaimState::live)
      live.push_back(c.id);
    else
      ++st.expired_claims;
  }
  st.claimed = static_cast<std::int64_t>(live.size());
  std::vector<Story> ready_now = index_->list(ready_query(std::move(live), std::nullopt));
  st.ready = static_cast<std::int64_t>(ready_now.size());
  for (const auto& s : ready_now) {
    auto created = parse_iso8601(s.created);
    if (!created) continue;
    if (!st.oldest_ready_age_seconds || now - *created > *st.oldest_ready_age_seconds) {
      st.oldest_ready_age_seconds = now - *created;
      st.oldest_ready_id = s.id;
    }
  }
  return st;
}

std::vector<Story> Tracker::ready(std::optional<std::int64_t> limit) {
  refresh_all();
  return index_->list(ready_query(claimed_ids(), limit));
}

}  // namespace tracker
