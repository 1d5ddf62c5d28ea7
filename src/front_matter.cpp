// The front matter of a story's text: where it sits, its top-level key lines, and
// the edits of one key that keep every other line as it was written.
#include "front_matter.hpp"

#include <tracker/util.hpp>

#include <cstring>

namespace tracker {

std::string_view line_content(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

static bool is_fence(std::string_view line, bool closing) {
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


bool is_null(const YAML::Node& node) {
  if (node.IsNull()) return true;
  return is_plain_scalar(node) && (node.Scalar() == "~" || node.Scalar() == "null" || node.Scalar().empty());
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

void NodeBudget::take(const YAML::Node& node, std::size_t depth) {
  if (++used_ > limits_.max_nodes)
    throw StoryParseError(line_of(node, fm_), "the front matter expands to more than " +
                                                  std::to_string(limits_.max_nodes) +
                                                  " values (aliases count each time they are used)");
  if (depth > limits_.max_depth)
    throw StoryParseError(line_of(node, fm_), "the front matter nests lists and mappings more than " +
                                                  std::to_string(limits_.max_depth) + " deep");
}

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

namespace {

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
  const auto& flow = yaml_flow_list;
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

namespace {

/// A YAML double-quoted string holding `text`.
std::string double_quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

/// Where an unclosed '[' or '{' of the flow list or mapping that was still open
/// when the text ended sits: its line (0-based) and character. Quotes and
/// comments are skipped as YAML reads them.
std::optional<std::pair<std::size_t, char>> unclosed_flow(const std::vector<std::string_view>& lines) {
  std::vector<std::pair<std::size_t, char>> open;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    std::string_view l = lines[n];
    char quote = 0;
    for (std::size_t i = 0; i < l.size(); ++i) {
      char c = l[i];
      if (quote) {
        if (c == '\\' && quote == '"')
          ++i;
        else if (c == quote)
          quote = 0;
        continue;
      }
      if (c == '#' && (i == 0 || l[i - 1] == ' ' || l[i - 1] == '\t')) break;
      if ((c == '"' || c == '\'') && (i == 0 || std::string_view(" \t[{,:").find(l[i - 1]) != std::string_view::npos))
        quote = c;
      else if (c == '[' || c == '{')
        open.emplace_back(n, c);
      else if ((c == ']' || c == '}') && !open.empty())
        open.pop_back();
    }
  }
  if (open.empty()) return std::nullopt;
  return open.front();
}

std::size_t indent_of(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  return i;
}

}  // namespace

std::pair<int, std::string> explain_yaml_error(std::string_view yaml, int first_yaml_line, const YAML::Exception& e) {
  std::vector<std::string_view> lines;
  for (std::size_t at = 0; at <= yaml.size();) {
    std::size_t nl = yaml.find('\n', at);
    if (nl == std::string_view::npos) {
      if (at < yaml.size()) lines.push_back(yaml.substr(at));
      break;
    }
    lines.push_back(yaml.substr(at, nl - at));
    at = nl + 1;
  }
  std::size_t n = e.mark.line >= 0 ? static_cast<std::size_t>(e.mark.line) : 0;
  auto file_line = [&](std::size_t k) { return first_yaml_line + static_cast<int>(k); };
  std::string_view line = n < lines.size() ? lines[n] : std::string_view();
  const std::string& msg = e.msg;
  auto colon = line.find(':');
  std::string_view key = colon == std::string_view::npos ? std::string_view() : trim(line.substr(0, colon));
  std::string_view value = colon == std::string_view::npos ? std::string_view() : trim(line.substr(colon + 1));

  if (msg == YAML::ErrorMsg::END_OF_SEQ_FLOW || msg == YAML::ErrorMsg::END_OF_MAP_FLOW) {
    auto open = unclosed_flow(lines);
    std::size_t at = open ? open->first : n;
    char opener = open ? open->second : (msg == YAML::ErrorMsg::END_OF_SEQ_FLOW ? '[' : '{');
    char closer = opener == '[' ? ']' : '}';
    std::string what = opener == '[' ? "list" : "mapping";
    std::string_view written = trim(lines.size() > at ? lines[at] : line);
    std::string out = "the " + what + " opened with '" + opener + "' is not closed; end it with '" + closer +
                      "': " + std::string(written) + closer;
    // `name: [oops`: one value, no comma, may well be text that starts with '['.
    auto c = written.find(':');
    std::string_view v = c == std::string_view::npos ? std::string_view() : trim(written.substr(c + 1));
    if (!v.empty() && v.front() == opener && v.find(',') == std::string_view::npos)
      out += ", or if it is text, put it in quotes: " + std::string(trim(written.substr(0, c))) + ": " + double_quoted(v);
    return {file_line(at), out};
  }
  if (msg == YAML::ErrorMsg::MAP_VALUE) {
    // `name: Fix: crash` (a plain value holding ": "), or a line indented under a
    // key that already has its value.
    if (!key.empty() && value.find(": ") != std::string_view::npos && value.front() != '"' && value.front() != '\'' &&
        indent_of(line) == 0)
      return {file_line(n), "the value has ': ' in it, so it needs quotes: " + std::string(key) + ": " +
                                double_quoted(value)};
    if (indent_of(line) > 0 && n > 0) {
      std::size_t above = n - 1;
      while (above > 0 && trim(lines[above]).empty()) --above;
      return {file_line(n), "this line is indented under '" + std::string(trim(lines[above])) +
                                "', which is not a list or mapping; remove the spaces at its start, or quote the value above if it goes on here"};
    }
    return {file_line(n), "a ':' where YAML does not expect one; if it is part of a value, put the value in quotes: " +
                              std::string(key) + ": " + double_quoted(value)};
  }
  if (msg == YAML::ErrorMsg::TAB_IN_INDENTATION)
    return {file_line(n), "a tab indents this line; YAML indents with spaces only"};
  if (msg == YAML::ErrorMsg::FLOW_END)
    return {file_line(n), "a ']' or '}' with no '[' or '{' open before it; if it is text, put the value in quotes: " +
                              std::string(key) + ": " + double_quoted(value)};
  if (msg.starts_with(YAML::ErrorMsg::INVALID_ESCAPE))
    return {file_line(n), "'\\" + msg.substr(std::string_view(YAML::ErrorMsg::INVALID_ESCAPE).size()) +
                              "' is not an escape YAML knows between double quotes; write '\\\\' for a backslash, or use single quotes"};
  if (msg == YAML::ErrorMsg::UNKNOWN_TOKEN || msg == YAML::ErrorMsg::UNKNOWN_ANCHOR ||
      msg == YAML::ErrorMsg::ANCHOR_NOT_FOUND || msg == YAML::ErrorMsg::ALIAS_NOT_FOUND ||
      msg == YAML::ErrorMsg::END_OF_VERBATIM_TAG) {
    if (!key.empty() && !value.empty())
      return {file_line(n), "a value that starts with '" + std::string(1, value.front()) +
                                "' needs quotes: " + std::string(key) + ": " + double_quoted(value)};
  }
  if (msg == YAML::ErrorMsg::END_OF_MAP && n < lines.size()) {
    std::string_view t = trim(line);
    if (t.starts_with("- "))
      return {file_line(n), "a list item where a key is expected; a list goes under its key, indented: 'key:', then '  " +
                                std::string(t) + "'"};
    return {file_line(n), "this line is not 'key: value' at the level of the lines above it; check its indentation"};
  }
  return {file_line(n), "malformed front matter: " + msg +
                            " (a value that holds ': ' or ' #', or starts with [ { & * ! | > ' \" % @ or `, needs quotes)"};
}

}  // namespace tracker
