// tracker tree [<id>]: parent stories and the stories under them.
#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <cstdio>
#include <vector>

namespace tracker::cli {

namespace {

struct TreeOptions {
  std::optional<std::int64_t> id;
  std::optional<std::int64_t> limit;
};

int run_tree(const TreeOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  std::vector<TreeNode> nodes = tracker->tree(opts.id);
  if (opts.limit && nodes.size() > static_cast<std::size_t>(*opts.limit)) nodes.resize(*opts.limit);
  if (g.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& n : nodes) out.push_back(tree_node_json(n));
    print_json(out);
    return 0;
  }
  Style style = make_style(g);
  std::string out;
  // Whether the ancestor at each depth was the last of its siblings: its column then
  // has no more branches below it.
  std::vector<bool> last_at;
  for (const auto& n : nodes) {
    last_at.resize(static_cast<std::size_t>(n.depth) + 1);
    last_at[n.depth] = n.last;
    std::string prefix;
    for (int d = 1; d < n.depth; ++d) prefix += last_at[d] ? "   " : "│  ";
    if (n.depth > 0) prefix += n.last ? "└─ " : "├─ ";
    const Story& s = n.story;
    out += paint(style, prefix, "2") + paint(style, "#" + std::to_string(s.id), "33") + " " + s.name + "  " +
           paint(style, s.stage, "32");
    if (n.progress.total) out += "  " + paint(style, progress_text(n.progress), "36");
    if (n.orphan) out += paint(style, "  (parent #" + std::to_string(*s.parent) + " is not a story above it)", "31");
    out += "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command register_tree(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<TreeOptions>();
  const auto& op = catalogue::operation("tree");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "limit", opts->limit);
  return {sub, [opts, &g] { return run_tree(*opts, g); }};
}

}  // namespace tracker::cli
