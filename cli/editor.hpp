// Running the user's editor on a file, without a shell.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tracker::cli {

/// Splits an editor command into words the way a shell would for simple cases:
/// blanks separate words, '...' and "..." quote, a backslash escapes the next
/// character. Throws UsageError on an unterminated quote or an empty command.
std::vector<std::string> split_command(std::string_view command);

/// $VISUAL, else $EDITOR, else "vi".
std::string editor_command();

/// Runs the editor on `file` and waits for it. Returns its exit status (128 + the
/// signal number when it was killed). Throws IoError when it cannot be started.
int run_editor(const std::string& command, const std::filesystem::path& file);

}  // namespace tracker::cli
