// `tracker mcp`: the real binary over real pipes, spoken to in raw JSON lines (the
// official SDK's client is tested by tests/mcp/client.mjs).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "catalogue.hpp"
#include "mcp.hpp"

using namespace testing;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* kModern = "2026-07-28";

/// A `tracker mcp` process with its stdin and stdout on pipes.
class McpProcess {
 public:
  explicit McpProcess(const fs::path& cwd, std::vector<std::string> args = {},
                      std::map<std::string, std::string> env = {}) {
    int in[2], out[2];
    REQUIRE(::pipe(in) == 0);
    REQUIRE(::pipe(out) == 0);
    std::vector<std::string> argv = {TRACKER_BIN, "mcp"};
    argv.insert(argv.end(), args.begin(), args.end());
    PreparedExec exec(argv, RunOptions{cwd, env, ""});
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test, whatever ends it
      if (::getppid() == 1) ::_exit(127);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(out[1]);
      exec.exec();
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~McpProcess() {
    close_stdin();
    if (!exited_ && !wait_exit(10s)) {
      ::kill(pid_, SIGKILL);
      wait_exit(10s);
    }
    ::close(from_);
  }
  McpProcess(const McpProcess&) = delete;
  McpProcess& operator=(const McpProcess&) = delete;

  int pid() const { return pid_; }

  void send_raw(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(to_, bytes.data() + done, bytes.size() - done);
      // Not REQUIRE: the stress test sends from threads, where Catch's macros are unsafe.
      if (n <= 0) throw std::runtime_error(std::string("write to tracker mcp: ") + std::strerror(errno));
      done += static_cast<std::size_t>(n);
    }
  }
  void send(const Json& message) { send_raw(message.dump() + "\n"); }

  /// The next line the server writes, parsed; nothing when none comes in `limit`.
  std::optional<Json> receive(std::chrono::milliseconds limit = 30s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return Json::parse(line);  // anything that is not JSON on stdout fails the test
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{from_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::read(from_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  /// Sends a request and returns the response to it.
  Json request(const std::string& method, Json params = Json::object()) {
    Json id = ++next_id_;
    send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}});
    auto r = receive();
    REQUIRE(r);
    REQUIRE((*r)["id"] == id);
    return *r;
  }

  /// tools/call of `name`, legacy style (no _meta); returns the result.
  Json call(const std::string& name, Json args = Json::object()) {
    Json r = request("tools/call", {{"name", name}, {"arguments", std::move(args)}});
    INFO(r.dump());
    REQUIRE(r.contains("result"));
    return r["result"];
  }

  void initialize(Json capabilities = Json::object()) {
    Json r = request("initialize", {{"protocolVersion", "2025-11-25"},
                                    {"capabilities", std::move(capabilities)},
                                    {"clientInfo", {{"name", "test"}, {"version", "1"}}}});
    REQUIRE(r["result"]["protocolVersion"] == "2025-11-25");
    send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  }

  void close_stdin() {
    if (to_ >= 0) ::close(to_);
    to_ = -1;
  }

  /// Waits for the process to end; its exit code, or nothing after `limit`.
  std::optional<int> wait_exit(std::chrono::milliseconds limit) {
    if (exited_) return code_;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_;
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

 private:
  int pid_ = -1, to_ = -1, from_ = -1;
  std::string buffer_;
  std::int64_t next_id_ = 0;
  bool exited_ = false;
  int code_ = -1;
};

Json meta(Json capabilities = Json::object()) {
  return {{"io.modelcontextprotocol/protocolVersion", kModern},
          {"io.modelcontextprotocol/clientInfo", {{"name", "test"}, {"version", "1"}}},
          {"io.modelcontextprotocol/clientCapabilities", std::move(capabilities)}};
}

/// The business error of an isError result: {"error", "code"}.
Json error_of(const Json& result) {
  REQUIRE(result["isError"] == true);
  return Json::parse(result["content"][0]["text"].get<std::string>());
}

const std::map<std::string, std::string> kNoBoardEnv = {{"TRACKER_DIR", "\x01unset"}};

}  // namespace

TEST_CASE("mcp: initialize, tools/list with every tool's schemas in under 4,000 tokens, ping") {
  Board b;
  McpProcess mcp(b.root(), {}, kNoBoardEnv);
  Json init = mcp.request("initialize", {{"protocolVersion", "2025-11-25"},
                                         {"capabilities", Json::object()},
                                         {"clientInfo", {{"name", "t"}, {"version", "1"}}}});
  CHECK(init["result"]["protocolVersion"] == "2025-11-25");
  CHECK(init["result"]["serverInfo"]["name"] == "tracker");
  CHECK(init["result"]["capabilities"].contains("tools"));
  mcp.send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});  // no answer to a notification

  Json list = mcp.request("tools/list");
  const Json& tools = list["result"]["tools"];
  std::set<std::string> names;
  for (const auto& t : tools) {
    names.insert(t["name"].get<std::string>());
    INFO(t["name"]);
    CHECK(t["inputSchema"]["type"] == "object");
    CHECK(t["outputSchema"]["type"] == "object");
    CHECK(!t["description"].get<std::string>().empty());
  }
  CHECK(names == std::set<std::string>{"ready", "claim", "renew", "release", "done", "reclaim", "show", "list",
                                       "search", "new", "set", "move", "block", "unblock", "link", "log", "diff",
                                       "stats", "tree"});
  // About four characters a token: the whole list stays under 4,000 tokens.
  std::size_t chars = list["result"].dump().size();
  INFO(chars << " characters");
  CHECK(chars / 4 < 4000);

  Json ping = mcp.request("ping");
  CHECK(ping["result"] == Json::object());
}

TEST_CASE("mcp: initialize answers the version asked when it speaks it, else its latest") {
  Board b;
  McpProcess mcp(b.root());
  CHECK(mcp.request("initialize", {{"protocolVersion", "2025-06-18"},
                                   {"capabilities", Json::object()}})["result"]["protocolVersion"] == "2025-06-18");
  CHECK(mcp.request("initialize", {{"protocolVersion", "2024-01-01"},
                                   {"capabilities", Json::object()}})["result"]["protocolVersion"] == "2025-11-25");
  Json bad = mcp.request("initialize", {{"capabilities", Json::object()}});
  CHECK(bad["error"]["code"] == -32602);
}

TEST_CASE("mcp: the stateless revision: server/discover, then tools/call with _meta") {
  Board b;
  McpProcess mcp(b.root());
  Json d = mcp.request("server/discover", {{"_meta", meta()}});
  const Json& r = d["result"];
  CHECK(r["resultType"] == "complete");
  CHECK(r["supportedVersions"][0] == kModern);
  CHECK(r["capabilities"].contains("tools"));
  CHECK(r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "tracker");

  Json created = mcp.request("tools/call", {{"_meta", meta()}, {"name", "new"}, {"arguments", {{"name", "From MCP"}}}});
  INFO(created.dump());
  CHECK(created["result"]["resultType"] == "complete");
  CHECK(created["result"]["isError"] == false);
  CHECK(created["result"]["structuredContent"]["id"] == 1);
  CHECK(Json::parse(created["result"]["content"][0]["text"].get<std::string>()) ==
        created["result"]["structuredContent"]);
  CHECK(git(b.root(), {"log", "-1", "--format=%s"}).find("create #1") != std::string::npos);

  Json listed = mcp.request("tools/list", {{"_meta", meta()}});
  CHECK(listed["result"]["resultType"] == "complete");

  // A version the server does not speak: the spec's error, with what it speaks.
  Json old = meta();
  old["io.modelcontextprotocol/protocolVersion"] = "1900-01-01";
  Json e = mcp.request("tools/call", {{"_meta", old}, {"name", "ready"}});
  CHECK(e["error"]["code"] == -32022);
  CHECK(e["error"]["data"]["requested"] == "1900-01-01");
  CHECK(e["error"]["data"]["supported"][0] == kModern);
}

TEST_CASE("mcp: bad input gets the JSON-RPC error it calls for, and the server stays up") {
  Board b;
  McpProcess mcp(b.root());
  auto next = [&] {
    auto r = mcp.receive();
    REQUIRE(r);
    return *r;
  };
  mcp.send_raw("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \n");  // malformed JSON
  Json r = next();
  CHECK(r["error"]["code"] == -32700);
  CHECK(r["id"].is_null());

  mcp.send({{"jsonrpc", "2.0"}, {"method", "tools/list"}});  // a request without an id
  r = next();
  CHECK(r["error"]["code"] == -32600);
  CHECK(r["id"].is_null());

  mcp.send({{"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/frobnicate"}});
  r = next();
  CHECK(r["error"]["code"] == -32601);
  CHECK(r["id"] == 7);

  CHECK(mcp.request("tools/call", {{"name", "nonesuch"}})["error"]["code"] == -32602);

  Json wrong = mcp.request("tools/call", {{"name", "show"}, {"arguments", {{"id", "seven"}}}});
  CHECK(wrong["error"]["code"] == -32602);
  CHECK(wrong["error"]["message"].get<std::string>().find("'id' must be an integer") != std::string::npos);
  CHECK(mcp.request("tools/call", {{"name", "claim"}, {"arguments", {{"id", 1}, {"owner", ""}}}})["error"]["code"] ==
        -32602);
  CHECK(mcp.request("tools/call", {{"name", "ready"}, {"arguments", {{"limt", 3}}}})["error"]["code"] == -32602);
  CHECK(mcp.request("tools/call", {{"name", "move"},
                                   {"arguments", {{"ids", {1, "x"}}, {"stage", "qa"}}}})["error"]["code"] == -32602);
  CHECK(mcp.request("tools/call", {{"name", "ready"}, {"arguments", 5}})["error"]["code"] == -32602);

  mcp.send_raw("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]\n");  // a batch
  CHECK(next()["error"]["code"] == -32600);
  mcp.send_raw("{\"jsonrpc\":\"1.0\",\"id\":3,\"method\":\"ping\"}\n");
  CHECK(next()["error"]["code"] == -32600);

  // A 10 MB line is refused without being kept, and the next message is served.
  mcp.send_raw("{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"ping\",\"params\":{\"x\":\"" +
               std::string(10'000'000, 'a') + "\"}}\n");
  r = next();
  CHECK(r["error"]["code"] == -32600);
  CHECK(r["error"]["message"].get<std::string>().find("bytes") != std::string::npos);

  CHECK(mcp.request("ping")["result"] == Json::object());
  mcp.close_stdin();
  CHECK(mcp.wait_exit(10s) == 0);
}

TEST_CASE("mcp: a number too large for a double, or for an id or a limit, is an error and the server stays up") {
  Board b;
  b.create({"Story"});
  McpProcess mcp(b.root());
  mcp.initialize();
  auto next = [&] {
    auto r = mcp.receive();
    REQUIRE(r);
    return *r;
  };
  // 1e999 as the id, in params, nested deep in the arguments, and at the top level.
  mcp.send_raw("{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"ping\"}\n");
  Json r = next();
  CHECK(r["error"]["code"] == -32600);
  CHECK(r["id"].is_null());
  mcp.send_raw(
      "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/"
      "call\",\"params\":{\"name\":\"show\",\"arguments\":{\"id\":1E400}}}\n");
  r = next();
  CHECK(r["error"]["code"] == -32602);
  CHECK(r["id"] == 5);
  CHECK(r["error"]["message"] == "Invalid params: params.arguments.id is a number too large to represent");
  mcp.send_raw(
      "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/"
      "call\",\"params\":{\"name\":\"set\",\"arguments\":{\"id\":1,\"fields\":{\"a\":[[{\"b\":-1e999}]]}}}}\n");
  r = next();
  CHECK(r["error"]["code"] == -32602);
  CHECK(r["id"] == 6);
  mcp.send_raw("{\"x\":1e999,\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n");
  CHECK(next()["error"]["code"] == -32600);
  CHECK(mcp.request("ping")["result"] == Json::object());

  // Integers that do not fit: no wrap-around to #-1 or to a limit of nothing.
  Json show = mcp.request("tools/call", {{"name", "show"}, {"arguments", {{"id", 18446744073709551615ull}}}});
  CHECK(show["error"]["code"] == -32602);
  CHECK(show["error"]["message"].get<std::string>().find("at most 9223372036854775807") != std::string::npos);
  Json ready = mcp.request("tools/call", {{"name", "ready"}, {"arguments", {{"limit", 18446744073709551615ull}}}});
  CHECK(ready["error"]["code"] == -32602);
  Json limit = mcp.request("tools/call", {{"name", "ready"}, {"arguments", {{"limit", 1000001}}}});
  CHECK(limit["error"]["code"] == -32602);
  CHECK(limit["error"]["message"].get<std::string>().find("at most 1000000") != std::string::npos);
  CHECK(mcp.call("ready", {{"limit", 1000000}})["structuredContent"]["stories"].size() == 1);
  Json pid =
      mcp.request("tools/call", {{"name", "claim"}, {"arguments", {{"id", 1}, {"owner", "a"}, {"pid", 4294967297}}}});
  CHECK(pid["error"]["code"] == -32602);
  CHECK(mcp.request("ping")["result"] == Json::object());
  mcp.close_stdin();
  CHECK(mcp.wait_exit(10s) == 0);
}

TEST_CASE("mcp: a business error is isError with the CLI's message and exit code") {
  Board b;
  McpProcess mcp(b.root());
  Json e = error_of(mcp.call("show", {{"id", 42}}));
  RunResult cli = run_tracker(b.root(), {"show", "42"});
  CHECK(e["code"] == cli.code);
  CHECK("tracker: " + e["error"].get<std::string>() + "\n" == cli.err);

  Json nothing = error_of(mcp.call("claim", {{"owner", "a"}}));
  CHECK(nothing["code"] == 6);
  CHECK(error_of(mcp.call("claim", {{"owner", "a"}, {"ttl", "soon"}}))["code"] == 2);
  CHECK(error_of(mcp.call("move", {{"ids", {1}}, {"stage", "nowhere"}}))["code"] == 2);
}

TEST_CASE("mcp: parent stories through the tools - new, set, tree, show's progress and the same refusals as the CLI") {
  Board b;
  b.create({"Epic"});
  McpProcess mcp(b.root());
  mcp.initialize();
  Json child = mcp.call("new", {{"name", "Child"}, {"parent", 1}})["structuredContent"];
  CHECK(child["id"] == 2);
  CHECK(error_of(mcp.call("new", {{"name", "Lost"}, {"parent", 42}}))["code"] == 4);
  Json cycle = error_of(mcp.call("set", {{"id", 1}, {"fields", {{"parent", 2}}}}));
  RunResult cli = run_tracker(b.root(), {"set", "1", "parent=2"});
  CHECK(cycle["code"] == 5);
  CHECK("tracker: " + cycle["error"].get<std::string>() + "\n" == cli.err);
  Json tree = mcp.call("tree")["structuredContent"];
  REQUIRE(tree["stories"].size() == 2);
  CHECK(tree["stories"][0]["progress"] == Json{{"done", 0}, {"total", 1}});
  CHECK(tree["stories"][1]["depth"] == 1);
  CHECK(tree["more"] == false);
  CHECK(mcp.call("tree", {{"limit", 1}})["structuredContent"]["more"] == true);
  CHECK(mcp.call("show", {{"id", 1}})["structuredContent"]["progress"] == Json{{"done", 0}, {"total", 1}});
  CHECK(mcp.call("list", {{"parent", 1}})["structuredContent"]["stories"].size() == 1);
  Json done = error_of(mcp.call("done", {{"id", 1}}));
  CHECK(done["code"] == 3);
  CHECK(done["error"].get<std::string>().find("has children that are not done: #2 (backlog)") != std::string::npos);
  CHECK(done["error"].get<std::string>().find("--force") == std::string::npos);  // MCP's own words
}

TEST_CASE("mcp: an error tells the agent what to call in MCP's terms, never a command line") {
  Board b;
  b.create({"Stuck"});
  b.create({"Base"});
  REQUIRE(run_tracker(b.root(), {"block", "1"}).code == 0);
  REQUIRE(run_tracker(b.root(), {"link", "2", "1"}).code == 0);
  McpProcess mcp(b.root());
  mcp.initialize();
  Json blocked = error_of(mcp.call("claim", {{"id", 1}, {"owner", "a"}}));
  CHECK(blocked["code"] == 3);
  CHECK(blocked["error"] == "story #1 is blocked; unblock it first (unblock with id: 1), or claim it with force: true");
  Json waiting = error_of(mcp.call("claim", {{"id", 2}, {"owner", "a"}}));
  CHECK(waiting["error"].get<std::string>().ends_with("which is not done; claim it with force: true to take it anyway"));
  Json owner = error_of(mcp.call("claim", {{"id", 2}, {"owner", " "}}));
  CHECK(owner["error"] == "owner must not be empty");
  CHECK(error_of(mcp.call("list", {{"where", {"agent"}}}))["error"] ==
        "where takes key=value (e.g. where: \"agent=coder-1\"), not 'agent'");
  CHECK(run_tracker(b.root(), {"list", "--where", "agent"}).err ==
        "tracker: --where takes key=value (e.g. --where agent=coder-1), not 'agent'\n");
  // The CLI says the same in its own syntax.
  CHECK(run_tracker(b.root(), {"claim", "1", "--owner", "a"}).err ==
        "tracker: story #1 is blocked; unblock it first ('tracker unblock 1'), or claim it with --force\n");
  CHECK(run_tracker(b.root(), {"delete", "1"}).err ==
        "tracker: story #2 depends on #1; unlink it first ('tracker unlink 2 1'), or delete with --force\n");
}

TEST_CASE("mcp: the agent loop through the tools, each result in the CLI's shape") {
  Board b;
  McpProcess mcp(b.root());
  mcp.initialize();
  Json made = mcp.call("new", {{"name", "Write the parser"},
                               {"priority", 2},
                               {"labels", {"core"}},
                               {"body", "Héllo wörld, a body longer than the cut.\n"}});
  CHECK(made["structuredContent"]["created"] == true);
  std::int64_t id = made["structuredContent"]["id"];
  b.create({"Second story"});

  Json ready = mcp.call("ready");
  REQUIRE(ready["structuredContent"]["stories"].size() == 2);
  CHECK(ready["structuredContent"]["stories"][0] ==
        Json{{"id", id}, {"name", "Write the parser"}, {"stage", "backlog"}, {"priority", 2}, {"agent", nullptr}});

  Json claimed = mcp.call("claim", {{"owner", "agent-7"}, {"ttl", "20m"}})["structuredContent"];
  CHECK(claimed["id"] == id);
  CHECK(claimed["stage"] == "current");
  CHECK(claimed["claim"]["owner"] == "agent-7");

  CHECK(mcp.call("renew", {{"id", id}, {"owner", "agent-7"}})["structuredContent"]["owner"] == "agent-7");
  Json shown =
      mcp.call("show", {{"id", id}, {"fields", {"agent", "labels", "body"}}, {"max_body", 2}})["structuredContent"];
  CHECK(shown["agent"] == "agent-7");
  CHECK(shown["labels"] == Json{"core"});
  CHECK(shown["body"] == "H");  // cut before the é, never inside it
  CHECK(shown["body_truncated"] == true);

  CHECK(mcp.call("set",
                 {{"id", id}, {"fields", {{"priority", 5}, {"labels", nullptr}}}})["structuredContent"]["changes"] ==
        Json{"priority 2 -> 5", "labels -core"});
  // The type is the file name's: set renames the file, as at the CLI.
  Json retyped = mcp.call("set", {{"id", 2}, {"fields", {{"type", "bug"}}}})["structuredContent"];
  CHECK(retyped["changes"] == Json{"type story -> bug"});
  CHECK(retyped["path"].get<std::string>().find("/2_bug_") != std::string::npos);
  CHECK(mcp.call("set", {{"id", 2}, {"fields", {{"type", "bgu"}}}})["isError"] == true);
  CHECK(mcp.call("block", {{"id", 2}, {"reason", "waits"}})["structuredContent"]["changed"] == true);
  CHECK(mcp.call("unblock", {{"id", 2}})["structuredContent"]["changed"] == true);
  CHECK(mcp.call("link", {{"id", 2}, {"depends_on", id}})["structuredContent"]["depends_on"] == Json{id});
  // Nothing is ready now; explain says why, as `ready --explain` does, and so does a claim.
  Json explained = mcp.call("ready", {{"explain", true}})["structuredContent"];
  CHECK(explained["stories"].empty());
  REQUIRE(explained["not_ready"].size() == 1);
  CHECK(explained["not_ready"][0]["id"] == 2);
  CHECK(explained["not_ready"][0]["why"] == "waits for #" + std::to_string(id) + " (current)");
  Json nothing = mcp.call("claim", {{"owner", "agent-8"}});
  CHECK(nothing["isError"] == true);
  CHECK(nothing["content"][0]["text"].get<std::string>().find("no ready story to claim: #2 waits for #" +
                                                              std::to_string(id) + " (current)") != std::string::npos);
  CHECK(mcp.call("search", {{"query", "parser"}})["structuredContent"]["hits"][0]["id"] == id);
  // A typo is searched as the closest indexed word, and the result says so.
  Json typo = mcp.call("search", {{"query", "prser"}})["structuredContent"];
  CHECK(typo["hits"][0]["id"] == id);
  CHECK(typo["corrected"] == Json::parse(R"([{"typed": "prser", "used": "parser"}])"));
  CHECK(mcp.call("list", {{"stage", {"current"}}})["structuredContent"]["stories"].size() == 1);
  CHECK(mcp.call("list", {{"limit", 1}})["structuredContent"]["more"] == true);

  // Only the holder finishes a claim: the server acts as its client ("test") unless
  // the call names the owner.
  Json refused = mcp.call("done", {{"id", id}});
  CHECK(refused["isError"] == true);
  CHECK(refused["content"][0]["text"].get<std::string>().find("story #" + std::to_string(id) +
                                                              " is claimed by agent-7") != std::string::npos);
  CHECK(refused["content"][0]["text"].get<std::string>().find("you act as test") != std::string::npos);
  Json done = mcp.call("done", {{"id", id}, {"owner", "agent-7"}})["structuredContent"];
  CHECK(done["to"] == "done");
  CHECK(done["owner"] == "agent-7");
  Json log = mcp.call("log", {{"id", id}})["structuredContent"]["entries"];
  CHECK(log[0]["action"] == "done");
  CHECK(mcp.call("move", {{"ids", {2}}, {"stage", "qa"}})["structuredContent"]["moved"][0]["to"] == "qa");
  CHECK(mcp.call("stats")["structuredContent"]["stages"]["done"] == 1);
  CHECK(mcp.call("diff", {{"range", "HEAD~1..HEAD"}})["structuredContent"]["changes"][0]["change"] == "moved");

  // What the CLI sees is what the tools did.
  RunResult cli = run_tracker(b.root(), {"show", std::to_string(id), "--json"});
  CHECK(Json::parse(cli.out)["stage"] == "done");
  CHECK(git(b.root(), {"status", "--porcelain"}).empty());
  CHECK(run({"git", "fsck", "--strict"}, RunOptions{b.root(), {}, ""}).code == 0);
}

TEST_CASE("mcp: every call sees hand edits made meanwhile") {
  Board b;
  long id = b.create({"Before"});
  McpProcess mcp(b.root());
  CHECK(mcp.call("show", {{"id", id}})["structuredContent"]["name"] == "Before");
  fs::path file = b.root() / b.path_of(id);
  std::string text = read(file);
  text.replace(text.find("name: Before"), 12, "name: After");
  write(file, text);
  write(b.root() / "work/1_backlog/7_story_by_hand.md", "---\nname: By hand\n---\n");
  CHECK(mcp.call("show", {{"id", id}})["structuredContent"]["name"] == "After");
  CHECK(mcp.call("list")["structuredContent"]["stories"].size() == 2);
}

TEST_CASE("mcp: a claim holds while the server lives, unless the call names another process") {
  Board b;
  long tied = b.create({"Tied"});
  long free_id = b.create({"Free"});
  {
    McpProcess mcp(b.root());
    mcp.call("claim", {{"owner", "a"}, {"id", tied}});
    mcp.call("claim", {{"owner", "b"}, {"id", free_id}, {"pid", 0}});
    Json claimed = Json::parse(run_tracker(b.root(), {"list", "--claimed", "--json"}).out);
    CHECK(claimed.size() == 2);
    mcp.close_stdin();
    CHECK(mcp.wait_exit(10s) == 0);
  }
  // The server is gone: its claim no longer holds; the other still does.
  Json claimed = Json::parse(run_tracker(b.root(), {"list", "--claimed", "--json"}).out);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0]["id"] == free_id);
  RunResult r = run_tracker(b.root(), {"reclaim", "--json"});
  CHECK(Json::parse(r.out)["reclaimed"][0]["id"] == tied);
}

TEST_CASE("mcp: stdin closed mid-request: the server exits within a second and keeps what it committed") {
  Board b;
  McpProcess mcp(b.root());
  mcp.send({{"jsonrpc", "2.0"},
            {"id", 1},
            {"method", "tools/call"},
            {"params", {{"name", "new"}, {"arguments", {{"name", "Kept"}}}}}});
  mcp.send_raw("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/ca");  // cut off
  auto closed = std::chrono::steady_clock::now();
  mcp.close_stdin();
  auto reply = mcp.receive();
  REQUIRE(reply);
  CHECK((*reply)["id"] == 1);
  CHECK((*reply)["result"]["structuredContent"]["created"] == true);
  auto code = mcp.wait_exit(sanitized() ? 5s : 1s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - closed);
  INFO(took.count() << " ms");
  CHECK(code == 0);
  CHECK(!mcp.receive(100ms));  // nothing for the cut-off request
  CHECK(git(b.root(), {"log", "-1", "--format=%s"}).find("create #1") != std::string::npos);
  CHECK(git(b.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("mcp: requests that arrive while one runs wait their turn, in order") {
  Board b;
  McpProcess mcp(b.root());
  std::string burst;
  for (int i = 1; i <= 30; ++i)
    burst += Json{{"jsonrpc", "2.0"},
                  {"id", i},
                  {"method", "tools/call"},
                  {"params", {{"name", "new"}, {"arguments", {{"name", "Story " + std::to_string(i)}}}}}}
                 .dump() +
             "\n";
  mcp.send_raw(burst);
  for (int i = 1; i <= 30; ++i) {
    auto r = mcp.receive();
    REQUIRE(r);
    CHECK((*r)["id"] == i);
    CHECK((*r)["result"]["structuredContent"]["id"] == i);
  }
  CHECK(b.commit_count() == 31);
}

TEST_CASE("mcp: the board is found from -C, TRACKER_DIR, the client's roots, the working directory") {
  Board b;
  b.create({"Here"});
  TempDir elsewhere;
  std::string root = fs::canonical(b.root()).string();

  SECTION("none: the error names what was tried") {
    McpProcess mcp(elsewhere.path(), {}, kNoBoardEnv);
    Json e = error_of(mcp.call("ready"));
    std::string m = e["error"];
    CHECK(e["code"] == 2);
    CHECK(m.find("-C (not given)") != std::string::npos);
    CHECK(m.find("TRACKER_DIR (not set)") != std::string::npos);
    CHECK(m.find("roots (none offered)") != std::string::npos);
    CHECK(m.find("working directory") != std::string::npos);
  }
  SECTION("-C, before TRACKER_DIR") {
    McpProcess mcp(elsewhere.path(), {"-C", root}, {{"TRACKER_DIR", elsewhere.path().string()}});
    CHECK(mcp.call("ready")["structuredContent"]["stories"].size() == 1);
  }
  SECTION("-C naming no board says so") {
    McpProcess mcp(b.root(), {"-C", elsewhere.path().string()});
    CHECK(error_of(mcp.call("ready"))["error"].get<std::string>().starts_with("no tracker board found; tried -C "));
  }
  SECTION("TRACKER_DIR") {
    McpProcess mcp(elsewhere.path(), {}, {{"TRACKER_DIR", root}});
    CHECK(mcp.call("ready")["structuredContent"]["stories"].size() == 1);
  }
  SECTION("the working directory, a subdirectory of the board") {
    McpProcess mcp(b.root() / "work", {}, kNoBoardEnv);
    CHECK(mcp.call("ready")["structuredContent"]["stories"].size() == 1);
  }
  SECTION("a legacy client's roots: asked with roots/list, other requests wait meanwhile") {
    McpProcess mcp(elsewhere.path(), {}, kNoBoardEnv);
    mcp.initialize({{"roots", {{"listChanged", true}}}});
    mcp.send({{"jsonrpc", "2.0"}, {"id", 50}, {"method", "tools/call"}, {"params", {{"name", "ready"}}}});
    auto ask = mcp.receive();
    REQUIRE(ask);
    CHECK((*ask)["method"] == "roots/list");
    mcp.send({{"jsonrpc", "2.0"}, {"id", 51}, {"method", "ping"}});  // arrives while the call waits
    mcp.send(
        {{"jsonrpc", "2.0"},
         {"id", (*ask)["id"]},
         {"result",
          {{"roots",
            {{{"uri", "file://" + elsewhere.path().string()}}, {{"uri", "file://" + root}, {"name", "board"}}}}}}});
    auto r = mcp.receive();
    REQUIRE(r);
    CHECK((*r)["id"] == 50);
    CHECK((*r)["result"]["structuredContent"]["stories"].size() == 1);
    auto p = mcp.receive();
    REQUIRE(p);
    CHECK((*p)["id"] == 51);
  }
  SECTION("a modern client's roots: asked for with input_required, given on the retried request") {
    McpProcess mcp(elsewhere.path(), {}, kNoBoardEnv);
    Json caps = {{"roots", Json::object()}};
    Json first = mcp.request("tools/call", {{"_meta", meta(caps)}, {"name", "ready"}});
    CHECK(first["result"]["resultType"] == "input_required");
    CHECK(first["result"]["inputRequests"]["roots"]["method"] == "roots/list");
    Json again =
        mcp.request("tools/call", {{"_meta", meta(caps)},
                                   {"name", "ready"},
                                   {"inputResponses", {{"roots", {{"roots", {{{"uri", "file://" + root}}}}}}}}});
    CHECK(again["result"]["resultType"] == "complete");
    CHECK(again["result"]["structuredContent"]["stories"].size() == 1);
  }
}

TEST_CASE("mcp --print-config prints what a client's configuration takes") {
  Board b;
  RunResult r = run_tracker(b.root(), {"mcp", "--print-config"});
  REQUIRE(r.code == 0);
  Json c = Json::parse(r.out)["mcpServers"]["tracker"];
  CHECK(fs::exists(c["command"].get<std::string>()));
  CHECK(c["args"] == Json{"mcp", "-C", fs::canonical(b.root()).string()});
  TempDir nowhere;
  CHECK(run_tracker(nowhere.path(), {"-C", nowhere.path().string(), "mcp", "--print-config"}).code == 2);
}

TEST_CASE("mcp: two servers on one board claim until nothing is ready: each story once", "[stress]") {
  Board b;
  const int stories = 24;
  for (int i = 0; i < stories; ++i) b.create({"Story " + std::to_string(i)});
  std::vector<std::vector<std::int64_t>> got(2);
  std::atomic<bool> failed = false;
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<McpProcess>> servers;
  for (int s = 0; s < 2; ++s) servers.push_back(std::make_unique<McpProcess>(b.root()));
  for (int s = 0; s < 2; ++s)
    threads.emplace_back([&, s] {
      McpProcess& mcp = *servers[s];
      try {
        for (std::int64_t n = 1;; ++n) {
          mcp.send({{"jsonrpc", "2.0"},
                    {"id", n},
                    {"method", "tools/call"},
                    {"params", {{"name", "claim"}, {"arguments", {{"owner", "agent-" + std::to_string(s)}}}}}});
          auto r = mcp.receive(60s);
          if (!r || !(*r).contains("result")) {
            failed = true;
            return;
          }
          const Json& result = (*r)["result"];
          if (result["isError"] == true) {
            if (Json::parse(result["content"][0]["text"].get<std::string>())["code"] != 6) failed = true;
            return;  // nothing ready
          }
          got[s].push_back(result["structuredContent"]["id"]);
        }
      } catch (const std::exception&) {
        failed = true;  // no Catch macro on this thread
      }
    });
  for (auto& t : threads) t.join();
  REQUIRE(!failed);
  std::multiset<std::int64_t> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  CHECK(all.size() == static_cast<std::size_t>(stories));
  CHECK(std::set<std::int64_t>(all.begin(), all.end()).size() == static_cast<std::size_t>(stories));
  Json current = Json::parse(run_tracker(b.root(), {"list", "--stage", "current", "--json"}).out);
  CHECK(current.size() == static_cast<std::size_t>(stories));
  CHECK(git(b.root(), {"status", "--porcelain"}).empty());
  CHECK(run({"git", "fsck", "--strict"}, RunOptions{b.root(), {}, ""}).code == 0);
}

TEST_CASE("catalogue: schema_violation names what is wrong") {
  using tracker::cli::catalogue::schema_violation;
  auto s = tracker::cli::mcp::Json::parse(
      R"({"type":"object","properties":{"n":{"type":"integer","minimum":1},"l":{"type":"array","items":{"type":"string"}},"e":{"enum":["a","b"]}},"required":["n"],"additionalProperties":false})");
  using J = tracker::cli::mcp::Json;
  CHECK(!schema_violation(s, J{{"n", 1}}, ""));
  CHECK(schema_violation(s, J::object(), "") == "'n' is required");
  CHECK(schema_violation(s, J{{"n", 0}}, "") == "'n' must be at least 1");
  CHECK(schema_violation(s, J{{"n", 1.5}}, "") == "'n' must be an integer, not 1.5");
  CHECK(schema_violation(s, J{{"n", 1}, {"l", {"x", 2}}}, "") == "'l' item 2 must be a string, not 2");
  CHECK(schema_violation(s, J{{"n", 1}, {"e", "c"}}, "") == "'e' must be one of a, b");
  CHECK(schema_violation(s, J{{"n", 1}, {"z", 1}}, "") == "unknown argument 'z' (n, l, e)");
}

TEST_CASE(
    "mcp: the rule of claims: another owner's claim is a tool error naming the holder - force ends it and says who") {
  Board b;
  b.create({"Held"});
  b.create({"Other"});
  REQUIRE(run_tracker(b.root(), {"claim", "1", "--owner", "coder-2"}).code == 0);
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  {
    McpProcess mcp(b.root());
    mcp.initialize();  // clientInfo.name "test": who the tools act as
    for (const auto& [tool, args] :
         std::vector<std::pair<std::string, Json>>{{"done", {{"id", 1}}},
                                                   {"release", {{"id", 1}}},
                                                   {"move", {{"ids", {1}}, {"stage", "backlog"}}},
                                                   {"set", {{"id", 1}, {"fields", {{"agent", "me"}}}}},
                                                   {"renew", {{"id", 1}}},
                                                   {"done", {{"id", 1}, {"owner", "coder-3"}}}}) {
      Json r = mcp.call(tool, args);
      INFO(tool << " " << r.dump());
      CHECK(r["isError"] == true);
      Json error = Json::parse(r["content"][0]["text"].get<std::string>());
      CHECK(error["code"] == 3);
      CHECK(error["error"].get<std::string>().find("story #1 is claimed by coder-2 until ") != std::string::npos);
    }
    CHECK(git(b.root(), {"rev-parse", "HEAD"}) == head);
    // force ends the claim; the result and the commit say who forced it.
    Json forced = mcp.call("done", {{"id", 1}, {"force", true}})["structuredContent"];
    CHECK(forced["forced_by"] == "test");
    CHECK(forced["owner"] == "coder-2");
    CHECK(git(b.root(), {"log", "-1", "--format=%B"}).find("Tracker-Forced-By: test\n") != std::string::npos);
  }
  // `tracker mcp --owner` (or TRACKER_OWNER) names who the tools act as.
  REQUIRE(run_tracker(b.root(), {"claim", "2", "--owner", "coder-2"}).code == 0);
  McpProcess as_holder(b.root(), {"--owner", "coder-2"});
  as_holder.initialize();
  Json done = as_holder.call("done", {{"id", 2}});
  CHECK(done["isError"] == false);
  CHECK(done["structuredContent"]["forced_by"].is_null());
}
