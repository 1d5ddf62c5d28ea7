#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

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
  const auto& op = catalogue::operation("stats");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  return {sub, [&g] { return run_stats(g); }};
}

}  // namespace tracker::cli
