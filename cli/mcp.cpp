#include "mcp.hpp"

#include "catalogue.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <tracker/util.hpp>

namespace tracker::cli::mcp {

namespace {

/// The longest message read: a story body may be up to limits.story_bytes (1 MiB
/// by default), escaped in JSON; beyond this a line is refused, never buffered.
constexpr std::size_t kMaxMessageBytes = 8u << 20;

constexpr const char* kInstructions =
    "A work tracker: stories (integer ids) move through stages. Agent loop: ready -> claim (owner: your name) -> "
    "work -> done; renew before the claim's ttl runs out, release to give a story back. Results are brief; show "
    "gives a story's fields and body.";

/// Thrown when stdout is gone: the client went away, so the server stops.
struct ClientGone {};

/// Reads a message that would not parse because a number in it is beyond a double
/// (`1e999`): where that number is (`params.arguments.limit`), and the message's
/// id when it came before it. The parser stops at the number; this follows the
/// keys on the way there and builds nothing.
class OverflowWhere : public nlohmann::json_sax<Json> {
 public:
  std::string path;  ///< dotted, with [i] for array items
  Json id;           ///< the top-level id, when read before the number

  bool null() override { return value(nullptr); }
  bool boolean(bool) override { return value(nullptr); }
  bool number_integer(number_integer_t v) override { return value(v); }
  bool number_unsigned(number_unsigned_t v) override { return value(v); }
  bool number_float(number_float_t, const string_t&) override { return value(nullptr); }
  bool string(string_t& v) override { return value(v); }
  bool binary(binary_t&) override { return value(nullptr); }
  bool start_object(std::size_t) override {
    frames_.push_back({false, "", 0});
    return true;
  }
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }
  bool end_object() override { return end(); }
  bool start_array(std::size_t) override {
    frames_.push_back({true, "", 0});
    return true;
  }
  bool end_array() override { return end(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    for (const auto& f : frames_) {
      if (f.array)
        path += "[" + std::to_string(f.index) + "]";
      else
        path += (path.empty() ? "" : ".") + f.key;
    }
    return false;
  }

 private:
  struct Frame {
    bool array;
    std::string key;
    std::size_t index;
  };
  bool value(const Json& v) {
    if (frames_.size() == 1 && !frames_[0].array && frames_[0].key == "id") id = v;
    return next();
  }
  bool end() {
    frames_.pop_back();
    return next();
  }
  bool next() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }
  std::vector<Frame> frames_;
};

const std::vector<std::string>& legacy_versions() {
  static const std::vector<std::string> v = {"2025-11-25", "2025-06-18", "2025-03-26"};
  return v;
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

Json server_info() { return {{"name", "tracker"}, {"version", "0.1.0"}}; }

/// `file:///a%20b` -> /a b; nothing for another scheme.
std::optional<fs::path> path_of_file_uri(const std::string& uri) {
  std::string rest;
  if (uri.starts_with("file://localhost/"))
    rest = uri.substr(16);
  else if (uri.starts_with("file:///"))
    rest = uri.substr(7);
  else
    return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && std::isxdigit(static_cast<unsigned char>(rest[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(rest[i + 2]))) {
      out += static_cast<char>(std::stoi(rest.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += rest[i];
    }
  }
  return fs::path(out);
}

/// The paths of a ListRootsResult's `roots` (file URIs only).
std::vector<fs::path> roots_of(const Json& result) {
  std::vector<fs::path> out;
  if (!result.is_object() || !result.contains("roots") || !result["roots"].is_array()) return out;
  for (const auto& r : result["roots"])
    if (r.is_object() && r.contains("uri") && r["uri"].is_string())
      if (auto p = path_of_file_uri(r["uri"].get<std::string>())) out.push_back(*p);
  return out;
}

/// Whether `dir` is in a board; `why` says why not.
bool is_board(const fs::path& dir, std::string& why) {
  try {
    Workspace::discover(dir);
    return true;
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
}

Json tool_error(ExitCode code, const std::string& message) {
  Json body = {{"error", message}, {"code", static_cast<int>(code)}};
  return {{"content", Json::array({{{"type", "text"}, {"text", json_text(body)}}})}, {"isError", true}};
}

}  // namespace

const std::vector<std::string>& supported_versions() {
  static const std::vector<std::string> v = [] {
    std::vector<std::string> all = {kModernVersion};
    for (const auto& l : legacy_versions()) all.push_back(l);
    return all;
  }();
  return v;
}

LineReader::Next LineReader::next(std::optional<std::chrono::milliseconds> timeout) {
  std::size_t scanned = 0;
  char chunk[65536];
  while (true) {
    if (auto nl = buffer_.find('\n', scanned); nl != std::string::npos) {
      if (nl > limit_) {
        std::size_t bytes = nl;
        buffer_.erase(0, nl + 1);
        return {Next::Kind::too_long, {}, bytes};
      }
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.ends_with('\r')) line.pop_back();
      return {Next::Kind::line, std::move(line), 0};
    }
    scanned = buffer_.size();
    if (buffer_.size() > limit_) {
      // Too long: nothing of it is kept; read on to its end.
      std::size_t bytes = buffer_.size();
      buffer_.clear();
      while (!eof_) {
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          eof_ = true;
          break;
        }
        const char* nl = static_cast<const char*>(std::memchr(chunk, '\n', static_cast<std::size_t>(n)));
        if (!nl) {
          bytes += static_cast<std::size_t>(n);
          continue;
        }
        bytes += static_cast<std::size_t>(nl - chunk);
        buffer_.assign(nl + 1, static_cast<const char*>(chunk + n));
        break;
      }
      return {Next::Kind::too_long, {}, bytes};
    }
    if (eof_) {
      if (buffer_.empty()) return {Next::Kind::eof, {}, 0};
      std::string line = std::move(buffer_);  // the last line, without its newline
      buffer_.clear();
      return {Next::Kind::line, std::move(line), 0, true};
    }
    if (timeout) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(timeout->count()));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return {Next::Kind::timeout, {}, 0};
    }
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

Server::Server(ServerOptions options, std::function<void(const std::string&)> write)
    : options_(std::move(options)), write_(std::move(write)) {}

void Server::run(LineReader& reader) {
  while (true) {
    if (!deferred_.empty()) {
      std::string line = std::move(deferred_.front());
      deferred_.pop_front();
      handle(line, &reader);
      continue;
    }
    if (eof_) return;
    LineReader::Next n = reader.next();
    if (n.kind == LineReader::Next::Kind::eof) return;
    if (n.kind == LineReader::Next::Kind::too_long) {
      handle_too_long(n.bytes);
      continue;
    }
    if (trim(n.text).empty()) continue;
    if (n.cut && !Json::accept(n.text)) {
      // The client closed its end in the middle of a message: nobody reads an answer.
      std::cerr << "tracker mcp: the input ended inside a message (" << n.text.size() << " bytes); it was dropped\n";
      return;
    }
    handle(n.text, &reader);
  }
}

void Server::respond(const Json& id, Json result) {
  write_(json_text(Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}));
}

void Server::fail(const Json& id, int code, const std::string& message, Json data) {
  Json error = {{"code", code}, {"message", message}};
  if (!data.is_null()) error["data"] = std::move(data);
  write_(json_text(Json{{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}}));
}

void Server::handle_too_long(std::size_t bytes) {
  fail(nullptr, kInvalidRequest,
       "Invalid Request: the message is " + std::to_string(bytes) + " bytes, more than the limit of " +
           std::to_string(kMaxMessageBytes));
}

void Server::handle(const std::string& line, LineReader* reader) {
  Json message;
  try {
    message = Json::parse(line);
  } catch (const Json::parse_error& e) {
    std::string what = e.what();
    if (auto at = what.find("] "); at != std::string::npos) what.erase(0, at + 2);
    fail(nullptr, kParseError, "Parse error: " + what);
    return;
  } catch (const Json::out_of_range&) {
    // A number beyond a double (1e999): named, and answered; never the end of the server.
    OverflowWhere where;
    Json::sax_parse(line, &where);
    Json id = where.id.is_string() || where.id.is_number_integer() ? where.id : Json(nullptr);
    bool in_params = where.path.starts_with("params");
    fail(id, in_params ? kInvalidParams : kInvalidRequest,
         std::string(in_params ? "Invalid params: " : "Invalid Request: ") + (where.path.empty() ? "a number" : where.path) +
             " is a number too large to represent");
    return;
  }
  try {
    dispatch(message, reader);
  } catch (const ClientGone&) {
    throw;
  } catch (const std::exception& e) {
    Json id = message.is_object() && message.contains("id") ? message["id"] : Json(nullptr);
    fail(id.is_string() || id.is_number_integer() ? id : Json(nullptr), kInternalError,
         std::string("Internal error: ") + e.what());
  }
}

void Server::dispatch(const Json& message, LineReader* reader) {
  if (!message.is_object()) {
    fail(nullptr, kInvalidRequest,
         message.is_array() ? "Invalid Request: batches are not supported; send one message per line"
                            : "Invalid Request: a message is a JSON object");
    return;
  }
  const bool has_id = message.contains("id");
  Json id = has_id ? message["id"] : Json(nullptr);
  const bool valid_id = id.is_string() || id.is_number_integer();
  if (!message.contains("jsonrpc") || message["jsonrpc"] != "2.0") {
    fail(valid_id ? id : Json(nullptr), kInvalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
    return;
  }
  if (!message.contains("method")) {
    if (message.contains("result") || message.contains("error")) return;  // an answer nobody waits for now
    fail(valid_id ? id : Json(nullptr), kInvalidRequest, "Invalid Request: no \"method\"");
    return;
  }
  if (!message["method"].is_string()) {
    fail(valid_id ? id : Json(nullptr), kInvalidRequest, "Invalid Request: \"method\" must be a string");
    return;
  }
  const std::string method = message["method"].get<std::string>();
  if (!has_id) {
    if (method.starts_with("notifications/")) {
      if (method == "notifications/roots/list_changed") roots_.reset();
      return;  // initialized, cancelled (calls run one at a time, each to its end), others: nothing to do
    }
    fail(nullptr, kInvalidRequest, "Invalid Request: '" + method + "' is a request and needs an \"id\"");
    return;
  }
  if (!valid_id) {
    fail(nullptr, kInvalidRequest, "Invalid Request: \"id\" must be a string or an integer");
    return;
  }
  Json params = message.contains("params") ? message["params"] : Json::object();
  if (!params.is_object()) {
    fail(id, kInvalidParams, "Invalid params: \"params\" must be an object");
    return;
  }
  bool modern = false;
  if (params.contains("_meta") && params["_meta"].is_object() &&
      params["_meta"].contains("io.modelcontextprotocol/protocolVersion")) {
    const Json& v = params["_meta"]["io.modelcontextprotocol/protocolVersion"];
    if (!v.is_string() || !contains(supported_versions(), v.get<std::string>())) {
      fail(id, kUnsupportedProtocolVersion, "Unsupported protocol version",
           {{"supported", supported_versions()}, {"requested", v}});
      return;
    }
    modern = v.get<std::string>() == kModernVersion;
  }
  auto complete = [&](Json result) {
    if (modern) result["resultType"] = "complete";
    return result;
  };
  if (method == "initialize") {
    if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string()) {
      fail(id, kInvalidParams, "Invalid params: initialize needs \"protocolVersion\", a string");
      return;
    }
    respond(id, initialize(params));
  } else if (method == "ping") {
    respond(id, complete(Json::object()));
  } else if (method == "server/discover") {
    respond(id, discover());
  } else if (method == "tools/list") {
    static const Json list = [] {
      auto arr = Json::array();
      for (const auto& t : tools())
        arr.push_back({{"name", t.name},
                       {"description", t.description},
                       {"inputSchema", t.input_schema},
                       {"outputSchema", t.output_schema}});
      return arr;
    }();
    respond(id, complete({{"tools", list}}));
  } else if (method == "tools/call") {
    if (auto result = call_tool(id, params, modern, reader)) {
      if (modern && !result->contains("resultType")) (*result)["resultType"] = "complete";
      respond(id, std::move(*result));
    }
  } else {
    fail(id, kMethodNotFound, "Method not found: " + method);
  }
}

Json Server::initialize(const Json& params) {
  std::string asked = params["protocolVersion"].get<std::string>();
  client_roots_ = params.contains("capabilities") && params["capabilities"].is_object() &&
                  params["capabilities"].contains("roots");
  if (params.contains("clientInfo") && params["clientInfo"].is_object() && params["clientInfo"].contains("name") &&
      params["clientInfo"]["name"].is_string())
    client_name_ = params["clientInfo"]["name"].get<std::string>();
  roots_.reset();
  return {{"protocolVersion", contains(legacy_versions(), asked) ? asked : std::string(kLatestLegacyVersion)},
          {"capabilities", {{"tools", Json::object()}}},
          {"serverInfo", server_info()},
          {"instructions", kInstructions}};
}

Json Server::discover() const {
  return {{"resultType", "complete"},
          {"supportedVersions", supported_versions()},
          {"capabilities", {{"tools", Json::object()}}},
          {"_meta", {{"io.modelcontextprotocol/serverInfo", server_info()}}},
          {"instructions", kInstructions}};
}

std::optional<Json> Server::call_tool(const Json& id, const Json& params, bool modern, LineReader* reader) {
  if (!params.contains("name") || !params["name"].is_string()) {
    fail(id, kInvalidParams, "Invalid params: tools/call needs \"name\", a string");
    return std::nullopt;
  }
  const std::string name = params["name"].get<std::string>();
  const auto& all = tools();
  auto tool = std::find_if(all.begin(), all.end(), [&](const Tool& t) { return t.name == name; });
  if (tool == all.end()) {
    fail(id, kInvalidParams, "Unknown tool: " + name);
    return std::nullopt;
  }
  Json args = params.contains("arguments") ? params["arguments"] : Json::object();
  if (args.is_null()) args = Json::object();
  if (auto bad = catalogue::schema_violation(tool->input_schema, args, "")) {
    fail(id, kInvalidParams, "Invalid arguments for tool " + name + ": " + *bad);
    return std::nullopt;
  }
  BoardChoice board = find_board(params, modern, reader);
  if (board.ask_roots)
    return Json{{"resultType", "input_required"}, {"inputRequests", {{"roots", {{"method", "roots/list"}}}}}};
  if (!board.dir) return tool_error(ExitCode::usage, "no tracker board found; tried " + board.tried);
  try {
    GlobalOptions g = options_.global;
    g.dir = board.dir->string();
    // Who the tools act as: `tracker mcp --owner`, else TRACKER_OWNER, else the
    // client's name (clientInfo; per request in the stateless era), else git's.
    std::string client = client_name_;
    if (modern && params.contains("_meta") && params["_meta"].is_object()) {
      const Json info = params["_meta"].value("io.modelcontextprotocol/clientInfo", Json::object());
      if (info.is_object() && info.contains("name") && info["name"].is_string()) client = info["name"].get<std::string>();
    }
    const char* env_owner = std::getenv("TRACKER_OWNER");
    if (g.owner.empty() && !(env_owner && *env_owner)) g.owner = client;
    TrackerHandle tracker = open_tracker(g, TerminalProgressLine::never);
    Json out = tool->run(*tracker, args, options_);
    tracker.reset();  // closes it as the CLI does: a watcher started, remote.auto_sync
    return Json{{"content", Json::array({{{"type", "text"}, {"text", json_text(out)}}})},
                {"structuredContent", out},
                {"isError", false}};
  } catch (const Error& e) {
    return tool_error(e.code(), for_door(e.what(), Door::mcp));
  } catch (const std::exception& e) {
    return tool_error(ExitCode::error, for_door(e.what(), Door::mcp));
  }
}

Server::BoardChoice Server::find_board(const Json& params, bool modern, LineReader* reader) {
  BoardChoice out;
  std::string why;
  // A board named by -C or TRACKER_DIR is the answer, found or not.
  for (const auto& [given, label] : {std::pair{options_.dir, std::string("-C ")},
                                     std::pair{options_.env_dir, std::string("TRACKER_DIR=")}}) {
    if (given.empty()) continue;
    if (is_board(given, why))
      out.dir = given;
    else
      out.tried = label + given + ": " + why;
    return out;
  }
  std::vector<std::string> tried = {"-C (not given)", "TRACKER_DIR (not set)"};
  if (modern) {
    const Json& meta = params["_meta"];
    const Json caps = meta.value("io.modelcontextprotocol/clientCapabilities", Json::object());
    if (params.contains("inputResponses") && params["inputResponses"].is_object() &&
        params["inputResponses"].contains("roots"))
      roots_ = roots_of(params["inputResponses"]["roots"]);
    else if (!roots_ && caps.is_object() && caps.contains("roots")) {
      out.ask_roots = true;
      return out;
    }
  } else if (client_roots_ && !roots_ && reader) {
    fetch_roots(*reader);
  }
  if (roots_ && !roots_->empty()) {
    std::vector<std::string> names;
    for (const auto& root : *roots_) {
      if (is_board(root, why)) {
        out.dir = root;
        return out;
      }
      names.push_back(root.string());
    }
    tried.push_back("the client's roots (" + join(names, ", ") + ": no board in any)");
  } else {
    tried.push_back("the client's roots (none offered)");
  }
  if (is_board(options_.cwd, why)) {
    out.dir = options_.cwd;
    return out;
  }
  tried.push_back("the working directory (" + why + ")");
  out.tried = join(tried, ", ");
  return out;
}

void Server::fetch_roots(LineReader& reader) {
  const std::string rid = "tracker-roots-" + std::to_string(++roots_asked_);
  write_(json_text(Json{{"jsonrpc", "2.0"}, {"id", rid}, {"method", "roots/list"}}));
  roots_ = std::vector<fs::path>{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    LineReader::Next n = reader.next(left);
    if (n.kind == LineReader::Next::Kind::eof) {
      eof_ = true;
      return;
    }
    if (n.kind == LineReader::Next::Kind::timeout) break;
    if (n.kind == LineReader::Next::Kind::too_long) {
      handle_too_long(n.bytes);
      continue;
    }
    Json answer = Json::parse(n.text, nullptr, false);
    if (answer.is_object() && !answer.contains("method") && answer.value("id", Json()) == rid) {
      if (answer.contains("result")) roots_ = roots_of(answer["result"]);
      return;
    }
    deferred_.push_back(std::move(n.text));  // its turn comes after this call
  }
  std::cerr << "tracker mcp: the client did not answer roots/list within 10 s\n";
}

int serve(const ServerOptions& options) {
  std::signal(SIGPIPE, SIG_IGN);  // a client gone is a failed write, not a kill
  LineReader reader(STDIN_FILENO, kMaxMessageBytes);
  Server server(options, [](const std::string& message) {
    std::string line = message + "\n";
    std::size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ClientGone{};
      done += static_cast<std::size_t>(n);
    }
  });
  try {
    server.run(reader);
  } catch (const ClientGone&) {
    std::cerr << "tracker mcp: the client closed its end; stopping\n";
  }
  return 0;
}

Json client_config(const std::string& binary, const std::string& board) {
  Json args = Json::array({"mcp"});
  if (!board.empty()) {
    args.push_back("-C");
    args.push_back(board);
  }
  return {{"mcpServers", {{"tracker", {{"command", binary}, {"args", args}}}}}};
}

}  // namespace tracker::cli::mcp
