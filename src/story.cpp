// Story files: their names, the parse of their text into a Story, and the text of
// a new one. The front matter's location and line edits are in front_matter.cpp;
// the changes between two versions and their merge in story_changes.cpp.
#include <tracker/story.hpp>
#include <tracker/util.hpp>

#include "front_matter.hpp"

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <unordered_map>
#include <nlohmann/json.hpp>

namespace tracker {

std::optional<StoryFileName> parse_story_file_name(std::string_view file_name,
                                                   const std::vector<std::string>& known_types) {
  if (!file_name.ends_with(".md")) return std::nullopt;
  std::string_view stem = file_name.substr(0, file_name.size() - 3);
  std::size_t digits = 0;
  while (digits < stem.size() && stem[digits] >= '0' && stem[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  StoryFileName out;
  out.id = *parse_int(stem.substr(0, digits));
  if (out.id <= 0) return std::nullopt;
  std::string_view rest = stem.substr(digits);
  if (rest.empty()) {
    out.type = "story";
    return out;
  }
  if (rest.front() != '_') return std::nullopt;
  rest.remove_prefix(1);
  std::size_t sep = rest.find('_');
  if (sep == std::string_view::npos) {
    bool is_type = std::find(known_types.begin(), known_types.end(), rest) != known_types.end();
    out.type = is_type ? std::string(rest) : "story";
    out.slug = is_type ? "" : std::string(rest);
  } else {
    out.type = std::string(rest.substr(0, sep));
    out.slug = std::string(rest.substr(sep + 1));
  }
  return out;
}

std::string make_story_file_name(std::int64_t id, std::string_view type, std::string_view slug) {
  return std::to_string(id) + "_" + std::string(type) + "_" + std::string(slug) + ".md";
}

namespace {

std::optional<bool> as_bool(const YAML::Node& node) {
  if (!is_plain_scalar(node)) return std::nullopt;
  std::string v = ascii_lower(node.Scalar());
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off" || v.empty() || v == "~" || v == "null") return false;
  return std::nullopt;
}

nlohmann::ordered_json to_json(const YAML::Node& node, NodeBudget& budget, std::size_t depth = 0) {
  budget.take(node, depth);
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      auto arr = nlohmann::ordered_json::array();
      for (const auto& item : node) arr.push_back(to_json(item, budget, depth + 1));
      return arr;
    }
    case YAML::NodeType::Map: {
      auto obj = nlohmann::ordered_json::object();
      for (const auto& kv : node) {
        budget.take(kv.first, depth + 1);
        obj[kv.first.IsScalar() ? kv.first.Scalar() : std::string()] = to_json(kv.second, budget, depth + 1);
      }
      return obj;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  if (!is_plain_scalar(node)) return s;
  if (is_null(node)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (auto i = parse_int(s)) return *i;
  return s;
}

std::string first_heading(std::string_view body) {
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t next = body.find('\n', pos);
    std::string_view line =
        line_content(body.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos + 1));
    if (line.starts_with("# ")) return std::string(trim(line.substr(2)));
    if (next == std::string_view::npos) break;
    pos = next + 1;
  }
  return {};
}

std::string name_from_slug(std::string_view slug) {
  std::string name(slug);
  std::replace(name.begin(), name.end(), '-', ' ');
  if (!name.empty() && name[0] >= 'a' && name[0] <= 'z') name[0] = static_cast<char>(name[0] - 'a' + 'A');
  return name;
}

void read_known_key(const std::string& key, const YAML::Node& value, const FrontMatter& fm, NodeBudget& budget,
                    Story& story) {
  budget.take(value, 0);
  auto warn = [&](const std::string& what) { story.warnings.push_back({line_of(value, fm), key + ": " + what}); };
  auto describe = [&]() {
    return value.IsScalar() ? "'" + value.Scalar() + "'" : std::string("a ") + (value.IsMap() ? "mapping" : "list");
  };
  if (key == "name") {
    if (value.IsScalar())
      story.name = value.Scalar();
    else if (!is_null(value))
      warn("expected a string, got " + describe());
  } else if (key == "priority" || key == "retry_count") {
    if (is_null(value)) return;
    auto n = value.IsScalar() ? parse_int(value.Scalar()) : std::nullopt;
    if (!n) return warn("expected an integer, got " + describe());
    if (key == "priority")
      story.priority = *n;
    else
      story.retry_count = *n;
  } else if (key == "labels") {
    if (value.IsMap()) return warn("expected a list, got a mapping");
    story.labels = scalar_list(value, budget);
  } else if (key == "depends_on") {
    if (value.IsMap()) return warn("expected a list of ids, got a mapping");
    for (const auto& item : scalar_list(value, budget)) {
      if (auto id = story_ref(item))
        story.depends_on.push_back(*id);
      else
        warn("expected a story id, got '" + item + "'");
    }
  } else if (key == "parent") {
    if (is_null(value)) return;
    auto id = value.IsScalar() ? story_ref(value.Scalar()) : std::nullopt;
    if (!id) return warn("expected a story id, got " + describe());
    story.parent = *id;
  } else if (key == "agent") {
    if (value.IsScalar() && !is_null(value))
      story.agent = value.Scalar();
    else if (!is_null(value))
      warn("expected a string, got " + describe());
  } else if (key == "blocked") {
    auto b = as_bool(value);
    if (b)
      story.blocked = *b;
    else {
      story.blocked = true;  // a suspicious value must not hand the story out as ready
      warn("expected true or false, got " + describe());
    }
  } else if (key == "created") {
    if (value.IsScalar())
      story.created = value.Scalar();
    else if (!is_null(value))
      warn("expected a timestamp, got " + describe());
  }
}

bool is_known_key(const std::string& key) {
  const auto& known = known_keys();
  return std::find(known.begin(), known.end(), key) != known.end();
}

}  // namespace

const std::vector<std::string>& known_keys() {
  static const std::vector<std::string> keys = {"name",  "priority",    "labels",      "depends_on", "parent",
                                                "agent", "retry_count", "blocked", "created"};
  return keys;
}

std::string with_body(const std::string& text, const std::string& body) {
  FrontMatter fm = locate_front_matter(text);
  std::string head = fm.present ? text.substr(0, fm.body_begin) : std::string();
  if (body.empty()) return head;
  return head + "\n" + body + (body.back() == '\n' ? "" : "\n");
}

std::string blocked_reason(const Story& s) {
  for (const auto& f : s.fields)
    if (f.key == "blocked_reason" && f.json.size() > 2 && f.json.front() == '"')
      return nlohmann::json::parse(f.json).get<std::string>();
  return "";
}

void parse_story_text(std::string_view text, Story& story, const StoryLimits& limits) {
  if (text.size() > limits.max_bytes)
    throw StoryParseError(1, "the file is larger than " + std::to_string(limits.max_bytes) +
                                 " bytes, the most a story file may hold (limits.story_bytes in .tracker/config.yml)");
  // A story is text: a byte that is not UTF-8 (or a NUL, as in a binary file) makes
  // the file malformed, with its line, and no other story suffers for it.
  std::optional<std::size_t> bad = invalid_utf8_at(text);
  if (!bad) {
    auto nul = text.find('\0');
    if (nul != std::string_view::npos) bad = nul;
  }
  if (bad) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n'));
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[*bad]));
    throw StoryParseError(line, std::string(kNotUtf8) + " (byte " + byte + "); save it as UTF-8 text");
  }
  // A merge git left unresolved around the whole file (the merge driver does that
  // when git paired two different stories).
  if (text.substr(skip_bom(text)).starts_with("<<<<<<< "))
    throw StoryParseError(1, "an unresolved merge conflict (<<<<<<< on line 1); keep one side, then git add the file");
  FrontMatter fm = locate_front_matter(text);
  std::string_view body = text.substr(fm.body_begin);
  // The body starts after the blank line that conventionally follows the front matter.
  if (fm.present) {
    if (body.starts_with("\r\n"))
      body.remove_prefix(2);
    else if (body.starts_with("\n"))
      body.remove_prefix(1);
  }
  story.body = std::string(body);

  if (fm.present) {
    YAML::Node root;
    const std::string yaml = strip_cr(text.substr(fm.yaml_begin, fm.yaml_end - fm.yaml_begin));
    try {
      root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
      auto [line, message] = explain_yaml_error(yaml, fm.first_yaml_line, e);
      throw StoryParseError(line, message);
    }
    if (!root.IsNull() && !root.IsMap())
      throw StoryParseError(fm.first_yaml_line, "front matter must be a mapping of keys to values");
    if (root.IsMap()) {
      NodeBudget budget(limits, fm);
      std::unordered_map<std::string, int> key_line;          // key -> its line
      std::size_t keys = 0;
      for (const auto& kv : root) {
        if (!kv.first.IsScalar())
          throw StoryParseError(line_of(kv.first, fm), "front matter keys must be plain strings");
        if (++keys > limits.max_keys)
          throw StoryParseError(line_of(kv.first, fm), "the front matter has more than " +
                                                           std::to_string(limits.max_keys) + " keys");
        const std::string key = kv.first.Scalar();
        // A key given twice would make `set` change one copy while the other is read.
        auto [first, added] = key_line.try_emplace(key, line_of(kv.first, fm));
        if (!added)
          throw StoryParseError(line_of(kv.first, fm), "key '" + key + "' is given twice (first on line " +
                                                           std::to_string(first->second) + "); keep one");
        if (is_known_key(key))
          read_known_key(key, kv.second, fm, budget, story);
        else {
          std::string json = to_json(kv.second, budget).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
          story.fields.push_back({key, std::move(json)});
        }
      }
    }
  }
  if (story.name.empty()) story.name = first_heading(story.body);
  if (story.name.empty()) story.name = name_from_slug(story.slug);
}

std::optional<std::int64_t> parse_story_id(std::string_view text) {
  if (text.starts_with('#')) text.remove_prefix(1);
  if (text.empty() || text.size() > 15) return std::nullopt;
  std::int64_t id = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  if (id <= 0) return std::nullopt;
  return id;
}

std::optional<std::int64_t> story_ref(std::string_view item) {
  return parse_story_id(trim(item));
}

Story reparse_story(const Story& where, std::string_view text, const StoryLimits& limits) {
  Story s;
  s.id = where.id;
  s.type = where.type;
  s.slug = where.slug;
  s.stage = where.stage;
  s.path = where.path;
  parse_story_text(text, s, limits);
  return s;
}

std::string yaml_scalar(std::string_view value) {
  // Words YAML 1.1 readers take for booleans or null stay strings only when quoted.
  static const char* const reserved[] = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"};
  std::string lower = ascii_lower(value);
  if (std::find(std::begin(reserved), std::end(reserved), lower) != std::end(reserved))
    return "\"" + std::string(value) + "\"";
  YAML::Emitter out;
  out << std::string(value);
  return out.c_str();
}

std::string yaml_flow_list(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  for (const auto& item : items) quoted.push_back(yaml_scalar(item));
  return "[" + join(quoted, ", ") + "]";
}

std::string yaml_id_list(const std::vector<std::int64_t>& ids) {
  std::vector<std::string> parts;
  for (auto id : ids) parts.push_back(std::to_string(id));
  return "[" + join(parts, ", ") + "]";
}

std::string render_story(const NewStory& story) {
  std::string out = "---\nname: " + yaml_scalar(story.name) + "\n";
  if (story.priority) out += "priority: " + std::to_string(*story.priority) + "\n";
  if (!story.labels.empty()) out += "labels: " + yaml_flow_list(story.labels) + "\n";
  if (!story.depends_on.empty()) out += "depends_on: " + yaml_id_list(story.depends_on) + "\n";
  if (story.parent) out += "parent: " + std::to_string(*story.parent) + "\n";
  out += "created: " + story.created + "\n---\n";
  if (!story.body.empty()) {
    out += "\n" + story.body;
    if (story.body.back() != '\n') out += "\n";
  }
  return out;
}

}  // namespace tracker
