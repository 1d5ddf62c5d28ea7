#include "catalogue.hpp"
#include "output.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct CommitOptions {
  std::optional<std::string> message;
  std::vector<std::int64_t> ids;
};

int run_commit(const CommitOptions& opts, const GlobalOptions& g) {
  HandCommitResult r = open_tracker(g)->commit_hand_edits(opts.message, opts.ids);
  for (const auto& path : r.ignored) print_warning(g, "not a story file, left out: " + path);
  for (const auto& path : r.links)
    print_warning(g, "a symbolic link, left out: " + path + " (tracker never follows one; check reports it)");
  if (r.changes.empty()) throw NothingToDoError("no story file changed since HEAD");
  if (!r.problems.empty()) {
    for (const auto& p : r.problems) report_problem(p, g);
    std::size_t n = r.problems.size();
    throw InvalidDataError(std::to_string(n) + (n == 1 ? " problem" : " problems") +
                           " in the stories to commit (above); nothing was committed. Fix them, or commit "
                           "some stories alone: tracker commit <id>...");
  }
  if (g.json) {
    auto changes = nlohmann::ordered_json::array();
    for (const auto& d : r.changes) changes.push_back(story_diff_json(d));
    print_json({{"changes", changes}, {"subject", r.subject}, {"commit", string_or_null(r.commit)}});
    return 0;
  }
  std::cout << (r.commit.empty() ? "not committed" : "[" + r.commit.substr(0, 12) + "]") << " " << r.subject << "\n";
  return 0;
}

}  // namespace

Command register_commit(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<CommitOptions>();
  const auto& op = catalogue::operation("commit");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "ids", opts->ids);
  catalogue::add_param(sub, op, "message", opts->message);
  return {sub, [opts, &g] { return run_commit(*opts, g); }};
}

}  // namespace tracker::cli
