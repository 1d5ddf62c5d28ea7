// The catalogue's declarations: every operation once, with its parameters, its
// identity rule and the shape of its result. What the doors make of them (CLI11
// options, MCP schemas, web validation, help, completion) is in catalogue.cpp.
#include "catalogue.hpp"

#include <tracker/claims.hpp>
#include <tracker/flow.hpp>
#include <tracker/index.hpp>
#include <tracker/util.hpp>

// The operations are written with designated initializers: what one leaves out keeps
// the default its struct gives it, which is the point (GCC 12 warns all the same).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace tracker::cli::catalogue {

namespace {

// Result schemas are built from these pieces: the JSON an MCP client is promised
// (outputSchema) and the keys the CLI's --json prints.
Json nullable(const char* name) { return {{"type", Json::array({name, "null"})}}; }

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

}  // namespace

Json type(const char* name) { return {{"type", name}}; }
Json array_of(Json items) { return {{"type", "array"}, {"items", std::move(items)}}; }

std::vector<Operation> declared() {
  std::vector<Operation> ops;
  ops.push_back({.name = "ready",
                 .summary = "Stories ready to be claimed, most urgent (highest priority number) first",
                 .params = {limit_param("", 10, "stories"),
                            {.name = "explain", .kind = Kind::flag,
                             .meaning = "Also the most urgent stories of the ready stages that are not ready, and why",
                             .cli = "--explain"}},
                 .result = [] {
                   return object({{"stories", array_of(brief())},
                                  {"more", type("boolean")},
                                  {"not_ready", array_of(object({{"id", type("integer")},
                                                                 {"why", type("string")},
                                                                 {"reasons", array_of(object({{"kind", type("string")}},
                                                                                             {"kind"}))}},
                                                                {"id", "why", "reasons"}))}},
                                 {"stories"});
                 }});
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
                             {"id", "claim"}); },
       .route = "POST /api/story/<id>/claim"});
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
                 .result = [] { return change(); },
                 .route = "POST /api/story/<id>/release"});
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
                  {.name = "parent", .kind = Kind::id, .meaning = "Only the children of this story", .cli = "--parent",
                   .word = "ID", .completes = Completes::id},
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
                             .meaning = "Words to find (all of them, each as the start of a word); \"a phrase\", OR, -excluded",
                             .cli = "query", .required = true, .nonempty = true},
                            stages_param(), limit_param("20", 10, "results"),
                            {.name = "all", .kind = Kind::flag, .meaning = "Every match", .doors = cli, .cli = "--all"}},
                 .result = [] { return object({{"hits", array_of(object({{"id", type("integer")}, {"snippet", type("string")}},
                                                            {"id"}))},
                                   {"total", type("integer")},
                                   {"corrected", array_of(object({{"typed", type("string")}, {"used", type("string")}},
                                                                 {"typed", "used"}))}},
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
                  {.name = "parent", .kind = Kind::id, .meaning = "Id of the story this one is part of (an epic)",
                   .cli = "--parent", .word = "ID", .completes = Completes::id},
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
                              "key=value words, lists as comma lists (labels=ui,api). priority is an integer, a higher number more urgent "
                              "(ready and claim take 5 before 2); type renames the file (<id>_<type>_<slug>.md) to one of the config's types",
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
  ops.push_back({.name = "tree",
                 .summary = "Parent stories and their children, each with its stage and progress",
                 .params = {id_param("Only this story and the stories under it", false), limit_param("", 200, "stories")},
                 .result = [] { return object({{"stories", array_of(object({{"id", type("integer")},
                                                                            {"name", type("string")},
                                                                            {"stage", type("string")},
                                                                            {"depth", type("integer")},
                                                                            {"parent", nullable("integer")},
                                                                            {"progress", nullable("object")}},
                                                                           {"id", "depth"}))},
                                               {"more", type("boolean")}},
                                              {"stories"}); }});
  ops.push_back({.name = "stats",
                 .summary = "Counts per stage, ready, blocked, claimed and expired claims",
                 .result = [] { return object({{"stages", type("object")},
                                   {"total", type("integer")},
                                   {"ready", type("integer")},
                                   {"claimed", type("integer")}},
                                  {"stages", "total"}); }});
  // The CLI's own operations: the board's repository, its upkeep, and the other doors.
  auto ids_param = [](std::string meaning) {
    return Param{.name = "ids", .kind = Kind::ids, .meaning = std::move(meaning), .doors = cli | mcp, .cli = "ids",
                 .required = true, .completes = Completes::id};
  };
  // At the web door a route names one story in its path.
  auto path_id = [] {
    Param p = id_param();
    p.doors = web;
    return p;
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
                 .params = {id_param(),
                            {.name = "keep_file_name", .kind = Kind::flag,
                             .meaning = "A new name leaves the file name as it is", .cli = "--keep-file-name"}}});
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
                 .params = {ids_param("Story ids"), path_id(), owner_param(),
                            force_param("Delete even a story another owner has claimed (recorded as Tracker-Forced-By), "
                                        "or one others depend on")},
                 .acts_as = "owner, else the door's identity; a story another owner has claimed only with force",
                 .route = "POST /api/story/<id>/delete"});
  ops.push_back({.name = "archive",
                 .summary = "Move stories to the archive stage (one commit)",
                 .doors = cli,
                 .params = {ids_param("Story ids"), path_id(), owner_param(),
                            force_param(std::string("Archive a story another owner has claimed") + kEndsOthers)},
                 .acts_as = "as move",
                 .route = "POST /api/story/<id>/archive"});
  ops.push_back({.name = "body",
                 .summary = "Replace a story's body (the markdown under its front matter), as an edit of the file",
                 .doors = web,
                 .params = {path_id(),
                            {.name = "body", .kind = Kind::text, .meaning = "The new body, markdown", .required = true}},
                 .acts_as = "the door's identity",
                 .result = [] { return with_commit({{"id", type("integer")}, {"changed", type("boolean")}}, {"id"}); },
                 .route = "POST /api/story/<id>/body"});
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
                             .meaning = "Stories whose depends_on, parent or related means this copy (when the id is duplicated)",
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
  ops.push_back({.name = "import",
                 .summary = "Import stories from beads, Backlog.md or GitHub Issues in one commit; again, it updates them",
                 .doors = cli,
                 .params = {{.name = "format", .kind = Kind::choice, .meaning = "What the paths hold: beads, backlog-md or github",
                             .cli = "format", .required = true, .choices = {"beads", "backlog-md", "github"},
                             .completes = Completes::choices},
                            {.name = "paths", .kind = Kind::texts,
                             .meaning = "beads: issues.jsonl (or its directory); backlog-md: the backlog/ directory; "
                                        "github: the JSON of gh issue list or of the REST API",
                             .cli = "paths", .required = true},
                            {.name = "map", .kind = Kind::texts,
                             .meaning = "The stage for a status of the source (repeatable)", .cli = "--map",
                             .word = "STATUS=STAGE"},
                            {.name = "map_type", .kind = Kind::texts,
                             .meaning = "The type for a type of the source (repeatable); an unknown type is otherwise "
                                        "added to the config",
                             .cli = "--map-type", .word = "TYPE=TYPE"},
                            {.name = "repo", .kind = Kind::text,
                             .meaning = "github: the repository the issues are from, when their JSON has no url",
                             .cli = "--repo", .word = "OWNER/NAME"},
                            {.name = "dry_run", .kind = Kind::flag,
                             .meaning = "Print what would be created and updated, and the mapping; write nothing",
                             .cli = "--dry-run,-n"},
                            force_param("Update stories another owner has claimed (their claims end)")}});
  ops.push_back({.name = "export",
                 .summary = "Write the board as beads JSONL, CSV or a Backlog.md directory",
                 .doors = cli,
                 .params = {{.name = "format", .kind = Kind::choice, .meaning = "jsonl (beads), csv or backlog-md",
                             .cli = "--format", .choices = {"jsonl", "csv", "backlog-md"},
                             .completes = Completes::choices, .cli_default = "jsonl"},
                            {.name = "out", .kind = Kind::text,
                             .meaning = "The file (default: standard output), or for backlog-md the directory",
                             .cli = "--out,-o", .word = "PATH"}}});
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
                             .doors = cli, .cli = "--stage", .word = "STAGE", .completes = Completes::stage},
                            {.name = "q", .kind = Kind::text,
                             .meaning = "Only the stories this search query finds (as tracker search)", .doors = web},
                            {.name = "label", .kind = Kind::text, .meaning = "Only stories with this label",
                             .cli = "--label", .word = "LABEL", .completes = Completes::label},
                            {.name = "type", .kind = Kind::text, .meaning = "Only stories of this type", .doors = web,
                             .completes = Completes::type},
                            {.name = "agent", .kind = Kind::text, .meaning = "Only stories of this agent", .doors = web,
                             .completes = Completes::owner},
                            {.name = "all", .kind = Kind::flag, .meaning = "Show the done stages (done, archived) too",
                             .doors = cli, .cli = "--all"}},
                 .route = "GET /api/board"});
  ops.push_back({.name = "flow",
                 .summary = "Flow metrics from the history: throughput, cycle time, WIP and age",
                 .doors = cli,
                 .params = {{.name = "since", .kind = Kind::text,
                             .meaning = "Start of the window: a date, a time, or a duration back such as 30d",
                             .doors = cli, .cli = "--since", .word = "DATE", .cli_default = "90d"},
                            {.name = "until", .kind = Kind::text, .meaning = "End of the window: a date or a time",
                             .doors = cli, .cli = "--until", .word = "DATE", .cli_default = "now"},
                            {.name = "days", .kind = Kind::integer,
                             .meaning = "The window: this many days back from now", .doors = web, .minimum = 1,
                             .maximum = kMaxFlowDays, .tool_default = "90"},
                            {.name = "label", .kind = Kind::text, .meaning = "Only stories with this label",
                             .cli = "--label", .word = "LABEL", .completes = Completes::label},
                            {.name = "type", .kind = Kind::text, .meaning = "Only stories of this type", .cli = "--type",
                             .word = "TYPE", .completes = Completes::type},
                            {.name = "parent", .kind = Kind::id, .meaning = "Only the children of this story (an epic)",
                             .cli = "--parent", .word = "ID", .completes = Completes::id}},
                 .route = "GET /api/flow"});
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

}  // namespace tracker::cli::catalogue
