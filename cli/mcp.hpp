// `tracker mcp`: a Model Context Protocol server over stdio (newline-delimited
// JSON-RPC). It serves both eras of the protocol: 2025-11-25 and earlier, which open
// with `initialize`, and 2026-07-28, where every request carries its version in
// `_meta` and `server/discover` tells what the server speaks. Tool calls go to the
// library (a fresh Tracker each, so each sees hand edits made meanwhile), one at a
// time in arrival order. See docs/agents.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "output.hpp"

namespace tracker::cli::mcp {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

/// The protocol revision with per-request `_meta` (no `initialize`).
inline constexpr const char* kModernVersion = "2026-07-28";
/// What `initialize` answers when the client asks for a version we do not speak.
inline constexpr const char* kLatestLegacyVersion = "2025-11-25";
/// Every version served, newest first (the -32022 error lists them).
const std::vector<std::string>& supported_versions();

/// JSON-RPC and MCP error codes.
enum ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kUnsupportedProtocolVersion = -32022,
};

/// Where the server looks for the board, in this order: -C, TRACKER_DIR, the
/// client's roots (when it offers them), the working directory.
struct ServerOptions {
  std::string dir;      ///< -C, absolute; empty when not given
  std::string env_dir;  ///< TRACKER_DIR; empty when not set
  fs::path cwd;
  long pid = 0;  ///< claims are tied to this process unless a call says otherwise
  GlobalOptions global;  ///< --offline, --no-verify, --no-commit as given to `tracker mcp`
};

/// One tool: its schemas and what it does with a Tracker opened on the board.
struct Tool {
  std::string name;
  std::string description;
  Json input_schema;
  Json output_schema;
  /// Returns the structured result; throws tracker::Error for a business error.
  std::function<Json(Tracker&, const Json& args, const ServerOptions&)> run;
};

/// Every tool, in the order tools/list gives them.
const std::vector<Tool>& tools();

/// Reads newline-delimited messages from a file descriptor, at most `limit` bytes
/// each: a longer line is skipped to its end and reported by its size.
class LineReader {
 public:
  LineReader(int fd, std::size_t limit) : fd_(fd), limit_(limit) {}
  struct Next {
    enum class Kind { line, too_long, eof, timeout } kind;
    std::string text;         ///< the line, without its newline
    std::size_t bytes = 0;    ///< for too_long: the line's size
    bool cut = false;  ///< the input ended inside this line (no newline after it)
  };
  /// The next line; `timeout` bounds the wait (none: waits for ever).
  Next next(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

 private:
  int fd_;
  std::size_t limit_;
  std::string buffer_;
  bool eof_ = false;
};

/// The protocol state of one stdio connection.
class Server {
 public:
  /// `write` sends one message (one line, newline added by the caller of write).
  Server(ServerOptions options, std::function<void(const std::string&)> write);

  /// Serves messages from `reader` until it reaches the end of its input.
  void run(LineReader& reader);

  /// Handles one message line (responses go to `write`). `reader` is where a
  /// roots/list answer is awaited; null: the client is not asked.
  void handle(const std::string& line, LineReader* reader = nullptr);
  /// Answers a line longer than the reader's limit.
  void handle_too_long(std::size_t bytes);

 private:
  void respond(const Json& id, Json result);
  void fail(const Json& id, int code, const std::string& message, Json data = nullptr);
  void dispatch(const Json& message, LineReader* reader);
  Json initialize(const Json& params);
  Json discover() const;
  /// The result of tools/call, or nothing when an error response was sent.
  std::optional<Json> call_tool(const Json& id, const Json& params, bool modern, LineReader* reader);
  /// The board's directory for a tool call, or the reason none was found.
  struct BoardChoice {
    std::optional<fs::path> dir;
    std::string tried;   ///< what was tried, when nothing was found
    bool ask_roots = false;  ///< modern client with roots: ask it (input_required)
  };
  BoardChoice find_board(const Json& params, bool modern, LineReader* reader);
  /// Legacy session: asks the client for its roots and waits for the answer (other
  /// messages that arrive meanwhile wait their turn).
  void fetch_roots(LineReader& reader);

  ServerOptions options_;
  std::function<void(const std::string&)> write_;
  bool client_roots_ = false;  ///< the legacy client said it offers roots
  std::string client_name_;    ///< clientInfo.name: who the tools act as, without --owner or TRACKER_OWNER
  std::optional<std::vector<fs::path>> roots_;  ///< what it said they are, once asked
  int roots_asked_ = 0;
  std::deque<std::string> deferred_;  ///< messages read while waiting for roots
  bool eof_ = false;
};

/// `tracker mcp`: serves stdin/stdout until stdin closes; returns the exit code.
int serve(const ServerOptions& options);

/// The JSON snippet an MCP client's configuration takes (`--print-config`).
Json client_config(const std::string& binary, const std::string& board);

}  // namespace tracker::cli::mcp
