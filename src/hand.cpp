// Hand edits: what changed in the story files since HEAD, and `tracker commit`.
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include "file_tx.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace tracker {

namespace {

/// One changed story file: where, and its text before (HEAD) and now, read when
/// needed: from the blob on a revision's side, from the file on the work tree's.
/// Kept small: a commit may change 20,000 of them.
struct ChangedFile {
  std::string path;  ///< workspace-relative
  const Stage* stage;
  GitRepo::PathChange change;
  std::optional<std::string> before, after;
  bool loaded = false;

  void load(GitRepo& repo, const fs::path& root) {
    if (loaded) return;
    loaded = true;
    if (!change.old_blob.empty()) before = repo.blob_text(change.old_blob);
    if (!change.new_blob.empty())
      after = repo.blob_text(change.new_blob);
    else if (change.in_new)
      after = read_file_if_exists(root / path);
  }
};

/// The story a file name and stage directory describe, or nullopt for other files.
std::optional<Story> story_at(const Config& config, const std::string& path) {
  const Stage* stage = config.stage_of_path(path);
  if (!stage) return std::nullopt;
  auto name = parse_story_file_name(path.substr(path.rfind('/') + 1), config.types);
  if (!name) return std::nullopt;
  Story s;
  s.id = name->id;
  s.type = name->type;
  s.slug = name->slug;
  s.stage = stage->name;
  s.path = path;
  return s;
}

/// `text` read as the story `where` is; empty fields when it does not parse.
Story lenient(const Story& where, const std::string& text, const StoryLimits& limits) {
  try {
    return reparse_story(where, text, limits);
  } catch (const StoryParseError&) {
    return where;
  }
}

/// Fills in the name, field and body changes of `d` from its two texts, and what
/// keeps the new text from reading as a story.
void compare(StoryDiff& d, const Story& where, const StoryLimits& limits) {
  Story before = lenient(where, d.before_text, limits), after = where;
  try {
    after = reparse_story(where, d.after_text, limits);
  } catch (const StoryParseError& e) {
    d.problem = "line " + std::to_string(e.line()) + ": " + e.detail();
  }
  d.fields = field_changes(before, after);
  d.body_changed = before.body != after.body;
  d.name = after.name;
}

/// The name `text` gives, and what keeps it from reading as a story.
std::string read_name(const Story& where, const std::string& text, const StoryLimits& limits, std::string* problem) {
  try {
    return reparse_story(where, text, limits).name;
  } catch (const StoryParseError& e) {
    if (problem) *problem = "line " + std::to_string(e.line()) + ": " + e.detail();
    return "";
  }
}

}  // namespace

std::vector<StoryDiff> Tracker::working_changes(std::vector<std::string>* ignored, std::vector<std::string>* links) {
  return board_changes("HEAD", std::nullopt, ignored, links);
}

std::string Tracker::merge_base(const std::string& a, const std::string& b) {
  return git().merge_base(a, b);
}

std::vector<StoryDiff> Tracker::board_changes(const std::string& from, const std::optional<std::string>& to,
                                              std::vector<std::string>* ignored, std::vector<std::string>* links,
                                              DiffDetail detail) {
  const Config& config = ws_.config();
  const StoryLimits& limits = config.story_limits;
  GitRepo& repo = git();
  fs::path work_tree = repo.work_tree();
  std::string dir = (ws_.stories_root()).lexically_relative(work_tree).generic_string();
  // The workspace may be a subdirectory of the work tree: its paths lose that prefix.
  std::string ws_dir = ws_.root().lexically_relative(work_tree).generic_string();
  std::size_t strip = ws_dir == "." || ws_dir.empty() ? 0 : ws_dir.size() + 1;
  const fs::path& root = ws_.root();
  std::vector<GitRepo::PathChange> changes = repo.changes_between(from, to, dir);
  Progress progress(progress_, "reading changed stories", changes.size());
  auto load = [&](ChangedFile& f) {
    if (f.loaded) return;
    f.load(repo, root);
    progress.step();
  };
  auto where = [&](const ChangedFile& f) { return *story_at(config, f.path); };
  std::vector<std::pair<std::int64_t, ChangedFile>> files_by_id;
  files_by_id.reserve(changes.size());
  for (auto& change : changes) {
    std::string path = change.path.substr(strip);
    const Stage* stage = config.stage_of_path(path);
    auto name = stage ? parse_story_file_name(std::string_view(path).substr(path.rfind('/') + 1), config.types)
                      : std::nullopt;
    std::error_code ec;
    if (!to && (fs::is_symlink(root / path, ec) || (stage && ws_.symlink_to_stage(*stage)))) {
      if (links) links->push_back(path);  // never read through a link, never commit what it points to
      continue;
    }
    if (!name) {
      if (ignored) ignored->push_back(path);
      continue;
    }
    ChangedFile f{std::move(path), stage, std::move(change), std::nullopt, std::nullopt, false};
    if (!to) {
      // The work tree's side: a file staged and then changed back is no change.
      load(f);
      if (f.before == f.after) continue;
    }
    files_by_id.emplace_back(name->id, std::move(f));
  }
  std::stable_sort(files_by_id.begin(), files_by_id.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });

  std::vector<StoryDiff> out;
  out.reserve(files_by_id.size());
  bool full = detail == DiffDetail::full;
  std::vector<ChangedFile*> gone, arrived, edited;
  for (std::size_t first = 0, last = 0; first < files_by_id.size(); first = last) {
    std::int64_t id = files_by_id[first].first;
    while (last < files_by_id.size() && files_by_id[last].first == id) ++last;
    gone.clear(), arrived.clear(), edited.clear();
    for (std::size_t i = first; i < last; ++i) {
      ChangedFile& f = files_by_id[i].second;
      bool before = !f.change.old_blob.empty(), after = f.change.in_new;
      if (f.loaded) before = f.before.has_value(), after = f.after.has_value();
      if (before && !after)
        gone.push_back(&f);
      else if (!before && after)
        arrived.push_back(&f);
      else
        edited.push_back(&f);
    }
    for (ChangedFile* f : edited) {
      load(*f);
      StoryDiff d{id, "edited", "", f->stage->name, f->stage->name, {}, false, {f->path}, *f->before, *f->after, ""};
      compare(d, where(*f), limits);
      out.push_back(std::move(d));
    }
    // One file gone and one arrived under the same id: a move (maybe with edits).
    while (!gone.empty() && !arrived.empty()) {
      ChangedFile *old_file = gone.back(), *new_file = arrived.back();
      gone.pop_back();
      arrived.pop_back();
      StoryDiff d{id, "moved", "", old_file->stage->name, new_file->stage->name, {}, false,
                  {old_file->path, new_file->path}, "", "", ""};
      if (full) {
        load(*old_file);
        load(*new_file);
        d.before_text = *old_file->before;
        d.after_text = *new_file->after;
        compare(d, where(*new_file), limits);
      }
      out.push_back(std::move(d));
    }
    for (ChangedFile* f : gone) {
      StoryDiff d{id, "deleted", "", f->stage->name, "", {}, false, {f->path}, "", "", ""};
      if (full) {
        load(*f);
        d.before_text = *f->before;
        d.name = read_name(where(*f), d.before_text, limits, nullptr);
      }
      out.push_back(std::move(d));
    }
    for (ChangedFile* f : arrived) {
      StoryDiff d{id, "created", "", "", f->stage->name, {}, false, {f->path}, "", "", ""};
      if (full) {
        load(*f);
        d.after_text = *f->after;
        d.name = read_name(where(*f), d.after_text, limits, &d.problem);
      }
      out.push_back(std::move(d));
    }
  }
  return out;
}

HandCommitResult Tracker::commit_hand_edits(const std::optional<std::string>& message,
                                             const std::vector<std::int64_t>& only) {
  if (message && (trim(*message).empty() || message->find('\n') != std::string::npos))
    throw UsageError("-m takes a one-line subject");
  HandCommitResult result;
  // A first look, for the ids alone: the stories are read under their locks below.
  result.changes = board_changes("HEAD", std::nullopt, &result.ignored, &result.links, DiffDetail::edits);
  if (!only.empty()) {
    std::set<std::int64_t> wanted(only.begin(), only.end());
    for (auto id : wanted)
      if (std::none_of(result.changes.begin(), result.changes.end(), [&](const StoryDiff& d) { return d.id == id; }))
        throw NothingToDoError("story #" + std::to_string(id) + " has no change since HEAD");
    std::erase_if(result.changes, [&](const StoryDiff& d) { return !wanted.count(d.id); });
  }
  if (result.changes.empty()) return result;
  // A change tracker itself is making holds the story's lock until it is committed.
  // Taking the changed stories' locks waits for those, and what is changed under
  // them is the hand edits alone: never a transition half made by another command.
  // A story that starts changing after the first look is left for its own commit.
  std::set<std::int64_t> changed_ids;
  for (const auto& d : result.changes) changed_ids.insert(d.id);
  lock_stories({changed_ids.begin(), changed_ids.end()});
  result.ignored.clear();
  result.links.clear();
  result.changes = working_changes(&result.ignored, &result.links);
  std::erase_if(result.changes, [&](const StoryDiff& d) { return !changed_ids.count(d.id); });
  if (result.changes.empty()) return result;

  // Only valid stories are committed, judged by check's rules; every problem is
  // named, and nothing is committed while there is one.
  const Config& config = ws_.config();
  std::vector<std::string> paths_to_judge;
  for (const auto& d : result.changes)
    if (d.change != "deleted") paths_to_judge.push_back(d.paths.back());
  if (!paths_to_judge.empty()) {
    result.problems = check_files(paths_to_judge).problems;
    if (!result.problems.empty()) return result;
  }

  // A move by hand starts the story's retries afresh.
  will_commit();
  prepare_commit();
  struct Reset {
    fs::path file;
    std::string before, after;
  };
  std::vector<Reset> resets;
  for (auto& d : result.changes) {
    if (d.change != "moved") continue;
    Story s = reparse_story(*story_at(config, d.paths.back()), d.after_text, ws_.config().story_limits);
    if (s.retry_count == 0) continue;
    std::string text = set_front_matter_line(d.after_text, "retry_count", "0");
    resets.push_back({ws_.root() / d.paths.back(), d.after_text, text});
    d.after_text = text;
    compare(d, *story_at(config, d.paths.back()), ws_.config().story_limits);
  }

  std::vector<std::string> parts, paths;
  std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "commit"}};
  std::map<std::string, int> counts;
  for (const auto& d : result.changes) {
    std::string id = "#" + std::to_string(d.id);
    std::vector<std::string> what;
    for (const auto& f : d.fields) what.push_back(f.key);
    if (d.body_changed) what.push_back("body");
    std::string detail = what.empty() ? "" : " (" + join(what, ", ") + ")";
    if (d.change == "edited")
      parts.push_back("edit " + id + detail);
    else if (d.change == "moved")
      parts.push_back("move " + id + " " + d.from + " -> " + d.to + detail);
    else if (d.change == "created")
      parts.push_back("create " + id);
    else
      parts.push_back("delete " + id);
    ++counts[d.change];
    trailers.emplace_back("Tracker-Story", std::to_string(d.id));
    paths.insert(paths.end(), d.paths.begin(), d.paths.end());
  }
  std::string summary = join(parts, ", ");
  std::string subject = message ? *message : "tracker: " + summary;
  std::string body;
  if (!message && subject.size() > 100) {
    std::vector<std::string> tally;
    for (const auto& [change, n] : counts) tally.push_back(std::to_string(n) + " " + change);
    subject = "tracker: commit " + std::to_string(result.changes.size()) + " stories (" + join(tally, ", ") + ")";
  }
  if (subject != "tracker: " + summary)
    for (const auto& p : parts) body += p + "\n";
  result.subject = subject;
  result.commit = in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    for (const auto& r : resets) tx.rewrite(r.file, r.before, r.after);
    touched = paths;
    index_->update_files(paths);
    return commit(body.empty() ? subject : subject + "\n\n" + body.substr(0, body.size() - 1), trailers, paths);
  });
  return result;
}

}  // namespace tracker

namespace tracker {

RenumberResult Tracker::renumber(std::int64_t id, const std::optional<std::string>& path,
                                 const std::vector<std::int64_t>& refs) {
  lock_stories({id});
  refresh_all();
  Lookup found = index_->lookup(id);
  std::vector<std::string> paths;
  for (const auto& s : found.stories) paths.push_back(s.path);
  for (const auto& m : found.malformed) paths.push_back(m.path);
  if (paths.empty()) throw NotFoundError("no story #" + std::to_string(id));
  std::string chosen;
  if (path) {
    std::string wanted = ws_.relative(fs::absolute(*path));
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

  // The references: which stories name the old id, and which of them to rewrite.
  for (const auto& [story_id, deps] : index_->dependencies()) {
    if (story_id == id || std::find(deps.begin(), deps.end(), id) == deps.end()) continue;
    bool rewrite = !duplicated || std::find(refs.begin(), refs.end(), story_id) != refs.end();
    (rewrite ? result.rewritten : result.ambiguous).push_back(story_id);
  }
  for (auto r : refs)
    if (std::find(result.rewritten.begin(), result.rewritten.end(), r) == result.rewritten.end())
      throw UsageError("story #" + std::to_string(r) + " does not depend on #" + std::to_string(id));
  auto name = parse_story_file_name(fs::path(chosen).filename().string(), ws_.config().types);
  will_commit();
  // The stories whose depends_on is rewritten are changed too: theirs locks as well,
  // and their files looked at again.
  lock_stories(result.rewritten);
  index_->refresh_stories(result.rewritten);
  IdAllocation ids(ws_);
  prepare_commit();
  // With a remote, the new id is reserved there as `new` reserves one: no other
  // clone gives it out.
  std::int64_t above = std::max({index_->max_id(), id_floor(), ids.last()});
  if (Remote* r = remote()) above = std::max(above, remote_id(*r, above) - 1);
  result.new_id = ids.reserve(above);
  fs::path from = ws_.root() / chosen;
  fs::path to = from.parent_path() / make_story_file_name(result.new_id, name->type, name->slug);
  result.to_path = ws_.relative(to);
  try {
    result.commit = in_transaction([&](FileTransaction& tx, std::vector<std::string>& changed) {
      changed = {result.from_path, result.to_path};
      tx.rename(from, to);
      for (auto ref : result.rewritten) {
        for (const auto& s : index_->lookup(ref).stories) {
          fs::path file = ws_.root() / s.path;
          std::string text = read_file(file);
          std::string edited =
              edit_front_matter_list(text, "depends_on", [&](std::string_view item) { return story_ref(item) != id; },
                                     {std::to_string(result.new_id)});
          if (edited == text) continue;
          tx.rewrite(file, text, edited);
          changed.push_back(ws_.relative(file));
        }
      }
      index_->update_files(changed);
      return commit("tracker: renumber #" + std::to_string(id) + " -> #" + std::to_string(result.new_id),
                    {{"Tracker-Action", "renumber"}, {"Tracker-Story", std::to_string(result.new_id)}}, changed);
    });
  } catch (...) {
    ids.release(result.new_id);
    throw;
  }
  return result;
}

}  // namespace tracker

namespace tracker {

std::vector<LogEntry> Tracker::log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit) {
  if (limit && *limit <= 0) throw UsageError(param_ref("limit") + " must be at least 1");
  std::vector<LogEntry> out;
  auto full = [&] { return limit && static_cast<std::int64_t>(out.size()) >= *limit; };
  Progress walked(progress_, "reading history (commits)", 0);
  // A stage's directory as git names it (work-tree relative), for the check that a
  // commit's tree agrees with its trailers.
  GitRepo& repo = git();
  std::map<std::string, std::string> stage_dirs;
  for (const auto& st : ws_.config().stages)
    stage_dirs[st.name] = ws_.stage_dir(st).lexically_relative(repo.work_tree()).generic_string();
  // Whether the tree of commit `c` changed every stage directory its trailers say
  // it changed: a message can say anything, so a trailer is trusted only when the
  // tree agrees (a plain commit with forged trailers is read from its tree).
  auto tree_agrees = [&](const CommitInfo& c, const std::vector<LogEntry>& entries) {
    std::vector<std::string> dirs;
    for (const auto& e : entries)
      for (const auto* stage : {&e.from, &e.to})
        if (auto it = stage_dirs.find(*stage); it != stage_dirs.end()) dirs.push_back(it->second);
    if (dirs.empty()) return true;
    std::vector<std::string> before = repo.object_ids_at(c.parent, dirs), after = repo.object_ids_at(c.sha, dirs);
    for (std::size_t i = 0; i < dirs.size(); ++i)
      if (before[i] == after[i]) return false;
    return true;
  };
  repo.walk_history([&](const CommitInfo& c) {
    walked.step();
    // A merge brings in commits that are walked on their own: read once, there.
    if (c.parents > 1) return true;
    // The trailers: "Key: value" lines of the message's last paragraph.
    std::multimap<std::string, std::string> trailers;
    std::string_view message = c.message;
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.remove_suffix(1);
    auto last = message.rfind("\n\n");
    std::string_view block = last == std::string_view::npos ? std::string_view() : message.substr(last + 2);
    for (const auto& line : split(block, '\n')) {
      auto colon = line.find(": ");
      if (colon != std::string::npos && line.starts_with("Tracker-"))
        trailers.emplace(line.substr(0, colon), std::string(trim(line.substr(colon + 2))));
    }
    auto values = [&](const std::string& key) {
      std::vector<std::string> v;
      for (auto [it, end] = trailers.equal_range(key); it != end; ++it) v.push_back(it->second);
      return v;
    };
    auto one = [&](const std::string& key) {
      auto v = values(key);
      return v.empty() ? std::string() : v.front();
    };
    std::string action = one("Tracker-Action");
    if (action == "init") return true;
    LogEntry base{c.sha, c.time, c.author, action, 0, "", "", one("Tracker-Owner"), ""};
    // An in-place change says what it changed in its subject's last parentheses:
    // "tracker: set #2 (priority 1 -> 3)".
    std::string_view subject = message.substr(0, message.find('\n'));
    std::string detail;
    if (subject.ends_with(")")) {
      // The parenthesis that the last one closes: values may hold their own, "(none)".
      int depth = 0;
      for (std::size_t i = subject.size(); i-- > 0;) {
        if (subject[i] == ')') ++depth;
        if (subject[i] == '(' && --depth == 0) {
          if (i > 0 && subject[i - 1] == ' ') detail = subject.substr(i + 1, subject.size() - i - 2);
          break;
        }
      }
    }
    std::vector<LogEntry> entries;
    bool trusted = !action.empty() && action != "commit";
    if (trusted) {
      std::vector<std::string> stories = values("Tracker-Story"), froms = values("Tracker-From");
      for (std::size_t i = 0; i < stories.size(); ++i) {
        LogEntry e = base;
        e.id = parse_int(stories[i]).value_or(0);
        e.from = i < froms.size() ? froms[i] : (froms.empty() ? "" : froms.front());
        e.to = one("Tracker-To");
        if (e.to.empty() && action != "delete") e.to = e.from;
        if (e.from == e.to && stories.size() == 1) e.detail = detail;
        entries.push_back(e);
      }
      if (!tree_agrees(c, entries)) {
        entries.clear();
        trusted = false;
      }
    }
    if (!trusted) {
      // A commit made by hand (or by `tracker commit`), or one whose trailers its
      // tree does not bear out: read what its tree changed.
      static const std::map<std::string, std::string> verbs = {
          {"created", "create"}, {"deleted", "delete"}, {"moved", "move"}, {"edited", "edit"}};
      for (const auto& d : board_changes(c.parent, c.sha, nullptr, nullptr, DiffDetail::edits)) {
        LogEntry e = base;
        e.action = verbs.at(d.change);
        e.id = d.id;
        e.from = d.from;
        e.to = d.to;
        if (d.change == "edited") e.detail = join(describe_changes(d.fields, d.body_changed), ", ");
        entries.push_back(e);
      }
    }
    for (auto& e : entries) {
      if (id && e.id != *id) continue;
      out.push_back(std::move(e));
      if (full()) return false;
    }
    return true;
  });
  return out;
}

}  // namespace tracker
