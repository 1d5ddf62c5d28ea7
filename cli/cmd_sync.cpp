// tracker sync: the board's branch exchanged with the shared git remote (docs/remote.md).
#include "catalogue.hpp"
#include "output.hpp"

#include <tracker/tracker.hpp>

#include <iostream>

namespace tracker::cli {

namespace {

nlohmann::ordered_json commits_json(const std::vector<SyncCommit>& commits) {
  auto arr = nlohmann::ordered_json::array();
  for (const auto& c : commits) arr.push_back({{"commit", c.commit}, {"subject", c.subject}});
  return arr;
}

/// "3 commits" / "1 commit"
std::string count(std::size_t n) { return std::to_string(n) + (n == 1 ? " commit" : " commits"); }

int run_sync(const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  SyncResult r = tracker->sync();
  std::string where = r.remote + "/" + r.branch;
  if (g.json) {
    auto conflicts = nlohmann::ordered_json::array();
    for (const auto& c : r.conflicts)
      conflicts.push_back({{"id", c.id},
                           {"kind", c.kind},
                           {"here", c.here},
                           {"there", c.there},
                           {"kept", c.kept},
                           {"message", c.message}});
    print_json({{"remote", r.remote},
                {"branch", r.branch},
                {"changed", r.changed},
                {"incoming", commits_json(r.incoming)},
                {"outgoing", commits_json(r.outgoing)},
                {"conflicts", conflicts},
                {"pushed", r.pushed},
                {"head", r.head}});
    return 0;
  }
  if (!r.changed) {
    std::cout << "already up to date with " << where << "\n";
    return 0;
  }
  for (const auto& c : r.conflicts) std::cout << "conflict: " << c.message << "\n";
  std::cout << "received " << count(r.incoming.size()) << " from " << where << ", sent " << count(r.outgoing.size())
            << "; " << where << " is at " << r.head.substr(0, 12) << "\n";
  return 0;
}

}  // namespace

Command register_sync(CLI::App& app, GlobalOptions& g) {
  const auto& op = catalogue::operation("sync");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  return {sub, [&g] { return run_sync(g); }};
}

}  // namespace tracker::cli
