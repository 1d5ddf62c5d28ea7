// tracker: parse the command line, run one command, map errors to exit codes.
#include "args.hpp"
#include "completion.hpp"
#include "help.hpp"
#include "output.hpp"
#include "pager.hpp"

#include <algorithm>
#include <iostream>
#include <optional>
#include <set>
#include <tracker/util.hpp>

using namespace tracker;
using namespace tracker::cli;

namespace {

/// The command a command line names: its first word that is neither an option nor
/// the value of a global option (-C <dir>, --color <when>); none before `--`.
std::optional<std::string> command_word(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") return std::nullopt;
    if (a == "-C" || a == "--color") {
      ++i;
      continue;
    }
    if (!a.starts_with("-")) return a;
  }
  return std::nullopt;
}

void print_error(bool json, ExitCode code, const std::string& message) {
  if (json)
    std::cerr << json_text(nlohmann::ordered_json{{"error", message}, {"code", static_cast<int>(code)}}) << "\n";
  else
    std::cerr << "tracker: " << message << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--json") json = true;

  CLI::App app{"tracker: a file-backed, git-friendly work tracker"};
  app.name("tracker");
  app.set_version_flag("--version", "tracker 0.1.0");
  GlobalOptions g;
  app.add_option("-C", g.dir, "Run as if started in <dir>");
  app.add_flag("--json", g.json, "Machine-readable output");
  app.add_flag("--no-commit", g.no_commit, "Change the files but make no git commit");
  app.add_flag("--no-verify", g.no_verify, "Skip the pre-commit and commit-msg hooks");
  app.add_flag("--no-pager", g.no_pager, "Never pipe log, list, diff, show or board into a pager");
  app.add_flag("--offline", g.offline,
               "With a remote in the config: claim on this machine alone (other clones do not see it)");
  app.add_option("--color", g.color, "auto, always or never")->check(CLI::IsMember({"auto", "always", "never"}));
  app.require_subcommand(1);
  app.fallthrough();

  // Every command, and the names it answers to. Building a command's parser costs
  // more than running `tracker --version`: a command line that names one builds
  // only that one (the help, completion and a misspelt command build them all).
  struct Entry {
    std::vector<std::string_view> names;
    Command (*make)(CLI::App&, GlobalOptions&);
  };
  static const Entry kCommands[] = {
      {{"init"}, register_init},          {{"new"}, register_new},         {{"list", "ls"}, register_list},
      {{"show"}, register_show},          {{"move", "mv"}, register_move}, {{"index"}, register_index},
      {{"claim"}, register_claim},        {{"release"}, register_release}, {{"ready"}, register_ready},
      {{"renew"}, register_renew},        {{"reclaim"}, register_reclaim}, {{"done"}, register_done},
      {{"block"}, register_block},        {{"unblock"}, register_unblock}, {{"link"}, register_link},
      {{"unlink"}, register_unlink},      {{"stats"}, register_stats},     {{"check"}, register_check},
      {{"set"}, register_set},            {{"unset"}, register_unset},     {{"edit"}, register_edit},
      {{"commit"}, register_commit},      {{"renumber"}, register_renumber}, {{"diff"}, register_diff},
      {{"log"}, register_log},            {{"search"}, register_search},   {{"doctor"}, register_doctor},
      {{"delete", "rm"}, register_delete}, {{"archive"}, register_archive}, {{"board"}, register_board},
      {{"merge-file"}, register_merge_file}, {{"sync"}, register_sync},    {{"mcp"}, register_mcp},
      {{"flow"}, register_flow},          {{"serve"}, register_serve},     {{"tree"}, register_tree},
      {{"import"}, register_import},      {{"export"}, register_export},
  };
  std::vector<std::string> raw(argv + 1, argv + argc);
  std::optional<std::string> named = command_word(raw);
  const Entry* only = nullptr;
  for (const Entry& e : kCommands)
    if (named && std::find(e.names.begin(), e.names.end(), *named) != e.names.end()) only = &e;
  // --version wins over everything else on the line (CLI11 checks it first).
  bool version_only = !named && std::find(raw.begin(), raw.end(), "--version") != raw.end();
  std::vector<Command> commands;
  if (only)
    commands.push_back(only->make(app, g));
  else if (!version_only)
    for (const Entry& e : kCommands) commands.push_back(e.make(app, g));

  // `tracker help [command...]` and `tracker help --man`.
  std::vector<std::string> help_topic;
  bool man = false;
  CLI::App* help = app.add_subcommand("help", "Show the help of tracker or of one command");
  help->add_option("command", help_topic, "A command, e.g. 'move' or 'index status'");
  help->add_flag("--man", man, "Print the man page (roff), generated from the same text");
  std::string shell;
  CLI::App* completion = app.add_subcommand("completion", "Print a shell completion script: bash, zsh or fish");
  completion->add_option("shell", shell, "bash, zsh or fish")->required()->check(CLI::IsMember({"bash", "zsh", "fish"}));
  add_help_text(app);

  if (!raw.empty() && raw.front() == "__complete") {  // asked by the completion scripts
    std::cout << complete(app, std::vector<std::string>(raw.begin() + 1, raw.end()));
    return 0;
  }
  Vetted vetted = vet_arguments(app, raw, {"search"});
  if (vetted.error) {
    print_error(json, ExitCode::usage, *vetted.error);
    return static_cast<int>(ExitCode::usage);
  }
  bool asks_help = std::any_of(raw.begin(), raw.end(), [](const std::string& a) {
    return a == "-h" || a == "--help" || a == "--version";
  });
  if (vetted.needs_command && !asks_help) {
    // Bare `tracker` (or `tracker index`): the usage, as git prints it.
    std::cout << help_for(app, vetted.path);
    return static_cast<int>(ExitCode::usage);
  }
  std::vector<std::string> reversed(vetted.args.rbegin(), vetted.args.rend());

  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Our validators' messages stand alone ("invalid id '0': ..."); CLI11 puts the
    // option's name in front of them.
    std::string message = e.what();
    if (auto at = message.find(": invalid "); at != std::string::npos && e.get_name() == "ValidationError")
      message.erase(0, at + 2);
    print_error(json, ExitCode::usage, message);
    return static_cast<int>(ExitCode::usage);
  }

  trace("arguments parsed");
  if (completion->parsed()) {
    std::cout << completion_script(shell);
    return 0;
  }
  if (help->parsed()) {
    if (man) {
      std::cout << man_page(app);
      return 0;
    }
    if (g.json) {
      auto described = help_json(app, help_topic);
      if (!described) {
        print_error(json, ExitCode::usage, "no command 'tracker " + join(help_topic, " ") + "'; see 'tracker help'");
        return static_cast<int>(ExitCode::usage);
      }
      print_json(*described);
      return 0;
    }
    std::string text = help_for(app, help_topic);
    if (text.empty()) {
      print_error(json, ExitCode::usage, "no command 'tracker " + join(help_topic, " ") + "'; see 'tracker help'");
      return static_cast<int>(ExitCode::usage);
    }
    std::cout << text;
    return 0;
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) {
        static const std::set<std::string> paged = {"log", "list", "diff", "show", "board"};
        Pager pager(g.no_pager || g.json || !paged.count(c.app->get_name()));
        int code = c.run();
        trace("done");
        return code;
      }
    return static_cast<int>(ExitCode::usage);
  } catch (const tracker::Error& e) {
    print_error(g.json, e.code(), for_door(e.what(), Door::cli));
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    print_error(g.json, ExitCode::error, for_door(e.what(), Door::cli));
    return static_cast<int>(ExitCode::error);
  } catch (...) {
    // Nothing may reach std::terminate: whatever was thrown, the command fails cleanly.
    print_error(g.json, ExitCode::error, "internal error: an unknown exception");
    return static_cast<int>(ExitCode::error);
  }
}
