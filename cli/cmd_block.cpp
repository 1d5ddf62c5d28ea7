#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

struct BlockOptions {
  std::int64_t id = 0;
  std::optional<std::string> reason;
};

int print_block(const StoryChange& c, const std::string& verb, const GlobalOptions& g) {
  if (g.json)
    print_json(block_json(c));
  else if (c.changed)
    std::cout << verb << " #" << c.id << "\n";
  else
    std::cout << "#" << c.id << " is already " << verb << "\n";
  return 0;
}

}  // namespace

Command register_block(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<BlockOptions>();
  const auto& op = catalogue::operation("block");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "reason", opts->reason);
  return {sub, [opts, &g] { return print_block(open_tracker(g)->block(opts->id, opts->reason), "blocked", g); }};
}

Command register_unblock(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<BlockOptions>();
  const auto& op = catalogue::operation("unblock");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  return {sub, [opts, &g] { return print_block(open_tracker(g)->unblock(opts->id), "unblocked", g); }};
}

}  // namespace tracker::cli
