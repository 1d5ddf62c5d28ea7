// The library's API: a Tracker and the operations it offers, grouped by concern
// (BoardView, StoryEditor, ClaimDesk, HistoryView, Upkeep), one method per user
// action.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <tracker/claims.hpp>
#include <tracker/deps.hpp>
#include <tracker/flow.hpp>
#include <tracker/clock.hpp>
#include <tracker/progress.hpp>
#include <tracker/remote.hpp>
#include <tracker/git.hpp>
#include <tracker/import.hpp>
#include <tracker/index.hpp>
#include <tracker/story.hpp>
#include <tracker/results.hpp>
#include <tracker/workspace.hpp>

namespace tracker {

class Remote;
struct Services;

namespace detail {
/// Owns a Tracker's services; a base of Tracker so that they exist before the
/// operations that use them are built.
class ServicesOwner {
 protected:
  explicit ServicesOwner(std::unique_ptr<Services> services);
  ~ServicesOwner();
  std::unique_ptr<Services> services_;
};
}  // namespace detail

/// Reads the board: list, show, search, ready, stats. A Tracker is one;
/// the work is done by the service of the same concern (src/services.hpp).
class BoardView {
 public:
  std::vector<Story> list(const ListQuery& query);

  void list_each(const ListQuery& query, const std::function<void(Story&&)>& visit);

  /// Full-text search (see ShadowIndex::search); `stages` are names or directories.
  /// A malformed query throws UsageError.
  SearchResult search(const std::string& query, const std::vector<std::string>& stages,
                      std::optional<std::int64_t> limit);

  /// Malformed story files and wrongly typed values.
  std::vector<StoryIssue> issues();

  /// The story with its body. Throws NotFoundError, or InvalidDataError when the
  /// file is malformed or the id is used twice.
  Story show(std::int64_t id);

  /// The bytes of the story file.
  std::string raw(std::int64_t id);

  /// The story and its bytes, read under the story's lock, so that a writer that
  /// holds the lock (tracker, or a script using flock) is never seen half way.
  std::pair<Story, std::string> read_whole(std::int64_t id);

  /// Ready stories, by priority then id: in a ready stage, not blocked, not claimed,
  /// every dependency done.
  std::vector<Story> ready(std::optional<std::int64_t> limit);

  /// The first `limit` stories of the ready stages that are not ready, most urgent
  /// first, each with why: a dependency or a part not done, blocked, claimed.
  std::vector<NotReady> not_ready(std::size_t limit);

  BoardStats stats();

  /// Every parent's progress: how many of its children there are, how many done.
  std::map<std::int64_t, ChildProgress> progress();
  /// One story's progress, from the index as the last walk left it (show does not
  /// walk the board): total 0 when it has no children.
  ChildProgress progress(std::int64_t id);

  /// The hierarchy of parent stories: every story (or `root` and the stories under
  /// it), each parent before its children. NotFoundError for an unknown `root`.
  std::vector<TreeNode> tree(std::optional<std::int64_t> root);

 protected:
  explicit BoardView(Services& all) : all_(all) {}
  ~BoardView() = default;
  BoardView(const BoardView&) = delete;
  BoardView& operator=(const BoardView&) = delete;

 private:
  Services& all_;
};

/// Changes stories: new, move, set, edit, delete, archive, link, block. Every change is one commit. A Tracker is one;
/// the work is done by the service of the same concern (src/services.hpp).
class StoryEditor {
 public:
  NewStoryResult create(const NewStoryRequest& request);

  /// The checks `create` makes of a request before anything else (UsageError): a
  /// known type, an existing stage, and for a request without `text`, a one-line
  /// name and labels; returns the stage the story would go to. `new --edit` asks
  /// before it opens the editor.
  const Stage& check_new(const NewStoryRequest& request);

  /// Moves every story to `stage` in one commit. Stories already there are left
  /// alone; with nothing to move, nothing is committed. A story another identity
  /// holds is refused (ConflictError naming the holder; see check_holder) unless
  /// `force`, which ends that claim. The holder's own claim ends when the story
  /// goes to a done stage.
  MoveResult move(const std::vector<std::int64_t>& ids, std::string_view stage, Force force = Force::no);

  /// Deletes the stories' files in one commit, and records the highest deleted id
  /// in `.tracker/id-floor` (committed), so that no clone gives that id out again.
  /// Refused (ConflictError) while another identity's claim holds one, or another
  /// story depends on one, unless `force`; their claims end.
  DeleteResult remove(const std::vector<std::int64_t>& ids, bool force);

  /// The stage `archive` moves stories to: `archived`, else the last done stage.
  const Stage& archive_stage() const;

  /// The highest id ever deleted on this board (`.tracker/id-floor`), 0 if none.
  std::int64_t id_floor() const;

  /// Sets `blocked: true` (and `blocked_reason`) / clears them.
  StoryChange block(std::int64_t id, const std::optional<std::string>& reason);

  StoryChange unblock(std::int64_t id);

  /// Adds `dependency` to the story's `depends_on`. Throws NotFoundError for an
  /// unknown dependency, and InvalidDataError for a self-link or a link that would
  /// close a cycle (the message shows the cycle).
  LinkResult link(std::int64_t id, std::int64_t dependency);

  /// Removes `dependency` from the story's `depends_on` (it need not exist any more).
  LinkResult unlink(std::int64_t id, std::int64_t dependency);

  /// Sets and removes front matter keys, each rewriting only its own lines. Known
  /// keys are typed (UsageError on a bad value); `depends_on` ids must exist
  /// (NotFoundError) and must not close a cycle (InvalidDataError). `stage`, `type`
  /// and `id` are refused with a pointer to the command that changes them.
  /// A new `name` renames the file to the new name's slug in the same commit
  /// (git sees a rename), unless `keep_file_name`.
  /// Changing `agent` of a story another identity holds is refused (ConflictError)
  /// unless `force`, which ends that claim.
  SetResult set_fields(std::int64_t id, const std::vector<FieldEdit>& edits, bool keep_file_name = false,
                       Force force = Force::no);

  /// Problems that make `text` unacceptable as the new content of story `id`:
  /// malformed front matter, values of the wrong type, `depends_on` ids that do not
  /// exist, name the story itself, or close a cycle. Empty when it is fine.
  std::vector<StoryProblem> validate_edit(std::int64_t id, const std::string& text);

  /// Replaces story `id`'s file with `edited` and commits "tracker: edit #42
  /// (priority 1 -> 3, body)". No change, no commit. When the file no longer reads
  /// `original` (changed or moved meanwhile), the edit is merged into what is there
  /// (merge_story); keys both sides changed differently throw EditConflictError.
  EditResult apply_edit(std::int64_t id, const std::string& original, const std::string& edited,
                        bool keep_file_name = false);

  /// Replaces the body of story `id` (the markdown under the front matter) as an
  /// edit of the file whose text was `original`: apply_edit's merge, refusals and
  /// commit (`tracker: edit #42 (body)`).
  EditResult set_body(std::int64_t id, const std::string& original, const std::string& body);

  /// Problems that make `text` unacceptable as a new story's file: malformed front
  /// matter, values of the wrong type, no name (neither `name:` nor a `# heading`),
  /// a name of more than one line, `depends_on` ids that do not exist.
  std::vector<StoryProblem> validate_new(const std::string& text);

  /// Imports a source's records (src/import.cpp; docs/import.md) in one commit: each
  /// record's status mapped to a stage, its type to a type (an unknown one is added
  /// to the config), its links through the source's ids. A record whose `source`
  /// key is on the board updates that story. Every record is mapped before anything
  /// is written: a problem (a line that does not parse, a status with no stage, a
  /// cycle) throws InvalidDataError and nothing is written. A dry run writes nothing
  /// and returns the plan and every problem.
  ImportResult import_stories(const ImportRequest& request);

  /// Keeps text the user wrote that could not be used, next to the index, and
  /// returns where: `<git-dir>/tracker/rejected/<stem>-<time>.md` (the stem is the
  /// story's id, or `new` for a story not yet created).
  fs::path save_rejected(const std::string& stem, const std::string& text);

  fs::path save_rejected(std::int64_t id, const std::string& text) { return save_rejected(std::to_string(id), text); }

 protected:
  explicit StoryEditor(Services& all) : all_(all) {}
  ~StoryEditor() = default;
  StoryEditor(const StoryEditor&) = delete;
  StoryEditor& operator=(const StoryEditor&) = delete;

 private:
  Services& all_;
};

/// Claims, on this clone and on the shared remote: claim, release, done, renew, reclaim. A Tracker is one;
/// the work is done by the service of the same concern (src/services.hpp).
class ClaimDesk {
 public:
  /// Claims story `request.id`, or the first ready story not claimed by anyone.
  /// Sets `agent`, moves the story to claim.move_to and commits, all or nothing.
  /// Throws ConflictError when another owner holds the story, and NothingToDoError
  /// when no story is ready.
  ClaimResult claim(const ClaimRequest& request);

  /// Ends a claim: removes `agent`, moves the story back to the stage it was claimed
  /// from, commits, then removes the lock and the lease. Acts as `owner` (default:
  /// identity()); another identity's claim is refused (ConflictError) unless
  /// `force`. An unclaimed story is left as it is (`changed` false): nobody holds
  /// it, as asked.
  StoryChange release(std::int64_t id, const std::optional<std::string>& owner, Force force = Force::no);

  /// Moves the story to the first done stage and ends its claim. A claim another
  /// identity holds is refused (ConflictError) unless `force`.
  StoryChange done(std::int64_t id, Force force = Force::no);

  /// Extends `owner`'s (default: identity()) claim on `id` by `ttl_seconds`
  /// (default claim.ttl) from now. Throws ConflictError for another owner's claim
  /// (naming the holder) and for an unclaimed story (the claim was lost: the caller
  /// must stop), NotFoundError for no such story.
  Claim renew(std::int64_t id, const std::optional<std::string>& owner, std::optional<std::int64_t> ttl_seconds);

  /// Ends claims that no longer hold (expired, or their holder died): clears `agent`,
  /// adds 1 to `retry_count` and moves the story back to the stage it was claimed
  /// from, one commit each. Also drops the locks of stories that no longer exist
  /// (from and to are then empty). With an id, only that story (ConflictError while
  /// the claim holds on a story that exists; nothing when it is not claimed).
  std::vector<StoryChange> reclaim(std::optional<std::int64_t> id);

  /// Claims that still hold, by story id.
  std::map<std::int64_t, Claim> live_claims();

  /// Ids with a claim that still holds.
  std::vector<std::int64_t> claimed_ids();

  /// The claim on story `id` this clone held until another clone took its lease
  /// over (ClaimState::lost): the record that its holder is fenced.
  std::optional<Claim> lost_claim(std::int64_t id);

 protected:
  explicit ClaimDesk(Services& all) : all_(all) {}
  ~ClaimDesk() = default;
  ClaimDesk(const ClaimDesk&) = delete;
  ClaimDesk& operator=(const ClaimDesk&) = delete;

 private:
  Services& all_;
};

/// The board's history: diffs between revisions, log, flow. A Tracker is one;
/// the work is done by the service of the same concern (src/services.hpp).
class HistoryView {
 public:
  /// Story files that differ between HEAD and the working tree (staged or not),
  /// read as stories: created, deleted, moved (same id, another stage) or edited.
  /// A symbolic link is never read through: it goes to `links`, and is left out.
  std::vector<StoryDiff> working_changes(std::vector<std::string>* ignored = nullptr,
                                         std::vector<std::string>* links = nullptr);

  /// The same between revision `from` and revision `to` (the working tree when not
  /// given). UsageError for an unknown revision. The cost is one tree diff plus a
  /// read of each changed file (`detail`): linear in the changed entries.
  std::vector<StoryDiff> board_changes(const std::string& from, const std::optional<std::string>& to,
                                       std::vector<std::string>* ignored = nullptr,
                                       std::vector<std::string>* links = nullptr,
                                       DiffDetail detail = DiffDetail::full);

  /// The merge base of two revisions (for `diff A...B`).
  std::string merge_base(const std::string& a, const std::string& b);

  /// The transitions of story `id` (or of every story), newest first, at most
  /// `limit`. Commits with Tracker trailers are read from them; commits made by hand
  /// from the diff of their tree with their parent's.
  std::vector<LogEntry> log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit);

  /// Flow metrics over `query`'s window from the whole history (see flow.hpp).
  FlowReport flow(const FlowQuery& query);

 protected:
  explicit HistoryView(Services& all) : all_(all) {}
  ~HistoryView() = default;
  HistoryView(const HistoryView&) = delete;
  HistoryView& operator=(const HistoryView&) = delete;

 private:
  Services& all_;
};

/// Keeps the board sound: check, doctor, renumber, and the commit of edits made by hand. A Tracker is one;
/// the work is done by the service of the same concern (src/services.hpp).
class Upkeep {
 public:
  /// Validates the whole board: every file, the dependency graph, and the claim
  /// locks against the files.
  CheckReport check();

  /// The same rules applied to the story files at `paths` alone (workspace
  /// relative), as `tracker commit` judges what it commits: their front matter,
  /// values, names and types, duplicate ids and dependencies. Claims are this
  /// machine's state, not committed content: they are not judged here.
  CheckReport check_files(const std::vector<std::string>& paths);

  /// The files `check --changed` and `commit` judge: the new side of every story
  /// file changed since HEAD (staged or not).
  std::vector<std::string> changed_story_files();

  /// Finds and repairs what a crash can leave: a git index behind HEAD for the
  /// board's paths, git index updates that did not finish, stale locks whose holder
  /// is gone, orphaned temp files, and story moves that were never committed (which
  /// it commits). With `dry_run`, only reports.
  DoctorReport doctor(bool dry_run);

  /// Gives story `id` (the copy at `path` when the id is used more than once) a
  /// fresh id, renaming its file. References to it in `depends_on` are rewritten
  /// when they can only mean it: always when the id was unique, and otherwise only
  /// in the stories listed in `refs` (the others are returned as `ambiguous`).
  RenumberResult renumber(std::int64_t id, const std::optional<std::string>& path,
                          const std::vector<std::int64_t>& refs);

  /// Commits exactly the story files changed by hand, and nothing else, with a
  /// subject that says what changed: "tracker: edit #42 (priority), move #43 current
  /// -> qa, create #51" (`message` replaces the subject; the summary then goes in the
  /// body). A story moved by hand gets `retry_count` reset to 0. Refuses
  /// (InvalidDataError) when a changed story is malformed or has wrongly typed values.
  /// With no story file changed, `changes` is empty and nothing is committed.
  /// With `only`, only those stories' changes are committed and judged.
  /// When a story to commit has problems (check_files), nothing is committed and
  /// `problems` names every one.
  HandCommitResult commit_hand_edits(const std::optional<std::string>& message,
                                     const std::vector<std::int64_t>& only = {});

 protected:
  explicit Upkeep(Services& all) : all_(all) {}
  ~Upkeep() = default;
  Upkeep(const Upkeep&) = delete;
  Upkeep& operator=(const Upkeep&) = delete;

 private:
  Services& all_;
};

/// A workspace's operations, put together: the board read (BoardView), stories
/// changed (StoryEditor), claims (ClaimDesk), history (HistoryView), upkeep
/// (Upkeep), and what the session of one caller shares (identity, warnings,
/// progress, offline) and the exchange with the shared remote (sync).
class Tracker : private detail::ServicesOwner,
                public BoardView,
                public StoryEditor,
                public ClaimDesk,
                public HistoryView,
                public Upkeep {
 public:
  /// Opens the shadow index of `ws`. Each action brings the index up to date with
  /// the files it needs before it reads it. The clock decides claim expiry.
  explicit Tracker(Workspace ws, CommitOptions commit = {}, const Clock& clock = system_clock(),
                   const Disk& disk = real_disk());
  ~Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  /// Creates a workspace in `dir` (running `git init` first when `dir` is not in a
  /// git work tree) and commits it. Throws UsageError when one exists already.
  static InitResult init(const fs::path& dir, const InitOptions& options);

  /// Writes a config that matches an existing board under `stories_dir` (relative to
  /// `dir`, e.g. huskies' `.huskies/work`): its `<n>_<name>` stage directories in
  /// order, and the types its file names use. Commits only the config; not one
  /// story file is touched. UsageError when there is nothing to adopt.
  static InitResult adopt(const fs::path& dir, const std::string& stories_dir, CommitOptions commit);

  const Workspace& workspace() const;

  /// Who this Tracker's actions are done by (the CLI's --owner; `tracker mcp`'s
  /// --owner or the client's name). Only the holder of a claim ends it.
  void set_identity(std::string who);

  /// The identity set, else TRACKER_OWNER, else git's author email (GIT_AUTHOR_EMAIL,
  /// user.email, EMAIL); "" when there is none.
  const std::string& identity();

  /// Where warnings go as they happen: a commit that landed but left the git index
  /// behind, a stale lock found on the way. By default they are kept in warnings().
  void on_warning(std::function<void(const std::string&)> sink);
  const std::vector<std::string>& warnings() const;

  /// The index, refreshed against every story file.
  ShadowIndex& index();

  /// Whether a refresh asked for the watcher (index.watch) and none answered.
  bool watcher_missing() const;

  /// Where long operations (reading the stories a big commit changed, walking the
  /// history) report how far they got; null for nowhere (the default).
  void set_progress(ProgressSink* sink);

  /// Exchanges the board's branch with the shared remote (`remote:`): fetches it and
  /// the claim refs, replays this clone's commits since they parted on top of it
  /// story by story (a transition moves the story from wherever the remote has it;
  /// fields merge key by key; where both sides moved a story, or changed one key
  /// differently, the later commit wins and its message says so), moves this
  /// clone's branch and work tree there, and pushes with a lease on the branch,
  /// starting again from the fetch when another clone pushed first. UsageError
  /// without a remote; ConflictError when uncommitted changes are in the way or a
  /// file that is not a story changed on both sides; RemoteUnavailableError.
  SyncResult sync();

  /// With `remote.auto_sync`, after a command: syncs when it committed anything
  /// that has not been synced yet. A sync that fails is a warning (the commits are
  /// here; `tracker sync` sends them later), never an error of the command.
  void auto_sync();

  /// Claims stay on this machine's lockfiles even with a remote in the config
  /// (`--offline`): other clones do not see them, and each claim says so.
  void set_offline(bool offline);
};

}  // namespace tracker
