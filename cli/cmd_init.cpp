#include "output.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct InitOptionsCli {
  std::string dir = "work";
  std::string stages = "backlog,current,qa,merge,done,archived";
};

int run_init(const InitOptionsCli& opts, const GlobalOptions& g) {
  InitOptions options;
  options.stories_dir = opts.dir;
  options.stages.clear();
  for (auto& s : split(opts.stages, ','))
    if (!trim(s).empty()) options.stages.emplace_back(trim(s));
  options.commit = g.no_commit ? CommitMode::no : CommitMode::yes;
  InitResult r = Tracker::init(g.dir.empty() ? fs::current_path() : fs::path(g.dir), options);
  if (g.json) {
    print_json({{"root", r.root.string()},
                {"created_repository", r.created_repository},
                {"commit", string_or_null(r.commit)}});
    return 0;
  }
  if (r.created_repository) std::cout << "Initialized empty git repository in " << r.root.string() << "\n";
  std::cout << "Initialized tracker workspace in " << r.root.string() << " (stages: " << join(options.stages, ", ")
            << ")\n";
  return 0;
}

}  // namespace

Command register_init(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<InitOptionsCli>();
  CLI::App* sub = app.add_subcommand("init", "Create a workspace: .tracker/config.yml and the stage directories");
  sub->add_option("--dir", opts->dir, "Directory that holds the stage directories")->capture_default_str();
  sub->add_option("--stages", opts->stages, "Comma-separated stage names, in board order")->capture_default_str();
  return {sub, [opts, &g] { return run_init(*opts, g); }};
}

}  // namespace tracker::cli
