// Help beyond CLI11's option lists: examples and the global options under every
// command, `tracker help [command]`, and the man page, all from the one CLI::App.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace tracker::cli {

/// Puts each command's examples and the global options in its --help, sorts the
/// commands into groups, and has every option's value shown as a word (see
/// use_words()).
void add_help_text(CLI::App& app);

/// Has the --help of `app` and its subcommands show what an option takes as a word
/// (`--owner NAME`, `--ttl DURATION`, `--color auto|always|never`), a default as
/// "(default: 7410)" after the description, and nothing after a positional but
/// "..." when it takes several: never CLI11's types (`INT:INT in [0 - 65535]`).
void use_words(CLI::App& app);

/// The word of an option's value in help and the man page: NAME, DURATION, ...
std::string value_word(const CLI::Option& option);

/// The --help text of the command at `path` ({} for tracker itself, {"index", "status"}).
std::string help_for(const CLI::App& app, const std::vector<std::string>& path);

/// What `tracker help --json` prints: the catalogue's operations (every door's
/// parameters, who each acts as, its result's schema) and every CLI command with its
/// options; for `path`, that command alone. Nothing when there is no such command.
std::optional<nlohmann::ordered_json> help_json(const CLI::App& app, const std::vector<std::string>& path);

/// The man page (roff), from the same descriptions, options and examples as --help.
std::string man_page(const CLI::App& app);

}  // namespace tracker::cli
