#include <tracker/deps.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <set>

namespace tracker {

std::optional<std::vector<std::int64_t>> dependency_path(const DependencyGraph& graph, std::int64_t from,
                                                         std::int64_t to) {
  std::map<std::int64_t, std::int64_t> parent{{from, from}};
  std::deque<std::int64_t> queue{from};
  while (!queue.empty()) {
    std::int64_t at = queue.front();
    queue.pop_front();
    if (at == to) {
      std::vector<std::int64_t> path{to};
      while (path.back() != from) path.push_back(parent[path.back()]);
      std::reverse(path.begin(), path.end());
      return path;
    }
    auto it = graph.find(at);
    if (it == graph.end()) continue;
    for (std::int64_t next : it->second)
      if (parent.emplace(next, at).second) queue.push_back(next);
  }
  return std::nullopt;
}

std::vector<std::vector<std::int64_t>> dependency_cycles(const DependencyGraph& graph) {
  // Tarjan's strongly connected components, iteratively so a long chain of
  // dependencies cannot overflow the stack.
  std::map<std::int64_t, std::int64_t> index, low;
  std::set<std::int64_t> on_stack;
  std::vector<std::int64_t> stack;
  std::vector<std::vector<std::int64_t>> components;
  std::int64_t counter = 0;
  static const std::vector<std::int64_t> none;
  auto edges = [&](std::int64_t v) -> const std::vector<std::int64_t>& {
    auto it = graph.find(v);
    return it == graph.end() ? none : it->second;
  };
  for (const auto& [root, unused] : graph) {
    if (index.count(root)) continue;
    std::vector<std::pair<std::int64_t, std::size_t>> frames{{root, 0}};
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack.insert(root);
    while (!frames.empty()) {
      auto& [v, next] = frames.back();
      const auto& out = edges(v);
      if (next < out.size()) {
        std::int64_t w = out[next++];
        if (!index.count(w)) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack.insert(w);
          frames.emplace_back(w, 0);
        } else if (on_stack.count(w)) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      std::int64_t done = v;
      frames.pop_back();
      if (!frames.empty()) low[frames.back().first] = std::min(low[frames.back().first], low[done]);
      if (low[done] != index[done]) continue;
      std::vector<std::int64_t> component;
      std::int64_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack.erase(w);
        component.push_back(w);
      } while (w != done);
      const auto& self = edges(done);
      bool self_loop = std::find(self.begin(), self.end(), done) != self.end();
      if (component.size() > 1 || self_loop) components.push_back(std::move(component));
    }
  }
  std::vector<std::vector<std::int64_t>> cycles;
  for (const auto& component : components) {
    std::int64_t start = *std::min_element(component.begin(), component.end());
    std::set<std::int64_t> members(component.begin(), component.end());
    // The shortest way round through the component, back to its lowest id.
    DependencyGraph inside;
    for (std::int64_t v : component)
      for (std::int64_t w : edges(v))
        if (members.count(w)) inside[v].push_back(w);
    std::vector<std::int64_t> cycle{start};
    const auto& first = inside[start];
    if (std::find(first.begin(), first.end(), start) == first.end()) {
      std::optional<std::vector<std::int64_t>> best;
      for (std::int64_t w : first)
        if (auto path = dependency_path(inside, w, start); path && (!best || path->size() < best->size())) best = path;
      if (best) cycle.insert(cycle.end(), best->begin(), best->end());
    } else {
      cycle.push_back(start);
    }
    cycles.push_back(std::move(cycle));
  }
  std::sort(cycles.begin(), cycles.end());
  return cycles;
}

std::string format_dependency_path(const std::vector<std::int64_t>& path) {
  std::string out;
  for (std::int64_t id : path) out += (out.empty() ? "#" : " -> #") + std::to_string(id);
  return out;
}

}  // namespace tracker
