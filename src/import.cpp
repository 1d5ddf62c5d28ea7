// Transitions::import_stories: a source's records mapped onto the board (stages,
// types, ids, links) and written as one commit. Every record is mapped before
// anything is written; a record that does not map stops the import whole.
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/import.hpp>
#include <tracker/remote.hpp>
#include <tracker/util.hpp>

#include "file_tx.hpp"
#include "front_matter.hpp"
#include "fs_internal.hpp"
#include "services.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace tracker {

namespace {

/// A source's record as the board will hold it.
struct Planned {
  const SourceRecord* record = nullptr;
  std::string key;  ///< the `source` value
  std::string stage, type;
  std::int64_t id = 0;
  const Story* existing = nullptr;
  /// The front matter keys the import owns, in order; nullopt removes the key. A
  /// re-import sets them from the source and leaves every other key (agent,
  /// blocked, a team's own) as it is on the board.
  std::vector<std::pair<std::string, std::optional<std::string>>> keys;
  std::vector<std::int64_t> depends_on;
  std::optional<std::int64_t> parent;
};

}  // namespace

ImportResult Transitions::import_stories(const ImportRequest& request) {
  SourceRead src = read_source(request.format, request.paths, request.repo);
  trace("import: source read");
  const Config& config = s_.ws.config();
  ImportResult result;
  result.format = import_format_name(request.format);
  for (const auto& p : request.paths) result.source += (result.source.empty() ? "" : ", ") + p.filename().string();
  result.dry_run = request.dry_run;
  result.skipped = src.skipped;
  std::vector<std::string> problems = src.problems;

  for (const auto& [status, stage] : request.status_map)
    if (!config.find_stage(stage))
      throw UsageError("--map " + status + "=" + stage + ": unknown stage '" + stage + "'" +
                       did_you_mean(stage, config.stage_names()) + "; stages are: " + join(config.stage_names(), ", "));
  for (const auto& [from, to] : request.type_map)
    if (!valid_stage_name(to) || to.find('-') != std::string::npos)
      throw UsageError("--map-type " + from + "=" + to + ": bad type '" + to + "': use lowercase letters and digits");

  // Which stage each status goes to: --map first, then the format's own words.
  const std::string ready = config.ready_stages.empty() ? config.stages.front().name : config.ready_stages.front();
  const std::string done = config.done_stages.empty() ? config.stages.back().name : config.done_stages.front();
  const std::string working = config.find_stage(config.claim_move_to) ? config.claim_move_to : ready;
  std::map<std::string, std::string> defaults;  // lower-cased status -> stage
  switch (request.format) {
    case ImportFormat::beads:
      defaults = {{"open", ready}, {"in_progress", working}, {"closed", done}};
      break;
    case ImportFormat::github:
      defaults = {{"open", ready}, {"closed", done}};
      break;
    case ImportFormat::backlog_md:
      defaults = {{"to do", ready}, {"in progress", working}, {"done", done}};
      break;
  }
  auto stage_of_status = [&](const std::string& status) -> std::optional<std::string> {
    if (auto it = request.status_map.find(status); it != request.status_map.end()) return it->second;
    for (const auto& [from, to] : request.status_map)
      if (ascii_lower(from) == ascii_lower(status)) return to;
    if (auto it = defaults.find(ascii_lower(status)); it != defaults.end()) return it->second;
    for (const auto& stage : config.stages)  // a status that names a stage goes there
      if (ascii_lower(stage.name) == ascii_lower(status)) return stage.name;
    return std::nullopt;
  };
  auto type_of = [&](const std::string& source_type) {
    std::string t = source_type.empty() ? config.types.front() : source_type;
    if (auto it = request.type_map.find(t); it != request.type_map.end()) return it->second;
    return t;
  };

  // Written: the graph's lock first, so that no link lands between the check of
  // the graph below and the commit, and the id lock until the commit has landed.
  std::optional<IdAllocation> ids;
  if (!request.dry_run) {
    s_.will_commit();
    s_.lock_dependency_graph();
    ids.emplace(s_.ws);
  }

  // The board's stories that came from this source, by their `source` key.
  s_.refresh_all();
  std::vector<Story> board = s_.shadow->list(ListQuery{});
  std::map<std::string, const Story*> by_source;
  std::map<std::string, std::vector<std::int64_t>> twice;  // a source two stories name
  for (const auto& s : board)
    for (const auto& f : s.fields)
      if (f.key == "source") {
        auto v = nlohmann::json::parse(f.json, nullptr, false);
        if (!v.is_string()) continue;
        auto [it, fresh] = by_source.emplace(v.get<std::string>(), &s);
        if (!fresh) {
          auto& same = twice[it->first];
          if (same.empty()) same.push_back(it->second->id);
          same.push_back(s.id);
        }
      }
  // Two clones that imported the same record before they synced: which story is
  // the record's is not for the import to guess.
  for (const auto& [source, same] : twice) {
    if (!source.starts_with(src.prefix)) continue;
    std::vector<std::string> named;
    for (auto id : same) named.push_back("#" + std::to_string(id));
    problems.push_back(source + " is on the board " + std::to_string(same.size()) + " times (" + join(named, ", ") +
                       "; two clones imported it): delete all but one ('tracker delete'), then import again");
  }

  trace("import: board read");
  // Map every record: stage, type, the story it updates.
  const bool fold_case = request.format == ImportFormat::backlog_md;
  auto norm = [&](const std::string& id) { return fold_case ? ascii_lower(id) : id; };
  std::vector<Planned> plan(src.records.size());
  std::map<std::string, std::size_t> index_of;  // normalized source id -> plan index
  std::map<std::string, std::vector<std::string>> unmapped_status, bad_types;
  std::vector<std::string> new_types;
  for (std::size_t i = 0; i < src.records.size(); ++i) {
    const SourceRecord& r = src.records[i];
    Planned& p = plan[i];
    p.record = &r;
    p.key = src.prefix + r.id;
    index_of.emplace(norm(r.id), i);
    if (auto it = by_source.find(p.key); it != by_source.end()) p.existing = it->second;
    if (r.stage == "@ready")
      p.stage = ready;
    else if (r.stage == "@done")
      p.stage = done;
    else if (r.stage == "@archive")
      p.stage = archive_stage().name;
    else if (!r.stage.empty()) {
      if (const Stage* s = config.find_stage(r.stage))
        p.stage = s->name;
      else
        problems.push_back(r.where + ": " + r.id + "'s stage '" + r.stage + "' is not a stage of this board");
    } else if (auto stage = stage_of_status(r.status)) {
      p.stage = *stage;
      result.statuses[r.status] = *stage;
    } else {
      unmapped_status[r.status].push_back(r.where);
    }
    if (!r.stage.empty() && !p.stage.empty()) result.statuses["(" + r.stage + ")"] = p.stage;
    p.type = type_of(r.type);
    result.types[r.type.empty() ? "(none)" : r.type] = p.type;
    if (!config.is_known_type(p.type) && std::find(new_types.begin(), new_types.end(), p.type) == new_types.end()) {
      if (valid_stage_name(p.type) && p.type.find('-') == std::string::npos)
        new_types.push_back(p.type);
      else
        bad_types[p.type].push_back(r.where);
    }
    for (const auto& label : r.labels)
      if (label.find(',') != std::string::npos || label.find('\n') != std::string::npos || trim(label).empty())
        problems.push_back(r.where + ": " + r.id + "'s label '" + label + "' holds a comma, which a tracker label cannot");
    if (r.name.find('\n') != std::string::npos) problems.push_back(r.where + ": " + r.id + "'s title is more than one line");
  }
  auto first_of = [](const std::vector<std::string>& wheres) {
    return " (" + std::to_string(wheres.size()) + (wheres.size() == 1 ? " record, at " : " records, the first at ") +
           wheres.front() + ")";
  };
  for (const auto& [status, wheres] : unmapped_status)
    problems.push_back("status '" + status + "'" + first_of(wheres) + " has no stage: map it with --map '" + status +
                       "=STAGE' (stages: " + join(config.stage_names(), ", ") + ")");
  for (const auto& [type, wheres] : bad_types)
    problems.push_back("type '" + type + "'" + first_of(wheres) +
                       " is not a tracker type (lowercase letters and digits): map it with --map-type '" + type +
                       "=TYPE'");
  result.types_added = new_types;

  // Ids: a record already on the board keeps its story's; a new one gets the next
  // free id, in the source's order (a dry run only says which would come).
  std::int64_t new_count = 0;
  for (const auto& p : plan) new_count += p.existing == nullptr;
  std::int64_t above = std::max({s_.shadow->max_id(), id_floor(), ids ? ids->last() : IdAllocation::peek_last(s_.ws)});
  if (!request.dry_run && new_count > 0) {
    s_.prepare_commit();
    if (Remote* r = s_.remote()) {
      try {
        above = std::max(above, r->reserve_ids(above, new_count, "tracker import") - 1);
      } catch (const RemoteUnavailableError& e) {
        s_.warn(std::string(e.what()) + "; the ids come from this clone alone, so another clone may give them out too "
                                        "(after a merge, 'tracker check' finds a duplicate and 'tracker renumber' fixes it)");
      }
    }
    above = ids->reserve_many(above, new_count) - 1;
  }
  const std::int64_t first_new = above + 1;
  // Ids reserved for an import that is not written are given back.
  ScopeExit give_back([&] {
    if (ids && new_count > 0) ids->release_many(first_new, new_count);
  });
  std::int64_t next = first_new;
  for (auto& p : plan) p.id = p.existing ? p.existing->id : next++;

  // Links through the source's ids; one the source does not hold is kept as text.
  auto resolve = [&](const std::string& id) -> std::optional<std::int64_t> {
    if (auto it = index_of.find(norm(id)); it != index_of.end()) return plan[it->second].id;
    if (auto it = by_source.find(src.prefix + id); it != by_source.end()) return it->second->id;
    return std::nullopt;
  };
  for (auto& p : plan) {
    const SourceRecord& r = *p.record;
    std::vector<std::string> unresolved;
    auto missing = [&](const std::string& kind, const std::string& id) {
      unresolved.push_back(kind + " " + id);
      result.missing_links.push_back(r.where + ": " + p.key + " " + kind + " " + id +
                                     ", which the source does not hold (kept in source_links)");
    };
    for (const auto& d : r.depends_on) {
      if (auto id = resolve(d)) {
        if (*id == p.id)
          problems.push_back(r.where + ": " + r.id + " depends on itself");
        else if (std::find(p.depends_on.begin(), p.depends_on.end(), *id) == p.depends_on.end())
          p.depends_on.push_back(*id);
      } else {
        missing("depends_on", d);
      }
    }
    if (r.parent) {
      if (auto id = resolve(*r.parent)) {
        if (*id == p.id) problems.push_back(r.where + ": " + r.id + " is its own parent");
        p.parent = *id;
      } else {
        missing("parent", *r.parent);
      }
    }
    std::vector<std::int64_t> related;
    for (const auto& d : r.related) {
      if (auto id = resolve(d)) {
        if (*id != p.id && std::find(related.begin(), related.end(), *id) == related.end()) related.push_back(*id);
      } else {
        missing("related", d);
      }
    }
    auto opt = [](bool present, std::string value) { return present ? std::optional<std::string>(value) : std::nullopt; };
    p.keys = {
        {"name", yaml_scalar(r.name)},
        {"priority", opt(r.priority.has_value(), r.priority ? std::to_string(*r.priority) : "")},
        {"labels", opt(!r.labels.empty(), yaml_flow_list(r.labels))},
        {"depends_on", opt(!p.depends_on.empty(), yaml_id_list(p.depends_on))},
        {"parent", opt(p.parent.has_value(), p.parent ? std::to_string(*p.parent) : "")},
        {"created", opt(!r.created.empty(), yaml_scalar(r.created))},
        {"closed", opt(!r.closed.empty(), yaml_scalar(r.closed))},
        {"assignee", opt(!r.assignees.empty(), r.assignees.size() == 1 ? yaml_scalar(r.assignees.front())
                                                                          : yaml_flow_list(r.assignees))},
        {"milestone", opt(!r.milestone.empty(), yaml_scalar(r.milestone))},
        {"author", opt(!r.author.empty(), yaml_scalar(r.author))},
        {"related", opt(!related.empty(), yaml_id_list(related))},
        {"source_links", opt(!unresolved.empty(), yaml_flow_list(unresolved))},
        {"source", yaml_scalar(p.key)},
    };
  }

  // The graph after the import: no cycle of dependencies or of parents through an
  // imported story.
  {
    DependencyGraph graph;
    std::map<std::int64_t, std::int64_t> parents;
    std::set<std::int64_t> updated;
    for (const auto& p : plan)
      if (p.existing) updated.insert(p.id);
    for (const auto& s : board) {
      if (updated.count(s.id)) continue;
      if (!s.depends_on.empty()) graph[s.id] = s.depends_on;
      if (s.parent) parents[s.id] = *s.parent;
    }
    for (const auto& p : plan) {
      if (!p.depends_on.empty()) graph[p.id] = p.depends_on;
      if (p.parent) parents[p.id] = *p.parent;
    }
    std::map<std::int64_t, const Planned*> by_id;
    for (const auto& p : plan) by_id[p.id] = &p;
    auto name_path = [&](const std::vector<std::int64_t>& path) {
      std::vector<std::string> parts;
      for (auto id : path) parts.push_back(by_id.count(id) ? by_id[id]->record->id : "#" + std::to_string(id));
      return join(parts, " -> ");
    };
    for (const auto& cycle : dependency_cycles(graph)) {
      auto in = std::find_if(cycle.begin(), cycle.end(), [&](std::int64_t id) { return by_id.count(id) > 0; });
      if (in != cycle.end() && cycle.size() > 2)
        problems.push_back(by_id[*in]->record->where + ": a cycle of dependencies: " + name_path(cycle));
    }
    std::set<std::int64_t> reported;
    for (const auto& p : plan) {
      if (!p.parent || reported.count(p.id)) continue;
      if (auto loop = parent_cycle(parents, p.id); loop && loop->size() > 2) {
        for (auto id : *loop) reported.insert(id);
        problems.push_back(p.record->where + ": a cycle of parents: " + name_path(*loop));
      }
    }
  }

  trace("import: links mapped, graph checked");
  // The files: a new story's whole text, an existing one's keys and body.
  struct Write {
    Planned* p;
    std::string text, old_text;
    fs::path from, to;
  };
  std::vector<Write> writes;
  for (auto& p : plan) {
    const SourceRecord& r = *p.record;
    std::string file_name = make_story_file_name(p.id, p.type, slugify(r.name));
    ImportedStory item{p.id, p.key, r.name, p.stage, p.type, "", {}};
    const Stage* stage = config.find_stage(p.stage);
    if (!p.existing) {
      std::string text = "---\n";
      for (const auto& [key, value] : p.keys)
        if (value) text += key + ": " + *value + "\n";
      text += "---\n";
      text = with_body(text, r.body);
      fs::path to = stage ? s_.ws.stories_root() / stage->dir / file_name : fs::path();
      item.path = stage ? s_.ws.relative(to) : "";
      result.created.push_back(item);
      writes.push_back({&p, std::move(text), "", {}, to});
      continue;
    }
    fs::path from = s_.ws.root() / p.existing->path;
    std::string old_text;
    try {
      old_text = read_file(from);
    } catch (const Error& e) {
      problems.push_back(p.existing->path + ": " + e.what());
      continue;
    }
    std::string text = old_text;
    try {
      for (const auto& [key, value] : p.keys) {
        std::string next_text = value ? set_front_matter_line(text, key, *value) : remove_front_matter_line(text, key);
        if (next_text != text) item.changed.push_back(key);
        text = std::move(next_text);
      }
      std::string bodied = with_body(text, r.body);
      if (bodied != text && strip_cr(bodied) != strip_cr(text)) {
        Story before, after;
        parse_story_text(text, before, config.story_limits);
        parse_story_text(bodied, after, config.story_limits);
        if (before.body != after.body) item.changed.push_back("body");
      }
      text = std::move(bodied);
    } catch (const Error& e) {
      problems.push_back(p.existing->path + ": " + e.what());
      continue;
    }
    std::string new_name = p.existing->stage == p.stage && p.existing->type == p.type && p.existing->name == r.name
                               ? from.filename().string()
                               : file_name;
    if (p.existing->stage != p.stage) item.changed.insert(item.changed.begin(), "stage");
    if (p.existing->type != p.type) item.changed.insert(item.changed.begin(), "type");
    fs::path to = stage ? s_.ws.stories_root() / stage->dir / new_name : from;
    if (item.changed.empty() && to == from) {
      ++result.unchanged;
      continue;
    }
    item.path = s_.ws.relative(to);
    result.updated.push_back(item);
    writes.push_back({&p, std::move(text), std::move(old_text), from, to});
  }

  result.problems = problems;
  if (request.dry_run) {
    for (auto& c : result.created) c.id = 0;  // not given out: the ids come when the import is written
    return result;
  }
  if (!problems.empty())
    throw InvalidDataError(problems.front() +
                           (problems.size() > 1 ? "; and " + std::to_string(problems.size() - 1) +
                                                      " more problems ('tracker import --dry-run' lists them)"
                                                : std::string()) +
                           "; nothing was imported");
  if (writes.empty() && new_types.empty()) return result;

  // Stories another identity holds are changed only with --force, which ends their claims.
  std::vector<std::int64_t> changed_ids;
  for (const auto& w : writes)
    if (w.p->existing) changed_ids.push_back(w.p->id);
  s_.lock_stories(changed_ids);
  std::vector<Holding> holdings;
  for (auto id : changed_ids) {
    Holding h = all_.rule.check_holder(id, std::nullopt, "import", request.force ? Force::yes : Force::no);
    if (!h.holder.empty()) holdings.push_back(std::move(h));
  }

  s_.prepare_commit();
  std::string subject = "tracker: import " + std::to_string(result.created.size() + result.updated.size()) +
                        " stories from " + result.format;
  if (!result.updated.empty())
    subject += " (" + std::to_string(result.created.size()) + " new, " + std::to_string(result.updated.size()) +
               " updated)";
  subject += "\n\nSource: " + result.format + " " + result.source;
  if (!new_types.empty()) subject += "\nTypes added: " + join(new_types, ", ");
  {
    result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
      std::vector<std::string> paths;
      if (!new_types.empty()) {
        fs::path file = s_.ws.config_path();
        std::string old_text = read_file(file);
        std::vector<std::string> types = config.types;
        types.insert(types.end(), new_types.begin(), new_types.end());
        std::string text = set_front_matter_line("---\n" + old_text + "---\n", "types", yaml_flow_list(types));
        text = text.substr(4, text.size() - 8);
        tx.rewrite(file, old_text, text);
        s_.ws.add_types(new_types);
        paths.push_back(s_.ws.relative(file));
      }
      for (auto& w : writes) {
        if (w.from.empty()) {
          tx.create(w.to, w.text, Durability::cache);
          touched.push_back(s_.ws.relative(w.to));
          paths.push_back(touched.back());
          continue;
        }
        if (w.from != w.to) {
          tx.rename(w.from, w.to);
          for (auto& p : s_.paths_in_every_stage(w.from.filename())) paths.push_back(std::move(p));
          touched.push_back(s_.ws.relative(w.from));
        }
        tx.rewrite(w.to, w.old_text, w.text);
        touched.push_back(s_.ws.relative(w.to));
        paths.push_back(touched.back());
        for (auto& p : s_.paths_in_every_stage(w.to.filename())) paths.push_back(std::move(p));
      }
      trace("import: files written");
      sync_file_system(s_.ws.stories_root());
      trace("import: files synced");
      s_.shadow->update_files(touched);
      trace("import: index updated");
      return s_.commit(subject, {{"Tracker-Action", "import"}, {"Tracker-Source", result.format}}, paths);
    });
  }
  give_back.dismiss();
  for (const auto& h : holdings)
    if (h.forced || (config.is_done_stage(std::find_if(writes.begin(), writes.end(), [&](const Write& w) {
                                            return w.p->id == h.id;
                                          })->p->stage)))
      all_.rule.end_claim(h);
  return result;
}

}  // namespace tracker
