#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

int print_move_result(const MoveResult& r, const std::string& stage, const std::string& verb, const GlobalOptions& g) {
  if (g.json) {
    print_json(move_json(r));
    return 0;
  }
  for (const auto& m : r.moved) std::cout << verb << " #" << m.id << " " << m.from << " -> " << m.to << "\n";
  for (auto id : r.already_there) std::cout << "#" << id << " is already in " << stage << "\n";
  for (const auto& c : r.claims_ended) std::cout << "ended " << c.owner << "'s claim on #" << c.id << "\n";
  if (!r.forced_by.empty()) std::cout << "forced by " << r.forced_by << " (recorded as Tracker-Forced-By)\n";
  return 0;
}

namespace {

struct MoveOptions {
  std::vector<std::string> args;  ///< <id>... <stage>
};

int run_move(const MoveOptions& opts, const GlobalOptions& g) {
  if (opts.args.size() < 2) throw UsageError("usage: tracker move <id>... <stage>");
  std::vector<std::int64_t> ids;
  for (std::size_t i = 0; i + 1 < opts.args.size(); ++i) {
    auto id = parse_story_id(opts.args[i]);
    if (!id) throw UsageError(invalid_id_message(opts.args[i]));
    ids.push_back(*id);
  }
  auto tracker = open_tracker(g);
  const Stage& stage = tracker->workspace().config().stage(opts.args.back());
  return print_move_result(tracker->move(ids, stage.name, force_of(g)), stage.name, "moved", g);
}

}  // namespace

Command register_move(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<MoveOptions>();
  const auto& op = catalogue::operation("move");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  sub->alias("mv");
  // The ids and the stage are one positional list at the CLI: <id>... <stage>.
  catalogue::add_param(sub, op, "ids", opts->args);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", g.force);
  return {sub, [opts, &g] { return run_move(*opts, g); }};
}

}  // namespace tracker::cli
