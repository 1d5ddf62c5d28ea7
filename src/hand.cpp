// Hand edits: what changed in the story files since HEAD, and `tracker commit`.
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include "file_tx.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace tracker {

namespace {

/// One changed story file: where, and its text before (HEAD) and now.
struct ChangedFile {
  std::string path;  ///< workspace-relative
  Story where;       ///< id, type, slug, stage, path from the name
  std::optional<std::string> before, after;
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

/// Fills in the name, field and body changes of `d` from its two texts.
void compare(StoryDiff& d, const Story& where, const StoryLimits& limits) {
  Story before = lenient(where, d.before_text, limits), after = lenient(where, d.after_text, limits);
  d.fields = field_changes(before, after);
  d.body_changed = before.body != after.body;
  d.name = after.name;
}

}  // namespace

std::vector<StoryDiff> Tracker::working_changes(std::vector<std::string>* ignored, std::vector<std::string>* links) {
  return board_changes("HEAD", std::nullopt, ignored, links);
}

std::string Tracker::merge_base(const std::string& a, const std::string& b) {
  return git().merge_base(a, b);
}

std::vector<StoryDiff> Tracker::board_changes(const std::string& from, const std::optional<std::string>& to,
                                              std::vector<std::string>* ignored, std::vector<std::string>* links) {
  const Config& config = ws_.config();
  GitRepo& repo = git();
  fs::path work_tree = repo.work_tree();
  std::string dir = (ws_.stories_root()).lexically_relative(work_tree).generic_string();
  std::map<std::int64_t, std::vector<ChangedFile>> by_id;
  for (const auto& tree_path : repo.changed_paths_between(from, to, dir)) {
    std::string path = ws_.relative(work_tree / tree_path);
    std::optional<Story> where = story_at(config, path);
    std::error_code ec;
    if (!to && (fs::is_symlink(ws_.root() / path, ec) ||
                (where && ws_.symlink_to_stage(config.stage(where->stage))))) {
      if (links) links->push_back(path);  // never read through a link, never commit what it points to
      continue;
    }
    if (!where) {
      if (ignored) ignored->push_back(path);
      continue;
    }
    ChangedFile f{path, *where, repo.content_at(from, tree_path),
                  to ? repo.content_at(*to, tree_path) : read_file_if_exists(ws_.root() / path)};
    if (f.before == f.after) continue;  // e.g. staged and then changed back
    by_id[where->id].push_back(std::move(f));
  }

  std::vector<StoryDiff> out;
  for (auto& [id, files] : by_id) {
    std::vector<const ChangedFile*> gone, arrived, edited;
    for (const auto& f : files) {
      if (f.before && !f.after)
        gone.push_back(&f);
      else if (!f.before && f.after)
        arrived.push_back(&f);
      else
        edited.push_back(&f);
    }
    for (const ChangedFile* f : edited) {
      StoryDiff d{id, "edited", "", f->where.stage, f->where.stage, {}, false, {f->path}, *f->before, *f->after};
      compare(d, f->where, ws_.config().story_limits);
      out.push_back(std::move(d));
    }
    // One file gone and one arrived under the same id: a move (maybe with edits).
    while (!gone.empty() && !arrived.empty()) {
      const ChangedFile *old_file = gone.back(), *new_file = arrived.back();
      gone.pop_back();
      arrived.pop_back();
      StoryDiff d{id,
                  "moved",
                  "",
                  old_file->where.stage,
                  new_file->where.stage,
                  {},
                  false,
                  {old_file->path, new_file->path},
                  *old_file->before,
                  *new_file->after};
      compare(d, new_file->where, ws_.config().story_limits);
      out.push_back(std::move(d));
    }
    for (const ChangedFile* f : gone)
      out.push_back({id,
                     "deleted",
                     lenient(f->where, *f->before, ws_.config().story_limits).name,
                     f->where.stage,
                     "",
                     {},
                     false,
                     {f->path},
                     *f->before,
                     ""});
    for (const ChangedFile* f : arrived)
      out.push_back(
          {id, "created", lenient(f->where, *f->after, ws_.config().story_limits).name, "", f->where.stage, {}, false, {f->path}, "", *f->after});
  }
  return out;
}

HandCommitResult Tracker::commit_hand_edits(const std::optional<std::string>& message) {
  if (message && (trim(*message).empty() || message->find('\n') != std::string::npos))
    throw UsageError("-m takes a one-line subject");
  HandCommitResult result;
  result.changes = working_changes(&result.ignored, &result.links);
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

  // Only valid stories are committed: the same rules as edit.
  const Config& config = ws_.config();
  for (const auto& d : result.changes) {
    if (d.change == "deleted") continue;
    const std::string& path = d.paths.back();
    std::optional<Story> where = story_at(config, path);
    if (!config.is_known_type(where->type))
      throw InvalidDataError(path + ": unknown type '" + where->type + "'" + did_you_mean(where->type, config.types) +
                             "; nothing was committed");
    try {
      Story s = reparse_story(*where, d.after_text, ws_.config().story_limits);
      if (!s.warnings.empty())
        throw InvalidDataError(path + ":" + std::to_string(s.warnings.front().line) + ": " +
                               s.warnings.front().message + "; nothing was committed");
    } catch (const StoryParseError& e) {
      throw InvalidDataError(path + ":" + std::to_string(e.line()) + ": " + e.detail() + "; nothing was committed");
    }
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
  result.new_id = ids.reserve(index_->max_id());
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
  if (limit && *limit <= 0) throw UsageError("--limit must be at least 1");
  std::vector<LogEntry> out;
  auto full = [&] { return limit && static_cast<std::int64_t>(out.size()) >= *limit; };
  git().walk_history([&](const CommitInfo& c) {
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
    if (!action.empty() && action != "commit") {
      std::vector<std::string> stories = values("Tracker-Story"), froms = values("Tracker-From");
      for (std::size_t i = 0; i < stories.size(); ++i) {
        LogEntry e = base;
        e.id = parse_int(stories[i]).value_or(0);
        e.from = i < froms.size() ? froms[i] : (froms.empty() ? "" : froms.front());
        e.to = one("Tracker-To");
        if (e.to.empty()) e.to = e.from;
        if (e.from == e.to && stories.size() == 1) e.detail = detail;
        entries.push_back(e);
      }
    } else {
      // A commit made by hand (or by `tracker commit`): read what its tree changed.
      static const std::map<std::string, std::string> verbs = {
          {"created", "create"}, {"deleted", "delete"}, {"moved", "move"}, {"edited", "edit"}};
      for (const auto& d : board_changes(c.parent, c.sha)) {
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
