#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

struct LinkOptions {
  std::int64_t id = 0;
  std::int64_t dependency = 0;
};

int print_link(const LinkResult& r, bool linking, const GlobalOptions& g) {
  if (g.json) {
    print_json(link_json(r));
    return 0;
  }
  std::string id = "#" + std::to_string(r.id), dep = "#" + std::to_string(r.dependency);
  if (linking)
    std::cout << id << (r.changed ? " now depends on " : " already depends on ") << dep << "\n";
  else
    std::cout << id << (r.changed ? " no longer depends on " : " does not depend on ") << dep << "\n";
  return 0;
}

CLI::App* add_link_command(CLI::App& app, const std::string& name, const std::string& help, LinkOptions& opts) {
  const auto& op = catalogue::operation("link");
  CLI::App* sub = app.add_subcommand(name, help);
  catalogue::add_param(sub, op, "id", opts.id);
  catalogue::add_param(sub, op, "depends_on", opts.dependency);
  return sub;
}

}  // namespace

Command register_link(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<LinkOptions>();
  CLI::App* sub = add_link_command(app, "link", catalogue::operation("link").summary, *opts);
  return {sub, [opts, &g] { return print_link(open_tracker(g)->link(opts->id, opts->dependency), true, g); }};
}

Command register_unlink(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<LinkOptions>();
  CLI::App* sub = add_link_command(app, "unlink", "Remove a dependency from a story", *opts);
  return {sub, [opts, &g] { return print_link(open_tracker(g)->unlink(opts->id, opts->dependency), false, g); }};
}

}  // namespace tracker::cli
