// The rules of parent stories, written once for every door (CLI, MCP, web, edit,
// import): a parent exists and is not the story or one of its descendants, and a
// parent is finished only when its children are.
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/util.hpp>

#include "services.hpp"

#include <algorithm>
#include <set>

namespace tracker {

namespace {

/// The parents as a graph of one edge each, for dependency_path.
DependencyGraph parent_graph(const std::map<std::int64_t, std::int64_t>& parents) {
  DependencyGraph graph;
  for (const auto& [child, parent] : parents) graph[child] = {parent};
  return graph;
}

}  // namespace

void Transitions::check_parent(std::int64_t id, std::int64_t parent, bool exists) {
  if (parent == id) throw InvalidDataError("story #" + std::to_string(id) + " cannot be its own parent");
  if (!exists) throw NotFoundError("no story #" + std::to_string(parent) + " to be the parent of #" + std::to_string(id));
  DependencyGraph graph = parent_graph(s_.shadow->parents());
  graph[id] = {parent};
  if (auto cycle = dependency_path(graph, parent, id)) {
    cycle->insert(cycle->begin(), id);
    throw InvalidDataError("parent " + std::to_string(parent) +
                           " would make a cycle of parents: " + format_dependency_path(*cycle));
  }
}

std::optional<std::vector<std::int64_t>> parent_cycle(const std::map<std::int64_t, std::int64_t>& parents,
                                                      std::int64_t id) {
  // Up the chain of parents, one step each: a chain that comes back to `id` is its
  // cycle; one that ends, or loops above `id` without it, is none of its own.
  std::vector<std::int64_t> path = {id};
  std::set<std::int64_t> seen = {id};
  for (auto at = parents.find(id); at != parents.end(); at = parents.find(at->second)) {
    path.push_back(at->second);
    if (at->second == id) return path;
    if (!seen.insert(at->second).second) return std::nullopt;
  }
  return std::nullopt;
}

std::vector<Story> Transitions::open_children(std::int64_t id) {
  ListQuery q;
  q.parent = id;
  q.summary_only = true;
  q.sort = SortKey::id;
  std::vector<Story> out = s_.shadow->list(q);
  std::erase_if(out, [&](const Story& c) { return s_.ws.config().is_done_stage(c.stage); });
  return out;
}

std::string Transitions::name_children(const std::vector<Story>& children) {
  std::vector<std::string> named;
  for (const auto& c : children) {
    if (named.size() == 5) {
      named.push_back("and " + std::to_string(children.size() - 5) + " more");
      break;
    }
    named.push_back("#" + std::to_string(c.id) + " (" + c.stage + ")");
  }
  return join(named, ", ");
}

void Transitions::require_children_done(const std::vector<std::int64_t>& ids, Force force) {
  if (force == Force::yes) return;
  s_.refresh_all();
  std::set<std::int64_t> going(ids.begin(), ids.end());  // children finished in the same move count as done
  for (auto id : ids) {
    std::vector<Story> open = open_children(id);
    std::erase_if(open, [&](const Story& c) { return going.count(c.id) > 0; });
    if (open.empty()) continue;
    throw ConflictError("story #" + std::to_string(id) + " has children that are not done: " + name_children(open) +
                        "; finish them first, or finish it anyway with " + param_ref("force", "true"));
  }
}

}  // namespace tracker
