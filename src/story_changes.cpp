// What changed between two versions of a story, and the three-way merge of a
// story's text that the merge driver and sync use.
#include <tracker/story.hpp>
#include <tracker/util.hpp>

#include "front_matter.hpp"

#include <nlohmann/json.hpp>

namespace tracker {

static nlohmann::ordered_json known_value(const Story& s, const std::string& key) {
  if (key == "name") return s.name;
  if (key == "priority") return s.priority ? nlohmann::ordered_json(*s.priority) : nlohmann::ordered_json(nullptr);
  if (key == "labels") return s.labels;
  if (key == "depends_on") return s.depends_on;
  if (key == "parent") return s.parent ? nlohmann::ordered_json(*s.parent) : nlohmann::ordered_json(nullptr);
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
  const auto& known = known_keys();
  if (std::find(known.begin(), known.end(), key) != known.end()) return known_value(s, key);
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
  for (const std::string& key : known_keys()) {
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
