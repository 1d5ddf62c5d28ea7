#include <tracker/story.hpp>
#include <tracker/util.hpp>

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <cstdio>
#include <cstring>
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

/// Where the front matter sits in a file's text.
struct FrontMatter {
  bool present = false;
  std::size_t yaml_begin = 0;  ///< byte offset of the first YAML line
  std::size_t yaml_end = 0;    ///< byte offset of the closing "---" line
  std::size_t body_begin = 0;  ///< byte offset just past the closing line
  int first_yaml_line = 1;     ///< 1-based line number of yaml_begin
};

std::string_view line_content(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool is_fence(std::string_view line, bool closing) {
  std::string_view c = line_content(line);
  while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.remove_suffix(1);
  return c == "---" || (closing && c == "...");
}

std::size_t skip_bom(std::string_view text) {
  return text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
}

FrontMatter locate_front_matter(std::string_view text) {
  FrontMatter fm;
  std::size_t pos = skip_bom(text);
  std::size_t eol = text.find('\n', pos);
  if (eol == std::string_view::npos || !is_fence(text.substr(pos, eol + 1 - pos), false)) {
    fm.body_begin = pos;
    return fm;
  }
  fm.present = true;
  fm.yaml_begin = eol + 1;
  fm.first_yaml_line = 2;
  pos = fm.yaml_begin;
  while (pos < text.size()) {
    std::size_t next = text.find('\n', pos);
    std::size_t end = next == std::string_view::npos ? text.size() : next + 1;
    if (is_fence(text.substr(pos, end - pos), true)) {
      fm.yaml_end = pos;
      fm.body_begin = end;
      return fm;
    }
    pos = end;
  }
  throw StoryParseError(1, "front matter opened with '---' is never closed");
}

std::string strip_cr(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text)
    if (c != '\r') out += c;
  return out;
}

int line_of(const YAML::Node& node, const FrontMatter& fm) {
  YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? fm.first_yaml_line + mark.line : 0;
}

bool is_plain_scalar(const YAML::Node& node) {
  return node.IsScalar() && node.Tag() != "!";
}

std::optional<bool> as_bool(const YAML::Node& node) {
  if (!is_plain_scalar(node)) return std::nullopt;
  std::string v = node.Scalar();
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off" || v.empty() || v == "~" || v == "null") return false;
  return std::nullopt;
}

bool is_null(const YAML::Node& node) {
  if (node.IsNull()) return true;
  return is_plain_scalar(node) && (node.Scalar() == "~" || node.Scalar() == "null" || node.Scalar().empty());
}

/// Counts the YAML values a story reads, aliases expanded, against the limits: a
/// few hundred bytes of nested aliases ("billion laughs") or an alias to itself
/// would otherwise expand without end.
class NodeBudget {
 public:
  NodeBudget(const StoryLimits& limits, const FrontMatter& fm) : limits_(limits), fm_(fm) {}
  void take(const YAML::Node& node, std::size_t depth) {
    if (++used_ > limits_.max_nodes)
      throw StoryParseError(line_of(node, fm_), "the front matter expands to more than " +
                                                    std::to_string(limits_.max_nodes) +
                                                    " values (aliases count each time they are used)");
    if (depth > limits_.max_depth)
      throw StoryParseError(line_of(node, fm_), "the front matter nests lists and mappings more than " +
                                                    std::to_string(limits_.max_depth) + " deep");
  }

 private:
  const StoryLimits& limits_;
  const FrontMatter& fm_;
  std::size_t used_ = 0;
};

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

/// A list key: a YAML sequence, or one scalar holding a comma list.
std::vector<std::string> scalar_list(const YAML::Node& node, NodeBudget& budget) {
  std::vector<std::string> out;
  if (node.IsSequence()) {
    for (const auto& item : node) {
      budget.take(item, 1);
      if (item.IsScalar()) out.push_back(item.Scalar());
    }
  } else if (node.IsScalar() && !is_null(node)) {
    for (auto& part : split(node.Scalar(), ','))
      if (!trim(part).empty()) out.emplace_back(trim(part));
  }
  return out;
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
  static const char* const known[] = {"name",  "priority",    "labels",  "depends_on",
                                      "agent", "retry_count", "blocked", "created"};
  return std::find(std::begin(known), std::end(known), key) != std::end(known);
}

}  // namespace

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
    try {
      root = YAML::Load(strip_cr(text.substr(fm.yaml_begin, fm.yaml_end - fm.yaml_begin)));
    } catch (const YAML::Exception& e) {
      int line = e.mark.line >= 0 ? fm.first_yaml_line + e.mark.line : 1;
      throw StoryParseError(line, "malformed front matter: " + e.msg);
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
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(std::begin(reserved), std::end(reserved), lower) != std::end(reserved))
    return "\"" + std::string(value) + "\"";
  YAML::Emitter out;
  out << std::string(value);
  return out.c_str();
}

std::string render_story(const NewStory& story) {
  std::string out = "---\nname: " + yaml_scalar(story.name) + "\n";
  if (story.priority) out += "priority: " + std::to_string(*story.priority) + "\n";
  if (!story.labels.empty()) {
    std::vector<std::string> quoted;
    for (const auto& l : story.labels) quoted.push_back(yaml_scalar(l));
    out += "labels: [" + join(quoted, ", ") + "]\n";
  }
  if (!story.depends_on.empty()) {
    std::vector<std::string> ids;
    for (auto id : story.depends_on) ids.push_back(std::to_string(id));
    out += "depends_on: [" + join(ids, ", ") + "]\n";
  }
  out += "created: " + story.created + "\n---\n";
  if (!story.body.empty()) {
    out += "\n" + story.body;
    if (story.body.back() != '\n') out += "\n";
  }
  return out;
}

namespace {

/// Where a top-level key's line sits: [begin, end) including its line ending.
struct KeyLine {
  std::size_t begin = 0, end = 0;
  std::string_view content;  ///< without the line ending
};

std::optional<KeyLine> find_key_line(std::string_view text, const FrontMatter& fm, std::string_view key) {
  std::size_t pos = fm.yaml_begin;
  while (pos < fm.yaml_end) {
    std::size_t next = text.find('\n', pos);
    std::size_t end = next == std::string_view::npos ? text.size() : next + 1;
    std::string_view content = line_content(text.substr(pos, end - pos));
    if (content.size() > key.size() && content.starts_with(key) && content[key.size()] == ':' &&
        (content.size() == key.size() + 1 || content[key.size() + 1] == ' ' || content[key.size() + 1] == '\t'))
      return KeyLine{pos, end, content};
    pos = end;
  }
  return std::nullopt;
}

std::pair<std::string_view, std::string_view> split_comment(std::string_view rest);

/// Just past the lines that belong to a key line's value: the indented lines after
/// it (a block list or mapping, or a plain or quoted scalar continued on the next
/// lines) and, when the key line's own value is empty, `- item` lines at column 0;
/// the key line's end when there are none.
std::size_t block_value_end(std::string_view text, const FrontMatter& fm, const KeyLine& line, std::size_t key_size) {
  std::size_t end = line.end;
  bool empty_value = trim(split_comment(line.content.substr(key_size + 1)).first).empty();
  while (end < fm.yaml_end) {
    std::size_t next = text.find('\n', end);
    std::size_t stop = next == std::string_view::npos ? text.size() : next + 1;
    std::string_view content = line_content(text.substr(end, stop - end));
    bool indented = (content.starts_with(' ') || content.starts_with('\t')) && !trim(content).empty();
    if (!(indented || (empty_value && (content.starts_with("- ") || content == "-")))) break;
    end = stop;
  }
  return end;
}

/// Splits what follows `key:` on a line into the value and a trailing " # comment"
/// (with the blanks before it). Knows enough about quotes not to split inside them.
std::pair<std::string_view, std::string_view> split_comment(std::string_view rest) {
  char quote = 0;
  char last = 0;  // the last character outside quotes that was not a blank
  // Only a flow collection ([a, "b"] or {k: "v"}) has quoted scalars after its start;
  // in a plain scalar a quote or bracket is just a character.
  std::size_t first = rest.find_first_not_of(" \t");
  bool flow = first != std::string_view::npos && (rest[first] == '[' || rest[first] == '{');
  for (std::size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (quote) {
      if (quote == '"' && c == '\\')
        ++i;  // an escape: \" does not end the string
      else if (c == quote)
        quote = 0;
      continue;
    }
    bool after_blank = i > 0 && (rest[i - 1] == ' ' || rest[i - 1] == '\t');
    if ((c == '"' || c == '\'') &&
        (last == 0 || (flow && (std::strchr("[{,", last) || (after_blank && std::strchr(":?", last)))))) {
      quote = c;  // a quote opens a scalar only where one may begin, not inside a plain one
    } else if (c == '#' && i > 0 && (rest[i - 1] == ' ' || rest[i - 1] == '\t')) {
      std::size_t start = i;
      while (start > 0 && (rest[start - 1] == ' ' || rest[start - 1] == '\t')) --start;
      return {rest.substr(0, start), rest.substr(start)};
    }
    if (c != ' ' && c != '\t') last = c;
  }
  return {rest, {}};
}

/// The items of a YAML value (a flow list, a scalar, or a comma list in a scalar).
std::vector<std::string> load_items(std::string_view yaml) {
  try {
    static const StoryLimits limits;
    FrontMatter fm;
    NodeBudget budget(limits, fm);
    return scalar_list(YAML::Load(std::string(yaml)), budget);
  } catch (const YAML::Exception&) {
    return {std::string(trim(yaml))};
  } catch (const StoryParseError&) {
    return {std::string(trim(yaml))};
  }
}

}  // namespace

std::vector<std::string> front_matter_keys(std::string_view text) {
  std::vector<std::string> out;
  try {
    FrontMatter fm = locate_front_matter(text);
    if (!fm.present) return out;
    YAML::Node root = YAML::Load(strip_cr(text.substr(fm.yaml_begin, fm.yaml_end - fm.yaml_begin)));
    if (!root.IsMap()) return out;
    for (const auto& kv : root)
      if (kv.first.IsScalar()) out.push_back(kv.first.Scalar());
  } catch (const YAML::Exception&) {
    out.clear();
  } catch (const StoryParseError&) {
    out.clear();
  }
  return out;
}

int front_matter_key_line(std::string_view text, std::string_view key) {
  try {
    FrontMatter fm = locate_front_matter(text);
    if (!fm.present) return 0;
    auto line = find_key_line(text, fm, key);
    if (!line) return 0;
    return 1 +
           static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(line->begin), '\n'));
  } catch (const StoryParseError&) {
    return 0;
  }
}

std::string set_front_matter_line(std::string_view text, std::string_view key, std::string_view yaml_value) {
  FrontMatter fm = locate_front_matter(text);
  std::string prefix = std::string(key) + ":";
  if (!fm.present) {
    std::size_t bom = skip_bom(text);
    return std::string(text.substr(0, bom)) + "---\n" + prefix + " " + std::string(yaml_value) + "\n---\n\n" +
           std::string(text.substr(bom));
  }
  std::string eol = text.substr(0, fm.yaml_begin).ends_with("\r\n") ? "\r\n" : "\n";
  if (auto line = find_key_line(text, fm, key)) {
    // Keep a trailing comment and the line ending as they were; a block value that
    // was under the key goes.
    std::string_view tail = split_comment(line->content.substr(prefix.size())).second;
    std::string_view line_end =
        text.substr(line->begin + line->content.size(), line->end - line->begin - line->content.size());
    return std::string(text.substr(0, line->begin)) + prefix + " " + std::string(yaml_value) + std::string(tail) +
           std::string(line_end) + std::string(text.substr(block_value_end(text, fm, *line, key.size())));
  }
  return std::string(text.substr(0, fm.yaml_end)) + prefix + " " + std::string(yaml_value) + eol +
         std::string(text.substr(fm.yaml_end));
}

std::string remove_front_matter_line(std::string_view text, std::string_view key) {
  FrontMatter fm = locate_front_matter(text);
  if (!fm.present) return std::string(text);
  auto line = find_key_line(text, fm, key);
  if (!line) return std::string(text);
  // A block value (a list or mapping on the following indented lines) goes with it.
  return std::string(text.substr(0, line->begin)) +
         std::string(text.substr(block_value_end(text, fm, *line, key.size())));
}

std::string edit_front_matter_list(std::string_view text, std::string_view key,
                                   const std::function<bool(std::string_view)>& keep,
                                   const std::vector<std::string>& add) {
  auto flow = [](const std::vector<std::string>& items) {
    std::vector<std::string> quoted;
    for (const auto& item : items) quoted.push_back(yaml_scalar(item));
    return "[" + join(quoted, ", ") + "]";
  };
  FrontMatter fm = locate_front_matter(text);
  std::optional<KeyLine> line = fm.present ? find_key_line(text, fm, key) : std::nullopt;
  if (!line) return add.empty() ? std::string(text) : set_front_matter_line(text, key, flow(add));

  std::string_view value = trim(split_comment(line->content.substr(key.size() + 1)).first);
  if (!value.empty()) {
    // A flow list or a scalar on the key's own line: rewrite that one line.
    std::vector<std::string> items;
    for (auto& item : load_items(value))
      if (keep(item)) items.push_back(std::move(item));
    for (const auto& item : add)
      if (std::find(items.begin(), items.end(), item) == items.end()) items.push_back(item);
    bool comma_scalar = !value.starts_with('[') && !items.empty();
    std::string rendered = flow(items);
    if (comma_scalar) rendered = join(items, ", ");
    return rendered == value ? std::string(text) : set_front_matter_line(text, key, rendered);
  }

  // A block list: one "- item" line per item. Kept items keep their lines; removed
  // items lose theirs; new items follow the last item, indented like it.
  std::string out(text.substr(0, line->end));
  std::string item_prefix = "  - ";
  std::string eol = line->end > 1 && text[line->end - 2] == '\r' ? "\r\n" : "\n";
  std::vector<std::string> present;
  std::size_t pos = line->end;
  std::size_t insert_at = std::string::npos;  // in `out`: just past the last item kept
  bool any_item = false;
  while (pos < fm.yaml_end) {
    std::size_t next = text.find('\n', pos);
    std::size_t end = next == std::string_view::npos ? text.size() : next + 1;
    std::string_view whole = text.substr(pos, end - pos);
    std::string_view content = line_content(whole);
    std::string_view stripped = trim(content);
    bool item = stripped.starts_with("- ") || stripped == "-";
    bool indented = content.starts_with(' ') || content.starts_with('\t');
    if (!item && !(indented && (stripped.empty() || stripped.starts_with('#')))) break;
    if (item) {
      any_item = true;
      std::size_t dash = content.find('-');
      item_prefix = std::string(content.substr(0, dash)) + "- ";
      std::vector<std::string> values = load_items(split_comment(stripped.substr(1)).first);
      std::string v = values.empty() ? "" : values.front();
      if (!keep(v) || std::find(present.begin(), present.end(), v) != present.end()) {
        pos = end;
        continue;
      }
      present.push_back(v);
      out += whole;
      insert_at = out.size();
    } else {
      out += whole;
    }
    pos = end;
  }
  if (!any_item) return add.empty() ? std::string(text) : set_front_matter_line(text, key, flow(add));
  if (insert_at == std::string::npos) insert_at = line->end;
  std::string added;
  for (const auto& item : add) {
    if (std::find(present.begin(), present.end(), item) != present.end()) continue;
    present.push_back(item);
    added += item_prefix + yaml_scalar(item) + eol;
  }
  out.insert(insert_at, added);
  out += text.substr(pos);
  if (present.empty()) return set_front_matter_line(remove_front_matter_line(out, key), key, "[]");
  return out;
}

static nlohmann::ordered_json known_value(const Story& s, const std::string& key) {
  if (key == "name") return s.name;
  if (key == "priority") return s.priority ? nlohmann::ordered_json(*s.priority) : nlohmann::ordered_json(nullptr);
  if (key == "labels") return s.labels;
  if (key == "depends_on") return s.depends_on;
  if (key == "agent") return s.agent.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.agent);
  if (key == "retry_count") return s.retry_count;
  if (key == "blocked") return s.blocked;
  if (key == "created") return s.created.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.created);
  return nullptr;
}

nlohmann::ordered_json field_value(const Story& s, const std::string& key) {
  if (key == "id") return s.id;
  if (key == "type") return s.type;
  if (key == "stage") return s.stage;
  if (key == "name" || key == "priority" || key == "labels" || key == "depends_on" || key == "agent" ||
      key == "retry_count" || key == "blocked" || key == "created")
    return known_value(s, key);
  for (const auto& f : s.fields)
    if (f.key == key) return nlohmann::ordered_json::parse(f.json, nullptr, false);
  return nullptr;
}

namespace {


std::string show_value(const nlohmann::ordered_json& v) {
  if (v.is_null()) return "(none)";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

std::vector<FieldChange> field_changes(const Story& before, const Story& after) {
  std::vector<FieldChange> out;
  static const char* const known[] = {"name",  "priority",    "labels",  "depends_on",
                                      "agent", "retry_count", "blocked", "created"};
  for (const char* key : known) {
    auto a = known_value(before, key), b = known_value(after, key);
    if (a != b) out.push_back({key, a.dump(), b.dump()});
  }
  // Keyed lookups: a story may have up to a thousand custom keys.
  std::unordered_map<std::string_view, const CustomField*> before_fields, after_fields;
  for (const auto& f : before.fields) before_fields[f.key] = &f;
  for (const auto& f : after.fields) after_fields[f.key] = &f;
  for (const auto& f : after.fields) {
    auto old = before_fields.find(f.key);
    if (old == before_fields.end())
      out.push_back({f.key, "null", f.json});
    else if (old->second->json != f.json)
      out.push_back({f.key, old->second->json, f.json});
  }
  for (const auto& f : before.fields)
    if (!after_fields.count(f.key)) out.push_back({f.key, f.json, "null"});
  return out;
}

std::vector<std::string> describe_changes(const std::vector<FieldChange>& changes, bool body_changed) {
  std::vector<std::string> parts;
  for (const auto& change : changes) {
    struct {
      const std::string& key;
      nlohmann::ordered_json before, after;
    } c{change.key, nlohmann::ordered_json::parse(change.before), nlohmann::ordered_json::parse(change.after)};
    if (c.before.is_array() || c.after.is_array()) {
      auto as_list = [](const nlohmann::ordered_json& v) {
        std::vector<std::string> out;
        if (v.is_array())
          for (const auto& item : v) out.push_back(show_value(item));
        return out;
      };
      std::vector<std::string> a = as_list(c.before), b = as_list(c.after);
      std::string part = c.key;
      for (const auto& item : b)
        if (std::find(a.begin(), a.end(), item) == a.end()) part += " +" + item;
      for (const auto& item : a)
        if (std::find(b.begin(), b.end(), item) == b.end()) part += " -" + item;
      parts.push_back(part);
      continue;
    }
    std::string a = show_value(c.before), b = show_value(c.after);
    if (a.size() + b.size() <= 40 && a.find('\n') == std::string::npos && b.find('\n') == std::string::npos)
      parts.push_back(c.key + " " + a + " -> " + b);
    else
      parts.push_back(c.key);
  }
  if (body_changed) parts.push_back("body");
  return parts;
}

namespace {

/// The bytes of a top-level key's entry: its line and any block value under it.
std::optional<std::pair<std::size_t, std::size_t>> key_span(std::string_view text, std::string_view key) {
  FrontMatter fm = locate_front_matter(text);
  if (!fm.present) return std::nullopt;
  auto line = find_key_line(text, fm, key);
  if (!line) return std::nullopt;
  return std::make_pair(line->begin, block_value_end(text, fm, *line, key.size()));
}

/// `text` with the entry of `key` as it is in `from` (added before the closing line
/// when `text` has none, removed when `from` has none).
std::string take_entry(const std::string& text, std::string_view from, const std::string& key) {
  auto source = key_span(from, key);
  if (!source) return remove_front_matter_line(text, key);
  std::string entry(from.substr(source->first, source->second - source->first));
  if (!entry.ends_with('\n')) entry += '\n';
  if (auto target = key_span(text, key))
    return text.substr(0, target->first) + entry + text.substr(target->second);
  FrontMatter fm = locate_front_matter(text);
  return text.substr(0, fm.yaml_end) + entry + text.substr(fm.yaml_end);
}

/// Everything after the front matter (the whole text when there is none).
std::string_view body_part(std::string_view text) {
  FrontMatter fm = locate_front_matter(text);
  return fm.present ? text.substr(fm.body_begin) : text;
}

}  // namespace

StoryMerge merge_story(const Story& where, std::string_view base, std::string_view yours, std::string_view theirs,
                       const StoryLimits& limits, bool prefer_yours) {
  StoryMerge out;
  if (yours == base || yours == theirs) {
    out.text = theirs;
    return out;
  }
  if (theirs == base) {
    out.text = yours;
    return out;
  }
  Story b = reparse_story(where, base, limits), y = reparse_story(where, yours, limits),
        t = reparse_story(where, theirs, limits);
  if (!locate_front_matter(theirs).present || !locate_front_matter(yours).present) {
    out.conflicts.push_back({"format", std::string(yours), std::string(theirs)});
    out.text = prefer_yours ? yours : theirs;
    return out;
  }
  std::unordered_map<std::string, std::string> theirs_changed;  // key -> their value
  for (auto& c : field_changes(b, t)) theirs_changed[c.key] = c.after;
  std::vector<FieldChange> mine = field_changes(b, y);
  bool body_mine = y.body != b.body, body_theirs = t.body != b.body;

  std::string text(theirs);
  if (body_mine) {
    bool conflict = body_theirs && t.body != y.body;
    if (conflict) out.conflicts.push_back({"body", y.body, t.body});
    if (!conflict || prefer_yours) {
      FrontMatter fm = locate_front_matter(text);
      text = text.substr(0, fm.body_begin) + std::string(body_part(yours));
    }
  }
  for (const auto& c : mine) {
    auto other = theirs_changed.find(c.key);
    bool conflict = other != theirs_changed.end() && other->second != c.after;
    if (conflict) out.conflicts.push_back({c.key, c.after, other->second});
    if (!conflict || prefer_yours) text = take_entry(text, yours, c.key);
  }
  if (mine.empty() && !body_mine)  // only comments or formatting: nothing to carry over safely
    out.conflicts.push_back({"format", std::string(yours), std::string(theirs)});
  out.text = std::move(text);
  return out;
}

StoryFileMerge merge_story_file(const Story& where, std::string_view base, std::string_view ours,
                                std::string_view theirs, const StoryLimits& limits, const LineMerge& line_merge,
                                Favour favour) {
  StoryMerge m;
  Story b, y, t;
  try {
    m = merge_story(where, base, ours, theirs, limits, favour == Favour::ours);
    b = reparse_story(where, base, limits);
    y = reparse_story(where, ours, limits);
    t = reparse_story(where, theirs, limits);
  } catch (const StoryParseError&) {
    return line_merge(base, ours, theirs);
  }
  StoryFileMerge out{m.text, 0};
  for (const auto& c : m.conflicts) {
    if (c.key == "format") return line_merge(base, ours, theirs);
    if (c.key == "labels" || c.key == "depends_on") {
      auto items = [&](const Story& s) {
        std::vector<std::string> v;
        if (c.key == "labels")
          v = s.labels;
        else
          for (auto id : s.depends_on) v.push_back(std::to_string(id));
        return v;
      };
      std::vector<std::string> bi = items(b), yi = items(y), ti = items(t), merged;
      auto has = [](const std::vector<std::string>& v, const std::string& x) {
        return std::find(v.begin(), v.end(), x) != v.end();
      };
      for (const auto* side : {&yi, &ti})
        for (const auto& x : *side) {
          bool removed = has(bi, x) && (!has(yi, x) || !has(ti, x));
          if (!removed && !has(merged, x)) merged.push_back(x);
        }
      if (merged.empty()) {
        out.text = remove_front_matter_line(out.text, c.key);
      } else {
        std::vector<std::string> quoted;
        for (const auto& x : merged) quoted.push_back(c.key == "labels" ? yaml_scalar(x) : x);
        out.text = set_front_matter_line(out.text, c.key, "[" + join(quoted, ", ") + "]");
      }
      continue;
    }
    if (c.key == "body") {
      StoryFileMerge body = line_merge(body_part(base), body_part(ours), body_part(theirs));
      FrontMatter fm = locate_front_matter(out.text);
      out.text = out.text.substr(0, fm.body_begin) + body.text;
      out.conflicts += body.conflicts;
      continue;
    }
    // A key both changed differently: the favoured side's value (merge_story kept
    // it in the text), else its lines from each side between markers.
    if (favour != Favour::none) continue;
    auto entry = [&](std::string_view text) {
      auto span = key_span(text, c.key);
      std::string e = span ? std::string(text.substr(span->first, span->second - span->first)) : "";
      if (!e.empty() && !e.ends_with('\n')) e += '\n';
      return e;
    };
    std::string block = "<<<<<<< ours\n" + entry(ours) + "=======\n" + entry(theirs) + ">>>>>>> theirs\n";
    if (auto span = key_span(out.text, c.key)) {
      out.text.replace(span->first, span->second - span->first, block);
    } else {
      FrontMatter fm = locate_front_matter(out.text);
      out.text.insert(fm.yaml_end, block);
    }
    ++out.conflicts;
  }
  return out;
}

}  // namespace tracker
