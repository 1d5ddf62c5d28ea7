// Shell completion: `tracker completion bash|zsh|fish` prints a script that asks
// `tracker __complete <words>` for the candidates of the word being typed.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace tracker::cli {

/// The completion script for `shell` (bash, zsh or fish); UsageError for another.
std::string completion_script(const std::string& shell);

/// The candidates for the last of `words` (the words after `tracker`, the last one
/// being typed, maybe empty), one per line: commands, options, stage names, types,
/// labels, and story ids, each id followed by a tab and its name. Never fails: a
/// board that cannot be read gives no ids.
std::string complete(const CLI::App& app, const std::vector<std::string>& words);

}  // namespace tracker::cli
