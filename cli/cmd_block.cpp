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
  CLI::App* sub = app.add_subcommand("block", "Mark a story blocked: it is never ready");
  sub->add_option("id", opts->id, "Story id")->required()->transform(story_id());
  sub->add_option("--reason", opts->reason, "Why (kept as blocked_reason)");
  return {sub, [opts, &g] { return print_block(open_tracker(g)->block(opts->id, opts->reason), "blocked", g); }};
}

Command register_unblock(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<BlockOptions>();
  CLI::App* sub = app.add_subcommand("unblock", "Clear a story's blocked mark");
  sub->add_option("id", opts->id, "Story id")->required()->transform(story_id());
  return {sub, [opts, &g] { return print_block(open_tracker(g)->unblock(opts->id), "unblocked", g); }};
}

}  // namespace tracker::cli
