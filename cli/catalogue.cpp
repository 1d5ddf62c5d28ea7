#include "catalogue.hpp"

#include "output.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <tracker/claims.hpp>
#include <tracker/index.hpp>
#include <tracker/util.hpp>

// The operations are written with designated initializers: what one leaves out keeps
// the default its struct gives it, which is the point (GCC 12 warns all the same).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tracker::cli::catalogue {

namespace {

// Result schemas are built from these pieces: the JSON an MCP client is promised
// (outputSchema) and the keys the CLI's --json prints.
Json type(const char* name) { return {{"type", name}}; }
Json nullable(const char* name) { return {{"type", Json::array({name, "null"})}}; }
Json array_of(Json items) { return {{"type", "array"}, {"items", std::move(items)}}; }

Json object(std::vector<std::pair<std::string, Json>> properties, std::vector<std::string> required = {}) {
  Json props = Json::object();
  for (auto& [key, value] : properties) props[key] = std::move(value);
  Json out = {{"type", "object"}, {"properties", std::move(props)}};
  if (!required.empty()) out["required"] = required;
  return out;
}

/// id, name, stage, priority, agent: what an agent needs to pick a story.
Json brief() {
  return object({{"id", type("integer")},
                 {"name", type("string")},
                 {"stage", type("string")},
                 {"priority", nullable("integer")},
                 {"agent", nullable("string")}},
                {"id", "name", "stage"});
}

/// What a transition did to one story (done, release, reclaim).
Json change() {
  return object({{"id", type("integer")},
                 {"from", nullable("string")},
                 {"to", nullable("string")},
                 {"owner", nullable("string")},
                 {"changed", type("boolean")},
                 {"commit", nullable("string")}},
                {"id", "changed"});
}

Json with_commit(std::vector<std::pair<std::string, Json>> properties, std::vector<std::string> required) {
  properties.emplace_back("commit", nullable("string"));
  return object(std::move(properties), std::move(required));
}

// Parameters several operations share.
Param id_param(std::string meaning = "Story id", bool required = true) {
  Param p{.name = "id", .kind = Kind::id, .meaning = std::move(meaning), .cli = "id"};
  p.required = required;
  p.completes = Completes::id;
  p.in_path = true;
  return p;
}

Param owner_param(std::string meaning = "Act as this owner (default: {identity})") {
  // Not at the web door: the page acts as who runs the server.
  return {.name = "owner", .kind = Kind::text, .meaning = std::move(meaning), .doors = cli | mcp, .cli = "--owner",
          .word = "NAME", .nonempty = true, .completes = Completes::owner};
}

Param force_param(std::string meaning) {
  return {.name = "force", .kind = Kind::flag, .meaning = std::move(meaning), .doors = cli | mcp, .cli = "--force"};
}

/// `cli_default` empty: every one at the CLI.
Param limit_param(std::string cli_default, std::int64_t tool_default, const char* what) {
  return {.name = "limit", .kind = Kind::integer, .meaning = std::string("At most this many ") + what,
          .cli = "--limit", .word = "N", .minimum = 1, .maximum = kMaxLimit, .cli_default = std::move(cli_default),
          .tool_default = std::to_string(tool_default)};
}

Param stages_param() {
  return {.name = "stage", .kind = Kind::texts, .meaning = "Only this stage (repeatable)", .cli = "--stage",
          .word = "STAGE", .completes = Completes::stage};
}

Param ttl_param(std::string meaning) {
  return {.name = "ttl", .kind = Kind::duration, .meaning = std::move(meaning), .cli = "--ttl", .word = "DURATION"};
}

constexpr const char* kEndsOthers = "; ends the claim of another owner, recorded as Tracker-Forced-By";

std::vector<Operation> make() {
  std::vector<Operation> ops;
  ops.push_back({.name = "ready",
                 .summary = "Stories ready to be claimed, most urgent (highest priority) first",
                 .params = {limit_param("", 10, "stories")},
                 .result = [] { return object({{"stories", array_of(brief())}, {"more", type("boolean")}}, {"stories"}); }});
  ops.push_back(
      {.name = "claim",
       .summary = "Claim a story (or the first ready one) for an owner; it moves to the working stage",
       .params = {id_param("Story id (default: the first ready story)", false),
                  owner_param("Who takes the story (default: {identity})"),
                  ttl_param("How long the claim holds: 90s, 15m, 2h (default: claim.ttl)"),
                  {.name = "pid", .kind = Kind::integer,
                   .meaning = "The claim also ends when this process dies; 0: no process", .cli = "--pid", .word = "PID",
                   .minimum = 0, .maximum = kMaxPid, .cli_default = "0", .tool_default = "the MCP server's"},
                  force_param("Claim the story even when it is blocked or waits on a dependency that is not done")},
       .acts_as = "owner, else the door's identity; a claim held by another owner is refused (exit 3)",
       .result = [] { return with_commit({{"id", type("integer")},
                              {"name", type("string")},
                              {"stage", type("string")},
                              {"claim", object({{"owner", type("string")}, {"expires", type("string")}})},
                              {"renewed", type("boolean")}},
                             {"id", "claim"}); }});
  ops.push_back({.name = "renew",
                 .summary = "Extend a claim",
                 .params = {id_param(), owner_param("The owner holding the claim (default: {identity})"),
                            ttl_param("New lifetime from now: 90s, 15m, 2h (default: claim.ttl)")},
                 .acts_as = "owner, else the door's identity; only the holder renews",
                 .result = [] { return object({{"id", type("integer")}, {"owner", type("string")}, {"expires", type("string")}},
                                  {"id", "expires"}); }});
  ops.push_back({.name = "release",
                 .summary = "End a claim and move the story back",
                 .params = {id_param(), owner_param(),
                            force_param(std::string("Release a claim another owner holds") + kEndsOthers)},
                 .acts_as = "owner, else the door's identity; only the holder, or force (recorded)",
                 .result = [] { return change(); }});
  ops.push_back({.name = "done",
                 .summary = "Move a story to the done stage and end its claim",
                 .params = {id_param(), owner_param(),
                            force_param(std::string("Finish a story another owner has claimed") + kEndsOthers)},
                 .acts_as = "owner, else the door's identity; only the holder, or force (recorded)",
                 .result = [] { return change(); }});
  ops.push_back({.name = "reclaim",
                 .summary = "Return stories whose claims expired (or whose holder died)",
                 .params = {id_param("Only this story (default: every expired claim)", false)},
                 .acts_as = "anyone: only claims that no longer hold are ended",
                 .result = [] { return object({{"reclaimed", array_of(change())}}, {"reclaimed"}); }});
  ops.push_back(
      {.name = "show",
       .summary = "Show a story's fields and body",
       .params = {id_param(),
                  {.name = "fields", .kind = Kind::texts, .meaning = "Only these keys", .doors = mcp,
                   .completes = Completes::key},
                  {.name = "max_body", .kind = Kind::integer, .meaning = "At most this many bytes of the body", .doors = mcp,
                   .minimum = 0, .tool_default = "2000"},
                  {.name = "raw", .kind = Kind::flag, .meaning = "Print the file exactly as it is", .doors = cli,
                   .cli = "--raw"}},
       .result = [] { return object({{"id", type("integer")}, {"body", type("string")}, {"body_truncated", type("boolean")}}, {"id"}); },
       .route = "GET /api/story/<id>"});
  ops.push_back(
      {.name = "list",
       .summary = "List stories",
       .params = {stages_param(),
                  {.name = "type", .kind = Kind::text, .meaning = "Only this type", .cli = "--type", .word = "TYPE",
                   .completes = Completes::type},
                  {.name = "label", .kind = Kind::text, .meaning = "Only stories with this label", .cli = "--label",
                   .word = "LABEL", .completes = Completes::label},
                  {.name = "agent", .kind = Kind::text, .meaning = "Only stories of this agent", .cli = "--agent",
                   .word = "NAME", .completes = Completes::owner},
                  {.name = "blocked", .kind = Kind::flag, .meaning = "Only blocked stories", .cli = "--blocked"},
                  {.name = "ready", .kind = Kind::flag, .meaning = "Only stories ready to be claimed", .cli = "--ready"},
                  {.name = "claimed", .kind = Kind::flag, .meaning = "Only stories with a claim that holds",
                   .cli = "--claimed"},
                  {.name = "open", .kind = Kind::flag, .meaning = "Hide the stories in done stages (done, archived)",
                   .cli = "--open"},
                  {.name = "sort", .kind = Kind::choice, .meaning = "Order: stage, priority, id or updated",
                   .cli = "--sort", .choices = {"stage", "priority", "id", "updated"}, .completes = Completes::choices,
                   .cli_default = "stage", .tool_default = "stage"},
                  {.name = "reverse", .kind = Kind::flag, .meaning = "The order reversed", .cli = "--reverse"},
                  {.name = "where", .kind = Kind::texts,
                   .meaning = "Only stories whose front matter key has this value, key=value (a list: holds it; "
                              "key=: no such key); repeatable",
                   .cli = "--where", .word = "KEY=VALUE", .completes = Completes::key},
                  limit_param("", 50, "stories"),
                  {.name = "full", .kind = Kind::flag,
                   .meaning = "Every field of each story (else id, name, stage, priority, agent)", .doors = mcp}},
       .result = [] { return object({{"stories", array_of(object({{"id", type("integer")}}, {"id"}))}, {"more", type("boolean")}},
                        {"stories"}); }});
  ops.push_back({.name = "search",
                 .summary = "Full-text search of names and bodies, best match first",
                 .params = {{.name = "query", .kind = Kind::text,
                             .meaning = "Words to find (all of them); \"a phrase\", OR, prefix*",
                             .cli = "query", .required = true, .nonempty = true},
                            stages_param(), limit_param("20", 10, "results"),
                            {.name = "all", .kind = Kind::flag, .meaning = "Every match", .doors = cli, .cli = "--all"}},
                 .result = [] { return object({{"hits", array_of(object({{"id", type("integer")}, {"snippet", type("string")}},
                                                            {"id"}))},
                                   {"total", type("integer")}},
                                  {"hits"}); }});
  ops.push_back(
      {.name = "new",
       .summary = "Create a story and give its id",
       .params = {{.name = "name", .kind = Kind::text, .meaning = "The story's name", .cli = "name",
                   .required = true, .nonempty = true},
                  {.name = "type", .kind = Kind::text,
                   .meaning = "story, bug, spike, refactor or a type from the config", .cli = "--type",
                   .word = "TYPE", .completes = Completes::type, .cli_default = "story", .tool_default = "story"},
                  {.name = "stage", .kind = Kind::text, .meaning = "Stage to create it in (default: the ready stage)",
                   .cli = "--stage", .word = "STAGE", .completes = Completes::stage},
                  {.name = "priority", .kind = Kind::integer, .meaning = "Priority: a higher number is more urgent",
                   .cli = "--priority", .word = "N"},
                  {.name = "labels", .kind = Kind::texts, .meaning = "A label (repeatable, or comma-separated)",
                   .cli = "--label", .word = "LABEL", .completes = Completes::label},
                  {.name = "depends_on", .kind = Kind::integers,
                   .meaning = "Id of a story this one waits for (repeatable)", .cli = "--depends-on", .word = "ID",
                   .minimum = 1, .completes = Completes::id},
                  {.name = "body", .kind = Kind::text, .meaning = "The story's markdown body", .cli = "--body",
                   .word = "MARKDOWN"},
                  {.name = "body_file", .kind = Kind::text, .meaning = "Read the body from a file ('-': stdin)",
                   .doors = cli, .cli = "--body-file", .word = "FILE"},
                  {.name = "key", .kind = Kind::text,
                   .meaning = "Idempotency key: the same key again gives the first story's id", .cli = "--key",
                   .word = "KEY"},
                  {.name = "edit", .kind = Kind::flag,
                   .meaning = "Write the story in $VISUAL / $EDITOR, starting from a template; created only when valid",
                   .doors = cli, .cli = "--edit,-e"}},
       .result = [] { return with_commit({{"id", type("integer")}, {"path", type("string")}, {"created", type("boolean")}}, {"id"}); },
       .route = "POST /api/stories"});
  ops.push_back(
      {.name = "set",
       .summary = "Set front matter keys, changing only their lines (null, or unset at the CLI, removes one)",
       .params = {id_param(),
                  {.name = "fields", .kind = Kind::fields,
                   .meaning = "The keys and their values: {\"priority\": 3, \"labels\": [\"ui\"]}; at the CLI "
                              "key=value words, lists as comma lists (labels=ui,api)",
                   .cli = "assignments", .required = true, .completes = Completes::key},
                  {.name = "keep_file_name", .kind = Kind::flag, .meaning = "A new name leaves the file name as it is",
                   .doors = cli | mcp, .cli = "--keep-file-name"},
                  owner_param(),
                  force_param(std::string("Change agent of a story another owner has claimed") + kEndsOthers)},
       .acts_as = "owner, else the door's identity; the agent of a story another owner has claimed only with force",
       .result = [] { return with_commit({{"id", type("integer")},
                              {"changed", type("boolean")},
                              {"changes", array_of(type("string"))}},
                             {"id", "changed"}); },
       .route = "POST /api/story/<id>/fields"});
  ops.push_back(
      {.name = "move",
       .summary = "Move stories to a stage (one commit)",
       .params = {{.name = "ids", .kind = Kind::ids, .meaning = "The stories to move; at the CLI the ids, then the stage: <id>... <stage>",
                   .doors = cli | mcp, .cli = "args", .required = true, .completes = Completes::id},
                  {.name = "stage", .kind = Kind::text, .meaning = "The stage they go to", .cli = "args",
                   .required = true, .completes = Completes::stage},
                  owner_param(),
                  force_param(std::string("Move a story another owner has claimed") + kEndsOthers)},
       .acts_as = "owner, else the door's identity; a story another owner has claimed only with force",
       .result = [] { return with_commit({{"moved", type("array")}, {"unchanged", type("array")}, {"claims_ended", type("array")}},
                             {"moved"}); },
       .route = "POST /api/story/<id>/move"});
  auto block_result = [] {
    return with_commit({{"id", type("integer")}, {"stage", type("string")}, {"changed", type("boolean")}},
                       {"id", "changed"});
  };
  ops.push_back({.name = "block",
                 .summary = "Mark a story blocked: it is never ready",
                 .params = {id_param(), {.name = "reason", .kind = Kind::text, .meaning = "Why (kept as blocked_reason)",
                                         .cli = "--reason", .word = "REASON"}},
                 .result = block_result});
  ops.push_back({.name = "unblock", .summary = "Clear a story's blocked mark", .params = {id_param()},
                 .result = block_result});
  ops.push_back(
      {.name = "link",
       .summary = "Make a story depend on another (remove, or unlink at the CLI, drops the link)",
       .params = {id_param(),
                  {.name = "depends_on", .kind = Kind::id, .meaning = "The story it depends on", .cli = "depends-on-id",
                   .required = true, .completes = Completes::id},
                  {.name = "remove", .kind = Kind::flag, .meaning = "Drop the link instead", .doors = mcp}},
       .result = [] { return with_commit({{"id", type("integer")},
                              {"depends_on", array_of(type("integer"))},
                              {"changed", type("boolean")}},
                             {"id", "changed"}); }});
  ops.push_back(
      {.name = "log",
       .summary = "Transitions of one story or of the whole board, newest first",
       .params = {id_param("Story id (default: the whole board)", false), limit_param("", 20, "entries")},
       .result = [] { return object({{"entries", array_of(object({{"commit", type("string")},
                                                      {"action", type("string")},
                                                      {"id", type("integer")}},
                                                     {"commit", "id"}))}},
                        {"entries"}); }});
  ops.push_back({.name = "diff",
                 .summary = "What changed on the board: HEAD against the working tree, or between revisions",
                 .params = {{.name = "range", .kind = Kind::text,
                             .meaning = "<rev> (against the working tree), <rev>..<rev>, or <rev>...<rev> (from the merge base)",
                             .cli = "range"},
                            {.name = "format", .kind = Kind::choice,
                             .meaning = "text, or markdown (a summary for a pull request)", .doors = cli,
                             .cli = "--format", .choices = {"text", "markdown"},
                             .completes = Completes::choices, .cli_default = "text"}},
                 .result = [] { return object({{"changes", array_of(object({{"id", type("integer")}, {"change", type("string")}},
                                                               {"id", "change"}))}},
                                  {"changes"}); }});
  ops.push_back({.name = "stats",
                 .summary = "Counts per stage, ready, blocked, claimed and expired claims",
                 .result = [] { return object({{"stages", type("object")},
                                   {"total", type("integer")},
                                   {"ready", type("integer")},
                                   {"claimed", type("integer")}},
                                  {"stages", "total"}); }});
  // The CLI's own operations: the board's repository, its upkeep, and the other doors.
  auto ids_param = [](std::string meaning) {
    return Param{.name = "ids", .kind = Kind::ids, .meaning = std::move(meaning), .cli = "ids", .required = true,
                 .completes = Completes::id};
  };
  ops.push_back({.name = "init",
                 .summary = "Create a workspace: .tracker/config.yml and the stage directories",
                 .doors = cli,
                 .params = {{.name = "dir", .kind = Kind::text, .meaning = "Directory that holds the stage directories",
                             .cli = "--dir", .word = "DIR", .cli_default = "work"},
                            {.name = "stages", .kind = Kind::text, .meaning = "Comma-separated stage names, in board order",
                             .cli = "--stages", .word = "STAGE,...",
                             .cli_default = "backlog,current,qa,merge,done,archived"},
                            {.name = "remote", .kind = Kind::text,
                             .meaning = "Claims go through this git remote, so that clones never claim twice",
                             .cli = "--remote", .word = "NAME"},
                            {.name = "adopt", .kind = Kind::text,
                             .meaning = "Adopt an existing board in this directory (e.g. .huskies/work) as it is",
                             .cli = "--adopt", .word = "DIR"}}});
  ops.push_back({.name = "edit",
                 .summary = "Edit a story in $VISUAL / $EDITOR; validated before it is saved",
                 .doors = cli,
                 .params = {id_param()}});
  ops.push_back({.name = "unset",
                 .summary = "Remove front matter keys, changing only their lines",
                 .doors = cli,
                 .params = {id_param(),
                            {.name = "keys", .kind = Kind::texts, .meaning = "key...", .cli = "keys", .required = true,
                             .completes = Completes::key},
                            owner_param(),
                            force_param(std::string("Remove agent of a story another owner has claimed") + kEndsOthers)},
                 .acts_as = "as set"});
  ops.push_back({.name = "delete",
                 .summary = "Delete stories (one commit); their ids are never given out again",
                 .doors = cli,
                 .params = {ids_param("Story ids"), owner_param(),
                            force_param("Delete even a story another owner has claimed (recorded as Tracker-Forced-By), "
                                        "or one others depend on")},
                 .acts_as = "owner, else the door's identity; a story another owner has claimed only with force"});
  ops.push_back({.name = "archive",
                 .summary = "Move stories to the archive stage (one commit)",
                 .doors = cli,
                 .params = {ids_param("Story ids"), owner_param(),
                            force_param(std::string("Archive a story another owner has claimed") + kEndsOthers)},
                 .acts_as = "as move"});
  ops.push_back({.name = "check",
                 .summary = "Validate the whole board; exit 5 on any problem",
                 .doors = cli,
                 .params = {{.name = "changed", .kind = Kind::flag,
                             .meaning = "Judge only the story files changed since HEAD, by the rules tracker commit "
                                        "applies (for a pre-commit hook)",
                             .cli = "--changed"}}});
  ops.push_back({.name = "doctor",
                 .summary = "Find and repair what a crash can leave: a git index behind HEAD, stale locks, temp files, "
                            "uncommitted moves",
                 .doors = cli,
                 .params = {{.name = "dry_run", .kind = Kind::flag, .meaning = "Only say what would be repaired",
                             .cli = "--dry-run,-n"}}});
  ops.push_back({.name = "renumber",
                 .summary = "Give a story (a duplicate id after a merge) a fresh id",
                 .doors = cli,
                 .params = {id_param(),
                            {.name = "path", .kind = Kind::text, .meaning = "Which file, when the id is used more than once",
                             .cli = "--path", .word = "FILE"},
                            {.name = "refs", .kind = Kind::integers,
                             .meaning = "Stories whose depends_on means this copy (when the id is duplicated)",
                             .cli = "--refs", .word = "ID", .minimum = 1, .completes = Completes::id}}});
  ops.push_back({.name = "commit",
                 .summary = "Commit the story files changed by hand, and nothing else",
                 .doors = cli,
                 .params = {{.name = "ids", .kind = Kind::integers,
                             .meaning = "Commit only these stories' changes (default: every changed story)",
                             .cli = "ids", .minimum = 1, .completes = Completes::id},
                            {.name = "message", .kind = Kind::text,
                             .meaning = "Subject line (the summary of changes goes in the body)", .cli = "-m,--message",
                             .word = "MESSAGE"}}});
  ops.push_back({.name = "sync",
                 .summary = "Exchange the board's branch with the shared remote: fetch, replay this clone's commits, push",
                 .doors = cli});
  ops.push_back({.name = "merge-file",
                 .summary = "git's merge driver for story files: front matter field by field, body by lines",
                 .doors = cli,
                 .params = {{.name = "files", .kind = Kind::texts,
                             .meaning = "<base> <ours> <theirs> [<path> [<labels>…]]: git's %O %A %B %P %S %X %Y; the "
                                        "result goes to <ours>",
                             .cli = "files"},
                            {.name = "install", .kind = Kind::flag,
                             .meaning = "Register the driver in this clone's git config (merge.tracker.driver)",
                             .cli = "--install"}}});
  ops.push_back({.name = "board",
                 .summary = "The stages side by side, a card per story",
                 .doors = cli,
                 .params = {{.name = "stage", .kind = Kind::texts,
                             .meaning = "Only this stage (repeatable); a done stage is shown when asked for",
                             .cli = "--stage", .word = "STAGE", .completes = Completes::stage},
                            {.name = "label", .kind = Kind::text, .meaning = "Only stories with this label",
                             .cli = "--label", .word = "LABEL", .completes = Completes::label},
                            {.name = "all", .kind = Kind::flag, .meaning = "Show the done stages (done, archived) too",
                             .cli = "--all"}}});
  ops.push_back({.name = "flow",
                 .summary = "Flow metrics from the history: throughput, cycle time, WIP and age",
                 .doors = cli,
                 .params = {{.name = "since", .kind = Kind::text,
                             .meaning = "Start of the window: a date, a time, or a duration back such as 30d",
                             .cli = "--since", .word = "DATE", .cli_default = "90d"},
                            {.name = "until", .kind = Kind::text, .meaning = "End of the window: a date or a time",
                             .cli = "--until", .word = "DATE", .cli_default = "now"},
                            {.name = "label", .kind = Kind::text, .meaning = "Only stories with this label",
                             .cli = "--label", .word = "LABEL", .completes = Completes::label},
                            {.name = "type", .kind = Kind::text, .meaning = "Only stories of this type", .cli = "--type",
                             .word = "TYPE", .completes = Completes::type}}});
  ops.push_back({.name = "serve",
                 .summary = "Serve the board in a browser, on 127.0.0.1 only",
                 .doors = cli,
                 .params = {{.name = "port", .kind = Kind::integer, .meaning = "The port (0: any free one)",
                             .cli = "--port", .word = "PORT", .minimum = 0, .maximum = 65535, .cli_default = "7410"},
                            {.name = "open", .kind = Kind::flag, .meaning = "Open the page in the browser (xdg-open)",
                             .cli = "--open"}}});
  ops.push_back({.name = "mcp",
                 .summary = "Serve the board to coding agents: an MCP server on stdin/stdout",
                 .doors = cli,
                 .params = {owner_param("Who the tools act as (default: TRACKER_OWNER, else the client's name, else "
                                        "git's user.email)"),
                            {.name = "print_config", .kind = Kind::flag,
                             .meaning = "Print the JSON an MCP client's configuration takes to start this server",
                             .cli = "--print-config"}}});
  // An operation is at the web door when it has a route there.
  for (auto& op : ops)
    if (!op.route.empty()) op.doors |= web;
  return ops;
}

std::string identity_at(Door door) {
  switch (door) {
    case Door::cli: return "TRACKER_OWNER, else git's user.email";
    case Door::mcp: return "this server's identity";
    case Door::web: return "the identity of who runs the server";
  }
  return {};
}

unsigned bit(Door door) {
  switch (door) {
    case Door::cli: return cli;
    case Door::mcp: return mcp;
    case Door::web: return web;
  }
  return 0;
}

Json param_schema(const Param& p, Door door) {
  Json s;
  auto bounded = [&](Json j) {
    if (p.minimum) j["minimum"] = *p.minimum;
    if (p.maximum) j["maximum"] = *p.maximum;
    return j;
  };
  switch (p.kind) {
    case Kind::id: s = {{"type", "integer"}, {"minimum", 1}}; break;
    case Kind::ids: s = {{"type", "array"}, {"items", {{"type", "integer"}, {"minimum", 1}}}, {"minItems", 1}}; break;
    case Kind::integer: s = bounded(type("integer")); break;
    case Kind::text:
    case Kind::duration:
      s = type("string");
      if (p.nonempty) s["minLength"] = 1;
      break;
    case Kind::flag: s = type("boolean"); break;
    case Kind::texts: s = array_of(type("string")); break;
    case Kind::integers: s = array_of(bounded(type("integer"))); break;
    case Kind::fields: s = type("object"); break;
    case Kind::choice: s = {{"enum", p.choices}}; break;
  }
  s["description"] = meaning_at(p, door);
  return s;
}

std::string kind_name(Kind k) {
  switch (k) {
    case Kind::id: return "id";
    case Kind::ids: return "ids";
    case Kind::integer: return "integer";
    case Kind::text: return "text";
    case Kind::duration: return "duration";
    case Kind::flag: return "flag";
    case Kind::texts: return "texts";
    case Kind::integers: return "integers";
    case Kind::fields: return "fields";
    case Kind::choice: return "choice";
  }
  return {};
}

std::string completes_name(Completes c) {
  switch (c) {
    case Completes::nothing: return "";
    case Completes::id: return "id";
    case Completes::stage: return "stage";
    case Completes::key: return "key";
    case Completes::label: return "label";
    case Completes::owner: return "owner";
    case Completes::type: return "type";
    case Completes::choices: return "choices";
  }
  return {};
}

Json doors_json(unsigned doors) {
  Json out = Json::array();
  if (doors & cli) out.push_back("cli");
  if (doors & mcp) out.push_back("mcp");
  if (doors & web) out.push_back("web");
  return out;
}

/// The value words of options declared through add_param.
std::map<const CLI::Option*, std::string>& words() {
  static std::map<const CLI::Option*, std::string> all;
  return all;
}

}  // namespace

const std::vector<Operation>& operations() {
  static const std::vector<Operation> all = make();
  return all;
}

const Operation* find(std::string_view name) {
  for (const auto& op : operations())
    if (op.name == name) return &op;
  return nullptr;
}

const Operation& operation(std::string_view name) {
  if (const Operation* op = find(name)) return *op;
  throw std::out_of_range("catalogue: no operation '" + std::string(name) + "'");
}

const Param& param(const Operation& op, std::string_view name) {
  for (const auto& p : op.params)
    if (p.name == name) return p;
  throw std::out_of_range("catalogue: " + op.name + " has no parameter '" + std::string(name) + "'");
}

std::string meaning_at(const Param& p, Door door) {
  std::string out = p.meaning;
  const std::string mark = "{identity}";
  if (auto at = out.find(mark); at != std::string::npos) out.replace(at, mark.size(), identity_at(door));
  const std::string& fallback = door == Door::cli ? p.cli_default : p.tool_default;
  if (!fallback.empty()) out += " (default: " + fallback + ")";
  return out;
}

Json input_schema(const Operation& op, Door door) {
  Json properties = Json::object();
  Json required = Json::array();
  for (const auto& p : op.params) {
    if (!(p.doors & bit(door)) || (door == Door::web && p.in_path)) continue;
    properties[p.name] = param_schema(p, door);
    if (p.required) required.push_back(p.name);
  }
  Json out = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) out["required"] = std::move(required);
  out["additionalProperties"] = false;
  return out;
}

Json result_schema(const Operation& op) { return op.result ? op.result() : Json(); }

Json to_json() {
  Json ops = Json::array();
  for (const auto& op : operations()) {
    Json params = Json::array();
    for (const auto& p : op.params) {
      Json j = {{"name", p.name}, {"kind", kind_name(p.kind)}, {"meaning", p.meaning}, {"doors", doors_json(p.doors)}};
      if (p.doors & cli) j["cli"] = p.cli;
      j["required"] = p.required;
      if (p.minimum) j["minimum"] = *p.minimum;
      if (p.maximum) j["maximum"] = *p.maximum;
      if (!p.choices.empty()) j["choices"] = p.choices;
      if (!p.cli_default.empty()) j["cli_default"] = p.cli_default;
      if (!p.tool_default.empty()) j["tool_default"] = p.tool_default;
      if (p.completes != Completes::nothing) j["completes"] = completes_name(p.completes);
      params.push_back(std::move(j));
    }
    Json j = {{"name", op.name}, {"summary", op.summary}, {"doors", doors_json(op.doors)}, {"params", params}};
    if (!op.acts_as.empty()) j["acts_as"] = op.acts_as;
    if (!op.route.empty()) j["route"] = op.route;
    j["result"] = result_schema(op);
    ops.push_back(std::move(j));
  }
  return {{"operations", ops}};
}

std::optional<std::string> schema_violation(const Json& schema, const Json& value, const std::string& where) {
  auto named = [&](const std::string& what) { return (where.empty() ? std::string("arguments") : where) + " " + what; };
  if (schema.contains("type")) {
    std::vector<std::string> types;
    if (schema["type"].is_array())
      for (const auto& t : schema["type"]) types.push_back(t.get<std::string>());
    else
      types.push_back(schema["type"].get<std::string>());
    auto is = [&](const std::string& t) {
      if (t == "integer") return value.is_number_integer();
      if (t == "number") return value.is_number();
      if (t == "string") return value.is_string();
      if (t == "boolean") return value.is_boolean();
      if (t == "array") return value.is_array();
      if (t == "object") return value.is_object();
      if (t == "null") return value.is_null();
      return false;
    };
    if (std::none_of(types.begin(), types.end(), is)) {
      auto article = [](const std::string& t) { return (t == "integer" || t == "array" || t == "object" ? "an " : "a ") + t; };
      std::vector<std::string> names;
      for (const auto& t : types) names.push_back(article(t));
      return named("must be " + join(names, " or ") + ", not " + value.dump(-1, ' ', false, Json::error_handler_t::replace));
    }
  }
  if (schema.contains("enum")) {
    const auto& options = schema["enum"];
    if (std::find(options.begin(), options.end(), value) == options.end()) {
      std::vector<std::string> names;
      for (const auto& o : options) names.push_back(o.is_string() ? o.get<std::string>() : o.dump());
      return named("must be one of " + join(names, ", "));
    }
  }
  if (schema.contains("minimum") && value.is_number() && value.get<double>() < schema["minimum"].get<double>())
    return named("must be at least " + schema["minimum"].dump());
  if (schema.contains("maximum") && value.is_number() && value.get<double>() > schema["maximum"].get<double>())
    return named("must be at most " + schema["maximum"].dump());
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))
    return named("must be at most " + std::to_string(INT64_MAX));  // read as int64, it would wrap (to -1)
  if (schema.contains("minLength") && value.is_string() && value.get<std::string>().size() < schema["minLength"].get<std::size_t>())
    return named("must not be empty");
  if (value.is_array()) {
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<std::size_t>())
      return named("must have at least " + schema["minItems"].dump() + " item(s)");
    if (schema.contains("items"))
      for (std::size_t i = 0; i < value.size(); ++i)
        if (auto v = schema_violation(schema["items"], value[i], where + " item " + std::to_string(i + 1))) return v;
  }
  if (value.is_object()) {
    const Json props = schema.value("properties", Json::object());
    if (schema.contains("required"))
      for (const auto& r : schema["required"])
        if (!value.contains(r.get<std::string>())) return "'" + r.get<std::string>() + "' is required";
    for (const auto& [key, v] : value.items()) {
      if (props.contains(key)) {
        if (auto bad = schema_violation(props[key], v, "'" + key + "'")) return bad;
      } else if (schema.contains("additionalProperties")) {
        const Json& extra = schema["additionalProperties"];
        if (extra.is_boolean() && !extra.get<bool>()) {
          std::vector<std::string> known;
          for (const auto& [k, _] : props.items()) known.push_back(k);
          return "unknown argument '" + key + "'" + (known.empty() ? ": this tool takes none" : " (" + join(known, ", ") + ")");
        }
        if (extra.is_object())
          if (auto bad = schema_violation(extra, v, "'" + key + "'")) return bad;
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> word_of(const CLI::Option& option) {
  auto it = words().find(&option);
  if (it == words().end()) return std::nullopt;
  return it->second;
}

const Param* cli_param(std::string_view command, std::string_view spelling) {
  if (const Operation* op = find(command))
    for (const auto& p : op->params)
      if ((p.doors & cli) && p.cli == spelling) return &p;
  return nullptr;
}

namespace detail {

CLI::Option* finish(CLI::Option* option, const Operation&, const Param& p) {
  if (p.required) option->required();
  switch (p.kind) {
    case Kind::id: option->transform(story_id()); break;
    case Kind::integer:
      if (p.minimum && *p.minimum >= 0) option->transform(whole_number(p.cli, *p.minimum, p.maximum.value_or(INT64_MAX)));
      break;
    case Kind::ids:
      // move's ids and stage are one list at the CLI: its stage is no id.
      if (p.cli != "args") option->transform(story_id());
      break;
    case Kind::integers:
      if (p.completes == Completes::id) option->transform(story_id());
      break;
    case Kind::choice: option->check(CLI::IsMember(p.choices)); break;
    default: break;
  }
  if (!p.word.empty()) words()[option] = p.word;
  return option;
}

}  // namespace detail

}  // namespace tracker::cli::catalogue
