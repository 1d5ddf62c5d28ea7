// Help beyond CLI11's option lists: examples and the global options under every
// command, `tracker help [command]`, and the man page, all from the one CLI::App.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace tracker::cli {

/// Puts each command's examples and the global options in its --help.
void add_help_text(CLI::App& app);

/// The --help text of the command at `path` ({} for tracker itself, {"index", "status"}).
std::string help_for(const CLI::App& app, const std::vector<std::string>& path);

/// The man page (roff), from the same descriptions, options and examples as --help.
std::string man_page(const CLI::App& app);

}  // namespace tracker::cli
