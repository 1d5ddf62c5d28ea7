// The tools of `tracker mcp`: each calls the library as the CLI command of the same
// name does, and returns the CLI's JSON shape (views.hpp), brief where a list of
// stories would cost many tokens. Schemas are written compactly: tools/list must
// stay under 4,000 tokens in all (a test holds it there).
#include "mcp.hpp"
#include "views.hpp"

#include <tracker/claims.hpp>
#include <tracker/config.hpp>
#include <tracker/index.hpp>
#include <tracker/util.hpp>

namespace tracker::cli::mcp {

namespace {

// The schemas below spell these maxima out as numbers ("maximum":1000000 and 4194304).
static_assert(kMaxLimit == 1'000'000, "update the tools' limit maxima");
static_assert(kMaxPid == 4'194'304, "update the claim tool's pid maximum");

Json schema(const char* text) { return Json::parse(text); }

// Schema pieces shared by several tools, spliced into their text.
#define ID R"("id":{"type":"integer","minimum":1})"
#define BRIEF \
  R"({"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"stage":{"type":"string"},"priority":{"type":["integer","null"]},"agent":{"type":["string","null"]}},"required":["id","name","stage"]})"
#define CHANGE \
  R"({"type":"object","properties":{"id":{"type":"integer"},"from":{"type":["string","null"]},"to":{"type":["string","null"]},"owner":{"type":["string","null"]},"changed":{"type":"boolean"},"commit":{"type":["string","null"]}},"required":["id","changed"]})"
#define COMMIT R"("commit":{"type":["string","null"]})"
// Who a call acts as, and whether it ends a claim another owner holds.
#define OWNER R"("owner":{"type":"string","minLength":1,"description":"default: this server's identity"})"
#define FORCE R"("force":{"type":"boolean","description":"end another owner's claim, recorded"})"

std::optional<std::int64_t> opt_int(const Json& args, const char* key) {
  if (!args.contains(key) || args[key].is_null()) return std::nullopt;
  return args[key].get<std::int64_t>();
}

std::optional<std::string> opt_str(const Json& args, const char* key) {
  if (!args.contains(key) || args[key].is_null()) return std::nullopt;
  return args[key].get<std::string>();
}

std::vector<std::string> strings(const Json& args, const char* key) {
  if (!args.contains(key)) return {};
  if (args[key].is_string()) return {args[key].get<std::string>()};
  return args[key].get<std::vector<std::string>>();
}

/// Acts as `owner` when the call names one: the claim tools take it per call.
void act_as(Tracker& t, const Json& args) {
  if (auto owner = opt_str(args, "owner")) t.set_identity(*owner);
}

Force force_of(const Json& args) { return args.value("force", false) ? Force::yes : Force::no; }

std::optional<std::int64_t> ttl_of(const Json& args) {
  if (auto ttl = opt_str(args, "ttl")) return parse_duration(*ttl);
  return std::nullopt;
}

/// id, name, stage, priority, agent: what an agent needs to pick a story.
Json brief(const Story& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"stage", s.stage},
          {"priority", s.priority ? Json(*s.priority) : Json(nullptr)},
          {"agent", string_or_null(s.agent)}};
}

/// `text` cut to at most `max` bytes, on a UTF-8 character boundary.
std::string cut_utf8(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

Json run_ready(Tracker& t, const Json& args, const ServerOptions&) {
  std::int64_t limit = opt_int(args, "limit").value_or(10);
  std::vector<Story> stories = t.ready(limit + 1);
  Json out = {{"stories", Json::array()}, {"more", static_cast<std::int64_t>(stories.size()) > limit}};
  for (std::size_t i = 0; i < stories.size() && static_cast<std::int64_t>(i) < limit; ++i)
    out["stories"].push_back(brief(stories[i]));
  return out;
}

Json run_claim(Tracker& t, const Json& args, const ServerOptions& options) {
  ClaimRequest request;
  request.owner = opt_str(args, "owner").value_or("");  // empty: who the server acts as
  request.id = opt_int(args, "id");
  request.ttl_seconds = ttl_of(args);
  // Tied to this server unless the call names another process (0: to none), so
  // that an agent session that dies frees its story.
  std::int64_t pid = opt_int(args, "pid").value_or(options.pid);
  if (pid > 0) request.pid = static_cast<long>(pid);
  request.force = args.value("force", false);
  ClaimResult r = t.claim(request);
  Json out = brief(r.story);
  out["claim"] = {{"owner", r.claim.owner}, {"expires", format_iso8601(r.claim.expires)}};
  out["renewed"] = r.renewed;
  out["from"] = r.from;
  out["to"] = r.to;
  out["commit"] = string_or_null(r.commit);
  return out;
}

Json run_show(Tracker& t, const Json& args, const ServerOptions&) {
  Story s = t.show(args["id"].get<std::int64_t>());
  std::map<std::int64_t, Claim> claims = t.live_claims();
  Json full = story_json(s, true, claims.count(s.id) ? &claims.at(s.id) : nullptr);
  std::size_t max_body = static_cast<std::size_t>(opt_int(args, "max_body").value_or(2000));
  Json out;
  if (args.contains("fields")) {
    out["id"] = s.id;
    for (const auto& key : args["fields"]) {
      std::string k = key.get<std::string>();
      if (full.contains(k))
        out[k] = full[k];
      else if (full["fields"].contains(k))
        out[k] = full["fields"][k];
      else
        out[k] = nullptr;  // no such key in this story
    }
  } else {
    out = std::move(full);
  }
  if (out.contains("body") && s.body.size() > max_body) {
    out["body"] = cut_utf8(s.body, max_body);
    out["body_truncated"] = true;
    out["body_bytes"] = s.body.size();
  }
  return out;
}

Json run_list(Tracker& t, const Json& args, const ServerOptions&) {
  ListFilter f;
  f.stages = strings(args, "stage");
  f.type = opt_str(args, "type");
  f.label = opt_str(args, "label");
  f.agent = opt_str(args, "agent");
  f.blocked = args.value("blocked", false);
  f.ready = args.value("ready", false);
  f.claimed = args.value("claimed", false);
  f.open = args.value("open", false);
  f.reverse = args.value("reverse", false);
  f.sort = args.value("sort", std::string("stage"));
  f.where = strings(args, "where");
  std::int64_t limit = opt_int(args, "limit").value_or(50);
  f.limit = limit + 1;  // one more tells whether there are more
  const bool full = args.value("full", false);
  std::map<std::int64_t, Claim> claims = t.live_claims();
  Json stories = Json::array();
  bool more = false;
  each_listed(t, f, claims, !full, [&](Story&& s) {
    if (static_cast<std::int64_t>(stories.size()) >= limit) {
      more = true;
      return;
    }
    auto c = claims.find(s.id);
    stories.push_back(full ? story_json(s, false, c == claims.end() ? nullptr : &c->second) : brief(s));
  });
  return {{"stories", stories}, {"more", more}};
}

Json run_search(Tracker& t, const Json& args, const ServerOptions&) {
  SearchResult r = t.search(args["query"].get<std::string>(), strings(args, "stage"), opt_int(args, "limit").value_or(10));
  Json hits = Json::array();
  for (const auto& h : r.hits) {
    Json j = brief(h.story);
    j["snippet"] = h.snippet.text;
    hits.push_back(std::move(j));
  }
  return {{"hits", hits}, {"total", r.total}};
}

Json run_new(Tracker& t, const Json& args, const ServerOptions&) {
  NewStoryRequest request;
  request.name = args["name"].get<std::string>();
  request.type = args.value("type", std::string("story"));
  request.stage = opt_str(args, "stage");
  request.priority = opt_int(args, "priority");
  request.labels = strings(args, "labels");
  if (args.contains("depends_on")) request.depends_on = args["depends_on"].get<std::vector<std::int64_t>>();
  request.body = args.value("body", std::string());
  request.key = opt_str(args, "key");
  return new_json(t.create(request));
}

Json run_set(Tracker& t, const Json& args, const ServerOptions&) {
  std::vector<FieldEdit> edits = field_edits(args["fields"]);
  if (edits.empty()) throw UsageError("set needs at least one field: {\"fields\": {\"priority\": 3}}");
  return set_json(t.set_fields(args["id"].get<std::int64_t>(), edits, args.value("keep_file_name", false), force_of(args)));
}

Json run_move(Tracker& t, const Json& args, const ServerOptions&) {
  const Stage& stage = t.workspace().config().stage(args["stage"].get<std::string>());
  return move_json(t.move(args["ids"].get<std::vector<std::int64_t>>(), stage.name, force_of(args)));
}

Json run_log(Tracker& t, const Json& args, const ServerOptions&) {
  Json entries = Json::array();
  for (const auto& e : t.log(opt_int(args, "id"), opt_int(args, "limit").value_or(20)))
    entries.push_back(log_entry_json(e));
  return {{"entries", entries}};
}

Json run_diff(Tracker& t, const Json& args, const ServerOptions&) {
  Json changes = Json::array();
  for (const auto& d : diff_range(t, opt_str(args, "range"))) changes.push_back(story_diff_json(d));
  return {{"changes", changes}};
}

std::vector<Tool> make_tools() {
  std::vector<Tool> out;
  auto add = [&](const char* name, const char* description, const char* input, const char* output,
                 std::function<Json(Tracker&, const Json&, const ServerOptions&)> run) {
    out.push_back({name, description, schema(input), schema(output), std::move(run)});
  };
  add("ready", "Stories ready to claim, most urgent first",
      R"({"type":"object","properties":{"limit":{"type":"integer","minimum":1,"maximum":1000000,"description":"default 10"}},"additionalProperties":false})",
      R"({"type":"object","properties":{"stories":{"type":"array","items":)" BRIEF R"(},"more":{"type":"boolean"}},"required":["stories"]})",
      run_ready);
  add("claim", "Claim a story (default: the first ready one); it moves to the working stage. The claim ends when this MCP server exits unless pid says otherwise",
      R"({"type":"object","properties":{)" OWNER R"(,)" ID R"(,"ttl":{"type":"string","description":"90s, 15m, 2h"},"pid":{"type":"integer","minimum":0,"maximum":4194304,"description":"process whose end ends the claim; 0: none"},"force":{"type":"boolean","description":"even if blocked or waiting"}},"additionalProperties":false})",
      R"({"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"stage":{"type":"string"},"claim":{"type":"object","properties":{"owner":{"type":"string"},"expires":{"type":"string"}}},"renewed":{"type":"boolean"},)" COMMIT R"(},"required":["id","claim"]})",
      run_claim);
  add("renew", "Extend a claim",
      R"({"type":"object","properties":{)" ID R"(,)" OWNER R"(,"ttl":{"type":"string"}},"required":["id"],"additionalProperties":false})",
      R"({"type":"object","properties":{"id":{"type":"integer"},"owner":{"type":"string"},"expires":{"type":"string"}},"required":["id","expires"]})",
      [](Tracker& t, const Json& args, const ServerOptions&) {
        act_as(t, args);
        return renew_json(t.renew(args["id"].get<std::int64_t>(), std::nullopt, ttl_of(args)));
      });
  add("release", "End your claim; the story goes back",
      R"({"type":"object","properties":{)" ID R"(,)" OWNER R"(,)" FORCE R"(},"required":["id"],"additionalProperties":false})",
      CHANGE, [](Tracker& t, const Json& args, const ServerOptions&) {
        act_as(t, args);
        return change_json(t.release(args["id"].get<std::int64_t>(), std::nullopt, force_of(args)));
      });
  add("done", "Move a story to done and end your claim",
      R"({"type":"object","properties":{)" ID R"(,)" OWNER R"(,)" FORCE R"(},"required":["id"],"additionalProperties":false})", CHANGE,
      [](Tracker& t, const Json& args, const ServerOptions&) {
        act_as(t, args);
        return change_json(t.done(args["id"].get<std::int64_t>(), force_of(args)));
      });
  add("reclaim", "Return stories whose claims expired or whose holder died",
      R"({"type":"object","properties":{)" ID R"(},"additionalProperties":false})",
      R"({"type":"object","properties":{"reclaimed":{"type":"array","items":)" CHANGE R"(}},"required":["reclaimed"]})",
      [](Tracker& t, const Json& args, const ServerOptions&) {
        Json arr = Json::array();
        for (const auto& c : t.reclaim(opt_int(args, "id"))) arr.push_back(change_json(c));
        return Json{{"reclaimed", arr}};
      });
  add("show", "A story's fields and body",
      R"({"type":"object","properties":{)" ID R"(,"fields":{"type":"array","items":{"type":"string"},"description":"only these keys"},"max_body":{"type":"integer","minimum":0,"description":"body bytes, default 2000"}},"required":["id"],"additionalProperties":false})",
      R"({"type":"object","properties":{"id":{"type":"integer"},"body":{"type":"string"},"body_truncated":{"type":"boolean"}},"required":["id"]})",
      run_show);
  add("list", "List stories (brief; full: every field)",
      R"({"type":"object","properties":{"stage":{"type":"array","items":{"type":"string"}},"type":{"type":"string"},"label":{"type":"string"},"agent":{"type":"string"},"blocked":{"type":"boolean"},"ready":{"type":"boolean"},"claimed":{"type":"boolean"},"open":{"type":"boolean","description":"hide done stages"},"sort":{"enum":["stage","priority","id","updated"]},"reverse":{"type":"boolean"},"where":{"type":"array","items":{"type":"string"},"description":"key=value"},"limit":{"type":"integer","minimum":1,"maximum":1000000,"description":"default 50"},"full":{"type":"boolean"}},"additionalProperties":false})",
      R"({"type":"object","properties":{"stories":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},"more":{"type":"boolean"}},"required":["stories"]})",
      run_list);
  add("search", "Full-text search of names and bodies, best first",
      R"({"type":"object","properties":{"query":{"type":"string","minLength":1},"stage":{"type":"array","items":{"type":"string"}},"limit":{"type":"integer","minimum":1,"maximum":1000000,"description":"default 10"}},"required":["query"],"additionalProperties":false})",
      R"({"type":"object","properties":{"hits":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"snippet":{"type":"string"}},"required":["id"]}},"total":{"type":"integer"}},"required":["hits"]})",
      run_search);
  add("new", "Create a story",
      R"({"type":"object","properties":{"name":{"type":"string","minLength":1},"type":{"type":"string"},"stage":{"type":"string"},"priority":{"type":"integer"},"labels":{"type":"array","items":{"type":"string"}},"depends_on":{"type":"array","items":{"type":"integer"}},"body":{"type":"string"},"key":{"type":"string","description":"idempotency key"}},"required":["name"],"additionalProperties":false})",
      R"({"type":"object","properties":{"id":{"type":"integer"},"path":{"type":"string"},"created":{"type":"boolean"},)" COMMIT R"(},"required":["id"]})",
      run_new);
  add("set", "Set front matter keys (null removes one)",
      R"({"type":"object","properties":{)" ID R"(,"fields":{"type":"object","description":"e.g. {\"priority\":3,\"labels\":[\"ui\"]}"},"keep_file_name":{"type":"boolean"},)" FORCE R"(},"required":["id","fields"],"additionalProperties":false})",
      R"({"type":"object","properties":{"id":{"type":"integer"},"changed":{"type":"boolean"},"changes":{"type":"array","items":{"type":"string"}},)" COMMIT R"(},"required":["id","changed"]})",
      run_set);
  add("move", "Move stories to a stage (one commit)",
      R"({"type":"object","properties":{"ids":{"type":"array","items":{"type":"integer","minimum":1},"minItems":1},"stage":{"type":"string"},)" FORCE R"(},"required":["ids","stage"],"additionalProperties":false})",
      R"({"type":"object","properties":{"moved":{"type":"array"},"unchanged":{"type":"array"},"claims_ended":{"type":"array"},)" COMMIT R"(},"required":["moved"]})",
      run_move);
  const char* block_out =
      R"({"type":"object","properties":{"id":{"type":"integer"},"stage":{"type":"string"},"changed":{"type":"boolean"},)" COMMIT R"(},"required":["id","changed"]})";
  add("block", "Mark a story blocked",
      R"({"type":"object","properties":{)" ID R"(,"reason":{"type":"string"}},"required":["id"],"additionalProperties":false})",
      block_out, [](Tracker& t, const Json& args, const ServerOptions&) {
        return block_json(t.block(args["id"].get<std::int64_t>(), opt_str(args, "reason")));
      });
  add("unblock", "Clear a story's blocked mark",
      R"({"type":"object","properties":{)" ID R"(},"required":["id"],"additionalProperties":false})", block_out,
      [](Tracker& t, const Json& args, const ServerOptions&) { return block_json(t.unblock(args["id"].get<std::int64_t>())); });
  add("link", "Make story id depend on depends_on (remove: drop the link)",
      R"({"type":"object","properties":{)" ID R"(,"depends_on":{"type":"integer","minimum":1},"remove":{"type":"boolean"}},"required":["id","depends_on"],"additionalProperties":false})",
      R"({"type":"object","properties":{"id":{"type":"integer"},"depends_on":{"type":"array","items":{"type":"integer"}},"changed":{"type":"boolean"},)" COMMIT R"(},"required":["id","changed"]})",
      [](Tracker& t, const Json& args, const ServerOptions&) {
        std::int64_t id = args["id"].get<std::int64_t>(), dep = args["depends_on"].get<std::int64_t>();
        return link_json(args.value("remove", false) ? t.unlink(id, dep) : t.link(id, dep));
      });
  add("log", "Transitions of a story or the board, newest first",
      R"({"type":"object","properties":{)" ID R"(,"limit":{"type":"integer","minimum":1,"maximum":1000000,"description":"default 20"}},"additionalProperties":false})",
      R"({"type":"object","properties":{"entries":{"type":"array","items":{"type":"object","properties":{"commit":{"type":"string"},"action":{"type":"string"},"id":{"type":"integer"}},"required":["commit","id"]}}},"required":["entries"]})",
      run_log);
  add("diff", "Story changes: HEAD vs the working tree, or a range a..b",
      R"({"type":"object","properties":{"range":{"type":"string"}},"additionalProperties":false})",
      R"({"type":"object","properties":{"changes":{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"change":{"type":"string"}},"required":["id","change"]}}},"required":["changes"]})",
      run_diff);
  add("stats", "Counts per stage, ready, blocked, claimed",
      R"({"type":"object","properties":{},"additionalProperties":false})",
      R"({"type":"object","properties":{"stages":{"type":"object"},"total":{"type":"integer"},"ready":{"type":"integer"},"claimed":{"type":"integer"}},"required":["stages","total"]})",
      [](Tracker& t, const Json&, const ServerOptions&) { return stats_json(t.stats()); });
  return out;
}

#undef ID
#undef BRIEF
#undef CHANGE
#undef COMMIT
#undef OWNER
#undef FORCE

}  // namespace

const std::vector<Tool>& tools() {
  static const std::vector<Tool> all = make_tools();
  return all;
}

}  // namespace tracker::cli::mcp
