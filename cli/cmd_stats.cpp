#include "output.hpp"
#include "views.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

/// "3d 4h", "2h 5m", "12m", "40s".
std::string human_age(std::int64_t seconds) {
  if (seconds < 60) return std::to_string(std::max<std::int64_t>(0, seconds)) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h " + std::to_string(seconds % 3600 / 60) + "m";
  return std::to_string(seconds / 86400) + "d " + std::to_string(seconds % 86400 / 3600) + "h";
}

int run_stats(const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  BoardStats st = tracker->stats();
  if (g.json) {
    print_json(stats_json(st));
    return 0;
  }
  for (const auto& [name, n] : st.per_stage) {
    std::cout << pad(name + ":", 16) << n << "\n";
  }
  std::cout << "total:          " << st.total << "\n";
  std::cout << "ready:          " << st.ready << "\n";
  std::cout << "blocked:        " << st.blocked << "\n";
  std::cout << "claimed:        " << st.claimed << "\n";
  std::cout << "expired claims: " << st.expired_claims << (st.expired_claims ? " (run 'tracker reclaim')" : "") << "\n";
  if (st.oldest_ready_id)
    std::cout << "oldest ready:   #" << *st.oldest_ready_id << ", " << human_age(*st.oldest_ready_age_seconds)
              << " old\n";
  return 0;
}

}  // namespace

Command register_stats(CLI::App& app, GlobalOptions& g) {
  CLI::App* sub = app.add_subcommand("stats", "Counts per stage, ready, blocked, claimed and expired claims");
  return {sub, [&g] { return run_stats(g); }};
}

}  // namespace tracker::cli
