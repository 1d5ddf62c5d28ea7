// Vetting a command line before CLI11 parses it: unknown commands and options are
// named with a suggestion, and free words that start with '-' stay words.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tracker::cli {

/// The subcommands of `app` (CLI11 lists them only through a non-const call).
std::vector<const CLI::App*> subcommands(const CLI::App& app);

/// The subcommand of `app` called `name` (or one of its aliases), or null.
const CLI::App* find_subcommand(const CLI::App& app, const std::string& name);

/// How an option is written: {"-h", "--help"}, short names first.
std::vector<std::string> option_spellings(const CLI::Option& option);

/// What vet_arguments found.
struct Vetted {
  std::vector<std::string> args;      ///< the arguments to parse (argv without argv[0])
  std::vector<std::string> path;      ///< the command and its subcommands, e.g. {"index", "status"}
  std::optional<std::string> error;   ///< a usage error, named with a suggestion
  bool needs_command = false;         ///< `app` or a command with subcommands was given none
};

/// Checks `args` against the commands and options `app` knows (global options may
/// come anywhere). For a command in `free_words` (search), a word that starts with
/// '-' and is not one of its options is part of its positional text: the words are
/// moved behind `--` in their order, so `search login -oauth` searches for both.
Vetted vet_arguments(const CLI::App& app, const std::vector<std::string>& args,
                     const std::set<std::string>& free_words);

}  // namespace tracker::cli
