#include <catch2/catch.hpp>

#include <tracker/deps.hpp>

using namespace tracker;

TEST_CASE("dependency paths are the shortest chain") {
  DependencyGraph g{{1, {2, 5}}, {2, {3}}, {3, {4}}, {5, {4}}};
  CHECK(dependency_path(g, 1, 4) == std::vector<std::int64_t>{1, 5, 4});
  CHECK(dependency_path(g, 2, 4) == std::vector<std::int64_t>{2, 3, 4});
  CHECK_FALSE(dependency_path(g, 4, 1));
  CHECK(dependency_path(g, 9, 9) == std::vector<std::int64_t>{9});
  CHECK(format_dependency_path({3, 7, 3}) == "#3 -> #7 -> #3");
}

TEST_CASE("dependency cycles: one per group, from its lowest id") {
  CHECK(dependency_cycles({{1, {2}}, {2, {3}}}).empty());
  DependencyGraph g{{1, {2}}, {2, {3}}, {3, {1, 4}}, {4, {}}, {6, {6}}, {8, {9}}, {9, {8}}, {10, {1}}};
  auto cycles = dependency_cycles(g);
  REQUIRE(cycles.size() == 3);
  CHECK(cycles[0] == std::vector<std::int64_t>{1, 2, 3, 1});
  CHECK(cycles[1] == std::vector<std::int64_t>{6, 6});
  CHECK(cycles[2] == std::vector<std::int64_t>{8, 9, 8});

  // A long chain closed at the end: no recursion depth problem.
  DependencyGraph chain;
  for (std::int64_t i = 1; i < 20000; ++i) chain[i] = {i + 1};
  chain[20000] = {1};
  auto long_cycle = dependency_cycles(chain);
  REQUIRE(long_cycle.size() == 1);
  CHECK(long_cycle[0].size() == 20001);
}
