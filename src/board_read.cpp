// Reading the board: list, show, search, ready and stats, from the shadow index.
#include <tracker/claim_spread.hpp>
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
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

std::vector<Story> BoardReader::list(const ListQuery& query) {
  std::vector<Story> out;
  list_each(query, [&](Story&& s) { out.push_back(std::move(s)); });
  return out;
}

void BoardReader::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  ListQuery q = query;
  for (auto& s : q.stages) s = s_.ws.config().stage(s).name;
  if (q.type && !s_.ws.config().is_known_type(*q.type))
    throw UsageError("unknown type '" + *q.type + "'" + did_you_mean(*q.type, s_.ws.config().types));
  s_.refresh_all();
  s_.shadow->list_each(q, visit);
}

SearchResult BoardReader::search(const std::string& text, const std::vector<std::string>& stages,
                             std::optional<std::int64_t> limit) {
  SearchQuery query = parse_search_query(text);  // before the walk: a typo fails fast
  std::vector<int> orders;
  for (const auto& s : stages) orders.push_back(s_.ws.config().stage_order(s_.ws.config().stage(s).name));
  s_.refresh_all();
  return s_.shadow->search(query, orders, limit);
}

std::vector<StoryIssue> BoardReader::issues() {
  s_.refresh_all();
  return s_.shadow->issues();
}

// show, raw and move need only their own stories: they stat those files instead of
// walking the whole board (and walk it when a file moved or changed).
Story BoardReader::show(std::int64_t id) {
  return s_.load(id);
}

BoardStats BoardReader::stats() {
  s_.refresh_all();
  BoardStats st;
  ListQuery all;
  all.summary_only = true;
  std::map<std::string, std::int64_t> counts;
  for (const auto& s : s_.shadow->list(all)) {
    ++counts[s.stage];
    ++st.total;
    if (s.blocked) ++st.blocked;
  }
  for (const auto& stage : s_.ws.config().stages) st.per_stage.emplace_back(stage.name, counts[stage.name]);
  std::int64_t now = s_.clock.now_seconds();
  std::vector<std::int64_t> live;
  for (const auto& c : s_.claims().all()) {
    if (ClaimStore::state(c, now) == ClaimState::live)
      live.push_back(c.id);
    else
      ++st.expired_claims;
  }
  st.claimed = static_cast<std::int64_t>(live.size());
  std::vector<Story> ready_now = s_.shadow->list(ready_query(std::move(live), std::nullopt));
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

std::vector<Story> BoardReader::ready(std::optional<std::int64_t> limit) {
  s_.refresh_all();
  return s_.shadow->list(ready_query(all_.claiming.claimed_ids(), limit));
}

std::map<std::int64_t, ChildProgress> BoardReader::progress() {
  s_.refresh_all();
  return s_.shadow->progress();
}

ChildProgress BoardReader::progress(std::int64_t id) {
  std::map<std::int64_t, ChildProgress> all = s_.shadow->progress(id);
  return all.count(id) ? all[id] : ChildProgress{};
}

std::vector<TreeNode> BoardReader::tree(std::optional<std::int64_t> root) {
  s_.refresh_all();
  if (root) s_.find(*root);  // NotFoundError, or the duplicate id named
  ListQuery all;
  all.summary_only = true;
  all.sort = SortKey::id;
  std::vector<Story> stories = s_.shadow->list(all);
  std::map<std::int64_t, ChildProgress> progress = s_.shadow->progress();
  std::map<std::int64_t, std::size_t> at;  // id -> index in stories (the first file of a duplicated id)
  for (std::size_t i = 0; i < stories.size(); ++i) at.emplace(stories[i].id, i);
  // A story is a root when it has no parent, or its parent is not a story, or it is
  // in a loop of parents (a hand edit; check names it). A story below a loop hangs
  // under its parent as any other. One pass: each walk up stops at a story an
  // earlier walk has settled, and a walk that meets itself has found a loop.
  auto parent_of = [&](std::size_t i) -> std::optional<std::size_t> {
    const auto& p = stories[i].parent;
    if (!p || !at.count(*p)) return std::nullopt;
    return at[*p];
  };
  std::vector<bool> in_loop(stories.size(), false);
  {
    enum : char { unknown, walking, settled };
    std::vector<char> state(stories.size(), unknown);
    for (std::size_t i = 0; i < stories.size(); ++i) {
      if (at[stories[i].id] != i || state[i] != unknown) continue;
      std::vector<std::size_t> path;
      std::optional<std::size_t> j = i;
      while (j && state[*j] == unknown) {
        state[*j] = walking;
        path.push_back(*j);
        j = parent_of(*j);
      }
      if (j && state[*j] == walking)
        for (auto k = std::find(path.begin(), path.end(), *j); k != path.end(); ++k) in_loop[*k] = true;
      for (auto k : path) state[k] = settled;
    }
  }
  std::map<std::int64_t, std::vector<std::size_t>> children;
  std::vector<std::size_t> roots;
  std::vector<bool> orphan(stories.size(), false);
  for (std::size_t i = 0; i < stories.size(); ++i) {
    const Story& s = stories[i];
    if (at[s.id] != i) continue;  // a second file of the same id is drawn once
    if (!parent_of(i) || in_loop[i]) {
      orphan[i] = s.parent.has_value();
      roots.push_back(i);
    } else {
      children[*s.parent].push_back(i);
    }
  }
  if (root) roots = {at[*root]};
  std::vector<TreeNode> out;
  // Depth first without recursion: a chain of parents may be as long as the board.
  std::vector<std::pair<std::size_t, int>> todo;
  for (auto it = roots.rbegin(); it != roots.rend(); ++it) todo.emplace_back(*it, 0);
  while (!todo.empty()) {
    auto [i, depth] = todo.back();
    todo.pop_back();
    TreeNode node;
    node.story = stories[i];
    node.depth = depth;
    node.orphan = orphan[i] && depth == 0;
    if (auto p = progress.find(node.story.id); p != progress.end()) node.progress = p->second;
    if (depth == 0)
      node.last = i == roots.back();
    else {
      const auto& siblings = children[*node.story.parent];
      node.last = siblings.back() == i;
    }
    std::int64_t id = node.story.id;
    out.push_back(std::move(node));
    if (auto c = children.find(id); c != children.end())
      for (auto it = c->second.rbegin(); it != c->second.rend(); ++it) todo.emplace_back(*it, depth + 1);
  }
  return out;
}

std::string BoardReader::raw(std::int64_t id) {
  // Any file with the id, malformed or not: --raw is how a broken one is looked at.
  s_.refresh_story(id);
  Lookup found = s_.lookup(id);
  std::vector<std::string> files;
  for (const auto& s : found.stories) files.push_back(s.path);
  for (const auto& m : found.malformed) files.push_back(m.path);
  if (files.empty()) throw NotFoundError("no story #" + std::to_string(id));
  if (files.size() > 1)
    throw InvalidDataError("story #" + std::to_string(id) + " exists more than once: " + join(files, ", ") +
                           "; give one of them a new id");
  return read_file(s_.ws.root() / files.front());
}

std::pair<Story, std::string> BoardReader::read_whole(std::int64_t id) {
  bool held = s_.story_locks.count(id) > 0;
  s_.lock_stories({id});
  s_.shadow->refresh_stories({id});
  Story story = s_.find(id);
  std::string text = read_file(s_.ws.root() / story.path);
  if (!held) s_.unlock_story(id);
  return {std::move(story), std::move(text)};
}

}  // namespace tracker
