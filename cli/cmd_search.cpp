#include "catalogue.hpp"
#include "output.hpp"

#include <cstdio>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct SearchOptions {
  std::vector<std::string> query;  ///< words, joined with spaces
  std::vector<std::string> stages;
  std::int64_t limit = 20;
  bool all = false;
};

/// `s.text` with its highlights painted.
std::string highlighted(const Style& style, const Snippet& s) {
  std::string out;
  std::size_t at = 0;
  for (const auto& [offset, length] : s.highlights) {
    out += s.text.substr(at, offset - at) + paint(style, s.text.substr(offset, length), "1;31");
    at = offset + length;
  }
  return out + s.text.substr(at);
}

nlohmann::ordered_json highlights_json(const Snippet& s) {
  auto out = nlohmann::ordered_json::array();
  for (const auto& [offset, length] : s.highlights) out.push_back({offset, length});
  return out;
}

int run_search(const SearchOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  const std::string text = join(opts.query, " ");
  SearchResult result =
      tracker->search(text, opts.stages, opts.all ? std::nullopt : std::optional<std::int64_t>(opts.limit));
  const std::vector<SearchHit>& hits = result.hits;
  // What was searched for instead of a word that matched nothing, and the lack of
  // any match, go to stderr: stdout holds hits only, for scripts and `--json`.
  for (const auto& c : result.corrections)
    std::fprintf(stderr, "tracker: no word begins with '%s'; searched for '%s' instead\n", c.typed.c_str(),
                 c.used.c_str());
  if (result.total == 0) std::fprintf(stderr, "tracker: no story matches '%s'\n", text.c_str());
  if (g.json) {
    auto out = nlohmann::ordered_json::array();
    for (const auto& h : hits)
      out.push_back({{"id", h.story.id},
                     {"type", h.story.type},
                     {"name", h.story.name},
                     {"stage", h.story.stage},
                     {"path", h.story.path},
                     {"score", h.score},
                     {"snippet", h.snippet.text},
                     {"highlights", {{"name", highlights_json(h.name)}, {"snippet", highlights_json(h.snippet)}}}});
    print_json(out);
    return 0;
  }
  if (static_cast<std::int64_t>(hits.size()) < result.total)
    std::fprintf(stderr, "tracker: the best %zu of %lld matches (--limit N or --all for more)\n", hits.size(),
                 static_cast<long long>(result.total));
  Style style = make_style(g);
  std::size_t id_width = 0, stage_width = 0;
  for (const auto& h : hits) {
    id_width = std::max(id_width, std::to_string(h.story.id).size() + 1);
    stage_width = std::max(stage_width, display_width(h.story.stage));
  }
  std::string out;
  for (const auto& h : hits) {
    std::string id = "#" + std::to_string(h.story.id);
    out += paint(style, id, "33") + std::string(id_width - id.size() + 2, ' ') + paint(style, h.story.stage, "32") +
           std::string(stage_width - display_width(h.story.stage) + 2, ' ') + highlighted(style, h.name) + "\n";
    if (!h.snippet.text.empty()) out += "    " + highlighted(style, h.snippet) + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command register_search(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<SearchOptions>();
  const auto& op = catalogue::operation("search");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "query", opts->query);
  catalogue::add_param(sub, op, "stage", opts->stages);
  catalogue::add_param(sub, op, "limit", opts->limit);
  catalogue::add_param(sub, op, "all", opts->all)->excludes("--limit");
  return {sub, [opts, &g] { return run_search(*opts, g); }};
}

}  // namespace tracker::cli
