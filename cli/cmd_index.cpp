#include "output.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

int run_status(const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  IndexStatus st = tracker->index().status();
  if (g.json) {
    nlohmann::ordered_json stages = nlohmann::ordered_json::object();
    for (const auto& [name, n] : st.per_stage) stages[name] = n;
    print_json({{"path", st.db_path},
                {"schema_version", st.schema_version},
                {"bytes", st.db_bytes},
                {"stories", st.stories},
                {"malformed", st.malformed},
                {"stages", stages},
                {"search", st.fts ? "fts5" : "scan"},
                {"last_rebuild", string_or_null(st.last_rebuild)},
                {"last_change", string_or_null(st.last_refresh)}});
    return 0;
  }
  std::cout << "index:        " << st.db_path << " (" << (st.db_bytes + 1023) / 1024 << " KiB, schema "
            << st.schema_version << ")\n";
  std::cout << "stories:      " << st.stories << " (" << st.malformed << " malformed)\n";
  for (const auto& [name, n] : st.per_stage) {
    std::cout << pad("  " + name, 14) << n << "\n";
  }
  std::cout << "search:       " << (st.fts ? "FTS5" : "scan (no FTS5)") << "\n";
  std::cout << "last rebuild: " << (st.last_rebuild.empty() ? "never" : st.last_rebuild) << "\n";
  std::cout << "last change:  " << (st.last_refresh.empty() ? "never" : st.last_refresh) << "\n";
  return 0;
}

int run_rebuild(const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  RefreshStats stats = tracker->index().rebuild();
  report_issues(tracker->issues());
  if (g.json) print_json({{"files", stats.files}, {"parsed", stats.parsed}});
  else std::cout << "rebuilt the index from " << stats.files << " story files\n";
  return 0;
}

}  // namespace

Command register_index(CLI::App& app, GlobalOptions& g) {
  CLI::App* sub = app.add_subcommand("index", "Inspect or rebuild the shadow index");
  sub->require_subcommand(1);
  CLI::App* status = sub->add_subcommand("status", "Counts, size and when the index was last rebuilt");
  CLI::App* rebuild = sub->add_subcommand("rebuild", "Throw the index away and read every story file again");
  return {sub, [status, rebuild, &g] {
            if (status->parsed()) return run_status(g);
            if (rebuild->parsed()) return run_rebuild(g);
            return 2;
          }};
}

}  // namespace tracker::cli
