// Hand edits: what changed in the story files since HEAD or between revisions
// (diff), and `tracker commit` of what was changed by hand.
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
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

std::vector<StoryDiff> History::working_changes(std::vector<std::string>* ignored, std::vector<std::string>* links) {
  return board_changes("HEAD", std::nullopt, ignored, links);
}

std::string History::merge_base(const std::string& a, const std::string& b) {
  return s_.git().merge_base(a, b);
}

std::vector<StoryDiff> History::board_changes(const std::string& from, const std::optional<std::string>& to,
                                              std::vector<std::string>* ignored, std::vector<std::string>* links,
                                              DiffDetail detail) {
  const Config& config = s_.ws.config();
  const StoryLimits& limits = config.story_limits;
  GitRepo& repo = s_.git();
  fs::path work_tree = repo.work_tree();
  std::string dir = (s_.ws.stories_root()).lexically_relative(work_tree).generic_string();
  // The workspace may be a subdirectory of the work tree: its paths lose that prefix.
  std::string ws_dir = s_.ws.root().lexically_relative(work_tree).generic_string();
  std::size_t strip = ws_dir == "." || ws_dir.empty() ? 0 : ws_dir.size() + 1;
  const fs::path& root = s_.ws.root();
  std::vector<GitRepo::PathChange> changes = repo.changes_between(from, to, dir);
  Progress progress(s_.progress, "reading changed stories", changes.size());
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
    if (!to && (fs::is_symlink(root / path, ec) || (stage && s_.ws.symlink_to_stage(*stage)))) {
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

HandCommitResult Maintenance::commit_hand_edits(const std::optional<std::string>& message,
                                             const std::vector<std::int64_t>& only) {
  if (message && (trim(*message).empty() || message->find('\n') != std::string::npos))
    throw UsageError("-m takes a one-line subject");
  HandCommitResult result;
  // A first look, for the ids alone: the stories are read under their locks below.
  result.changes = all_.history.board_changes("HEAD", std::nullopt, &result.ignored, &result.links, DiffDetail::edits);
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
  s_.lock_stories({changed_ids.begin(), changed_ids.end()});
  result.ignored.clear();
  result.links.clear();
  result.changes = all_.history.working_changes(&result.ignored, &result.links);
  std::erase_if(result.changes, [&](const StoryDiff& d) { return !changed_ids.count(d.id); });
  if (result.changes.empty()) return result;

  // Only valid stories are committed, judged by check's rules; every problem is
  // named, and nothing is committed while there is one.
  const Config& config = s_.ws.config();
  std::vector<std::string> paths_to_judge;
  for (const auto& d : result.changes)
    if (d.change != "deleted") paths_to_judge.push_back(d.paths.back());
  if (!paths_to_judge.empty()) {
    result.problems = check_files(paths_to_judge).problems;
    if (!result.problems.empty()) return result;
  }

  // A move by hand starts the story's retries afresh.
  s_.will_commit();
  s_.prepare_commit();
  struct Reset {
    fs::path file;
    std::string before, after;
  };
  std::vector<Reset> resets;
  for (auto& d : result.changes) {
    if (d.change != "moved") continue;
    Story s = reparse_story(*story_at(config, d.paths.back()), d.after_text, s_.ws.config().story_limits);
    if (s.retry_count == 0) continue;
    std::string text = set_front_matter_line(d.after_text, "retry_count", "0");
    resets.push_back({s_.ws.root() / d.paths.back(), d.after_text, text});
    d.after_text = text;
    compare(d, *story_at(config, d.paths.back()), s_.ws.config().story_limits);
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
  result.commit = s_.in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    for (const auto& r : resets) tx.rewrite(r.file, r.before, r.after);
    touched = paths;
    s_.shadow->update_files(paths);
    return s_.commit(body.empty() ? subject : subject + "\n\n" + body.substr(0, body.size() - 1), trailers, paths);
  });
  return result;
}

}  // namespace tracker
