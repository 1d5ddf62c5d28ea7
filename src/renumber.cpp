// tracker renumber: a story given a new id, the references to it rewritten.
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include "file_tx.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>


namespace tracker {

namespace {

/// Whether story `s` lists `id` in its `related` key (ids, as import writes them).
bool names_in_related(const Story& s, std::int64_t id) {
  for (const auto& f : s.fields) {
    if (f.key != "related") continue;
    auto list = nlohmann::json::parse(f.json, nullptr, false);
    if (!list.is_array()) return false;
    for (const auto& item : list) {
      if (item.is_number_integer() && item.get<std::int64_t>() == id) return true;
      if (item.is_string() && story_ref(item.get<std::string>()) == id) return true;
    }
  }
  return false;
}

}  // namespace

RenumberResult Maintenance::renumber(std::int64_t id, const std::optional<std::string>& path,
                                 const std::vector<std::int64_t>& refs) {
  s_.lock_stories({id});
  s_.refresh_all();
  Lookup found = s_.shadow->lookup(id);
  std::vector<std::string> paths;
  for (const auto& s : found.stories) paths.push_back(s.path);
  for (const auto& m : found.malformed) paths.push_back(m.path);
  if (paths.empty()) throw NotFoundError("no story #" + std::to_string(id));
  std::string chosen;
  if (path) {
    std::string wanted = s_.ws.relative(fs::absolute(*path));
    for (const auto& p : paths)
      if (p == *path || p == wanted) chosen = p;
    if (chosen.empty())
      throw UsageError("story #" + std::to_string(id) + " is not at " + *path + "; it is at " + join(paths, ", "));
  } else if (paths.size() == 1) {
    chosen = paths.front();
  } else {
    throw UsageError("story #" + std::to_string(id) + " exists " + std::to_string(paths.size()) + " times (" +
                     join(paths, ", ") + "); say which one with --path");
  }
  bool duplicated = paths.size() > 1;

  RenumberResult result;
  result.old_id = id;
  result.from_path = chosen;

  // The references: which stories name the old id, in which keys, and which of
  // them to rewrite. `related` (the links import keeps) is a list of ids as
  // depends_on is.
  // One pass over the board's stories answers all three keys.
  std::map<std::int64_t, std::vector<std::string>> naming;
  ListQuery everyone;
  s_.shadow->list_each(everyone, [&](Story&& s) {
    if (s.id == id) return;
    if (std::find(s.depends_on.begin(), s.depends_on.end(), id) != s.depends_on.end())
      naming[s.id].push_back("depends_on");
    if (s.parent == id) naming[s.id].push_back("parent");
    if (names_in_related(s, id)) naming[s.id].push_back("related");
  });
  for (auto& [story_id, keys] : naming) {
    bool rewrite = !duplicated || std::find(refs.begin(), refs.end(), story_id) != refs.end();
    (rewrite ? result.rewritten : result.ambiguous).push_back(story_id);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());  // two copies of one id name it alike
  }
  result.keys = naming;
  for (auto r : refs)
    if (!naming.count(r))
      throw UsageError("story #" + std::to_string(r) + " does not name #" + std::to_string(id) +
                       " (in depends_on, parent or related)");
  auto name = parse_story_file_name(fs::path(chosen).filename().string(), s_.ws.config().types);
  s_.will_commit();
  // The stories whose depends_on is rewritten are changed too: theirs locks as well,
  // and their files looked at again.
  s_.lock_stories(result.rewritten);
  s_.shadow->refresh_stories(result.rewritten);
  IdAllocation ids(s_.ws);
  s_.prepare_commit();
  // With a remote, the new id is reserved there as `new` reserves one: no other
  // clone gives it out.
  std::int64_t above = std::max({s_.shadow->max_id(), all_.transitions.id_floor(), ids.last()});
  if (Remote* r = s_.remote()) above = std::max(above, all_.transitions.remote_id(*r, above) - 1);
  result.new_id = ids.reserve(above);
  fs::path from = s_.ws.root() / chosen;
  fs::path to = from.parent_path() / make_story_file_name(result.new_id, name->type, name->slug);
  result.to_path = s_.ws.relative(to);
  try {
    result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& changed) {
      changed = {result.from_path, result.to_path};
      tx.rename(from, to);
      for (auto ref : result.rewritten) {
        for (const auto& s : s_.shadow->lookup(ref).stories) {
          fs::path file = s_.ws.root() / s.path;
          std::string text = read_file(file);
          std::string edited = text;
          // Each key that names the old id names the new one, in its own style; a
          // key that does not name it is left alone (a child gains no dependency).
          auto repoint = [&](const char* key) {
            edited = edit_front_matter_list(edited, key, [&](std::string_view item) { return story_ref(item) != id; },
                                            {std::to_string(result.new_id)});
          };
          if (std::find(s.depends_on.begin(), s.depends_on.end(), id) != s.depends_on.end()) repoint("depends_on");
          if (names_in_related(s, id)) repoint("related");
          if (s.parent == id) edited = set_front_matter_line(edited, "parent", std::to_string(result.new_id));
          if (edited == text) continue;
          tx.rewrite(file, text, edited);
          changed.push_back(s_.ws.relative(file));
        }
      }
      s_.shadow->update_files(changed);
      return s_.commit("tracker: renumber #" + std::to_string(id) + " -> #" + std::to_string(result.new_id),
                    {{"Tracker-Action", "renumber"}, {"Tracker-Story", std::to_string(result.new_id)}}, changed);
    });
  } catch (...) {
    ids.release(result.new_id);
    throw;
  }
  return result;
}

}  // namespace tracker
