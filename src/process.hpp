// Running another program (git hooks, gpg, ssh-keygen, the git executable) and
// collecting what it wrote.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracker {

/// What to run and how.
struct ProgramRun {
  std::vector<std::string> argv;  ///< argv[0] is looked up in PATH unless it holds a '/'
  std::filesystem::path cwd;      ///< empty: this process's
  /// Set (value) or removed (nullopt) on top of this process's environment.
  std::map<std::string, std::optional<std::string>> env;
  std::string input;  ///< written to its stdin, which is then closed
  /// Where its stdout goes: captured, or onto our stderr (hooks: our stdout may be JSON).
  enum class Stdout { capture, to_stderr } out = Stdout::capture;
  bool capture_stderr = false;  ///< else its stderr is ours
  /// When given: at this time the program is killed (SIGKILL) and its output no
  /// longer read; ProgramResult::timed_out says so. A program it started that
  /// holds the pipes open is not waited for.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// How it ended.
struct ProgramResult {
  int status = -1;  ///< exit status; 128 + signal when killed
  std::string out;  ///< stdout, when captured
  std::string err;  ///< stderr, when captured
  bool timed_out = false;  ///< killed at ProgramRun::deadline
};

/// Runs the program to its end. Throws IoError when it cannot be started at all
/// (not found, not executable); `what` names it in the message.
ProgramResult run_program(const ProgramRun& run, const std::string& what);

/// Runs the git executable: `git <args>` in `cwd` with `input` on its stdin, its
/// stdout and stderr captured, and never a prompt for a password (a credential
/// helper or an ssh agent answers, or the command fails). `env` is set on top.
/// Throws IoError when there is no `git` on PATH; `no_git` is then its message when given.
ProgramResult run_git(const std::filesystem::path& cwd, const std::vector<std::string>& args,
                      const std::string& input = {},
                      const std::map<std::string, std::optional<std::string>>& env = {},
                      const std::string& no_git = {},
                      std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

/// `text` quoted for a POSIX shell, for messages that tell the user a command to run.
std::string shell_quote(const std::string& text);

}  // namespace tracker
