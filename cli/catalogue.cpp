#include "catalogue.hpp"

#include "output.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <tracker/claims.hpp>
#include <tracker/index.hpp>
#include <tracker/util.hpp>

namespace tracker::cli::catalogue {

namespace {

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
  static const std::vector<Operation> all = declared();
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

Json query_arguments(const Operation& op, const std::vector<std::pair<std::string, std::string>>& query) {
  Json args = Json::object();
  for (const auto& [key, value] : query) {
    auto p = std::find_if(op.params.begin(), op.params.end(),
                          [&](const Param& q) { return q.name == key && (q.doors & web) && !q.in_path; });
    if (p == op.params.end()) {
      args[key] = value;  // the schema names it: "unknown argument"
      continue;
    }
    switch (p->kind) {
      case Kind::id:
      case Kind::integer:
        if (auto n = parse_int(value))
          args[key] = *n;
        else
          args[key] = value;  // the schema says it is not an integer
        break;
      case Kind::flag:
        if (value.empty() || value == "true" || value == "1")
          args[key] = true;
        else if (value == "false" || value == "0")
          args[key] = false;
        else
          args[key] = value;
        break;
      case Kind::texts:
        if (!value.empty()) args[key].push_back(value);
        break;
      case Kind::ids:
      case Kind::integers:
        if (auto n = parse_int(value))
          args[key].push_back(*n);
        else
          args[key].push_back(value);
        break;
      default:
        if (!value.empty()) args[key] = value;  // a filter left empty is no filter
    }
  }
  return args;
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
