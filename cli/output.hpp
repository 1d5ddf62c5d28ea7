// What every command shares: global options, opening the workspace, colour, tables, JSON.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <exception>
#include <string>
#include <vector>

#include <tracker/tracker.hpp>

namespace tracker::cli {

/// Options every command takes (CLI.md "Global options").
struct GlobalOptions {
  std::string dir;  ///< -C
  bool json = false;
  bool no_commit = false;
  bool no_verify = false;  ///< skip the pre-commit and commit-msg hooks
  std::string color = "auto";
  bool no_pager = false;
  bool offline = false;  ///< claims on this machine's lockfiles only, even with a remote
  std::string owner;     ///< --owner of the command: who it acts as (default TRACKER_OWNER, git's user.email)
  bool force = false;    ///< --force of a command that may end another's claim
};

/// The --force of the command that ran.
inline Force force_of(const GlobalOptions& g) { return g.force ? Force::yes : Force::no; }

/// A registered subcommand and the function that runs it after parsing.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

/// "invalid id 'x': ids are positive integers" (with the largest id when x is too long).
std::string invalid_id_message(const std::string& text);

/// Checks a story id argument (`7` or `#7`, see parse_story_id) and strips its `#`:
/// `->transform(story_id())` on an integer option.
CLI::Validator story_id();

/// Checks a count (--limit, --pid): decimal digits, from 1 to `max`.
CLI::Validator positive_number(const std::string& option, std::int64_t max = kMaxLimit);

/// Checks a whole number from `min` (0 or more) to `max`, in decimal digits.
CLI::Validator whole_number(const std::string& option, std::int64_t min, std::int64_t max);

/// `value` as JSON text; invalid UTF-8 in strings is replaced, never thrown on.
std::string json_text(const nlohmann::ordered_json& value, int indent = -1);

/// --no-commit and --no-verify as the library takes them.
CommitOptions commit_options(const GlobalOptions& g);

/// Prints a warning on stderr: "tracker: warning: ..." or, with --json, a JSON line.
void print_warning(const GlobalOptions& g, const std::string& message);

/// A problem that stops a command, on stderr: "tracker: path:line: message", or
/// under --json a line {"problem", "path", "line", "kind"}.
void report_problem(const Problem& p, const GlobalOptions& g);

/// Closes a Tracker the command layer opened: when its refreshes found no watcher
/// although index.watch asks for one, one is started for the next command (as git
/// starts its fsmonitor daemon for core.fsmonitor).
struct CloseTracker {
  void operator()(Tracker* tracker) const;
};
using TrackerHandle = std::unique_ptr<Tracker, CloseTracker>;

/// Whether a long action draws a progress line on a terminal's stderr: a command
/// does; a server, whose requests run on several threads at once, does not.
enum class TerminalProgressLine { when_a_terminal, never };

/// Finds the workspace (from -C or the current directory) and opens it. Warnings
/// are printed as they happen (print_warning).
TrackerHandle open_tracker(const GlobalOptions& g,
                           TerminalProgressLine progress = TerminalProgressLine::when_a_terminal);

/// Where output goes and how it looks.
struct Style {
  bool color = false;
  std::size_t width = 0;  ///< terminal width; 0 when stdout is not a terminal
};
Style make_style(const GlobalOptions& g);

/// Wraps `text` in an ANSI colour when colour is on.
std::string paint(const Style& style, const std::string& text, const char* sgr);

/// The CLI.md JSON shape of a story's change in `diff` (and `commit`).
nlohmann::ordered_json story_diff_json(const StoryDiff& d);

/// A story's priority for a table: empty when it has none.
inline std::string priority_text(const Story& s) {
  return s.priority ? std::to_string(*s.priority) : std::string();
}

/// A duration as people read it: "3d 4h", "2h 5m", "12m", "40s".
std::string human_age(std::int64_t seconds);

/// A JSON string, or null when `text` is empty.
nlohmann::ordered_json string_or_null(const std::string& text);

/// The CLI.md JSON shape of a story; `body` only for show; `claim` is null when the
/// story has no claim that holds.
nlohmann::ordered_json story_json(const Story& story, bool with_body, const Claim* claim = nullptr);

/// A parent's progress as JSON, {"done": 3, "total": 5}; null when it has no children.
nlohmann::ordered_json progress_json(const ChildProgress& p);

/// "3/5 done"; empty when it has no children.
std::string progress_text(const ChildProgress& p);
/// "1/2": a board card's shorter form of the same ("" without children).
std::string progress_fraction(const ChildProgress& p);

/// story_json for each story, with its claim from `claims`.
nlohmann::ordered_json stories_json(const std::vector<Story>& stories, const std::map<std::int64_t, Claim>& claims);

/// Prints malformed stories and wrongly typed values to stderr as "path:line: message".
/// With --json, as JSON lines: {"warning", "path", "line"}.
void report_issues(const std::vector<StoryIssue>& issues, const GlobalOptions& g);

/// `label` padded with spaces to `width` columns (and at least one space after it).
std::string pad(std::string label, std::size_t width);

/// Display width of UTF-8 text on a terminal (East Asian wide letters and emoji
/// take two columns, combining marks none).
std::size_t display_width(std::string_view text);

/// Cuts UTF-8 text to `width` columns, ending in "…" when cut.
std::string truncate_to(std::string_view text, std::size_t width);

/// Formats an aligned table whose last column is cut to fit the terminal width.
/// `colors[i]` is the SGR code of column i (or nullptr).
std::string format_table(const Style& style, const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows, const std::vector<const char*>& colors);

/// Prints JSON on stdout.
void print_json(const nlohmann::ordered_json& value);

/// Prints a JSON array on stdout one element at a time, exactly as print_json
/// would print the whole array, without holding it in memory.
class JsonArrayPrinter {
 public:
  JsonArrayPrinter() = default;
  JsonArrayPrinter(const JsonArrayPrinter&) = delete;
  JsonArrayPrinter& operator=(const JsonArrayPrinter&) = delete;
  ~JsonArrayPrinter();
  void add(const nlohmann::ordered_json& element);

 private:
  bool any_ = false;
  /// An error that ends the listing prints no `[]` (nothing for a script to take
  /// as an answer) and leaves a started array unclosed: the exit code tells.
  int exceptions_ = std::uncaught_exceptions();
};

Command register_init(CLI::App& app, GlobalOptions& g);
Command register_new(CLI::App& app, GlobalOptions& g);
Command register_list(CLI::App& app, GlobalOptions& g);
Command register_show(CLI::App& app, GlobalOptions& g);
Command register_move(CLI::App& app, GlobalOptions& g);
Command register_delete(CLI::App& app, GlobalOptions& g);

/// What move and archive print: "moved #42 backlog -> current" (`verb`), the
/// stories already in `stage`, the claims ended; or the JSON object.
int print_move_result(const MoveResult& r, const std::string& stage, const std::string& verb, const GlobalOptions& g);
Command register_board(CLI::App& app, GlobalOptions& g);
Command register_merge_file(CLI::App& app, GlobalOptions& g);
Command register_sync(CLI::App& app, GlobalOptions& g);
Command register_mcp(CLI::App& app, GlobalOptions& g);
Command register_flow(CLI::App& app, GlobalOptions& g);
Command register_serve(CLI::App& app, GlobalOptions& g);
Command register_archive(CLI::App& app, GlobalOptions& g);
Command register_index(CLI::App& app, GlobalOptions& g);
Command register_claim(CLI::App& app, GlobalOptions& g);
Command register_release(CLI::App& app, GlobalOptions& g);
Command register_ready(CLI::App& app, GlobalOptions& g);
Command register_renew(CLI::App& app, GlobalOptions& g);
Command register_reclaim(CLI::App& app, GlobalOptions& g);
Command register_done(CLI::App& app, GlobalOptions& g);
Command register_block(CLI::App& app, GlobalOptions& g);
Command register_unblock(CLI::App& app, GlobalOptions& g);
Command register_link(CLI::App& app, GlobalOptions& g);
Command register_unlink(CLI::App& app, GlobalOptions& g);
Command register_check(CLI::App& app, GlobalOptions& g);
Command register_set(CLI::App& app, GlobalOptions& g);
Command register_unset(CLI::App& app, GlobalOptions& g);
Command register_edit(CLI::App& app, GlobalOptions& g);
Command register_commit(CLI::App& app, GlobalOptions& g);
Command register_renumber(CLI::App& app, GlobalOptions& g);
Command register_diff(CLI::App& app, GlobalOptions& g);
Command register_log(CLI::App& app, GlobalOptions& g);
Command register_search(CLI::App& app, GlobalOptions& g);
Command register_stats(CLI::App& app, GlobalOptions& g);
Command register_tree(CLI::App& app, GlobalOptions& g);
Command register_import(CLI::App& app, GlobalOptions& g);
Command register_export(CLI::App& app, GlobalOptions& g);
Command register_doctor(CLI::App& app, GlobalOptions& g);

}  // namespace tracker::cli
