#include "catalogue.hpp"
#include "output.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

struct RenumberOptions {
  std::int64_t id = 0;
  std::optional<std::string> path;
  std::vector<std::int64_t> refs;
};

int run_renumber(const RenumberOptions& opts, const GlobalOptions& g) {
  RenumberResult r = open_tracker(g)->renumber(opts.id, opts.path, opts.refs);
  for (auto id : r.ambiguous)
    std::cerr << "tracker: #" << id << " depends on #" << r.old_id << ", which may have meant either copy; if it meant "
              << r.to_path << ": tracker unlink " << id << " " << r.old_id << " && tracker link " << id << " "
              << r.new_id << "\n";
  if (g.json) {
    print_json({{"old_id", r.old_id},
                {"new_id", r.new_id},
                {"from", r.from_path},
                {"to", r.to_path},
                {"rewritten", r.rewritten},
                {"ambiguous", r.ambiguous},
                {"commit", string_or_null(r.commit)}});
    return 0;
  }
  std::cout << "renumbered #" << r.old_id << " -> #" << r.new_id << ": " << r.to_path << "\n";
  for (auto id : r.rewritten) std::cout << "#" << id << " now depends on #" << r.new_id << "\n";
  return 0;
}

}  // namespace

Command register_renumber(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<RenumberOptions>();
  const auto& op = catalogue::operation("renumber");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "path", opts->path);
  catalogue::add_param(sub, op, "refs", opts->refs)->delimiter(',');
  return {sub, [opts, &g] { return run_renumber(*opts, g); }};
}

}  // namespace tracker::cli
