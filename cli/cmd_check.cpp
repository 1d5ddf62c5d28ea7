#include "catalogue.hpp"
#include "output.hpp"

#include <iostream>

namespace tracker::cli {

namespace {

nlohmann::ordered_json problems_json(const std::vector<Problem>& problems) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& p : problems)
    out.push_back({{"path", p.path},
                   {"line", p.line ? nlohmann::ordered_json(p.line) : nullptr},
                   {"kind", p.kind},
                   {"message", p.message}});
  return out;
}

void print_problem(const Style& style, const Problem& p, bool note) {
  std::cout << paint(style, p.path + (p.line ? ":" + std::to_string(p.line) : std::string()) + ":", "1") << " "
            << (note ? paint(style, "note:", "36") : paint(style, "error:", "31")) << " " << p.message << "\n";
}

int run_check(bool changed, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  CheckReport report = changed ? tracker->check_files(tracker->changed_story_files()) : tracker->check();
  int code = report.problems.empty() ? 0 : static_cast<int>(ExitCode::invalid_data);
  if (g.json) {
    print_json({{"ok", report.problems.empty()},
                {"stories", report.stories},
                {"problems", problems_json(report.problems)},
                {"notes", problems_json(report.notes)}});
    return code;
  }
  Style style = make_style(g);
  for (const auto& p : report.problems) print_problem(style, p, false);
  for (const auto& p : report.notes) print_problem(style, p, true);
  std::string stories = std::to_string(report.stories) + (report.stories == 1 ? " story" : " stories");
  if (report.problems.empty())
    std::cerr << "checked " << stories << ": no problems\n";
  else
    std::cerr << "checked " << stories << ": " << report.problems.size()
              << (report.problems.size() == 1 ? " problem\n" : " problems\n");
  return code;
}

}  // namespace

Command register_check(CLI::App& app, GlobalOptions& g) {
  const auto& op = catalogue::operation("check");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  auto changed = std::make_shared<bool>(false);
  catalogue::add_param(sub, op, "changed", *changed);
  return {sub, [changed, &g] { return run_check(*changed, g); }};
}

}  // namespace tracker::cli
