// The catalogue of operations against the doors built from it: every door offers
// every operation it should, with the catalogue's parameters, and refuses the same
// bad arguments in the same words. Through the real binary: `tracker help --json`,
// `tracker mcp` over a pipe, `tracker serve` over HTTP, and the completion helper.
#include <catch2/catch.hpp>

#include "catalogue.hpp"
#include "helpers.hpp"
#include "serve_client.hpp"

#include <algorithm>
#include <map>
#include <set>

using namespace serve_test;
namespace fs = std::filesystem;
namespace catalogue = tracker::cli::catalogue;
using tracker::Door;

namespace {

/// Every answer of `tracker mcp` to `calls` (tools/call name and arguments), by
/// the call's place, after initialize; [0] is tools/list's.
std::vector<Json> mcp_session(const fs::path& root, const std::vector<std::pair<std::string, Json>>& calls) {
  std::string input =
      Json{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
           {"params", {{"protocolVersion", "2025-11-25"}, {"capabilities", Json::object()},
                       {"clientInfo", {{"name", "door-test"}, {"version", "1"}}}}}}
          .dump() +
      "\n" + Json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}}.dump() + "\n" +
      Json{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}}.dump() + "\n";
  for (std::size_t i = 0; i < calls.size(); ++i)
    input += Json{{"jsonrpc", "2.0"},
                  {"id", static_cast<int>(i) + 2},
                  {"method", "tools/call"},
                  {"params", {{"name", calls[i].first}, {"arguments", calls[i].second}}}}
                 .dump() +
             "\n";
  RunResult r = run({TRACKER_BIN, "mcp"}, {.cwd = root, .env = {{"TRACKER_OWNER", "door-test"}}, .input = input});
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::map<int, Json> by_id;
  for (const auto& line : lines(r.out)) {
    Json j = Json::parse(line);
    if (j.contains("id") && j["id"].is_number_integer()) by_id[j["id"].get<int>()] = j;
  }
  std::vector<Json> out;
  for (int id = 1; id <= static_cast<int>(calls.size()) + 1; ++id) {
    INFO("answer " << id);
    REQUIRE(by_id.count(id));
    out.push_back(by_id[id]);
  }
  return out;
}

/// The CLI command of `tracker help --json` called `name`.
const Json* command_of(const Json& help, const std::string& name) {
  for (const auto& c : help["commands"])
    if (c["name"] == name) return &c;
  return nullptr;
}

/// The option of `command` spelled `spelling` ("--owner", "-m,--message", or a
/// positional's name): the one with every name the spelling gives.
const Json* option_of(const Json& command, const std::string& spelling) {
  std::vector<std::string> want;
  for (std::size_t start = 0;;) {
    auto comma = spelling.find(',', start);
    want.push_back(spelling.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (const auto& o : command["options"]) {
    std::set<std::string> names;
    for (const auto& n : o["names"]) names.insert(n.get<std::string>());
    if (std::all_of(want.begin(), want.end(), [&](const std::string& w) { return names.count(w) > 0; })) return &o;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("catalogue: the CLI offers every operation with the catalogue's parameters, words and meanings") {
  Board board;
  RunResult r = run_tracker(board.root(), {"--json", "help"});
  REQUIRE(r.code == 0);
  Json help = Json::parse(r.out);
  REQUIRE(help["operations"].size() == catalogue::operations().size());
  for (const auto& op : catalogue::operations()) {
    INFO("operation " << op.name);
    const Json* cmd = command_of(help, op.name);
    if (!(op.doors & catalogue::cli)) {  // a door's own (the web page's body)
      CHECK(!cmd);
      continue;
    }
    REQUIRE(cmd);
    CHECK((*cmd)["operation"] == op.name);
    CHECK((*cmd)["description"] == op.summary);
    for (const auto& p : op.params) {
      INFO("parameter " << p.name);
      if (!(p.doors & catalogue::cli)) continue;
      const Json* option = option_of(*cmd, p.cli);
      REQUIRE(option);
      if (p.cli != "args") CHECK((*option)["description"].get<std::string>().starts_with(catalogue::meaning_at(p, Door::cli)));
      // new's name may be written in the editor instead (new --edit).
      if (!(op.name == "new" && p.name == "name")) CHECK(option->value("required", false) == p.required);
      if (!p.word.empty()) CHECK((*option)["takes"] == p.word);
    }
  }
  // Every command is an operation of the catalogue, but for help, completion, the
  // index's subcommands and unlink (link's remove).
  const std::set<std::string> outside = {"help", "completion", "index", "unlink"};
  for (const auto& c : help["commands"]) {
    INFO("command " << c["name"]);
    if (outside.count(c["name"].get<std::string>())) continue;
    REQUIRE(c.contains("operation"));
    // ... and each of its options is a parameter of that operation: none is added by hand.
    const auto& op = catalogue::operation(c["name"].get<std::string>());
    for (const auto& o : c["options"]) {
      std::string first = o["names"][0].get<std::string>();
      INFO("option " << first);
      if (first == "--help" || first == "-h") continue;
      bool declared = std::any_of(op.params.begin(), op.params.end(), [&](const catalogue::Param& p) {
        return (p.doors & catalogue::cli) && option_of(c, p.cli) == &o;
      });
      CHECK(declared);
    }
  }
  // help --json of one command: its options and its operation.
  r = run_tracker(board.root(), {"--json", "help", "claim"});
  REQUIRE(r.code == 0);
  Json claim = Json::parse(r.out);
  CHECK(claim["operation"]["acts_as"].get<std::string>().starts_with("owner"));
  CHECK(option_of(claim, "--ttl"));
  CHECK(run_tracker(board.root(), {"--json", "help", "nosuch"}).code == 2);
}

TEST_CASE("catalogue: the MCP tools are the catalogue's operations, with its schemas") {
  Board board;
  std::vector<Json> answers = mcp_session(board.root(), {});
  const Json& tools = answers[0]["result"]["tools"];
  std::set<std::string> offered;
  for (const auto& t : tools) {
    std::string name = t["name"];
    INFO("tool " << name);
    offered.insert(name);
    const auto& op = catalogue::operation(name);
    CHECK(t["description"] == op.summary);
    CHECK(t["inputSchema"] == catalogue::input_schema(op, Door::mcp));
    CHECK(t["outputSchema"] == catalogue::result_schema(op));
  }
  for (const auto& op : catalogue::operations())
    if (op.doors & catalogue::mcp) CHECK(offered.count(op.name));
  // Parameters that every door shares keep one meaning; the identity's default is each door's.
  const auto& claim = catalogue::operation("claim");
  CHECK(catalogue::meaning_at(catalogue::param(claim, "owner"), Door::cli).find("TRACKER_OWNER") != std::string::npos);
  CHECK(catalogue::meaning_at(catalogue::param(claim, "owner"), Door::mcp).find("this server's identity") !=
        std::string::npos);
}

TEST_CASE("catalogue: the doors refuse the same bad arguments in the same words") {
  Board board;
  long id = board.create({"First"});
  ServeProcess server(board.root());
  std::string etag = server.etag(id);
  struct Case {
    std::string op;
    Json args;       // the MCP arguments; the web body without the id
    std::string path;
    std::vector<std::string> cli;  // the CLI's spelling of the same mistake
    std::string violation;
  };
  std::string sid = std::to_string(id);
  std::vector<Case> cases = {
      {"new", {{"name", "x"}, {"priority", "high"}}, "/api/stories", {"new", "x", "--priority", "high"},
       "'priority' must be an integer, not \"high\""},
      {"new", {{"name", ""}}, "/api/stories", {}, "'name' must not be empty"},
      {"new", {{"name", "x"}, {"colour", "red"}}, "/api/stories", {"new", "x", "--colour", "red"},
       "unknown argument 'colour'"},
      {"new", {{"name", "x"}, {"depends_on", {0}}}, "/api/stories", {"new", "x", "--depends-on", "0"},
       "'depends_on' item 1 must be at least 1"},
      {"move", {{"ids", {id}}, {"stage", 7}}, "/api/story/" + sid + "/move", {}, "'stage' must be a string, not 7"},
      {"move", {{"ids", {id}}}, "/api/story/" + sid + "/move", {"move", sid}, "'stage' is required"},
      {"set", {{"id", id}, {"fields", "priority=3"}}, "/api/story/" + sid + "/fields", {},
       "'fields' must be an object, not \"priority=3\""},
  };
  std::vector<std::pair<std::string, Json>> calls;
  for (const auto& c : cases) calls.emplace_back(c.op, c.args);
  std::vector<Json> answers = mcp_session(board.root(), calls);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    INFO(c.op << " " << c.args.dump());
    // MCP: an invalid-params error that says what is wrong.
    const Json& answer = answers[i + 1];
    REQUIRE(answer.contains("error"));
    std::string mcp_message = answer["error"]["message"];
    CHECK(mcp_message.find(c.violation) != std::string::npos);
    // The web API: 400 with the same words (its body has no id: that is the path's).
    Json body = c.args;
    if (c.path != "/api/stories") {
      body.erase("id");
      body.erase("ids");
    }
    Response web = server.post(c.path, body, etag);
    INFO(web.body);
    CHECK(web.status == 400);
    Json refusal = Json::parse(web.body);
    CHECK(refusal["error"].get<std::string>().find(c.violation) != std::string::npos);
    CHECK(refusal["code"] == 2);
    // The CLI: a usage error (exit 2) where it has the same parameter.
    if (!c.cli.empty()) CHECK(run_tracker(board.root(), c.cli).code == 2);
  }
  // Nothing was written through any door.
  CHECK(board.commit_count() == 2);
}

TEST_CASE("catalogue: completion offers what each parameter's value is") {
  Board board;
  board.create({"Alpha", "--label", "ui"});
  REQUIRE(run_tracker(board.root(), {"claim", "1", "--owner", "ann@example.com"}).code == 0);
  auto complete = [&](std::vector<std::string> words) {
    words.insert(words.begin(), "__complete");
    RunResult r = run_tracker(board.root(), words);
    REQUIRE(r.code == 0);
    return r.out;
  };
  CHECK(complete({"claim", "--owner", ""}).find("ann@example.com") != std::string::npos);  // owners on the board
  CHECK(complete({"list", "--sort", ""}) == "stage\npriority\nid\nupdated\n");             // the choices
  CHECK(complete({"list", "--label", ""}) == "ui\n");
  CHECK(complete({"show", ""}) == "1\tAlpha\n");                                            // ids with names
  CHECK(complete({"search", ""}).empty());                                                  // free text
  CHECK(complete({"renew", "1", "--ttl", ""}).empty());                                     // a duration
  CHECK(complete({"new", "x", "--depends-on", ""}) == "1\tAlpha\n");
  CHECK(complete({"list", "--where", "pri"}) == "priority=\n");
  CHECK(complete({"unlink", "1", ""}) == "1\tAlpha\n");                                   // outside the catalogue
  CHECK(complete({"set", "1", "prio"}) == "priority=\n");
}
