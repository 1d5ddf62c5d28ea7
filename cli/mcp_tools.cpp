// The tools of `tracker mcp`: each calls the library as the CLI command of the same
// name does, and returns the CLI's JSON shape (views.hpp), brief where a list of
// stories would cost many tokens. Names, descriptions and schemas come from the
// catalogue (catalogue.hpp); tools/list must stay under 4,000 tokens in all (a test
// holds it there).
#include "catalogue.hpp"
#include "mcp.hpp"
#include "views.hpp"

#include <tracker/claims.hpp>
#include <tracker/config.hpp>
#include <tracker/index.hpp>
#include <tracker/util.hpp>

#include <map>
#include <stdexcept>

namespace tracker::cli::mcp {

namespace {

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
  if (args.value("explain", false)) {
    out["not_ready"] = Json::array();
    for (const auto& n : t.not_ready(5)) out["not_ready"].push_back(not_ready_json(n));
  }
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
  full["progress"] = progress_json(t.progress(s.id));
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
  f.parent = opt_int(args, "parent");
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
  Json out = {{"hits", hits}, {"total", r.total}};
  for (const auto& c : r.corrections) out["corrected"].push_back({{"typed", c.typed}, {"used", c.used}});
  return out;
}

Json run_new(Tracker& t, const Json& args, const ServerOptions&) {
  return new_json(t.create(new_story_request(args)));
}

Json run_set(Tracker& t, const Json& args, const ServerOptions&) {
  std::vector<FieldEdit> edits = field_edits(args["fields"]);
  if (edits.empty()) throw UsageError("set needs at least one field: {\"fields\": {\"priority\": 3}}");
  act_as(t, args);
  return set_json(t.set_fields(args["id"].get<std::int64_t>(), edits, args.value("keep_file_name", false), force_of(args)));
}

Json run_move(Tracker& t, const Json& args, const ServerOptions&) {
  act_as(t, args);
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

/// What each tool does, by its name in the catalogue.
using Run = std::function<Json(Tracker&, const Json&, const ServerOptions&)>;

std::map<std::string, Run> runners() {
  std::map<std::string, Run> out;
  out["ready"] = run_ready;
  out["claim"] = run_claim;
  out["renew"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    act_as(t, args);
    return renew_json(t.renew(args["id"].get<std::int64_t>(), std::nullopt, ttl_of(args)));
  };
  out["release"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    act_as(t, args);
    return change_json(t.release(args["id"].get<std::int64_t>(), std::nullopt, force_of(args)));
  };
  out["done"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    act_as(t, args);
    return change_json(t.done(args["id"].get<std::int64_t>(), force_of(args)));
  };
  out["reclaim"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    Json arr = Json::array();
    for (const auto& c : t.reclaim(opt_int(args, "id"))) arr.push_back(change_json(c));
    return Json{{"reclaimed", arr}};
  };
  out["show"] = run_show;
  out["list"] = run_list;
  out["search"] = run_search;
  out["new"] = run_new;
  out["set"] = run_set;
  out["move"] = run_move;
  out["block"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    return block_json(t.block(args["id"].get<std::int64_t>(), opt_str(args, "reason")));
  };
  out["unblock"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    return block_json(t.unblock(args["id"].get<std::int64_t>()));
  };
  out["link"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    std::int64_t id = args["id"].get<std::int64_t>(), dep = args["depends_on"].get<std::int64_t>();
    return link_json(args.value("remove", false) ? t.unlink(id, dep) : t.link(id, dep));
  };
  out["log"] = run_log;
  out["diff"] = run_diff;
  out["stats"] = [](Tracker& t, const Json&, const ServerOptions&) { return stats_json(t.stats()); };
  out["tree"] = [](Tracker& t, const Json& args, const ServerOptions&) {
    std::vector<TreeNode> nodes = t.tree(opt_int(args, "id"));
    std::size_t limit = static_cast<std::size_t>(opt_int(args, "limit").value_or(200));
    Json stories = Json::array();
    for (std::size_t i = 0; i < nodes.size() && i < limit; ++i) stories.push_back(tree_node_json(nodes[i]));
    return Json{{"stories", stories}, {"more", nodes.size() > limit}};
  };
  return out;
}

/// One tool for each operation the catalogue offers at the MCP door, in its order:
/// the name, description and schemas are the catalogue's.
std::vector<Tool> make_tools() {
  std::map<std::string, Run> run = runners();
  std::vector<Tool> out;
  for (const auto& op : catalogue::operations()) {
    if (!(op.doors & catalogue::mcp)) continue;
    auto it = run.find(op.name);
    if (it == run.end()) throw std::logic_error("mcp: the catalogue's " + op.name + " has no tool");
    out.push_back({op.name, op.summary, catalogue::input_schema(op, Door::mcp), catalogue::result_schema(op), it->second});
    run.erase(it);
  }
  if (!run.empty()) throw std::logic_error("mcp: tool " + run.begin()->first + " is not in the catalogue");
  return out;
}

}  // namespace

const std::vector<Tool>& tools() {
  static const std::vector<Tool> all = make_tools();
  return all;
}

}  // namespace tracker::cli::mcp
