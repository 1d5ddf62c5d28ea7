// tracker set / unset: typed, minimal-diff edits of front matter keys.
#include <tracker/deps.hpp>
#include <tracker/fs.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include "limits.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace tracker {

namespace {

bool valid_key(std::string_view key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_')) return false;
  return std::all_of(key.begin(), key.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

std::vector<std::string> comma_list(const std::string& value) {
  std::vector<std::string> out;
  for (const auto& part : split(value, ','))
    if (!trim(part).empty()) out.emplace_back(trim(part));
  return out;
}

std::int64_t story_id_value(std::string_view item) {
  auto id = story_ref(item);
  if (!id) throw UsageError("depends_on takes story ids, got '" + std::string(item) + "'");
  return *id;
}

/// A scalar value as YAML text: integers and booleans stay typed, anything else is
/// a string, quoted only when it has to be.
std::string custom_scalar(const std::string& value) {
  if (parse_int(value) || value == "true" || value == "false") return value;
  return yaml_scalar(value);
}

}  // namespace

SetResult Transitions::set_fields(std::int64_t id, const std::vector<FieldEdit>& edits, bool keep_file_name,
                              Force force) {
  s_.will_commit();
  if (edits.empty()) throw UsageError("nothing to set: give key=value pairs");
  std::set<std::string> seen;
  std::string new_type;  // empty: the type stays
  bool links = false;
  for (const auto& e : edits) {
    if (e.key == "stage")
      throw UsageError("stage is the story's directory; use tracker move " + std::to_string(id) + " <stage>");
    if (e.key == "id")
      throw UsageError("the id names the story for good; tracker renumber " + std::to_string(id) + " gives it a fresh one");
    if (!valid_key(e.key)) throw UsageError("'" + e.key + "' is not a valid key");
    if (e.key == "type") {
      // The type is the file name's (<id>_<type>_<slug>.md): set renames the file.
      const Config& config = s_.ws.config();
      if (!e.value) throw UsageError("every story has a type; give type=<type> (" + join(config.types, ", ") + ")");
      std::string type(trim(*e.value));
      if (!config.is_known_type(type))
        throw UsageError("unknown type '" + type + "'" + did_you_mean(type, config.types) +
                         "; types are: " + join(config.types, ", "));
      new_type = type;
    }
    if (!seen.insert(e.key).second) throw UsageError("key '" + e.key + "' is given twice");
    if (e.value) require_text(*e.value, "the value of " + e.key);
    if (e.value && e.value->find_first_of("\r\n") != std::string::npos)
      throw UsageError(e.key + ": values are one line; use tracker edit for more");
    links = links || e.key == "depends_on" || e.key == "parent";
  }
  std::set<std::int64_t> existing;  // the dependencies named that exist, asked before any story lock
  if (links) {
    s_.lock_dependency_graph();
    s_.refresh_all();
    for (const auto& e : edits)
      if (e.key == "depends_on" && e.value)
        for (const auto& item : comma_list(*e.value))
          if (auto dep = story_ref(item); dep && *dep != id && s_.story_exists(*dep)) existing.insert(*dep);
    for (const auto& e : edits)
      if (e.key == "parent" && e.value)
        if (auto parent = story_ref(*e.value); parent && *parent != id && s_.story_exists(*parent))
          existing.insert(*parent);
  }
  Story story = s_.load_for_change(id);
  const std::string path = s_.ws.root() / story.path;
  std::string before_text = read_file(path);
  // `agent` names who works on the story: changing it is the claim holder's, as
  // ending the claim is.
  std::optional<Holding> holding;
  for (const auto& e : edits)
    if (e.key == "agent") holding = all_.rule.check_holder(id, std::nullopt, "change the agent of", force);

  // Validate everything before touching the file.
  const auto& known = known_keys();
  std::vector<std::int64_t> new_deps;
  std::optional<std::int64_t> new_parent;
  for (const auto& e : edits) {
    if (e.key == "type") continue;
    bool is_known = std::find(known.begin(), known.end(), e.key) != known.end();
    bool present = front_matter_key_line(before_text, e.key) > 0;
    if (!is_known && !present) {
      if (auto typo = closest_match(e.key, known); typo && *typo != e.key)
        throw UsageError("unknown key '" + e.key + "' (did you mean '" + *typo + "'?)");
    }
    if (!e.value) continue;
    const std::string& v = *e.value;
    if (e.key == "priority" || e.key == "retry_count") {
      auto n = parse_int(trim(v));
      if (!n) throw UsageError(e.key + " must be an integer, got '" + v + "'");
      if (e.key == "retry_count" && *n < 0) throw UsageError("retry_count cannot be negative");
    } else if (e.key == "blocked") {
      if (v != "true" && v != "false") throw UsageError("blocked must be true or false, got '" + v + "'");
    } else if (e.key == "name" || e.key == "agent") {
      if (trim(v).empty())
        throw UsageError(e.key + " cannot be empty; use tracker unset " + std::to_string(id) + " " + e.key);
    } else if (e.key == "created") {
      if (!parse_iso8601(trim(v)))
        throw UsageError("created must be a time like 2026-11-23T07:41:00Z, got '" + v + "'");
    } else if (e.key == "depends_on") {
      for (const auto& item : comma_list(v)) new_deps.push_back(story_id_value(item));
    } else if (e.key == "parent") {
      new_parent = story_ref(v);
      if (!new_parent) throw UsageError("parent takes a story id, got '" + v + "'");
    }
  }
  if (new_parent) check_parent(id, *new_parent, existing.count(*new_parent) || story.parent == new_parent);
  if (links && std::any_of(edits.begin(), edits.end(), [](const FieldEdit& e) { return e.key == "depends_on"; })) {
    DependencyGraph graph = s_.dependency_graph();
    graph[id] = new_deps;
    for (auto dep : new_deps) {
      if (dep == id) throw InvalidDataError("story #" + std::to_string(id) + " cannot depend on itself");
      if (!existing.count(dep) &&
          std::find(story.depends_on.begin(), story.depends_on.end(), dep) == story.depends_on.end())
        throw NotFoundError("no story #" + std::to_string(dep));
      if (auto cycle = dependency_path(graph, dep, id)) {
        cycle->insert(cycle->begin(), id);
        throw InvalidDataError("depends_on " + std::to_string(dep) +
                               " would make a dependency cycle: " + format_dependency_path(*cycle));
      }
    }
  }

  auto edit = [&](const std::string& text) {
    std::string out = text;
    for (const auto& e : edits) {
      if (e.key == "type") continue;  // the file name's, not the text's
      if (!e.value) {
        out = remove_front_matter_line(out, e.key);
        continue;
      }
      const std::string& v = *e.value;
      if (e.key == "labels") {
        std::vector<std::string> wanted = comma_list(v);
        out = edit_front_matter_list(
            out, "labels",
            [&](std::string_view item) { return std::find(wanted.begin(), wanted.end(), item) != wanted.end(); },
            wanted);
      } else if (e.key == "depends_on") {
        std::vector<std::string> wanted;
        for (auto d : new_deps) wanted.push_back(std::to_string(d));
        out = edit_front_matter_list(
            out, "depends_on",
            [&](std::string_view item) {
              auto n = story_ref(item);
              return n && std::find(new_deps.begin(), new_deps.end(), *n) != new_deps.end();
            },
            wanted);
      } else if (e.key == "parent") {
        out = set_front_matter_line(out, e.key, std::to_string(*new_parent));
      } else if (e.key == "priority" || e.key == "retry_count") {
        out = set_front_matter_line(out, e.key, std::to_string(*parse_int(trim(v))));
      } else if (e.key == "blocked") {
        out = set_front_matter_line(out, e.key, v);
      } else if (e.key == "name" || e.key == "agent" || e.key == "created") {
        out = set_front_matter_line(out, e.key, yaml_scalar(trim(v)));
      } else {
        out = set_front_matter_line(out, e.key, custom_scalar(v));
      }
    }
    return out;
  };
  SetResult result;
  result.id = id;
  result.path = story.path;
  std::string after_text = edit(before_text);
  // A key removed must be gone: one YAML reads but the line editor cannot find (a
  // quoted key, a flow mapping) is refused rather than reported as "no change".
  std::vector<std::string> keys_after = front_matter_keys(after_text);
  for (const auto& e : edits)
    if (!e.value && std::find(keys_after.begin(), keys_after.end(), e.key) != keys_after.end())
      throw UsageError("cannot unset " + e.key + ": it is not written as a plain '" + e.key +
                       ":' line; use tracker edit " + std::to_string(id));
  bool retype = !new_type.empty() && new_type != story.type;
  if (after_text == before_text && !retype) return result;
  // What we write must read back: a value that breaks the front matter is refused.
  Story before = reparse_story(story, before_text, s_.ws.config().story_limits), after = story;
  try {
    after = reparse_story(story, after_text, s_.ws.config().story_limits);
  } catch (const StoryParseError& e) {
    throw UsageError("the change would make the front matter unreadable: " + e.detail());
  }
  // Line edits must change the keys they name and nothing else. A value written
  // across lines in a way the line editor does not see (an unclosed quote that YAML
  // continues onto the next lines) could make another line a key: refuse that.
  std::vector<FieldChange> changed = field_changes(before, after);
  std::vector<std::string> others;
  for (const auto& c : changed)
    if (!seen.count(c.key)) others.push_back(c.key);
  if (before.body != after.body) others.push_back("the body");
  // And each scalar set must read back as it was given.
  for (const auto& e : edits) {
    if (!e.value || e.key == "type") continue;
    std::string v(trim(*e.value));
    bool same = true;
    if (e.key == "name")
      same = after.name == v;
    else if (e.key == "agent")
      same = after.agent == v;
    else if (e.key == "created")
      same = after.created == v;
    else if (e.key == "priority")
      same = after.priority == parse_int(v);
    else if (e.key == "retry_count")
      same = after.retry_count == parse_int(v);
    else if (e.key == "parent")
      same = after.parent == new_parent;
    else if (std::find(known.begin(), known.end(), e.key) == known.end()) {
      auto f = std::find_if(after.fields.begin(), after.fields.end(), [&](const CustomField& c) { return c.key == e.key; });
      nlohmann::json want = parse_int(*e.value) ? nlohmann::json(*parse_int(*e.value))
                            : *e.value == "true"  ? nlohmann::json(true)
                            : *e.value == "false" ? nlohmann::json(false)
                                                  : nlohmann::json(*e.value);
      same = f != after.fields.end() && nlohmann::json::parse(f->json) == want;
    }
    if (!same) others.push_back(e.key + " (it would not read back as given)");
  }
  if (!others.empty())
    throw UsageError("the change would also change " + join(others, ", ") + " (the front matter is written in a way " +
                     "set cannot edit line by line); use tracker edit " + std::to_string(id));
  result.changes = describe_changes(changed, before.body != after.body);
  if (retype) result.changes.insert(result.changes.begin(), "type " + story.type + " -> " + new_type);
  if (result.changes.empty()) result.changes = {"format"};
  bool only_unsets = std::all_of(edits.begin(), edits.end(), [](const FieldEdit& e) { return !e.value; });
  // A new name gives the file its slug: the name on disk keeps telling the story.
  Rename rename{retype ? new_type : "", ""};
  if (!keep_file_name && before.name != after.name && !after.name.empty()) rename.slug = slugify(after.name);
  // A change of agent records who made it (sync's fence reads it), and who forced it.
  std::string owner = holding && !holding->holder.empty() ? s_.identity() : "";
  if (holding && holding->forced) result.forced_by = s_.identity();
  Transition t = transition(story, s_.ws.config().stage(story.stage), edit, only_unsets ? "unset" : "set",
                            "(" + join(result.changes, ", ") + ")", owner, rename, result.forced_by);
  result.commit = t.commit;
  result.path = t.path;
  result.changed = true;
  if (links) s_.graph_changed(id, after.depends_on);
  if (holding && holding->forced && (holding->local || holding->lease)) {
    all_.rule.end_claim(*holding);
    result.claims_ended.push_back(holding->lease ? holding->lease->claim : *holding->local);
  }
  return result;
}

std::vector<StoryProblem> Transitions::validate_edit(std::int64_t id, const std::string& text) {
  s_.refresh_all();
  Story story = s_.find(id);
  Story edited;
  try {
    edited = reparse_story(story, text, s_.ws.config().story_limits);
  } catch (const StoryParseError& e) {
    return {{e.line(), e.detail()}};
  }
  std::vector<StoryProblem> problems = edited.warnings;
  int deps_line = front_matter_key_line(text, "depends_on");
  DependencyGraph graph = s_.dependency_graph();
  graph[id] = edited.depends_on;
  for (auto dep : edited.depends_on) {
    if (dep == id) {
      problems.push_back({deps_line, "depends_on: story #" + std::to_string(id) + " cannot depend on itself"});
      continue;
    }
    if (!s_.story_exists(dep)) {
      problems.push_back({deps_line, "depends_on: no story #" + std::to_string(dep)});
      continue;
    }
    if (auto cycle = dependency_path(graph, dep, id)) {
      cycle->insert(cycle->begin(), id);
      problems.push_back({deps_line, "depends_on: dependency cycle " + format_dependency_path(*cycle)});
    }
  }
  if (edited.parent && edited.parent != story.parent) {
    int parent_line = front_matter_key_line(text, "parent");
    try {
      check_parent(id, *edited.parent, s_.story_exists(*edited.parent));
    } catch (const Error& e) {
      problems.push_back({parent_line, std::string("parent: ") + e.what()});
    }
  }
  return problems;
}

std::vector<StoryProblem> Transitions::validate_new(const std::string& text) {
  s_.refresh_all();
  Story story;
  try {
    parse_story_text(text, story, s_.ws.config().story_limits);
  } catch (const StoryParseError& e) {
    return {{e.line(), e.detail()}};
  }
  std::vector<StoryProblem> problems = story.warnings;
  int name_line = front_matter_key_line(text, "name");
  if (trim(story.name).empty())
    problems.push_back({name_line ? name_line : 1, "the story needs a name: fill in 'name:' (or start the body with a # heading)"});
  else if (story.name.find('\n') != std::string::npos)
    problems.push_back({name_line, "name: a story name must be one line"});
  int deps_line = front_matter_key_line(text, "depends_on");
  for (auto dep : story.depends_on) {
    if (!s_.story_exists(dep)) problems.push_back({deps_line, "depends_on: no story #" + std::to_string(dep)});
  }
  if (story.parent && !s_.story_exists(*story.parent))
    problems.push_back({front_matter_key_line(text, "parent"), "parent: no story #" + std::to_string(*story.parent)});
  return problems;
}

EditResult Transitions::apply_edit(std::int64_t id, const std::string& original, const std::string& edited,
                                   bool keep_file_name) {
  s_.will_commit();
  Story story = s_.load_for_change(id);  // holds the story's lock until the commit
  EditResult result;
  result.id = id;
  if (edited == original) return result;
  const StoryLimits& limits = s_.ws.config().story_limits;
  // An edit of depends_on is checked again under the graph's lock: the check the
  // editor loop made may be out of date by now.
  Story was = reparse_story(story, original, limits), will_be = reparse_story(story, edited, limits);
  bool links_changed = was.depends_on != will_be.depends_on || was.parent != will_be.parent;
  if (links_changed) {
    s_.unlock_story(id);  // the graph's lock comes before any story's
    s_.lock_dependency_graph();
    story = s_.load_for_change(id);
  }
  // What to write over `now`: the edit itself, or the edit merged into a file that
  // changed (or moved) while the editor was open. Never their change lost, never yours.
  auto text_for = [&](const std::string& now) {
    if (now == original) return edited;
    StoryMerge m = merge_story(story, original, edited, now, limits);
    std::vector<StoryProblem> problems = m.conflicts.empty() ? validate_edit(id, m.text) : std::vector<StoryProblem>{};
    if (!m.conflicts.empty() || !problems.empty()) {
      std::vector<std::string> keys;
      for (const auto& c : m.conflicts) keys.push_back(c.key);
      for (const auto& p : problems) keys.push_back(p.message);
      throw EditConflictError(story.path + " changed while it was being edited, and both changed: " + join(keys, ", "),
                              now, merge_story(story, original, edited, now, limits, true).text, m.conflicts);
    }
    result.merged = true;
    return m.text;
  };
  const std::string current = read_file(s_.ws.root() / story.path);
  const std::string text = text_for(current);
  if (links_changed && current == original) {
    std::vector<StoryProblem> problems = validate_edit(id, text);
    if (!problems.empty())
      throw EditConflictError(story.path + ": " + problems.front().message, current, edited, {});
  }
  if (text == current) return result;
  Story before = reparse_story(story, current, limits), after = reparse_story(story, text, limits);
  // The agent is the claim holder's to change, as at `set`.
  if (before.agent != after.agent) all_.rule.check_holder(id, std::nullopt, "change the agent of", Force::no);
  result.changes = describe_changes(field_changes(before, after), before.body != after.body);
  if (result.changes.empty()) result.changes = {"format"};
  // A new name gives the file its slug, as at `set`.
  Rename rename;
  if (!keep_file_name && before.name != after.name && !after.name.empty()) rename.slug = slugify(after.name);
  result.commit = transition(
                      story, s_.ws.config().stage(story.stage),
                      [&](const std::string& now) { return now == current ? text : text_for(now); }, "edit",
                      "(" + join(result.changes, ", ") + ")", "", rename)
                      .commit;
  result.changed = true;
  if (links_changed) s_.graph_changed(id, after.depends_on);
  return result;
}

fs::path Transitions::save_rejected(const std::string& stem, const std::string& text) {
  fs::path dir = s_.ws.local_state_dir() / "rejected";
  fs::create_directories(dir);
  std::string stamp = utc_now_iso8601();
  std::replace(stamp.begin(), stamp.end(), ':', '-');
  fs::path path = dir / (stem + "-" + stamp + ".md");
  for (int n = 2; fs::exists(path); ++n) path = dir / (stem + "-" + stamp + "-" + std::to_string(n) + ".md");
  write_file_atomic(path, text);
  // Only the newest kRejectedKept texts are kept: a long session of bad saves must
  // not fill the disk. Oldest first by modification time, then by name.
  std::vector<std::pair<fs::file_time_type, fs::path>> saved;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".md") saved.emplace_back(e.last_write_time(ec), e.path());
  if (saved.size() > limits::kRejectedKept) {
    std::sort(saved.begin(), saved.end());
    for (std::size_t i = 0; i + limits::kRejectedKept < saved.size(); ++i)
      if (saved[i].second != path) fs::remove(saved[i].second, ec);
  }
  return path;
}

}  // namespace tracker
