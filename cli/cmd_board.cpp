// tracker board: the stages side by side as columns, one card per story.
#include "catalogue.hpp"
#include "output.hpp"

#include <cstdlib>
#include <ctime>
#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct BoardOptions {
  std::vector<std::string> stages;
  std::optional<std::string> label;
  bool all = false;
};

/// "3d", "5h", "12m": how long ago `created` was; empty when it is not a time.
std::string age(const std::string& created, std::int64_t now) {
  auto when = parse_iso8601(created);
  if (!when || *when > now) return "";
  std::int64_t s = now - *when;
  if (s >= 86400) return std::to_string(s / 86400) + "d";
  if (s >= 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 60) + "m";
}

/// `text` cut or padded to exactly `width` columns.
std::string cell(const std::string& text, std::size_t width) {
  std::string out = truncate_to(text, width);
  std::size_t w = display_width(out);
  if (w < width) out.append(width - w, ' ');
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
  // A terminal's width; in a pipe, $COLUMNS or 120.
  std::size_t total = style.width;
  if (!total) total = std::getenv("COLUMNS") ? static_cast<std::size_t>(std::atoi(std::getenv("COLUMNS"))) : 120;
  if (total < 20) total = 120;
  constexpr std::size_t kGap = 2;
  std::size_t n = columns.size();
  std::size_t width = n ? std::max<std::size_t>(12, (total - kGap * (n - 1)) / n) : 0;
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));

  // Each card is two lines: "#12 bug P3" and the name; then "@agent 3d" when known.
  std::vector<std::vector<std::pair<std::string, const char*>>> column_lines(n);
  for (std::size_t c = 0; c < n; ++c) {
    auto& lines = column_lines[c];
    const auto& list = cards[columns[c]->name];
    lines.push_back({columns[c]->name + " (" + std::to_string(list.size()) + ")", "1"});
    lines.push_back({std::string(std::min<std::size_t>(width, display_width(lines[0].first)), '-'), nullptr});
    for (const auto& s : list) {
      std::string head = "#" + std::to_string(s.id) + " " + s.type + (s.priority ? " P" + std::to_string(*s.priority) : "");
      if (s.blocked) head += " [blocked]";
      if (ChildProgress p = progress_of(s.id); p.total) head += " " + progress_fraction(p);
      lines.push_back({head, s.blocked ? "31" : "33"});
      lines.push_back({"  " + s.name, nullptr});
      std::string who = s.agent.empty() ? "" : "@" + s.agent;
      if (auto it = claims.find(s.id); it != claims.end() && it->second.owner != s.agent) who = "@" + it->second.owner;
      std::string when = age(s.created, now);
      std::string meta = who + (who.empty() || when.empty() ? "" : " ") + when;
      if (!meta.empty()) lines.push_back({"  " + meta, "36"});
    }
  }
  std::size_t rows = 0;
  for (const auto& l : column_lines) rows = std::max(rows, l.size());
  for (std::size_t r = 0; r < rows; ++r) {
    std::string line;
    for (std::size_t c = 0; c < n; ++c) {
      bool last = c + 1 == n;
      const auto& l = column_lines[c];
      std::string text = r < l.size() ? l[r].first : "";
      std::string shown = last ? truncate_to(text, width) : cell(text, width);
      line += r < l.size() ? paint(style, shown, l[r].second) : shown;
      if (!last) line += std::string(kGap, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
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
