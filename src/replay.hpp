// The replay at the heart of tracker sync (docs/remote.md, "Sync"): this clone's
// commits since it parted from the remote's branch are replayed on top of that
// branch story by story, and this clone's branch and work tree moved to the result.
//
// Commits, trees, blobs and refs are read through libgit2 (GitRepo); every object
// is written by the git executable (hash-object, read-tree, update-index,
// write-tree, commit-tree into a private index file), never by hand.
#pragma once

#include <tracker/claims.hpp>
#include <tracker/config.hpp>
#include <tracker/error.hpp>
#include <tracker/story.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include "git/repo.hpp"
#include "process.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tracker::replay {

/// An entry of a tree: its mode ("100644") and blob id; an empty id is no entry.
using Entry = GitRepo::TreeFile;

/// One path a commit changed: what its parent had there, and what it has.
using Delta = GitRepo::TreeChange;

/// One of this clone's commits to replay.
struct LocalCommit {
  std::string sha, parent;
  std::string author_name, author_email, author_date;  ///< date as git's raw "<unix> <zone>"
  std::int64_t time = 0;                               ///< author time: when the change was made (a replay keeps it)
  std::string message;
};

/// The first line of a text, trimmed.
std::string first_line(std::string_view text);
/// The last line of a text, trimmed.
std::string last_line(std::string_view text);

/// Reads and writes git objects for one sync: reads through libgit2 (`repo`), writes
/// with the git executable in the repository at `root`, with a private index file
/// for the trees it builds.
class Replay {
 public:
  Replay(GitRepo& repo, fs::path root, std::string prefix, const Config& config, fs::path scratch_index)
      : repo_(repo), root_(std::move(root)), prefix_(std::move(prefix)), config_(config),
        index_(std::move(scratch_index)) {}

  ProgramResult git(const std::vector<std::string>& args, const std::string& input = {},
                    std::map<std::string, std::optional<std::string>> env = {}) const {
    return run_git(root_, args, input, env,
                   "sync runs the git executable, and there is no 'git' on PATH; install git");
  }
  std::string must(const std::vector<std::string>& args, const std::string& what, const std::string& input = {},
                   std::map<std::string, std::optional<std::string>> env = {}) const {
    ProgramResult r = git(args, input, std::move(env));
    if (r.status != 0) throw IoError("sync: cannot " + what + ": " + last_line(r.err));
    return r.out;
  }
  std::string rev(const std::string& spec) const { return repo_.resolve(spec); }

  /// Commits reachable from `to` and not from `hide`, along first parents, oldest first.
  std::vector<LocalCommit> commits(const std::string& hide, const std::string& to) const {
    std::vector<LocalCommit> list;
    for (auto& r : repo_.commits(hide, to, true)) {
      LocalCommit c;
      c.sha = std::move(r.sha);
      if (!r.parents.empty()) c.parent = r.parents.front();
      c.author_name = std::move(r.author_name);
      c.author_email = std::move(r.author_email);
      int offset = std::abs(r.author_offset);
      char zone[8];
      std::snprintf(zone, sizeof zone, "%c%02d%02d", r.author_offset < 0 ? '-' : '+', offset / 60 % 100, offset % 60);
      c.author_date = std::to_string(r.author_time) + " " + zone;
      c.time = r.author_time;
      c.message = std::move(r.message);
      while (c.message.ends_with('\n')) c.message.pop_back();
      list.push_back(std::move(c));
    }
    return list;
  }

  /// What changed from commit `from` to commit `to`, path by path (no renames).
  std::vector<Delta> deltas(const std::string& from, const std::string& to) const {
    return repo_.tree_changes(from, to);
  }

  /// Every blob of commit `rev`, by path.
  std::map<std::string, Entry> tree(const std::string& rev) const { return repo_.files_at(rev); }

  std::string blob(const std::string& sha) const { return repo_.blob_text(sha); }

  /// Writes `text` as the blob of `path` (through the repository's filters).
  std::string write_blob(const std::string& path, const std::string& text) const {
    return std::string(trim(must({"hash-object", "-w", "--stdin", "--path", path}, "write " + path, text)));
  }

  /// The story a path holds: its id, when it is a story file directly in a stage
  /// directory of the board.
  std::optional<std::int64_t> story_id(const std::string& path) const {
    if (!path.starts_with(prefix_)) return std::nullopt;
    std::string rel = path.substr(prefix_.size());
    if (!config_.stage_of_path(rel)) return std::nullopt;
    auto parsed = parse_story_file_name(fs::path(rel).filename().string(), config_.types);
    return parsed ? std::optional(parsed->id) : std::nullopt;
  }
  std::string stage_of(const std::string& path) const {
    const Stage* s = config_.stage_of_path(path.substr(std::min(prefix_.size(), path.size())));
    return s ? s->name : "";
  }
  /// `path` moved into the directory of `stage`, keeping its file name.
  std::string in_stage(const std::string& path, const std::string& stage) const {
    const Stage* s = config_.find_stage(stage);
    return prefix_ + config_.stories_dir + "/" + (s ? s->dir : stage) + "/" + fs::path(path).filename().string();
  }

  GitRepo& repo_;
  fs::path root_;
  std::string prefix_;  ///< the board's directory in the repository, "" or "sub/"
  const Config& config_;
  fs::path index_;
};

/// What a replay needs to know of the remote besides its branch.
struct ReplayContext {
  std::string remote_name;
  /// The lease on story `id` as this sync fetched it, when it still holds (past its
  /// expiry by less than clock_skew); nullopt otherwise.
  std::function<std::optional<Claim>(std::int64_t)> live_lease;
};

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
                        std::vector<SyncConflict>& conflicts);

/// Moves this clone's branch `branch_ref` from `head` to `target` and the work tree
/// and git index with it (`git read-tree -m -u`, which refuses to overwrite a change
/// not committed). The stories that change are locked first (`lock`), so that no
/// transition of this clone is half way through one of them. Commits that land here
/// meanwhile are replayed on top. False when HEAD moved before anything was done.
bool move_branch(const Replay& r, const std::string& branch_ref, std::string head, std::string target,
                 const ReplayContext& ctx, const std::function<void(const std::vector<std::int64_t>&)>& lock,
                 std::string& moved_to);

}  // namespace tracker::replay
