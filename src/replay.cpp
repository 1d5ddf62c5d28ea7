// The replay of this clone's commits onto the remote's branch, story by story, and
// the move of this clone's branch and work tree to the result (replay.hpp).
#include "replay.hpp"

#include "fs_internal.hpp"

#include <algorithm>
#include <set>

namespace tracker::replay {

std::string first_line(std::string_view text) {
  auto nl = text.find('\n');
  return std::string(trim(text.substr(0, nl)));
}

std::string last_line(std::string_view text) {
  std::string_view t = trim(text);
  auto nl = t.rfind('\n');
  return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
}

namespace {

/// The tip being built: its tree, path by path, and where each story is in it.
struct Tip {
  std::string commit, tree;
  std::map<std::string, Entry> files;
  std::map<std::int64_t, std::set<std::string>> stories;

  void set(const Replay& r, const std::string& path, const Entry& e) {
    auto id = r.story_id(path);
    if (e.absent()) {
      files.erase(path);
      if (id) stories[*id].erase(path);
    } else {
      files[path] = e;
      if (id) stories[*id].insert(path);
    }
  }
  Entry at(const std::string& path) const {
    auto it = files.find(path);
    return it == files.end() ? Entry{} : it->second;
  }
};


/// The zero id of the repository's hash (a removal in update-index --index-info).
std::string zero_like(const std::string& sha) { return std::string(sha.size(), '0'); }

/// Appends a trailer to a commit message: into its trailer block when it ends with
/// one, else as a new paragraph.
std::string with_trailer(std::string message, const std::string& trailer) {
  std::string_view last = message;
  if (auto nl = last.rfind('\n'); nl != std::string_view::npos) last = last.substr(nl + 1);
  message += last.starts_with("Tracker-") ? "\n" : "\n\n";
  return message + trailer;
}

/// `file_name` (`<id>_<type>_<slug>.md`) with another id; as it is when it does not
/// read as a story file name.
std::string with_id(const std::string& file_name, std::int64_t id, const std::vector<std::string>& types) {
  auto parsed = parse_story_file_name(file_name, types);
  return parsed ? make_story_file_name(id, parsed->type, parsed->slug) : file_name;
}

/// `file_name` without its id: `_story_add-login.md`.
std::string name_tail(const std::string& file_name) {
  auto underscore = file_name.find('_');
  return underscore == std::string::npos ? file_name : file_name.substr(underscore);
}

/// A field value as a report shows it: short values as they are, long ones elided.
std::string shown_value(const std::string& json_text) {
  std::string v = json_text;
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v == "null") return "(none)";
  if (v.size() > 40) v = v.substr(0, 37) + "...";
  return v;
}

}  // namespace

/// Replays the commits of `base..head` (first parents) on top of `upstream`, one
/// commit each, story by story: a transition moves the story from wherever the
/// remote has it, fields merge key by key (merge_story_file), and where both sides
/// moved a story to different stages, or changed a key differently, the later
/// commit wins (on a tie, the change already on the remote stands) and the commit's
/// message says so. A story the remote renumbered takes this clone's changes under
/// its new id, and a renumber made here takes the remote's changes with it. A
/// transition of a story whose claim another owner holds on the remote (a live
/// lease) is not replayed: the holder was fenced. A commit that changes nothing any
/// more is dropped, unless it records a conflict. Returns the new tip;
/// ConflictError when a file that is not a story was changed on both sides in ways
/// that do not merge.
std::string replay_onto(const Replay& r, const std::string& base, const std::string& head, const std::string& upstream,
                        const ReplayContext& ctx, std::vector<SyncCommit>& outgoing,
                        std::vector<SyncConflict>& conflicts) {
  const std::string& remote_name = ctx.remote_name;
  const std::vector<std::string>& types = r.config_.types;
  const std::map<std::string, std::optional<std::string>> scratch = {{"GIT_INDEX_FILE", r.index_.string()}};
  Tip tip;
  tip.commit = upstream;
  tip.tree = r.rev(upstream + "^{tree}");
  tip.files = r.tree(upstream);
  for (const auto& [path, e] : tip.files)
    if (auto id = r.story_id(path)) tip.stories[*id].insert(path);
  r.must({"read-tree", upstream}, "read the remote's tree", {}, scratch);
  // The remote's commits since the base, every parent's line, oldest first: what
  // each changed against its first parent, and the paths it changed against every
  // parent (a merge that took a path from one side did not change it), which are
  // the commits `git log base..upstream -- <path>` lists for a path. Read once,
  // when first asked.
  struct TheirCommit {
    std::int64_t time = 0;
    std::vector<Delta> deltas;
    std::set<std::string> changed;
  };
  std::optional<std::vector<TheirCommit>> their_history;
  auto theirs = [&]() -> const std::vector<TheirCommit>& {
    if (their_history) return *their_history;
    their_history.emplace();
    for (const auto& c : r.repo_.commits(base, upstream, false)) {
      TheirCommit t;
      t.time = c.author_time;
      t.deltas = r.deltas(c.parents.empty() ? "" : c.parents.front(), c.sha);
      for (const auto& d : t.deltas) t.changed.insert(d.path);
      for (std::size_t p = 1; p < c.parents.size() && !t.changed.empty(); ++p) {
        std::set<std::string> also;
        for (const auto& d : r.deltas(c.parents[p], c.sha))
          if (t.changed.count(d.path)) also.insert(d.path);
        t.changed = std::move(also);
      }
      their_history->push_back(std::move(t));
    }
    return *their_history;
  };
  auto changes_any = [](const TheirCommit& t, const std::vector<std::string>& paths) {
    return std::any_of(paths.begin(), paths.end(), [&](const std::string& p) { return t.changed.count(p) > 0; });
  };
  std::map<std::int64_t, std::int64_t> their_times;
  // When the remote last changed story `id` (author time, which a replay keeps):
  // the later change wins a conflict.
  auto their_time = [&](std::int64_t id, const std::vector<std::string>& paths) {
    if (auto it = their_times.find(id); it != their_times.end()) return it->second;
    std::int64_t latest = 0;
    for (const auto& t : theirs())
      if (changes_any(t, paths)) latest = std::max(latest, t.time);
    return their_times[id] = latest;
  };
  // The id the remote renumbered story `id` to (its file `file_name`, blob `blob`
  // at the base), when it did: a commit of base..upstream that removed that file
  // and added the same blob under another id.
  std::map<std::int64_t, std::optional<std::int64_t>> renumbered;
  auto renumbered_there = [&](std::int64_t id, const std::string& file_name,
                              const std::string& blob) -> std::optional<std::int64_t> {
    if (auto it = renumbered.find(id); it != renumbered.end()) return it->second;
    std::vector<std::string> paths;
    for (const auto& st : r.config_.stages)
      paths.push_back(r.prefix_ + r.config_.stories_dir + "/" + st.dir + "/" + file_name);
    std::optional<std::int64_t> found;
    for (const auto& t : theirs()) {
      if (!changes_any(t, paths)) continue;
      bool removed = false;
      for (const auto& d : t.deltas)
        if (d.after.absent() && d.before.id == blob && fs::path(d.path).filename() == file_name) removed = true;
      if (!removed) continue;
      for (const auto& d : t.deltas) {
        auto other = r.story_id(d.path);
        if (d.before.absent() && other && *other != id && d.after.id == blob &&
            name_tail(fs::path(d.path).filename().string()) == name_tail(file_name))
          found = other;
      }
    }
    return renumbered[id] = found;
  };

  for (const LocalCommit& c : r.commits(base, head)) {
    std::vector<std::pair<std::string, Entry>> edits;
    std::vector<std::string> notes;
    const auto trailers = tracker_trailers(c.message);
    const std::string forced_by = trailer_value(trailers, "Tracker-Forced-By");
    std::string actor = trailer_value(trailers, "Tracker-Owner");
    if (actor.empty()) actor = c.author_email;
    auto edit = [&](const std::string& path, const Entry& e) {
      if (tip.at(path) == e) return;
      edits.emplace_back(path, e);
      tip.set(r, path, e);
    };
    auto refuse = [&](const std::string& path) {
      throw ConflictError("sync: " + path + " was changed here (" + c.sha.substr(0, 12) + " " + first_line(c.message) +
                          ") and on " + remote_name + " in ways that do not merge; nothing was changed. Merge by hand "
                          "(git pull --rebase), then run tracker sync again");
    };
    auto generic = [&](const Delta& d) {
      Entry cur = tip.at(d.path);
      if (cur == d.before) return edit(d.path, d.after);
      if (cur == d.after) return;
      if (cur.absent() || d.before.absent() || d.after.absent()) refuse(d.path);
      StoryFileMerge m = git_line_merge(r.blob(d.before.id), r.blob(d.after.id), r.blob(cur.id));
      if (m.conflicts > 0) refuse(d.path);
      edit(d.path, {d.after.mode, r.write_blob(d.path, m.text)});
    };

    std::map<std::int64_t, std::vector<Delta>> by_story;
    for (auto& d : r.deltas(c.parent, c.sha)) {
      if (auto id = r.story_id(d.path))
        by_story[*id].push_back(std::move(d));
      else
        generic(d);
    }
    // The story before this commit (its path and blob) and after it.
    auto sides = [](const std::vector<Delta>& ds) {
      std::pair<const Delta*, const Delta*> out{nullptr, nullptr};
      for (const auto& d : ds) {
        if (!out.first && !d.before.absent()) out.first = &d;
        if (!out.second && !d.after.absent()) out.second = &d;
      }
      return out;
    };
    // A renumber made here: story `old` removed and the same blob added under `new`
    // id, with the same type and slug. The remote's changes to `old` go with it.
    std::map<std::int64_t, std::int64_t> renumbers;  // old id -> new id
    std::set<std::int64_t> renumber_targets;
    for (const auto& [id, ds] : by_story) {
      auto [was, now] = sides(ds);
      if (!was || now || ds.size() > 2) continue;
      for (const auto& [other, ods] : by_story) {
        auto [owas, onow] = sides(ods);
        if (other == id || owas || !onow || ods.size() > 1 || renumber_targets.count(other)) continue;
        if (onow->after.id == was->before.id &&
            name_tail(fs::path(onow->path).filename().string()) == name_tail(fs::path(was->path).filename().string())) {
          renumbers[id] = other;
          renumber_targets.insert(other);
          break;
        }
      }
    }

    for (auto& [id, ds] : by_story) {
      if (renumber_targets.count(id)) continue;  // replayed with the story it was renumbered from
      auto [was, now] = sides(ds);
      std::optional<std::int64_t> new_id;  // renumbered here
      if (auto it = renumbers.find(id); it != renumbers.end()) {
        new_id = it->second;
        now = &by_story[it->second].front();
      }
      if (ds.size() > 2) {  // copies of one id: path by path
        for (const auto& d : ds) generic(d);
        continue;
      }
      std::string tag = "#" + std::to_string(id);
      if (!was) {  // created here
        const auto& there_paths = tip.stories[id];
        std::string there = there_paths.empty() ? "" : *there_paths.begin();
        if (there.empty() || there == now->path) {
          generic(*now);
        } else {
          edit(now->path, now->after);
          conflicts.push_back({id, "created", r.stage_of(now->path), r.stage_of(there), "both",
                               tag + " was created here and on " + remote_name + ": both kept; tracker renumber gives one a new id"});
        }
        continue;
      }
      // Where the story is on the remote: the same id, or the id the remote
      // renumbered it to.
      std::int64_t there_id = id;
      if (tip.stories[id].empty()) {
        if (auto moved = renumbered_there(id, fs::path(was->path).filename().string(), was->before.id);
            moved && !tip.stories[*moved].empty())
          there_id = *moved;
      }
      const auto& there_paths = tip.stories[there_id];
      std::string there;
      if (there_paths.count(was->path))
        there = was->path;
      else if (!there_paths.empty())
        there = *there_paths.begin();
      if (there_id != id) tag += " (#" + std::to_string(there_id) + " on " + remote_name + ")";
      if (there.empty()) {  // deleted there
        if (now)
          conflicts.push_back({id, "deleted", r.stage_of(now->path), "", "remote",
                               tag + " was changed here and deleted on " + remote_name + ": it stays deleted"});
        continue;
      }
      Entry there_entry = tip.at(there);
      std::string stage_was = r.stage_of(was->path), stage_there = r.stage_of(there);
      std::string stage_here = now ? r.stage_of(now->path) : "";

      // The rule of claims, at the remote: a transition of a story another owner
      // holds a live lease on is not sent, unless it was forced.
      if (forced_by.empty()) {
        if (std::optional<Claim> lease = ctx.live_lease(there_id); lease && lease->owner != actor) {
          bool ends_claim = !now || stage_here != stage_was;
          if (!ends_claim) {
            Story where;
            where.id = id;
            where.path = was->path;
            try {
              ends_claim = reparse_story(where, r.blob(was->before.id), r.config_.story_limits).agent !=
                           reparse_story(where, r.blob(now->after.id), r.config_.story_limits).agent;
            } catch (const StoryParseError&) {
            }
          }
          if (ends_claim) {
            std::string what = !now ? "deleted" : stage_here != stage_was ? "moved to " + stage_here : "given to another agent";
            std::string msg = tag + " was " + what + " here by " + actor + ", but " + lease->owner + " holds its claim on " +
                              remote_name + " until " + format_iso8601(lease->expires) + ": not sent";
            conflicts.push_back({id, "fenced", stage_here, stage_there, "remote", msg});
            notes.push_back(msg);
            continue;
          }
        }
      }

      if (!now) {  // deleted here
        if (there_entry.id != was->before.id)
          conflicts.push_back({id, "deleted", "", stage_there, "here",
                               tag + " was deleted here and changed on " + remote_name + ": it is deleted"});
        edit(there, {});
        continue;
      }
      std::int64_t here_time = c.time, remote_time = their_time(there_id, {there, was->path});
      bool later_here = here_time > remote_time;
      std::string tie = here_time == remote_time ? " (the same second: the change already on " + remote_name + " stands)" : "";
      std::string winner = later_here ? "here" : remote_name;
      // The content: a side that did not change it takes the other's.
      std::string sha;
      bool name_from_here = false, name_conflict = false;
      const std::string &b = was->before.id, &o = now->after.id, &t = there_entry.id;
      if (o == b || o == t) {
        sha = t;
      } else if (t == b) {
        sha = o;
      } else {
        Story where;
        where.id = there_id;
        where.path = there;
        std::string bt = r.blob(b), ot = r.blob(o), tt = r.blob(t);
        auto lines = [](Favour f) {
          return [f](std::string_view x, std::string_view y, std::string_view z) { return git_line_merge(x, y, z, f); };
        };
        const StoryLimits& limits = r.config_.story_limits;
        StoryFileMerge m = merge_story_file(where, bt, ot, tt, limits, lines(Favour::none));
        std::string text = m.text;
        if (m.conflicts > 0) {
          // Both changed the same keys (or body lines) differently: the later side's,
          // key by key; which keys, and each side's value, go in the report.
          Favour f = later_here ? Favour::ours : Favour::theirs;
          text = merge_story_file(where, bt, ot, tt, limits, lines(f), f).text;
          std::vector<std::string> keys;
          try {
            for (const auto& k : merge_story(where, bt, ot, tt, limits).conflicts) {
              if (k.key == "name") name_conflict = true;
              if (k.key == "body" || k.key == "format")
                keys.push_back(k.key == "body" ? "the body" : "the file's format");
              else if (k.key != "labels" && k.key != "depends_on")
                keys.push_back(k.key + ": " + shown_value(k.yours) + " here, " + shown_value(k.theirs) + " on " +
                               remote_name);
            }
          } catch (const StoryParseError&) {
            keys.push_back("the file");
          }
          if (keys.empty()) keys.push_back("the body");
          std::string msg = tag + " was changed here and on " + remote_name + " differently (" + join(keys, "; ") +
                            "): the later change (" + winner + ") is kept" + tie;
          conflicts.push_back({id, "changed", stage_here, stage_there, later_here ? "here" : "remote", msg});
          notes.push_back(msg);
          name_from_here = name_conflict && later_here;
        }
        // What is committed must read as a story: else the later side's file whole.
        auto parses = [&](const std::string& x) {
          try {
            reparse_story(where, x, limits);
            return true;
          } catch (const StoryParseError&) {
            return false;
          }
        };
        if (!parses(text)) {
          std::string whole = later_here ? ot : tt;
          if (!parses(whole)) whole = tt;
          std::string msg = tag + ": the merge of both sides' changes would not read as a story, so the later version (" +
                            winner + ") is kept whole";
          conflicts.push_back({id, "changed", stage_here, stage_there, later_here ? "here" : "remote", msg});
          notes.push_back(msg);
          text = whole;
          name_conflict = true;
          name_from_here = later_here;
        }
        sha = text == tt ? t : text == ot ? o : r.write_blob(there, text);
      }
      // The stage: a side that did not move it takes the other's move.
      std::string stage = stage_here;
      if (stage_here == stage_was) {
        stage = stage_there;
      } else if (stage_there != stage_was && stage_there != stage_here) {
        stage = later_here ? stage_here : stage_there;
        std::string msg = tag + " was moved to " + stage_here + " here and to " + stage_there + " on " + remote_name +
                          ": the later move, to " + stage + ", is kept" + tie;
        conflicts.push_back({id, "moved", stage_here, stage_there, later_here ? "here" : "remote", msg});
        notes.push_back(msg);
      }
      // The file name: the side whose name won, else ours when this commit renamed
      // it, else theirs; the id is the one the story has now.
      std::string here_name = fs::path(now->path).filename().string();
      std::string was_name = fs::path(was->path).filename().string();
      std::string there_name = fs::path(there).filename().string();
      bool renamed_here = name_tail(here_name) != name_tail(was_name);
      std::string file_name = (name_conflict ? name_from_here : renamed_here) ? here_name : there_name;
      file_name = with_id(file_name, new_id ? *new_id : there_id, types);
      std::string path = r.in_stage(there.substr(0, there.size() - there_name.size()) + file_name, stage);
      if (path != there) edit(there, {});
      edit(path, {now->after.mode, sha});
    }

    std::string tree = tip.tree;
    if (!edits.empty()) {
      std::string info;
      for (const auto& [path, e] : edits)
        info += (e.absent() ? "0 " + zero_like(tip.commit) : e.mode + " " + e.id) + "\t" + path + '\0';
      r.must({"update-index", "-z", "--index-info"}, "build the replayed tree", info, scratch);
      tree = std::string(trim(r.must({"write-tree"}, "write the replayed tree", {}, scratch)));
    }
    // Nothing left of this commit: dropped, unless it records what was settled (a
    // move or a change that lost, a fenced transition), which stays in the history.
    if (tree == tip.tree && notes.empty()) continue;
    std::string message = c.message;
    for (const auto& n : notes) message = with_trailer(message, "Tracker-Conflict: " + n);
    std::string sha(trim(r.must({"commit-tree", tree, "-p", tip.commit, "-F", "-"}, "write the replayed commit",
                                message + "\n",
                                {{"GIT_AUTHOR_NAME", c.author_name},
                                 {"GIT_AUTHOR_EMAIL", c.author_email},
                                 {"GIT_AUTHOR_DATE", c.author_date}})));
    tip.commit = sha;
    tip.tree = tree;
    outgoing.push_back({sha, first_line(c.message)});
  }
  return tip.commit;
}

/// Moves this clone's branch `branch_ref` from `head` to `target` and the work tree
/// and git index with it (`git read-tree -m -u`, which refuses to overwrite a change
/// not committed). The stories that change are locked first (`lock`), so that no
/// transition of this clone is half way through one of them. Commits that land here
/// meanwhile are replayed on top. False when HEAD moved before anything was done.
bool move_branch(const Replay& r, const std::string& branch_ref, std::string head, std::string target,
                 const ReplayContext& ctx, const std::function<void(const std::vector<std::int64_t>&)>& lock,
                 std::string& moved_to) {
  const std::string& remote_name = ctx.remote_name;
  std::vector<std::int64_t> ids;
  for (const auto& d : r.deltas(head, target))
    if (auto id = r.story_id(d.path)) ids.push_back(*id);
  lock(ids);
  if (r.rev("HEAD") != head) return false;
  for (int attempt = 1;; ++attempt) {
    ProgramResult rt = r.git({"read-tree", "-m", "-u", head, target});
    if (rt.status == 0) break;
    if (rt.err.find("index.lock") != std::string::npos && attempt < 50) {
      backoff_sleep(attempt);
      continue;
    }
    std::vector<std::string> in_way;
    for (const auto& line : split(rt.err, '\n'))
      if (auto q = line.find('\''); q != std::string::npos && line.find("not uptodate") != std::string::npos)
        in_way.push_back(line.substr(q + 1, line.find('\'', q + 1) - q - 1));
    throw ConflictError("sync: " +
                        (in_way.empty() ? last_line(rt.err)
                                        : "changes not committed to " + join(in_way, ", ") + " are in the way") +
                        "; commit them (tracker commit) or undo them, then sync again; nothing was changed");
  }
  for (int attempt = 1; attempt <= 50; ++attempt) {
    ProgramResult up = r.git({"update-ref", "-m", "tracker: sync with " + remote_name, branch_ref, target, head});
    if (up.status == 0) {
      moved_to = target;
      return true;
    }
    // A transition committed here meanwhile (its files are already in the work tree
    // and the git index): its commits go on top of the target.
    std::string now = r.rev("HEAD");
    if (now.empty() || now == head) throw IoError("sync: cannot move " + branch_ref + ": " + last_line(up.err));
    std::vector<SyncCommit> unused_out;
    std::vector<SyncConflict> unused_conflicts;
    target = replay_onto(r, head, now, target, ctx, unused_out, unused_conflicts);
    head = now;
  }
  throw ConflictError("sync: " + branch_ref + " keeps moving here; try again");
}

}  // namespace tracker::replay
