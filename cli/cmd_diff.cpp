#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <cstring>
#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct DiffOptions {
  std::optional<std::string> range;
  std::string format = "text";
};

/// "priority 1 -> 3, labels +ui, body"
std::string details(const StoryDiff& d, const char* arrow) {
  std::string out;
  for (auto part : describe_changes(d.fields, d.body_changed)) {
    for (std::size_t at = part.find(" -> "); at != std::string::npos; at = part.find(" -> ", at + std::strlen(arrow)))
      part.replace(at, 4, arrow);
    out += (out.empty() ? "" : ", ") + part;
  }
  return out;
}

int run_diff(const DiffOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  std::vector<StoryDiff> changes = diff_range(*tracker, opts.range);
  if (g.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& d : changes) out.push_back(story_diff_json(d));
    print_json(out);
    return 0;
  }
  if (opts.format == "markdown") {
    std::cout << "### Board changes\n\n";
    if (changes.empty()) std::cout << "No story changed.\n";
    for (const auto& d : changes) {
      std::string id = "#" + std::to_string(d.id) + " " + d.name;
      std::string more = details(d, " → ");
      if (d.change == "created")
        std::cout << "- **Created** " << id << " (" << d.to << ")\n";
      else if (d.change == "deleted")
        std::cout << "- **Deleted** " << id << " (was in " << d.from << ")\n";
      else if (d.change == "moved")
        std::cout << "- **Moved** " << id << ": " << d.from << " → " << d.to << (more.empty() ? "" : "; " + more)
                  << "\n";
      else
        std::cout << "- **Edited** " << id << ": " << more << "\n";
      if (!d.problem.empty()) std::cout << "  - malformed: `" << d.paths.back() << "` " << d.problem << "\n";
    }
    return 0;
  }
  Style style = make_style(g);
  for (const auto& d : changes) {
    std::string head = pad(d.change, 8) + "#" + std::to_string(d.id) + " " + d.name;
    std::string more = details(d, " -> ");
    const char* color = d.change == "created" ? "32" : d.change == "deleted" ? "31" : d.change == "moved" ? "36" : "33";
    std::cout << paint(style, pad(d.change, 8), color) << head.substr(8);
    if (d.change == "moved") std::cout << "  " << d.from << " -> " << d.to;
    if (d.change == "created") std::cout << "  (" << d.to << ")";
    if (!more.empty()) std::cout << (d.change == "moved" ? "; " : ": ") << more;
    if (!d.problem.empty()) std::cout << "  " << paint(style, "malformed: " + d.paths.back() + ":", "31") << " " << d.problem;
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

Command register_diff(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<DiffOptions>();
  const auto& op = catalogue::operation("diff");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "range", opts->range);
  catalogue::add_param(sub, op, "format", opts->format);
  return {sub, [opts, &g] { return run_diff(*opts, g); }};
}

}  // namespace tracker::cli
