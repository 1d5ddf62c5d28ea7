#include "catalogue.hpp"
#include "output.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct InitOptionsCli {
  std::string dir = "work";
  std::string stages = "backlog,current,qa,merge,done,archived";
  std::optional<std::string> adopt;
  std::optional<std::string> remote;
};

int run_adopt(const std::string& board, const GlobalOptions& g) {
  fs::path root = g.dir.empty() ? fs::current_path() : fs::path(g.dir);
  // The board is named relative to the workspace root, like every other path.
  fs::path stories = fs::path(board).is_absolute() ? fs::path(board) : root / board;
  InitResult r = Tracker::adopt(root, stories.string(), commit_options(g));
  for (const auto& d : r.ignored) std::cerr << "tracker: not a stage directory (<n>_<name>), left alone: " << d << "\n";
  if (g.json) {
    nlohmann::ordered_json stages = nlohmann::ordered_json::array();
    for (const auto& s : r.config.stages) stages.push_back({{"name", s.name}, {"dir", s.dir}});
    print_json({{"root", r.root.string()},
                {"stories_dir", r.config.stories_dir},
                {"stages", stages},
                {"types", r.config.types},
                {"stories", r.stories},
                {"commit", string_or_null(r.commit)}});
    return 0;
  }
  std::cout << "Adopted " << r.config.stories_dir << ": " << r.stories << " stories in " << r.config.stages.size()
            << " stages (" << join(r.config.stage_names(), ", ") << "); wrote .tracker/config.yml\n";
  return 0;
}

int run_init(const InitOptionsCli& opts, const GlobalOptions& g) {
  if (opts.adopt) return run_adopt(*opts.adopt, g);
  InitOptions options;
  options.stories_dir = opts.dir;
  options.stages.clear();
  for (auto& s : split(opts.stages, ',')) {
    if (trim(s).empty()) throw UsageError("--stages '" + opts.stages + "' has an empty stage name");
    options.stages.emplace_back(trim(s));
  }
  options.commit = commit_options(g);
  options.remote = opts.remote;
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
  if (opts.remote)
    std::cout << "Claims go through the remote '" << *opts.remote << "' (docs/remote.md); push the board with git push "
              << *opts.remote << "\n";
  return 0;
}

}  // namespace

Command register_init(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<InitOptionsCli>();
  const auto& op = catalogue::operation("init");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  auto* dir = catalogue::add_param(sub, op, "dir", opts->dir);
  auto* stages = catalogue::add_param(sub, op, "stages", opts->stages);
  catalogue::add_param(sub, op, "remote", opts->remote);
  catalogue::add_param(sub, op, "adopt", opts->adopt)->excludes(dir)->excludes(stages);
  return {sub, [opts, &g] { return run_init(*opts, g); }};
}

}  // namespace tracker::cli
