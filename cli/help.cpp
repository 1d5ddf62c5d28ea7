#include "help.hpp"

#include "catalogue.hpp"

#include "args.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

/// Examples for each command's help and the man page: a command line, then what it does.
const std::map<std::string, std::vector<std::pair<std::string, std::string>>>& examples() {
  static const std::map<std::string, std::vector<std::pair<std::string, std::string>>> table = {
      {"init", {{"tracker init", "a board with the default stages in ./work"},
                {"tracker init --stages todo,doing,done", "a board with your own stages"},
                {"tracker init --remote origin", "claims go through the git remote origin, for many clones"}}},
      {"new", {{"tracker new \"Log in with email\" --priority 3 --label auth", "create a story in the backlog"},
               {"tracker new \"Crash on start\" --type bug --body-file notes.md", "a bug, its body from a file"},
               {"tracker new --edit --type bug", "write a bug in your editor, from a template"}}},
      {"list", {{"tracker list --stage current", "what is in progress"},
                {"tracker list --open --where agent=coder-1", "what coder-1 has that is not done"},
                {"tracker list --label auth --json", "as JSON, for scripts"}}},
      {"show", {{"tracker show 42", "one story, its fields and body"}, {"tracker show 42 --raw", "the file as it is"}}},
      {"move", {{"tracker move 42 current", "start work on #42"}, {"tracker move 42 43 qa", "two stories at once"}}},
      {"claim", {{"tracker claim --owner bot-1", "take the best ready story"},
                 {"tracker claim 42 --owner bot-1 --ttl 2h", "take #42 for two hours"},
                 {"tracker claim 42 --owner ann --force", "take #42 although it is blocked or waits on a dependency"},
                 {"TRACKER_OWNER=bot-1 tracker claim", "the owner from the environment (else git's user.email)"}}},
      {"release", {{"tracker release 42 --owner bot-1", "give #42 back to the ready queue"},
                   {"tracker release 42 --force", "end another owner's claim (recorded as Tracker-Forced-By)"}}},
      {"delete", {{"tracker delete 42", "delete #42; its id is never given out again"},
                  {"tracker delete 42 43 --force", "even a claimed story, or one others depend on"}}},
      {"sync", {{"tracker sync", "fetch the board's branch, replay this clone's commits on it, push"},
                {"tracker sync --json", "what came in, what went out, and the conflicts settled"}}},
      {"flow", {{"tracker flow", "throughput, cycle time, work in progress and age over the last 90 days"},
                {"tracker flow --since 2026-09-01 --label auth --json", "one label's figures since a date, per day too"}}},
      {"serve", {{"tracker serve --open", "the board in a browser at http://127.0.0.1:7410/"},
                 {"tracker serve --port 0", "any free port; the address is printed"}}},
      {"mcp", {{"tracker mcp --print-config", "the snippet to paste into an MCP client's configuration"},
               {"tracker mcp -C ~/src/shop", "serve that board on stdin/stdout (an MCP client starts this)"}}},
      {"merge-file", {{"tracker merge-file --install", "let git merge story files field by field in this clone"}}},
      {"board", {{"tracker board", "the open stages side by side"},
                 {"tracker board --label auth --all", "one label's stories, done ones too"}}},
      {"archive", {{"tracker archive 40 41", "move finished work out of sight"}}},
      {"completion", {{"eval \"$(tracker completion bash)\"", "in ~/.bashrc: complete commands, options, stages and ids"},
                      {"tracker completion fish > ~/.config/fish/completions/tracker.fish", "the same for fish"}}},
      {"renew", {{"tracker renew 42 --owner bot-1 --ttl 1h", "keep a claim for another hour"}}},
      {"reclaim", {{"tracker reclaim", "return stories whose claims ran out"}}},
      {"done", {{"tracker done 42 --owner bot-1", "finish #42 and end bot-1's claim"},
                {"tracker done 42 --force", "finish #42 although another owner holds it (recorded)"}}},
      {"ready", {{"tracker ready --limit 5", "the five best stories to take"}}},
      {"block", {{"tracker block 42 --reason \"waiting for the API\"", "mark #42 blocked"}}},
      {"import", {{"tracker import beads .beads/issues.jsonl --dry-run", "what an import of beads would create"},
                  {"tracker import backlog-md backlog --map Review=qa", "a Backlog.md board, its Review status in qa"},
                  {"tracker import github issues.json", "the JSON of gh issue list --json ..."}}},
      {"export", {{"tracker export --format jsonl > issues.jsonl", "the board as beads JSONL"},
                  {"tracker export --format backlog-md --out ../backlog", "as a Backlog.md directory"}}},
      {"unblock", {{"tracker unblock 42", "clear #42's block"}}},
      {"link", {{"tracker link 42 7", "#42 depends on #7"}}},
      {"unlink", {{"tracker unlink 42 7", "#42 no longer depends on #7"}}},
      {"stats", {{"tracker stats", "counts per stage, claims and blocks"}}},
      {"check", {{"tracker check", "every problem on the board, with its file and line"}}},
      {"set", {{"tracker set 42 priority=3 labels=ui,api", "change fields with one-line diffs"}}},
      {"unset", {{"tracker unset 42 agent", "remove a field"}}},
      {"edit", {{"tracker edit 42", "open #42 in $VISUAL or $EDITOR; saved only when valid"}}},
      {"commit", {{"tracker commit -m \"Plan the sprint\"", "commit the stories you changed by hand"}}},
      {"renumber", {{"tracker renumber 43 --path work/1_backlog/43_story_x.md", "fix a duplicate id"}}},
      {"diff", {{"tracker diff", "what changed on the board since HEAD"},
                {"tracker diff main...HEAD --format markdown", "a summary for a pull request"}}},
      {"log", {{"tracker log 42", "the history of #42"}, {"tracker log --limit 20", "the last 20 transitions"}}},
      {"search", {{"tracker search login -oauth", "stories about login, not oauth"},
                  {"tracker search '\"dark mode\"' --stage backlog", "a phrase in one stage"}}},
      {"doctor", {{"tracker doctor", "find and repair what a crash left"}}},
      {"index", {{"tracker index status", "the index's size and state"}, {"tracker index rebuild", "build it again"}}},
      {"help", {{"tracker help move", "the help of one command"}}},
  };
  return table;
}

const char* kGlobalOptions =
    "Global options (any command): -C <dir>, --json, --no-commit, --no-verify, --no-pager, --color auto|always|never";

const CLI::App* find_command(const CLI::App& app, const std::vector<std::string>& path) {
  const CLI::App* at = &app;
  for (const auto& word : path)
    if (!(at = find_subcommand(*at, word))) return nullptr;
  return at;
}

std::string roff_escape(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

/// An option as the man page names it: its spellings and the word of its value.
std::string option_synopsis(const CLI::Option& o) {
  std::string names = join(option_spellings(o), ", ");
  if (o.get_expected_max() > 0 && o.get_type_size() > 0) names += " " + value_word(o);
  return names;
}

void man_command(std::ostringstream& out, const CLI::App& cmd, const std::string& prefix) {
  auto subs = subcommands(cmd);
  std::string name = prefix + cmd.get_name();
  out << ".SS " << roff_escape(name) << "\n" << roff_escape(cmd.get_description()) << "\n";
  std::string usage = "tracker " + name;
  for (const CLI::Option* o : cmd.get_options())
    if (o->get_positional() && !o->nonpositional())
      usage += o->get_required() ? " <" + o->get_name() + ">" : " [<" + o->get_name() + ">]";
  if (subs.empty()) out << ".PP\n.B " << roff_escape(usage) << "\n";
  for (const CLI::Option* o : cmd.get_options()) {
    if (!o->nonpositional() || o->get_lnames() == std::vector<std::string>{"help"}) continue;
    out << ".TP\n.B " << roff_escape(option_synopsis(*o)) << "\n" << roff_escape(o->get_description()) << "\n";
  }
  if (auto it = examples().find(name); it != examples().end()) {
    out << ".PP\nExamples:\n";
    for (const auto& [line, what] : it->second)
      out << ".RS\n.nf\n" << roff_escape(line) << "\n.fi\n" << roff_escape(what) << "\n.RE\n";
  }
  for (const CLI::App* s : subs) man_command(out, *s, name + " ");
}

/// CLI11's help with words for values (see use_words()).
class WordsFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    if (opt->get_type_size() == 0 || opt->get_expected_max() == 0) return "";  // a flag
    bool several = opt->get_expected_max() == CLI::detail::expected_max_vector_size;
    if (!opt->nonpositional()) return several ? " ..." : "";
    return " " + value_word(*opt) + (several ? " ..." : "");
  }

  /// tracker's commands by group, in an order that reads from daily use to set-up;
  /// a command with subcommands (index) lists them as CLI11 does.
  std::string make_subcommands(const CLI::App* app, CLI::AppFormatMode mode) const override;

  std::string make_option_desc(const CLI::Option* opt) const override {
    std::string desc = opt->get_description();
    if (!opt->get_default_str().empty() && desc.find("default") == std::string::npos)
      desc += " (default: " + opt->get_default_str() + ")";
    return desc;
  }
};

/// Which group a command is listed under in tracker's --help, in this order.
const std::vector<std::pair<std::string, std::vector<std::string>>>& command_groups() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> groups = {
      {"Stories", {"new", "list", "show", "board", "tree", "search", "ready", "stats", "move", "set", "unset", "edit", "block",
                   "unblock", "link", "unlink", "archive", "delete"}},
      {"Claims", {"claim", "renew", "release", "done", "reclaim"}},
      {"History", {"log", "diff", "flow"}},
      {"The board and its repository", {"init", "commit", "sync", "check", "doctor", "renumber", "index", "merge-file",
                                        "import", "export"}},
      {"Other doors", {"serve", "mcp", "completion", "help"}},
  };
  return groups;
}

std::string WordsFormatter::make_subcommands(const CLI::App* app, CLI::AppFormatMode mode) const {
  if (app->get_parent() || mode == CLI::AppFormatMode::All) return CLI::Formatter::make_subcommands(app, mode);
  std::string out;
  std::set<const CLI::App*> listed;
  for (const auto& [group, names] : command_groups()) {
    out += "\n" + group + ":\n";
    for (const auto& name : names)
      if (const CLI::App* sub = find_subcommand(*app, name)) {
        out += make_subcommand(sub);
        listed.insert(sub);
      }
  }
  std::string rest;
  for (const CLI::App* sub : subcommands(*app))
    if (!listed.count(sub)) rest += make_subcommand(sub);
  if (!rest.empty()) out += "\nMore:\n" + rest;
  return out;
}

}  // namespace

std::string value_word(const CLI::Option& option) {
  if (auto word = catalogue::word_of(option)) return *word;  // an operation's parameter
  // The options outside the catalogue: the global -C and the watcher's --idle.
  static const std::map<std::string, std::string> words = {{"C", "DIR"}, {"idle", "DURATION"}};
  // Choices are shown as they are: CLI11 describes an IsMember check as "{a,b,c}".
  std::string type = option.get_type_name();
  if (auto open = type.find(":{"); open != std::string::npos && type.ends_with("}")) {
    std::string choices = type.substr(open + 2, type.size() - open - 3);
    std::replace(choices.begin(), choices.end(), ',', '|');
    return choices;
  }
  std::string name = option.get_lnames().empty() ? (option.get_snames().empty() ? option.get_name()
                                                                                 : option.get_snames().front())
                                                 : option.get_lnames().front();
  if (auto it = words.find(name); it != words.end()) return it->second;
  std::string upper;
  for (char c : name) upper += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper;
}

void use_words(CLI::App& app) {
  app.formatter(std::make_shared<WordsFormatter>());
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) use_words(*sub);
}

void add_help_text(CLI::App& app) {
  use_words(app);
  app.footer(std::string("\n") + kGlobalOptions +
             "\nRun 'tracker help <command>' for a command's options and examples; docs/cli.md has the full reference.");
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    std::string text;
    if (auto it = examples().find(sub->get_name()); it != examples().end()) {
      text += "\nExamples:\n";
      for (const auto& [line, what] : it->second) text += "  " + line + "\n      " + what + "\n";
    }
    text += "\n" + std::string(kGlobalOptions);
    sub->footer(text);
  }
}

std::string help_for(const CLI::App& app, const std::vector<std::string>& path) {
  const CLI::App* cmd = find_command(app, path);
  if (!cmd) return {};
  std::string prefix = "tracker";
  for (std::size_t i = 0; i + 1 < path.size(); ++i) prefix += " " + path[i];
  return path.empty() ? app.help() : cmd->help(prefix);
}

namespace {

nlohmann::ordered_json command_json(const CLI::App& cmd, const std::string& prefix) {
  using Json = nlohmann::ordered_json;
  std::string name = prefix.empty() ? cmd.get_name() : prefix + " " + cmd.get_name();
  Json options = Json::array();
  for (const CLI::Option* o : cmd.get_options()) {
    Json names = o->nonpositional() ? Json(option_spellings(*o)) : Json::array({o->get_name()});
    Json j = {{"names", names}, {"description", o->get_description()}};
    if (o->get_expected_max() > 0 && o->get_type_size() > 0) j["takes"] = value_word(*o);
    if (o->get_required()) j["required"] = true;
    if (!o->nonpositional()) j["positional"] = true;
    options.push_back(std::move(j));
  }
  Json out = {{"name", name}, {"description", cmd.get_description()}, {"options", options}};
  const auto& ops = catalogue::operations();
  if (std::any_of(ops.begin(), ops.end(), [&](const auto& op) { return op.name == cmd.get_name() && prefix.empty(); }))
    out["operation"] = cmd.get_name();
  Json subs = Json::array();
  for (const CLI::App* sub : subcommands(cmd)) subs.push_back(command_json(*sub, name));
  if (!subs.empty()) out["commands"] = subs;
  return out;
}

}  // namespace

std::optional<nlohmann::ordered_json> help_json(const CLI::App& app, const std::vector<std::string>& path) {
  using Json = nlohmann::ordered_json;
  if (!path.empty()) {
    const CLI::App* cmd = find_command(app, path);
    if (!cmd) return std::nullopt;
    std::string prefix;
    for (std::size_t i = 0; i + 1 < path.size(); ++i) prefix += (prefix.empty() ? "" : " ") + path[i];
    Json out = command_json(*cmd, prefix);
    if (path.size() == 1) {
      Json all = catalogue::to_json();  // named: a range-for over a temporary's member reads freed memory
      for (const auto& op : all["operations"])
        if (op["name"] == cmd->get_name()) out["operation"] = op;
    }
    return out;
  }
  Json commands = Json::array();
  for (const CLI::App* sub : subcommands(app)) commands.push_back(command_json(*sub, ""));
  Json out = catalogue::to_json();
  out["commands"] = commands;
  return out;
}

std::string man_page(const CLI::App& app) {
  std::ostringstream out;
  out << ".\\\" Generated by 'tracker help --man' from the same text as --help; do not edit.\n"
      << ".TH TRACKER 1 \"\" \"tracker\" \"User Commands\"\n"
      << ".SH NAME\ntracker \\- a file-backed, git-friendly work tracker\n"
      << ".SH SYNOPSIS\n.B tracker\n[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIarguments\\fR]\n"
      << ".SH DESCRIPTION\nStories are markdown files with YAML front matter, kept in stage directories "
         "(work/1_backlog, work/2_current, ...) under git. Every transition is a git commit; a SQLite index "
         "answers queries; lock files make claims atomic.\n"
      << ".SH GLOBAL OPTIONS\n";
  for (const CLI::Option* o : app.get_options()) {
    if (!o->nonpositional()) continue;
    out << ".TP\n.B " << roff_escape(option_synopsis(*o)) << "\n" << roff_escape(o->get_description()) << "\n";
  }
  out << ".SH COMMANDS\n";
  for (const CLI::App* s : subcommands(app))
    man_command(out, *s, "");
  out << ".SH EXIT STATUS\n"
         ".TP\n0\nsuccess\n.TP\n1\nan error of the system (a file, git)\n.TP\n2\nbad usage\n"
         ".TP\n3\na conflict: locked, claimed, or changed meanwhile\n.TP\n4\nno such story\n"
         ".TP\n5\ninvalid data: a story or a change that breaks a rule\n.TP\n6\nnothing to give: claim found no ready story, commit no change "
         "(a command whose goal already holds succeeds)\n.TP\n7\nthe remote of the config could not be reached\n"
      << ".SH ENVIRONMENT\n"
         ".TP\n.B TRACKER_OWNER\nwho a command acts as when it has no --owner (else git's user.email): only the "
         "holder of a claim ends it\n"
         ".TP\n.B TRACKER_DIR\nthe board tracker mcp serves when it is given no -C\n"
         ".TP\n.B VISUAL\\fR, \\fBEDITOR\nthe editor of edit and new --edit (else vi)\n"
         ".TP\n.B TRACKER_PAGER\\fR, \\fBPAGER\nthe pager of long output on a terminal (else less)\n"
         ".TP\n.B NO_COLOR\nno colour with --color auto\n"
         ".TP\n.B COLUMNS\nthe terminal's width, when it cannot be asked (board, list and search fit it)\n"
         ".TP\n.B TRACKER_WATCH\n1 makes a command use the index watcher as index.watch: true does\n"
         ".TP\n.B TRACKER_TRACE\n1 prints the time each phase of a command took, on stderr\n"
         ".TP\n.B GIT_DIR\\fR, \\fBGIT_WORK_TREE\\fR, \\fBGIT_CEILING_DIRECTORIES\\fR, \\fBGIT_INDEX_FILE\nas for git: with "
         "GIT_DIR and GIT_WORK_TREE set, the board of that work tree from any directory\n"
      << ".SH FILES\n.TP\n.I .tracker/config.yml\nthe board's stages, types and settings\n"
         ".TP\n.I <git-dir>/tracker/\nthe index, locks and claims of this clone\n"
      << ".SH SEE ALSO\n.BR git (1)\n";
  return out.str();
}

}  // namespace tracker::cli
