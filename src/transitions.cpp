// Transitions: new, move, block, unblock, link, unlink, delete and archive; each
// one commit, under the locks of the stories it changes.
#include <tracker/claim_spread.hpp>
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include <nlohmann/json.hpp>

#include "file_tx.hpp"
#include "process.hpp"
#include "limits.hpp"
#include "fs_internal.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <set>
#include <thread>

namespace tracker {

const Stage& Transitions::check_new(const NewStoryRequest& request) {
  const Config& config = s_.ws.config();
  if (!config.is_known_type(request.type))
    throw UsageError("unknown type '" + request.type + "'" + did_you_mean(request.type, config.types) +
                     "; types are: " + join(config.types, ", "));
  const Stage& stage = config.stage(request.stage.value_or(config.ready_stages.front()));
  if (request.text) return stage;
  std::string name(trim(request.name));
  if (name.empty()) throw UsageError("a story needs a name");
  require_text(name, "the story name");
  require_text(request.body, "the story body");
  if (name.find('\n') != std::string::npos) throw UsageError("a story name must be one line");
  for (const auto& label : request.labels) {
    require_text(label, "label");
    if (trim(label).empty() || label.find(',') != std::string::npos || label.find('\n') != std::string::npos)
      throw UsageError("bad label '" + label + "'");
  }
  return stage;
}

NewStoryResult Transitions::create(const NewStoryRequest& request) {
  s_.will_commit();
  const Config& config = s_.ws.config();
  const Stage& stage = check_new(request);
  s_.refresh_all();
  std::string name(trim(request.name));
  std::string text;
  if (request.text) {
    // A file written in an editor: used as it is, once it reads as a story.
    std::vector<StoryProblem> problems = validate_new(*request.text);
    if (!problems.empty())
      throw InvalidDataError("line " + std::to_string(problems.front().line) + ": " + problems.front().message);
    Story parsed;
    parse_story_text(*request.text, parsed, config.story_limits);
    name = trim(parsed.name);
    text = *request.text;
  } else {
    for (auto dep : request.depends_on) s_.find(dep);  // NotFoundError for an unknown id
    if (request.parent && !s_.story_exists(*request.parent))
      throw NotFoundError("no story #" + std::to_string(*request.parent) + " to be the parent");
    text = render_story(NewStory{name, request.priority, request.labels, request.depends_on,
                                 format_iso8601(s_.clock.now_seconds()), request.body, request.parent});
  }
  if (text.size() > config.story_limits.max_bytes)
    throw UsageError("the story would be " + std::to_string(text.size()) + " bytes; a story file holds at most " +
                     std::to_string(config.story_limits.max_bytes) + " (limits.story_bytes in .tracker/config.yml)");

  NewStoryResult result;
  // The id lock is held until the commit has landed: a failed commit gives its id
  // back, and an idempotency key is recorded only for a story that was committed.
  IdAllocation ids(s_.ws);
  if (request.key) {
    if (auto existing = ids.find_key(*request.key)) {
      result.id = *existing;
      Lookup found = s_.shadow->lookup(*existing);
      if (!found.stories.empty()) result.path = found.stories.front().path;
      return result;
    }
  }
  s_.prepare_commit();
  std::int64_t above = std::max({s_.shadow->max_id(), id_floor(), ids.last()});
  if (Remote* r = s_.remote()) above = std::max(above, remote_id(*r, above) - 1);
  result.id = ids.reserve(above);
  s_.lock_stories({result.id});  // a `tracker commit` meanwhile leaves the new file to this commit
  fs::path file = s_.ws.real_stage_dir(stage) / make_story_file_name(result.id, request.type, slugify(name));
  result.path = s_.ws.relative(file);

  try {
    result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
      tx.create(file, text);
      touched.push_back(result.path);
      s_.shadow->update_files(touched);
      return s_.commit(
          "tracker: create #" + std::to_string(result.id) + " " + name,
          {{"Tracker-Action", "create"}, {"Tracker-Story", std::to_string(result.id)}, {"Tracker-To", stage.name}},
          {result.path});
    });
  } catch (...) {
    ids.release(result.id);
    throw;
  }
  if (request.key) ids.record_key(*request.key, result.id);
  result.created = true;
  return result;
}

MoveResult Transitions::move(const std::vector<std::int64_t>& ids, std::string_view stage_name, Force force) {
  s_.will_commit();
  const Stage& target = s_.ws.config().stage(stage_name);
  s_.lock_stories(ids);
  s_.shadow->refresh_stories(ids);
  std::vector<Story> stories;
  std::set<std::int64_t> seen;
  for (auto id : ids)
    if (seen.insert(id).second) stories.push_back(s_.find(id));  // all ids are checked before anything moves

  MoveResult result;
  // The rule of claims, for every story before anything moves: a story another
  // identity holds is refused unless forced. Into a done stage, the work is
  // finished: the claims end, as with done (the stories already there too).
  const bool finishing = s_.ws.config().is_done_stage(target.name);
  if (finishing) {
    std::vector<std::int64_t> going;
    for (const auto& s : stories)
      if (!s_.ws.config().is_done_stage(s.stage)) going.push_back(s.id);
    require_children_done(going, force);
  }
  std::vector<Holding> holdings;
  bool own = false;
  for (const auto& s : stories) {
    if (s.stage == target.name && !finishing) continue;
    Holding h = all_.rule.check_holder(s.id, std::nullopt, "move", force);
    if (h.forced) result.forced_by = s_.identity();
    if (!h.holder.empty() && !h.forced && s.stage != target.name) own = true;
    holdings.push_back(std::move(h));
  }
  auto end_claims = [&] {
    for (const auto& h : holdings) {
      if (!h.forced && !finishing) continue;  // the holder's own claim goes on in the new stage
      if (!h.local && !h.lease) continue;
      all_.rule.end_claim(h);
      result.claims_ended.push_back(h.lease ? h.lease->claim : *h.local);
    }
  };
  for (const auto& s : stories)
    if (s.stage == target.name) result.already_there.push_back(s.id);
  if (result.already_there.size() == stories.size()) {
    end_claims();
    return result;
  }
  s_.ws.real_stage_dir(target);  // refuses a symbolic link before anything moves
  s_.prepare_commit();
  result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    std::vector<std::string> paths;  // every stage path of every moved story
    for (const auto& s : stories) {
      if (s.stage == target.name) continue;
      fs::path from = s_.ws.root() / s.path;
      fs::path to = s_.ws.real_stage_dir(target) / from.filename();
      tx.rename(from, to);
      // A retry count carried over from an earlier stage is a known bug: a move resets it.
      std::string text = read_file(to);
      std::string edited = s.retry_count != 0 ? set_front_matter_line(text, "retry_count", "0") : text;
      // A claim ended by force out of the working stages: nobody works on it now.
      if (!finishing && std::any_of(holdings.begin(), holdings.end(), [&](const Holding& h) {
            return h.forced && h.id == s.id;
          }))
        edited = remove_front_matter_line(edited, "agent");
      if (edited != text) tx.rewrite(to, text, edited);
      result.moved.push_back({s.id, s.stage, target.name, s_.ws.relative(to)});
      touched.push_back(s.path);
      touched.push_back(s_.ws.relative(to));
      for (auto& p : s_.paths_in_every_stage(to.filename())) paths.push_back(std::move(p));
    }
    s_.shadow->update_files(touched);
    std::vector<std::string> parts;
    std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "move"}};
    for (const auto& m : result.moved) {
      parts.push_back("#" + std::to_string(m.id) + " " + m.from + " -> " + m.to);
      trailers.emplace_back("Tracker-Story", std::to_string(m.id));
    }
    for (const auto& m : result.moved) trailers.emplace_back("Tracker-From", m.from);
    trailers.emplace_back("Tracker-To", target.name);
    // Who moved a story they hold, or forced another's: what sync's fence reads.
    if (own) trailers.emplace_back("Tracker-Owner", s_.identity());
    if (!result.forced_by.empty()) trailers.emplace_back("Tracker-Forced-By", result.forced_by);
    return s_.commit("tracker: move " + join(parts, ", "), trailers, paths);
  });
  end_claims();
  return result;
}

Transitions::Transition Transitions::transition(const Story& original, const Stage& target,
                                        const std::function<std::string(const std::string&)>& edit,
                                        const std::string& action, const std::string& detail,
                                        const std::string& owner, const Rename& rename,
                                        const std::string& forced_by) {
  s_.prepare_commit();
  Story story = original;
  for (int attempt = 1;; ++attempt) {
    try {
      return transition_once(story, target, edit, action, detail, owner, rename, forced_by);
    } catch (const FileChangedError&) {
      // Changed or moved by hand since it was read: the edit is made again on what is
      // there now, never written over it.
      if (attempt >= limits::kFileChangedRetries) throw;
      s_.shadow->refresh_stories({story.id});
      story = s_.find(story.id);
    }
  }
}

Transitions::Transition Transitions::transition_once(const Story& story, const Stage& target,
                                             const std::function<std::string(const std::string&)>& edit,
                                             const std::string& action, const std::string& detail,
                                             const std::string& owner, const Rename& rename,
                                             const std::string& forced_by) {
  fs::path from = s_.ws.root() / story.path;
  fs::path to = story.stage == target.name ? from : s_.ws.real_stage_dir(target) / from.filename();
  const std::string& type = rename.type.empty() ? story.type : rename.type;
  const std::string& slug = rename.slug.empty() ? story.slug : rename.slug;
  if (type != story.type || slug != story.slug) to = to.parent_path() / make_story_file_name(story.id, type, slug);
  Transition result;
  result.path = s_.ws.relative(to);
  result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    std::optional<std::string> read = read_file_if_exists(from);
    if (!read) throw FileChangedError(story.path + " went away while tracker was changing it");
    std::string old_text = std::move(*read);
    std::string new_text = edit(old_text);
    if (from != to) tx.rename(from, to);
    tx.rewrite(to, old_text, new_text);
    // The index follows the files at once, not after the commit: a concurrent
    // command's walk then finds them as the index says.
    touched = from == to ? std::vector<std::string>{result.path} : std::vector<std::string>{story.path, result.path};
    s_.shadow->update_files(touched);
    trace("transition: file changed");
    std::string id = std::to_string(story.id);
    // "(backlog -> current)" for a move; nothing for an edit in place (the trailers
    // still name the stage).
    std::string stages = story.stage == target.name ? "" : " (" + story.stage + " -> " + target.name + ")";
    std::vector<std::pair<std::string, std::string>> trailers = {
        {"Tracker-Action", action}, {"Tracker-Story", id}, {"Tracker-From", story.stage}, {"Tracker-To", target.name}};
    if (!owner.empty()) trailers.emplace_back("Tracker-Owner", owner);
    if (!forced_by.empty()) trailers.emplace_back("Tracker-Forced-By", forced_by);
    std::vector<std::string> paths = s_.paths_in_every_stage(to.filename());
    if (to.filename() != from.filename())
      for (auto& p : s_.paths_in_every_stage(from.filename())) paths.push_back(std::move(p));
    return s_.commit("tracker: " + action + " #" + id + (detail.empty() ? "" : " " + detail) + stages, trailers, paths);
  });
  trace("transition: committed");
  return result;
}

StoryChange Transitions::block(std::int64_t id, const std::optional<std::string>& reason) {
  s_.will_commit();
  if (reason && reason->find('\n') != std::string::npos) throw UsageError(param_ref("reason") + " must be one line");
  Story story = s_.load_for_change(id);
  const Stage& stage = s_.ws.config().stage(story.stage);
  auto edit = [&](const std::string& text) {
    std::string out = set_front_matter_line(text, "blocked", "true");
    return reason ? set_front_matter_line(out, "blocked_reason", yaml_scalar(*reason)) : out;
  };
  StoryChange result{id, story.stage, story.stage, "", {}, true};
  std::string before = read_file(s_.ws.root() / story.path);
  if (edit(before) == before) {
    result.changed = false;
    return result;
  }
  result.commit = transition(story, stage, edit, "block", "", "").commit;
  return result;
}

StoryChange Transitions::unblock(std::int64_t id) {
  s_.will_commit();
  Story story = s_.load_for_change(id);
  const Stage& stage = s_.ws.config().stage(story.stage);
  StoryChange result{id, story.stage, story.stage, "", {}, true};
  if (!story.blocked) {
    result.changed = false;
    return result;
  }
  // Both lines go: a story that is not blocked says nothing about it, as one
  // that never was.
  auto edit = [](const std::string& text) {
    return remove_front_matter_line(remove_front_matter_line(text, "blocked"), "blocked_reason");
  };
  result.commit = transition(story, stage, edit, "unblock", "", "").commit;
  return result;
}

LinkResult Transitions::link(std::int64_t id, std::int64_t dependency) {
  s_.will_commit();
  s_.lock_dependency_graph();
  s_.refresh_all();
  if (id == dependency) throw InvalidDataError("story #" + std::to_string(id) + " cannot depend on itself");
  // Asked before the story's lock is taken (the locks' order). The answer holds until
  // the commit: a delete of the dependency waits for the graph's lock.
  if (!s_.story_exists(dependency)) throw NotFoundError("no story #" + std::to_string(dependency));
  Story story = s_.load_for_change(id);
  LinkResult result{id, dependency, story.depends_on, {}, false};
  if (std::find(story.depends_on.begin(), story.depends_on.end(), dependency) != story.depends_on.end()) return result;
  if (auto path = dependency_path(s_.dependency_graph(), dependency, id)) {
    path->insert(path->begin(), id);
    throw InvalidDataError("linking #" + std::to_string(id) + " to #" + std::to_string(dependency) +
                           " would make a dependency cycle: " + format_dependency_path(*path));
  }
  auto edit = [&](const std::string& text) {
    return edit_front_matter_list(text, "depends_on", [](std::string_view) { return true; },
                                  {std::to_string(dependency)});
  };
  result.commit =
      transition(story, s_.ws.config().stage(story.stage), edit, "link", "to #" + std::to_string(dependency), "").commit;
  result.depends_on.push_back(dependency);
  result.changed = true;
  s_.graph_changed(id, result.depends_on);
  return result;
}

LinkResult Transitions::unlink(std::int64_t id, std::int64_t dependency) {
  s_.will_commit();
  Story story = s_.load_for_change(id);
  LinkResult result{id, dependency, {}, {}, false};
  for (auto d : story.depends_on)
    if (d != dependency) result.depends_on.push_back(d);
  std::string before = read_file(s_.ws.root() / story.path);
  auto edit = [&](const std::string& text) {
    return edit_front_matter_list(text, "depends_on",
                                  [&](std::string_view item) { return story_ref(item) != dependency; }, {});
  };
  if (edit(before) == before) return result;
  result.commit =
      transition(story, s_.ws.config().stage(story.stage), edit, "unlink", "from #" + std::to_string(dependency), "")
          .commit;
  result.changed = true;
  s_.graph_changed(id, result.depends_on);
  return result;
}

namespace {

fs::path id_floor_file(const Workspace& ws) {
  return ws.config_path().parent_path() / "id-floor";
}

}  // namespace

std::int64_t Transitions::id_floor() const {
  auto text = read_file_if_exists(id_floor_file(s_.ws));
  return text ? parse_int(trim(*text)).value_or(0) : 0;
}

const Stage& Transitions::archive_stage() const {
  const Config& config = s_.ws.config();
  if (const Stage* s = config.find_stage("archived")) return *s;
  if (config.done_stages.empty()) throw UsageError("no done stage to archive to (done_stages is empty)");
  return config.stage(config.done_stages.back());
}

DeleteResult Transitions::remove(const std::vector<std::int64_t>& ids, bool force) {
  s_.will_commit();
  // Who depends on the stories is read from the graph under its lock, taken before
  // the stories' locks as link and set take them: no link to one of them lands
  // between that check and the commit, and no edge hides in a file being rewritten.
  if (!force) s_.lock_dependency_graph();
  s_.lock_stories(ids);
  s_.refresh_all();
  std::vector<Story> stories;
  std::set<std::int64_t> seen;
  for (auto id : ids)
    if (seen.insert(id).second) stories.push_back(s_.find(id));  // every id checked before anything goes
  // The rule of claims: a story another identity holds (here or on the remote) is
  // refused unless forced; every claim on a deleted story ends with it.
  DeleteResult result;
  std::vector<Holding> held;
  for (const auto& s : stories) {
    Holding h = all_.rule.check_holder(s.id, std::nullopt, "delete", force ? Force::yes : Force::no);
    if (h.forced) result.forced_by = s_.identity();
    if (h.local || h.lease) held.push_back(std::move(h));
  }
  if (!force)
    for (const auto& [story_id, deps] : s_.dependency_graph()) {
      if (seen.count(story_id)) continue;
      for (auto dep : deps)
        if (seen.count(dep))
          throw ConflictError("story #" + std::to_string(story_id) + " depends on #" + std::to_string(dep) +
                              "; unlink it first (" +
                              op_ref("unlink", {{"id", std::to_string(story_id)}, {"depends_on", std::to_string(dep)}}) +
                              "), or delete with " + param_ref("force", "true"));
    }
  // A deleted parent would leave its children naming no story: they go first, or
  // with it, or it is forced (their `parent` lines stay; check names them).
  if (!force)
    for (const auto& [child, parent] : s_.shadow->parents())
      if (seen.count(parent) && !seen.count(child))
        throw ConflictError("story #" + std::to_string(parent) + " is the parent of #" + std::to_string(child) +
                            "; remove its parent key first, delete them together, or delete with " +
                            param_ref("force", "true"));

  std::int64_t floor = id_floor(), highest = *std::max_element(seen.begin(), seen.end());
  fs::path floor_file = id_floor_file(s_.ws);
  s_.prepare_commit();
  result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    for (const auto& s : stories) {
      fs::path file = s_.ws.root() / s.path;
      tx.remove(file, read_file(file));
      touched.push_back(s.path);
      result.deleted.push_back({s.id, s.name, s.stage, s.path});
    }
    s_.shadow->update_files(touched);
    std::vector<std::string> paths = touched;
    if (highest > floor) {
      std::string text = std::to_string(highest) + "\n";
      if (auto old = read_file_if_exists(floor_file))
        tx.rewrite(floor_file, *old, text);
      else
        tx.create(floor_file, text);
      paths.push_back(s_.ws.relative(floor_file));
    }
    std::vector<std::string> parts;
    std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "delete"}};
    for (const auto& d : result.deleted) {
      parts.push_back("#" + std::to_string(d.id) + " " + d.name);
      trailers.emplace_back("Tracker-Story", std::to_string(d.id));
    }
    for (const auto& d : result.deleted) trailers.emplace_back("Tracker-From", d.stage);
    if (!result.forced_by.empty()) trailers.emplace_back("Tracker-Forced-By", result.forced_by);
    return s_.commit("tracker: delete " + join(parts, ", "), trailers, paths);
  });
  for (const auto& h : held) {
    all_.rule.end_claim(h);
    result.claims_ended.push_back(h.lease ? h.lease->claim : *h.local);
  }
  return result;
}

std::int64_t Transitions::remote_id(Remote& r, std::int64_t above) {
  // "<next> <last>": what is left of the block of ids this clone reserved.
  const fs::path block = s_.ws.shared_state_dir() / "id-block";
  if (auto text = read_file_if_exists(block)) {
    std::vector<std::string> parts = split(trim(*text), ' ');
    auto next = parts.size() == 2 ? parse_int(parts[0]) : std::nullopt;
    auto last = parts.size() == 2 ? parse_int(parts[1]) : std::nullopt;
    if (next && last && *next > above && *next <= *last) {
      write_file_atomic(block, std::to_string(*next + 1) + " " + std::to_string(*last) + "\n");
      return *next;
    }
  }
  try {
    const std::int64_t count = r.settings().id_block;
    std::int64_t first = r.reserve_ids(above, count, "tracker");
    write_file_atomic(block, std::to_string(first + 1) + " " + std::to_string(first + count - 1) + "\n");
    return first;
  } catch (const RemoteUnavailableError& e) {
    s_.warn(std::string(e.what()) +
         "; the id comes from this clone alone, so another clone may give it out too (after a merge, 'tracker check' "
         "finds a duplicate and 'tracker renumber' fixes it)");
    return above + 1;
  }
}

}  // namespace tracker
