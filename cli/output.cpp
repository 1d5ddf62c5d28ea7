#include "output.hpp"
#include "pager.hpp"

#include <sys/ioctl.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

#include <tracker/util.hpp>
#include <tracker/watch.hpp>

namespace tracker::cli {

void print_warning(const GlobalOptions& g, const std::string& message) {
  if (g.json)
    std::cerr << json_text(nlohmann::ordered_json{{"warning", message}}) << "\n";
  else
    std::cerr << "tracker: warning: " << message << "\n";
}

void report_problem(const Problem& p, const GlobalOptions& g) {
  if (g.json) {
    std::cerr << json_text(nlohmann::ordered_json{{"problem", p.message},
                                                  {"path", p.path},
                                                  {"line", p.line ? nlohmann::ordered_json(p.line) : nullptr},
                                                  {"kind", p.kind}})
              << "\n";
    return;
  }
  std::cerr << "tracker: " << p.path << (p.line ? ":" + std::to_string(p.line) : std::string()) << ": " << p.message
            << "\n";
}

void CloseTracker::operator()(Tracker* tracker) const {
  // remote.auto_sync: what the command committed goes to the remote now. Only
  // warnings come out of it, so a command's output stays its own.
  if (std::uncaught_exceptions() == 0) tracker->auto_sync();
  std::optional<Workspace> start_watcher;
  if (tracker->watcher_missing()) start_watcher = tracker->workspace();
  delete tracker;
  if (start_watcher) watch_start(*start_watcher);
}

CommitOptions commit_options(const GlobalOptions& g) {
  return {g.no_commit ? CommitMode::no : CommitMode::yes, g.no_verify ? Verify::no : Verify::yes};
}

TrackerHandle open_tracker(const GlobalOptions& g, TerminalProgressLine progress_line) {
  fs::path start = g.dir.empty() ? fs::current_path() : fs::path(g.dir);
  TrackerHandle tracker(new Tracker(Workspace::discover(start), commit_options(g)));
  tracker->on_warning([&g](const std::string& message) { print_warning(g, message); });
  tracker->set_offline(g.offline);
  if (!g.owner.empty()) tracker->set_identity(g.owner);
  if (progress_line == TerminalProgressLine::when_a_terminal && ::isatty(STDERR_FILENO)) {
    // A progress line on the terminal for what runs longer than about a second
    // (one command, one thread: the line is shared by the process).
    static TerminalProgress progress(std::cerr, system_clock(), 1'000'000'000);
    tracker->set_progress(&progress);
  }
  return tracker;
}

Style make_style(const GlobalOptions& g) {
  Style style;
  bool tty = stdout_is_terminal();  // as it was before a pager took stdout
  if (g.color == "always")
    style.color = true;
  else if (g.color == "auto")
    style.color =
        tty && !std::getenv("NO_COLOR") && std::string(std::getenv("TERM") ? std::getenv("TERM") : "") != "dumb";
  style.width = terminal_width();
  return style;
}

std::string paint(const Style& style, const std::string& text, const char* sgr) {
  if (!style.color || !sgr || text.empty()) return text;
  return std::string("\033[") + sgr + "m" + text + "\033[0m";
}

std::string human_age(std::int64_t seconds) {
  if (seconds < 60) return std::to_string(std::max<std::int64_t>(0, seconds)) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h " + std::to_string(seconds % 3600 / 60) + "m";
  return std::to_string(seconds / 86400) + "d " + std::to_string(seconds % 86400 / 3600) + "h";
}

nlohmann::ordered_json string_or_null(const std::string& text) {
  return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
}

nlohmann::ordered_json story_json(const Story& s, bool with_body, const Claim* claim) {
  nlohmann::ordered_json j;
  j["id"] = s.id;
  j["type"] = s.type;
  j["name"] = s.name;
  j["stage"] = s.stage;
  j["path"] = s.path;
  j["priority"] = s.priority ? nlohmann::ordered_json(*s.priority) : nlohmann::ordered_json(nullptr);
  j["labels"] = s.labels;
  j["depends_on"] = s.depends_on;
  j["parent"] = s.parent ? nlohmann::ordered_json(*s.parent) : nlohmann::ordered_json(nullptr);
  j["agent"] = string_or_null(s.agent);
  j["blocked"] = s.blocked;
  j["retry_count"] = s.retry_count;
  j["created"] = string_or_null(s.created);
  j["claim"] = claim ? nlohmann::ordered_json{{"owner", claim->owner}, {"expires", format_iso8601(claim->expires)}}
                     : nlohmann::ordered_json(nullptr);
  auto fields = nlohmann::ordered_json::object();
  for (const auto& f : s.fields) fields[f.key] = nlohmann::ordered_json::parse(f.json);
  j["fields"] = fields;
  if (with_body) j["body"] = s.body;
  return j;
}

nlohmann::ordered_json progress_json(const ChildProgress& p) {
  if (!p.total) return nullptr;
  return {{"done", p.done}, {"total", p.total}};
}

std::string progress_fraction(const ChildProgress& p) {
  return p.total ? std::to_string(p.done) + "/" + std::to_string(p.total) : "";
}

std::string progress_text(const ChildProgress& p) { return p.total ? progress_fraction(p) + " done" : ""; }

nlohmann::ordered_json stories_json(const std::vector<Story>& stories, const std::map<std::int64_t, Claim>& claims) {
  auto arr = nlohmann::ordered_json::array();
  for (const auto& s : stories) {
    auto it = claims.find(s.id);
    arr.push_back(story_json(s, false, it == claims.end() ? nullptr : &it->second));
  }
  return arr;
}

nlohmann::ordered_json story_diff_json(const StoryDiff& d) {
  auto fields = nlohmann::ordered_json::object();
  for (const auto& f : d.fields)
    fields[f.key] = nlohmann::ordered_json::array(
        {nlohmann::ordered_json::parse(f.before), nlohmann::ordered_json::parse(f.after)});
  return {{"id", d.id},
          {"change", d.change},
          {"name", d.name},
          {"from", string_or_null(d.from)},
          {"to", string_or_null(d.to)},
          {"fields", fields},
          {"body_changed", d.body_changed},
          {"malformed", string_or_null(d.problem)}};
}

void report_issues(const std::vector<StoryIssue>& issues, const GlobalOptions& g) {
  for (const auto& i : issues) {
    if (g.json) {
      std::cerr << json_text(nlohmann::ordered_json{{"warning", i.message},
                                                   {"path", i.path},
                                                   {"line", i.line > 0 ? nlohmann::ordered_json(i.line) : nullptr}})
                << "\n";
      continue;
    }
    std::cerr << i.path;
    if (i.line > 0) std::cerr << ":" << i.line;
    std::cerr << ": " << i.message << "\n";
  }
}

std::string pad(std::string label, std::size_t width) {
  label.resize(std::max<std::size_t>(label.size() + 1, width), ' ');
  return label;
}

namespace {

/// Columns a code point takes on a terminal: 2 for East Asian wide letters and
/// emoji, 0 for combining marks and joiners, else 1.
std::size_t columns_of(unsigned cp) {
  if ((cp >= 0x300 && cp <= 0x36F) || cp == 0x200D || (cp >= 0xFE00 && cp <= 0xFE0F)) return 0;
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
      (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
      (cp >= 0x20000 && cp <= 0x3FFFD))
    return 2;
  return 1;
}

}  // namespace

std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size();) {
    n += columns_of(next_code_point(text, i));
  }
  return n;
}

std::string truncate_to(std::string_view text, std::size_t width) {
  if (display_width(text) <= width) return std::string(text);
  if (width == 0) return "";
  std::size_t cols = 0, i = 0;
  while (i < text.size()) {
    std::size_t next = i;
    std::size_t w = columns_of(next_code_point(text, next));
    if (cols + w > width - 1) break;  // room for the "…"
    cols += w;
    i = next;
  }
  return std::string(text.substr(0, i)) + "…";
}

std::string format_table(const Style& style, const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows, const std::vector<const char*>& colors) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) widths[c] = display_width(header[c]);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], display_width(row[c]));
  std::size_t last = header.size() - 1;
  std::size_t used = 0;
  for (std::size_t c = 0; c < last; ++c) used += widths[c] + 2;
  std::size_t last_width = style.width > used + 8 ? style.width - used : (style.width ? 8 : SIZE_MAX);

  std::string out;
  auto emit = [&](const std::vector<std::string>& row, bool is_header) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      std::string cell = c == last ? truncate_to(row[c], last_width) : row[c];
      std::size_t pad = c == last ? 0 : widths[c] - display_width(cell) + 2;
      out += is_header ? paint(style, cell, "1") : paint(style, cell, colors.size() > c ? colors[c] : nullptr);
      out.append(pad, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  };
  emit(header, true);
  for (const auto& row : rows) emit(row, false);
  return out;
}

std::string invalid_id_message(const std::string& text) {
  std::string digits = text.starts_with('#') ? text.substr(1) : text;
  if (!digits.empty() && digits.size() > 15 && digits.find_first_not_of("0123456789") == std::string::npos)
    return "invalid id '" + text + "': ids are at most " + std::to_string(kMaxStoryId);
  return "invalid id '" + text + "': ids are positive integers";
}

CLI::Validator story_id() {
  return CLI::Validator(
      [](std::string& text) {
        auto id = parse_story_id(text);
        if (!id) return invalid_id_message(text);
        text = std::to_string(*id);
        return std::string();
      },
      "ID");
}

CLI::Validator positive_number(const std::string& option, std::int64_t max) { return whole_number(option, 1, max); }

CLI::Validator whole_number(const std::string& option, std::int64_t min, std::int64_t max) {
  return CLI::Validator(
      [option, min, max](std::string& text) {
        auto n = text.find_first_not_of("0123456789") == std::string::npos ? parse_int(text) : std::nullopt;
        if (!n || *n < min || *n > max)
          return "invalid " + option + " '" + text + "': expected a whole number from " + std::to_string(min) + " to " +
                 std::to_string(max);
        return std::string();
      },
      "N");
}

std::string json_text(const nlohmann::ordered_json& value, int indent) {
  // Bytes that are not UTF-8 (a file name, a message quoting one) become U+FFFD:
  // JSON output never fails.
  return value.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void print_json(const nlohmann::ordered_json& value) {
  std::cout << json_text(value, 2) << "\n";
}

void JsonArrayPrinter::add(const nlohmann::ordered_json& element) {
  std::string text = json_text(element, 2);
  std::string out = any_ ? ",\n  " : "[\n  ";
  out.reserve(text.size() + text.size() / 8 + 8);
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  std::cout << out;
  any_ = true;
}

JsonArrayPrinter::~JsonArrayPrinter() {
  if (std::uncaught_exceptions() > exceptions_) {
    if (any_) std::cout << "\n";
    return;
  }
  std::cout << (any_ ? "\n]\n" : "[]\n");
}

}  // namespace tracker::cli
