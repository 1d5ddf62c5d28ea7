// tracker board: the stages side by side as columns, one card per story.
#include "catalogue.hpp"
#include "output.hpp"

#include <cstdlib>
#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct BoardOptions {
  std::vector<std::string> stages;
  std::optional<std::string> label;
  bool all = false;
};

/// Below this many columns the stages are stacked one under another: side by
/// side, each would get too few columns for a name.
constexpr std::size_t kSideBySide = 100;
constexpr std::size_t kGap = 2;

/// A line of a card: its parts, each painted its own way.
struct Segment {
  std::string text;
  const char* color = nullptr;
};
using Line = std::vector<Segment>;

/// `line` cut to `width` columns (the last parts first, with "…"), painted, and
/// padded with spaces to `width` when `pad`.
std::string render(const Style& style, const Line& line, std::size_t width, bool pad) {
  std::string out;
  std::size_t used = 0;
  for (const auto& seg : line) {
    if (used >= width) break;
    std::string shown = truncate_to(seg.text, width - used);
    used += display_width(shown);
    out += paint(style, shown, seg.color);
  }
  if (pad && used < width) out.append(width - used, ' ');
  return out;
}

/// A card: `#12 bug P3 Name` (the type when it is not the board's first), then,
/// when there is any, a line of who holds it, its children's progress, its labels
/// and whether it is blocked.
std::vector<Line> card(const Story& s, const Config& config, const std::string& holder, const ChildProgress& progress) {
  std::string head = "#" + std::to_string(s.id);
  if (config.types.empty() || s.type != config.types.front()) head += " " + s.type;
  if (s.priority) head += " P" + std::to_string(*s.priority);
  std::vector<Line> out = {{{head, s.blocked ? "31" : "33"}, {" " + s.name, nullptr}}};
  std::vector<std::string> meta;  // what is cut last first
  if (!holder.empty()) meta.push_back("@" + holder);
  if (progress.total) meta.push_back(progress_fraction(progress));
  if (!s.labels.empty()) meta.push_back(join(s.labels, ", "));
  Line second;
  if (!meta.empty()) second.push_back({"  " + join(meta, "  "), "36"});
  if (s.blocked) second.push_back({"  blocked", "31"});
  if (!second.empty()) out.push_back(std::move(second));
  return out;
}

int run_board(const BoardOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  const Config& config = tracker->workspace().config();
  // The columns: the stages asked for, else every stage but the done ones.
  std::vector<const Stage*> columns;
  if (!opts.stages.empty()) {
    for (const auto& name : opts.stages) columns.push_back(&config.stage(name));
  } else {
    for (const auto& s : config.stages)
      if (opts.all || !config.is_done_stage(s.name)) columns.push_back(&s);
  }
  std::map<std::string, std::vector<Story>> cards;
  ListQuery q;
  for (const Stage* s : columns) q.stages.push_back(s->name);
  q.label = opts.label;
  q.sort = SortKey::stage;  // priority first within a stage
  tracker->list_each(q, [&](Story&& s) { cards[s.stage].push_back(std::move(s)); });
  std::map<std::int64_t, Claim> claims = tracker->live_claims();
  std::map<std::int64_t, ChildProgress> progress = tracker->progress();
  auto progress_of = [&](std::int64_t id) { return progress.count(id) ? progress.at(id) : ChildProgress{}; };
  report_issues(tracker->issues(), g);

  if (g.json) {
    auto out = nlohmann::ordered_json::array();
    for (const Stage* s : columns) {
      auto list = nlohmann::ordered_json::array();
      for (const auto& story : cards[s->name]) {
        auto it = claims.find(story.id);
        auto j = story_json(story, false, it == claims.end() ? nullptr : &it->second);
        j["progress"] = progress_json(progress_of(story.id));
        list.push_back(std::move(j));
      }
      out.push_back({{"stage", s->name}, {"stories", list}});
    }
    print_json(out);
    return 0;
  }

  Style style = make_style(g);
  // A terminal's width; in a pipe, $COLUMNS or 120. No line is wider.
  std::size_t total = style.width;
  if (!total) {
    const char* env = std::getenv("COLUMNS");
    auto asked = env ? parse_int(env) : std::nullopt;
    total = asked && *asked > 0 && *asked <= 10000 ? static_cast<std::size_t>(*asked) : 120;
  }
  const std::size_t n = columns.size();
  const bool side_by_side = n > 0 && total >= kSideBySide && (total - kGap * (n - 1)) / n >= 16;
  const std::size_t width = side_by_side ? (total - kGap * (n - 1)) / n : total;

  std::vector<std::vector<Line>> column_lines(n);
  for (std::size_t c = 0; c < n; ++c) {
    auto& lines = column_lines[c];
    const auto& list = cards[columns[c]->name];
    std::string title = columns[c]->name + " (" + std::to_string(list.size()) + ")";
    lines.push_back({{title, "1"}});
    lines.push_back({{std::string(std::min(width, display_width(title)), '-'), nullptr}});
    for (const auto& s : list) {
      std::string holder = s.agent;
      if (auto it = claims.find(s.id); it != claims.end()) holder = it->second.owner;
      for (auto& l : card(s, config, holder, progress_of(s.id))) lines.push_back(std::move(l));
    }
  }
  std::string out;
  auto emit = [&](std::string line) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  };
  if (side_by_side) {
    std::size_t rows = 0;
    for (const auto& l : column_lines) rows = std::max(rows, l.size());
    for (std::size_t r = 0; r < rows; ++r) {
      std::string line;
      for (std::size_t c = 0; c < n; ++c) {
        bool last = c + 1 == n;
        const auto& l = column_lines[c];
        line += r < l.size() ? render(style, l[r], width, !last) : (last ? "" : std::string(width, ' '));
        if (!last) line += std::string(kGap, ' ');
      }
      emit(line);
    }
  } else {
    // Narrow: the stages one under another, each card as wide as the terminal.
    for (std::size_t c = 0; c < n; ++c) {
      if (c) out += "\n";
      for (const auto& l : column_lines[c]) emit(render(style, l, width, false));
    }
  }
  if (n) {
    out += "\n";
    emit(render(style, {{"Cards by priority: a higher number first (P5 before P2), then by id", "2"}}, total, false));
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command register_board(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<BoardOptions>();
  const auto& op = catalogue::operation("board");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "stage", opts->stages);
  catalogue::add_param(sub, op, "label", opts->label);
  catalogue::add_param(sub, op, "all", opts->all);
  return {sub, [opts, &g] { return run_board(*opts, g); }};
}

}  // namespace tracker::cli
