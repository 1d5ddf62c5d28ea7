// tracker sync: the board's branch exchanged with the shared git remote
// (docs/remote.md, "Sync").
//
// Fetch the remote's branch; replay this clone's commits since the two parted on
// top of it, story by story rather than line by line; move this clone's branch and
// work tree to the result; push it with a lease on the branch. A push that finds
// the branch moved starts again from the fetch.
//
// Every object is written by the git executable (read-tree, update-index,
// write-tree, commit-tree into a private index file), never by hand.
#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/remote.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include "process.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace tracker {

namespace {

/// An entry of a tree: its mode ("100644") and blob id; an empty sha is no entry.
struct Entry {
  std::string mode, sha;
  bool operator==(const Entry&) const = default;
  bool absent() const { return sha.empty(); }
};

/// One path a commit changed: what its parent had there, and what it has.
struct Delta {
  std::string path;
  Entry before, after;
};

/// One of this clone's commits to replay.
struct LocalCommit {
  std::string sha, parent;
  std::string author_name, author_email, author_date;  ///< date as git's raw "<unix> <zone>"
  std::int64_t time = 0;                               ///< committer time
  std::string message;
};

std::string first_line(std::string_view text) {
  auto nl = text.find('\n');
  return std::string(trim(text.substr(0, nl)));
}

std::string last_line(std::string_view text) {
  std::string_view t = trim(text);
  auto nl = t.rfind('\n');
  return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
}

/// Reads and writes git objects for one sync, in the repository at `root`, with a
/// private index file for the trees it builds.
class Replay {
 public:
  Replay(fs::path root, std::string prefix, const Config& config, fs::path scratch_index)
      : root_(std::move(root)), prefix_(std::move(prefix)), config_(config), index_(std::move(scratch_index)) {}

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
  std::string rev(const std::string& spec) const {
    ProgramResult r = git({"rev-parse", "--verify", "--quiet", spec});
    return r.status == 0 ? std::string(trim(r.out)) : "";
  }

  /// Commits of `range` along first parents, oldest first.
  std::vector<LocalCommit> commits(const std::string& range) const {
    std::string out = must({"log", "--first-parent", "--reverse", "--date=raw",
                            "--format=%H%x00%P%x00%an%x00%ae%x00%ad%x00%ct%x00%B%x1e", range, "--"},
                           "list the commits of " + range);
    std::vector<LocalCommit> list;
    for (auto& record : split(out, '\x1e')) {
      std::string_view r = record;
      while (!r.empty() && r.front() == '\n') r.remove_prefix(1);
      if (r.empty()) continue;
      auto fields = split(std::string(r), '\0');
      if (fields.size() < 7) continue;
      LocalCommit c;
      c.sha = fields[0];
      c.parent = fields[1].substr(0, fields[1].find(' '));
      c.author_name = fields[2];
      c.author_email = fields[3];
      c.author_date = fields[4];
      c.time = parse_int(fields[5]).value_or(0);
      c.message = fields[6];
      while (c.message.ends_with('\n')) c.message.pop_back();
      list.push_back(std::move(c));
    }
    return list;
  }

  /// What changed from commit `from` to commit `to`, path by path (no renames).
  std::vector<Delta> deltas(const std::string& from, const std::string& to) const {
    std::string out = must({"diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", from, to},
                           "compare " + from.substr(0, 12) + " with " + to.substr(0, 12));
    std::vector<Delta> list;
    auto parts = split(out, '\0');
    for (std::size_t i = 0; i + 1 < parts.size(); i += 2) {
      // ":<old mode> <new mode> <old sha> <new sha> <status>"
      auto f = split(parts[i].substr(parts[i].starts_with(':') ? 1 : 0), ' ');
      if (f.size() < 5) break;
      auto side = [](const std::string& mode, const std::string& sha) {
        return sha.find_first_not_of('0') == std::string::npos ? Entry{} : Entry{mode, sha};
      };
      list.push_back({parts[i + 1], side(f[0], f[2]), side(f[1], f[3])});
    }
    return list;
  }

  /// Every blob of commit `rev`, by path.
  std::map<std::string, Entry> tree(const std::string& rev) const {
    std::map<std::string, Entry> out;
    std::string text = must({"ls-tree", "-r", "-z", "--full-tree", rev}, "read the tree of " + rev.substr(0, 12));
    for (const auto& item : split(text, '\0')) {
      auto tab = item.find('\t');
      if (tab == std::string::npos) continue;
      auto f = split(item.substr(0, tab), ' ');
      if (f.size() < 3 || f[1] == "tree") continue;
      out[item.substr(tab + 1)] = {f[0], f[2]};
    }
    return out;
  }

  std::string blob(const std::string& sha) const { return must({"cat-file", "blob", sha}, "read blob " + sha); }

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

  fs::path root_;
  std::string prefix_;  ///< the board's directory in the repository, "" or "sub/"
  const Config& config_;
  fs::path index_;
};

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

/// Replays the commits of `base..head` (first parents) on top of `upstream`, one
/// commit each, story by story: a transition moves the story from wherever the
/// remote has it, fields merge key by key (merge_story_file), and where both sides
/// moved a story to different stages, or changed a key differently, the later
/// commit wins and the commit's message says so. A commit that changes nothing any
/// more is dropped. Returns the new tip; ConflictError when a file that is not a
/// story was changed on both sides in ways that do not merge.
std::string replay_onto(const Replay& r, const std::string& base, const std::string& head, const std::string& upstream,
                        const std::string& remote_name, std::vector<SyncCommit>& outgoing,
                        std::vector<SyncConflict>& conflicts) {
  const std::map<std::string, std::optional<std::string>> scratch = {{"GIT_INDEX_FILE", r.index_.string()}};
  Tip tip;
  tip.commit = upstream;
  tip.tree = r.rev(upstream + "^{tree}");
  tip.files = r.tree(upstream);
  for (const auto& [path, e] : tip.files)
    if (auto id = r.story_id(path)) tip.stories[*id].insert(path);
  r.must({"read-tree", upstream}, "read the remote's tree", {}, scratch);
  std::map<std::int64_t, std::int64_t> their_times;
  // When the remote last changed story `id`: the later change wins a conflict.
  auto their_time = [&](std::int64_t id, const std::vector<std::string>& paths) {
    if (auto it = their_times.find(id); it != their_times.end()) return it->second;
    std::vector<std::string> args = {"log", "-1", "--format=%ct", base + ".." + upstream, "--"};
    args.insert(args.end(), paths.begin(), paths.end());
    ProgramResult t = r.git(args);
    return their_times[id] = parse_int(trim(t.out)).value_or(0);
  };

  for (const LocalCommit& c : r.commits(base + ".." + head)) {
    std::vector<std::pair<std::string, Entry>> edits;
    std::vector<std::string> notes;
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
      StoryFileMerge m = git_line_merge(r.blob(d.before.sha), r.blob(d.after.sha), r.blob(cur.sha));
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
    for (auto& [id, ds] : by_story) {
      const Delta* was = nullptr;  // the story before this commit (its path and blob)
      const Delta* now = nullptr;  // and after it
      for (const auto& d : ds) {
        if (!was && !d.before.absent()) was = &d;
        if (!now && !d.after.absent()) now = &d;
      }
      if (ds.size() > 2) {  // copies of one id: path by path
        for (const auto& d : ds) generic(d);
        continue;
      }
      const auto& there_paths = tip.stories[id];
      std::string there;
      if (was && there_paths.count(was->path))
        there = was->path;
      else if (!there_paths.empty())
        there = *there_paths.begin();
      std::string tag = "#" + std::to_string(id);
      if (!was) {  // created here
        if (there.empty() || there == now->path) {
          generic(*now);
        } else {
          edit(now->path, now->after);
          conflicts.push_back({id, "created", r.stage_of(now->path), r.stage_of(there), "both",
                               tag + " was created here and on " + remote_name + ": both kept; tracker renumber gives one a new id"});
        }
        continue;
      }
      if (there.empty()) {  // deleted there
        if (now)
          conflicts.push_back({id, "deleted", r.stage_of(now->path), "", "remote",
                               tag + " was changed here and deleted on " + remote_name + ": it stays deleted"});
        continue;
      }
      Entry there_entry = tip.at(there);
      if (!now) {  // deleted here
        if (there_entry.sha != was->before.sha)
          conflicts.push_back({id, "deleted", "", r.stage_of(there), "here",
                               tag + " was deleted here and changed on " + remote_name + ": it is deleted"});
        edit(there, {});
        continue;
      }
      std::string stage_was = r.stage_of(was->path), stage_here = r.stage_of(now->path), stage_there = r.stage_of(there);
      bool later_here = c.time > their_time(id, {there, was->path});
      // The content: a side that did not change it takes the other's.
      std::string sha;
      const std::string &b = was->before.sha, &o = now->after.sha, &t = there_entry.sha;
      if (o == b || o == t) {
        sha = t;
      } else if (t == b) {
        sha = o;
      } else {
        Story where;
        where.id = id;
        where.path = there;
        std::string bt = r.blob(b), ot = r.blob(o), tt = r.blob(t);
        auto lines = [](Favour f) {
          return [f](std::string_view x, std::string_view y, std::string_view z) { return git_line_merge(x, y, z, f); };
        };
        StoryFileMerge m = merge_story_file(where, bt, ot, tt, r.config_.story_limits, lines(Favour::none));
        if (m.conflicts > 0) {
          Favour f = later_here ? Favour::ours : Favour::theirs;
          m = merge_story_file(where, bt, ot, tt, r.config_.story_limits, lines(f));
          std::string msg = tag + " was changed here and on " + remote_name + " differently: the later change (" +
                            (later_here ? "here" : remote_name) + ") is kept where they differ";
          conflicts.push_back({id, "changed", stage_here, stage_there, later_here ? "here" : "remote", msg});
          notes.push_back(msg);
        }
        sha = r.write_blob(there, m.text);
      }
      // The stage: a side that did not move it takes the other's move.
      std::string stage = stage_here;
      if (stage_here == stage_was) {
        stage = stage_there;
      } else if (stage_there != stage_was && stage_there != stage_here) {
        stage = later_here ? stage_here : stage_there;
        std::string msg = tag + " was moved to " + stage_here + " here and to " + stage_there + " on " + remote_name +
                          ": the later move, to " + stage + ", is kept";
        conflicts.push_back({id, "moved", stage_here, stage_there, later_here ? "here" : "remote", msg});
        notes.push_back(msg);
      }
      // The file name: ours when this commit renamed it, else theirs.
      std::string name_from = fs::path(now->path).filename() != fs::path(was->path).filename() ? now->path : there;
      std::string path = r.in_stage(name_from, stage);
      if (path != there) edit(there, {});
      edit(path, {now->after.mode, sha});
    }
    if (edits.empty()) continue;

    std::string info;
    for (const auto& [path, e] : edits)
      info += (e.absent() ? "0 " + zero_like(tip.commit) : e.mode + " " + e.sha) + "\t" + path + '\0';
    r.must({"update-index", "-z", "--index-info"}, "build the replayed tree", info, scratch);
    std::string tree(trim(r.must({"write-tree"}, "write the replayed tree", {}, scratch)));
    if (tree == tip.tree) continue;  // already there: nothing left of this commit
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
                 const std::string& remote_name, const std::function<void(const std::vector<std::int64_t>&)>& lock,
                 std::string& moved_to) {
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
    target = replay_onto(r, head, now, target, remote_name, unused_out, unused_conflicts);
    head = now;
  }
  throw ConflictError("sync: " + branch_ref + " keeps moving here; try again");
}

}  // namespace

SyncResult Tracker::sync() { return sync_branch({}); }

void Tracker::auto_sync() {
  const auto& settings = ws_.config().remote;
  if (!settings || !settings->auto_sync || offline_ || unsynced_commits_ == 0) return;
  try {
    sync_branch({});
  } catch (const Error& e) {
    warn(std::string("not synced (remote.auto_sync): ") + e.what() + "; the commit is here, and tracker sync sends it");
  }
}

SyncResult Tracker::sync_branch(const std::vector<std::pair<std::int64_t, std::string>>& release) {
  if (!ws_.config().remote) throw UsageError("sync needs a shared remote: add 'remote:' to .tracker/config.yml, or run tracker init --remote origin (docs/remote.md)");
  if (offline_) throw UsageError("sync exchanges the branch with the remote, which --offline leaves out");
  Remote& remote = *this->remote();
  const RemoteSettings& settings = remote.settings();
  fs::path root = git().work_tree();
  std::string prefix = ws_.root().lexically_relative(root).generic_string();
  prefix = (prefix.empty() || prefix == ".") ? "" : prefix + "/";
  fs::create_directories(ws_.local_state_dir() / "tmp");
  // A private git index for the trees the replay builds; the next command sweeps it
  // if this one dies.
  fs::path scratch = ws_.local_state_dir() / "tmp" / unique_name("sync-index");
  ScopeExit remove_scratch([&] {
    std::error_code ec;
    fs::remove(scratch, ec);
  });
  Replay r(root, prefix, ws_.config(), scratch);
  // One sync at a time in a clone; transitions go on meanwhile.
  fs::create_directories(ws_.shared_state_dir() / "locks");
  ProcessLock sync_lock(ws_.shared_state_dir() / "locks" / "sync", std::chrono::minutes(2), "another sync");

  ProgramResult head_ref = r.git({"symbolic-ref", "--quiet", "HEAD"});
  if (head_ref.status != 0) throw UsageError("sync: HEAD is detached; check out the board's branch first");
  std::string branch_ref(trim(head_ref.out));

  SyncResult result;
  result.remote = settings.name;
  result.branch = settings.branch;
  std::set<std::string> seen_in;
  for (int attempt = 1; attempt <= 20; ++attempt) {
    result.attempts = attempt;
    std::string upstream = remote.fetch_board();
    std::string head = r.rev("HEAD");
    if (head.empty()) throw UsageError("sync: the branch has no commit yet");
    std::string base;
    if (!upstream.empty()) {
      ProgramResult mb = r.git({"merge-base", head, upstream});
      if (mb.status != 0)
        throw IoError("sync: " + settings.name + "/" + settings.branch +
                      " shares no history with this branch; nothing was changed");
      base = std::string(trim(mb.out));
      for (const auto& c : r.commits(base + ".." + upstream))
        if (seen_in.insert(c.sha).second) result.incoming.push_back({c.sha, first_line(c.message)});
    }

    // What this clone has that the remote does not, replayed on top of it.
    std::string target = head;
    std::vector<SyncCommit> outgoing;
    if (!upstream.empty() && base != upstream) {
      if (base == head) {
        target = upstream;  // nothing here: a fast-forward
      } else {
        target = replay_onto(r, base, head, upstream, settings.name, outgoing, result.conflicts);
      }
    } else if (upstream.empty()) {
      for (const auto& c : r.commits(head)) outgoing.push_back({c.sha, first_line(c.message)});
    } else {
      for (const auto& c : r.commits(upstream + ".." + head)) outgoing.push_back({c.sha, first_line(c.message)});
    }

    if (target != head) {
      std::string moved_to;
      if (!move_branch(r, branch_ref, head, target, settings.name,
                       [this](const std::vector<std::int64_t>& ids) { lock_stories(ids); }, moved_to))
        continue;  // a commit landed here before anything was done: start again
      if (moved_to != target) {
        // Commits made here meanwhile went on top: they go out too.
        for (const auto& c : r.commits(target + ".." + moved_to)) outgoing.push_back({c.sha, first_line(c.message)});
        target = moved_to;
      }
    }
    if (target == upstream && release.empty()) {
      unsynced_commits_ = 0;
      result.head = target;
      result.changed = !result.incoming.empty();
      return result;
    }
    switch (remote.push_branch(target, upstream, release)) {
      case BranchPush::done:
        unsynced_commits_ = 0;
        result.outgoing = std::move(outgoing);
        result.head = target;
        result.pushed = true;
        result.changed = true;
        return result;
      case BranchPush::lease_lost:
        result.head = target;
        result.lease_lost = true;
        return result;
      case BranchPush::moved:
        break;  // another clone pushed first: fetch and replay again
    }
  }
  throw ConflictError("sync: " + settings.name + "/" + settings.branch + " keeps moving; try again");
}

std::string Tracker::first_commit_line(const std::string& sha) {
  ProgramResult r = run_git(git().work_tree(), {"log", "-1", "--format=%s", sha, "--"});
  return r.status == 0 ? std::string(trim(r.out)) : "";
}

bool Tracker::undo_tip_commit(const std::string& subject) {
  fs::path root = git().work_tree();
  auto g = [&](const std::vector<std::string>& args) { return run_git(root, args); };
  ProgramResult branch = g({"symbolic-ref", "--quiet", "HEAD"});
  ProgramResult tip = g({"rev-parse", "--verify", "--quiet", "HEAD"});
  if (branch.status != 0 || tip.status != 0) return false;
  std::string sha(trim(tip.out));
  if (first_commit_line(sha) != subject) return false;
  if (g({"read-tree", "-m", "-u", sha, sha + "^"}).status != 0) return false;
  if (g({"update-ref", "-m", "tracker: undo " + subject, std::string(trim(branch.out)), sha + "^", sha}).status != 0) {
    g({"read-tree", "-m", "-u", sha + "^", sha});  // a commit landed meanwhile: the files go forward again
    return false;
  }
  return true;
}

}  // namespace tracker
