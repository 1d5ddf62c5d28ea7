// The dependency graph between stories: paths and cycles.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracker {

/// Story id -> the ids in its `depends_on`.
using DependencyGraph = std::map<std::int64_t, std::vector<std::int64_t>>;

/// The shortest chain of dependencies from `from` to `to` (both included), or
/// nullopt when `from` does not depend on `to`, directly or indirectly.
std::optional<std::vector<std::int64_t>> dependency_path(const DependencyGraph& graph, std::int64_t from,
                                                         std::int64_t to);

/// One cycle per strongly connected group of stories that depend on each other
/// (a self-dependency counts), each as a closed path that starts and ends at its
/// lowest id: {3, 7, 3}. Ordered by that id.
std::vector<std::vector<std::int64_t>> dependency_cycles(const DependencyGraph& graph);

/// The loop that story `id`'s chain of parents (child -> parent) makes back to
/// it: {id, parent, ..., id}; nullopt when the chain ends.
std::optional<std::vector<std::int64_t>> parent_cycle(const std::map<std::int64_t, std::int64_t>& parents,
                                                      std::int64_t id);

/// "#3 -> #7 -> #3"
std::string format_dependency_path(const std::vector<std::int64_t>& path);

}  // namespace tracker
