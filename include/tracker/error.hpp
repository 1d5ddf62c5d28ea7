// Error hierarchy. The library throws; only main() turns an error into an exit code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// Exit codes from the command-line contract (CLI.md).
enum class ExitCode : int {
  ok = 0,
  error = 1,
  usage = 2,
  conflict = 3,
  not_found = 4,
  invalid_data = 5,
  nothing_to_do = 6,
  remote_unavailable = 7,  ///< the shared git remote could not be reached
};

/// Base of every error the library throws. Carries the exit code it maps to.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

/// I/O, git or internal failure (exit 1).
class IoError : public Error {
 public:
  explicit IoError(const std::string& message) : Error(ExitCode::error, message) {}
};

/// Bad arguments, unknown stage/type/key (exit 2).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ExitCode::usage, message) {}
};

/// A lock or claim held by someone else (exit 3).
class ConflictError : public Error {
 public:
  explicit ConflictError(const std::string& message) : Error(ExitCode::conflict, message) {}
};

/// No story with that id (exit 4).
class NotFoundError : public Error {
 public:
  explicit NotFoundError(const std::string& message) : Error(ExitCode::not_found, message) {}
};

/// Malformed data: front matter, config (exit 5). `where` is "path:line" when known.
class InvalidDataError : public Error {
 public:
  explicit InvalidDataError(const std::string& message) : Error(ExitCode::invalid_data, message) {}
};

/// Nothing to do, e.g. no ready story to claim (exit 6).
class NothingToDoError : public Error {
 public:
  explicit NothingToDoError(const std::string& message) : Error(ExitCode::nothing_to_do, message) {}
};

/// The shared git remote (`remote:` in the config) could not be reached within
/// remote.timeout: nothing was changed.
class RemoteUnavailableError : public Error {
 public:
  explicit RemoteUnavailableError(const std::string& message) : Error(ExitCode::remote_unavailable, message) {}
};

/// The doors a message is read through. A message that tells the caller what to do
/// names parameters and operations with param_ref() and op_ref(); each door spells
/// them in its own syntax (for_door()), so an MCP agent is never told a command line.
enum class Door { cli, mcp, web };

/// A parameter, named in a message: `--force` at the command line, `force` in a
/// JSON call. With `value`, as given with it: `--ttl 2h` / `ttl: "2h"`; a value of
/// "true" is a flag's: `--force` / `force: true`.
std::string param_ref(std::string_view name, std::string_view value = {});

/// An operation with its arguments (parameter, value), named in a message:
/// `'tracker unblock 22'` at the command line, `unblock with id: 22` in a JSON call.
/// Arguments are given in the command line's positional order.
std::string op_ref(std::string_view operation, const std::vector<std::pair<std::string, std::string>>& args = {});

/// `message` with every param_ref() and op_ref() in it spelled for `door`.
std::string for_door(std::string_view message, Door door);

/// Throws IoError with `context: strerror(errno)`.
[[noreturn]] void throw_errno(const std::string& context);

}  // namespace tracker
