// The facade the commands call: one method per user action.
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
#include <tracker/index.hpp>
#include <tracker/story.hpp>
#include <tracker/workspace.hpp>

namespace tracker {

class Remote;
struct Services;

/// Whether an action may end a claim that another identity holds (`--force`): it
/// then ends that claim (and its lease), and the commit says who forced it in a
/// `Tracker-Forced-By:` trailer.
enum class Force { no, yes };

/// Whether an action records a git commit (`--no-commit` says no).
enum class CommitMode { yes, no };

/// How the actions of a Tracker commit.
struct CommitOptions {
  CommitMode mode = CommitMode::yes;
  /// Verify::no skips the pre-commit and commit-msg hooks (`--no-verify`); so does
  /// `commit.verify: false` in the config.
  Verify verify = Verify::yes;
};

/// What `doctor` found, and repaired unless it was a dry run.
struct DoctorReport {
  struct Finding {
    std::string kind;    ///< git-index, pending-index, lock, temp-file, uncommitted-move
    std::string path;    ///< what it is about (workspace-relative when inside it)
    std::string detail;  ///< what was wrong
    std::string action;  ///< what was done (or would be done)
    bool repaired = false;
  };
  std::vector<Finding> findings;
  std::vector<std::string> warnings;  ///< what could not be repaired, and how to do it by hand
  std::string commit;                 ///< the commit of recovered moves, if any
};

struct InitOptions {
  std::string stories_dir = "work";
  std::vector<std::string> stages = {"backlog", "current", "qa", "merge", "done", "archived"};
  CommitOptions commit;
  /// `--remote NAME`: claims go through this git remote (`remote:` in the config),
  /// on the branch HEAD is on.
  std::optional<std::string> remote;
};

struct InitResult {
  fs::path root;
  bool created_repository = false;
  std::string commit;  ///< sha, or empty
  Config config;
  std::int64_t stories = 0;          ///< story files found (adopt)
  std::vector<std::string> ignored;  ///< directories that are not `<n>_<name>` stages (adopt)
};

struct NewStoryRequest {
  std::string name;
  std::string type = "story";
  std::optional<std::string> stage;  ///< default: the first ready stage
  std::optional<std::int64_t> priority;
  std::vector<std::string> labels;
  std::vector<std::int64_t> depends_on;
  std::string body;
  std::optional<std::string> key;  ///< idempotency key
  /// The whole file as written in an editor (`new --edit`): used as it is, once
  /// validate_new accepts it; `name`, `priority`, `labels`, `depends_on` and `body`
  /// are then ignored (they went into the template).
  std::optional<std::string> text;
};

struct NewStoryResult {
  std::int64_t id = 0;
  std::string path;
  bool created = false;  ///< false when `key` had already created the story
  std::string commit;
};

struct MovedStory {
  std::int64_t id = 0;
  std::string from;  ///< stage names
  std::string to;
  std::string path;  ///< the new path
};

struct MoveResult {
  std::vector<MovedStory> moved;
  std::vector<std::int64_t> already_there;
  std::string commit;
  std::vector<Claim> claims_ended;  ///< a move into a done stage ends claims, as done does; so does --force
  std::string forced_by = "";           ///< the identity that ended another's claim with --force, or ""
};

/// What delete (Tracker::remove) did.
struct DeleteResult {
  struct Deleted {
    std::int64_t id;
    std::string name, stage, path;
  };
  std::vector<Deleted> deleted;
  std::vector<Claim> claims_ended;
  std::string commit;
  std::string forced_by = ""; ///< the identity that ended another's claim with --force, or ""
};

struct ClaimRequest {
  std::optional<std::int64_t> id;  ///< none: the first ready story
  std::string owner;               ///< empty: the Tracker's identity()
  std::optional<std::int64_t> ttl_seconds;  ///< default: the config's claim.ttl
  std::optional<long> pid;                  ///< the claim also ends when this process dies
  /// Claim story `id` even when it is blocked or waits on a dependency that is not
  /// done (without it, ConflictError names the blocker).
  bool force = false;
};

struct ClaimResult {
  Story story;  ///< as it is after the claim
  Claim claim;
  bool renewed = false;  ///< the same owner claimed again: only the expiry moved
  std::string from;      ///< stage names
  std::string to;
  std::string commit;
};

/// What done, release, reclaim, block and unblock did to one story.
struct StoryChange {
  std::int64_t id = 0;
  std::string from;  ///< stage names
  std::string to;
  std::string owner;  ///< the claim's owner, for done and reclaim
  std::string commit;
  bool changed = true;  ///< false when there was nothing to do
  bool claim_only = false;  ///< reclaim of a story in a done stage: its claim ended, the story stays
  std::string forced_by = "";  ///< the identity that ended another's claim with --force, or ""
  std::string unreadable_lease = "";  ///< reclaim deleted this lease commit: it held no readable claim
};

/// One commit that `sync` brought in or sent out.
struct SyncCommit {
  std::string commit;
  std::string subject;
};

/// A story both sides changed in a way that cannot be merged, and what sync kept.
struct SyncConflict {
  std::int64_t id = 0;
  /// "moved": moved to different stages (the later move is kept); "changed": a key
  /// or the body changed differently (the later change is kept); "deleted": deleted
  /// on one side, changed on the other (it stays deleted); "created": the same id
  /// created on both sides (both kept: renumber one); "fenced": a transition made
  /// here of a story another owner holds a live lease on (not sent).
  std::string kind;
  std::string here, there;  ///< the story's stage on each side ("" when deleted)
  std::string kept;         ///< "here", "remote" or "both"
  std::string message;      ///< one line, as the report and the commit's Tracker-Conflict trailer say it
};

/// What sync did.
struct SyncResult {
  std::string remote, branch;
  std::vector<SyncCommit> incoming;  ///< the remote's commits this clone did not have
  std::vector<SyncCommit> outgoing;  ///< this clone's commits it sent, as replayed
  std::vector<SyncConflict> conflicts;
  std::string head;      ///< where the branch is now, here and there
  bool pushed = false;   ///< the remote's branch moved
  bool changed = false;  ///< anything came in or went out
  int attempts = 0;      ///< rounds of fetch, replay and push (another clone pushed first)
  bool lease_lost = false;  ///< the push also deleted leases (done), and one was not held: nothing was pushed
};

/// What link and unlink did.
struct LinkResult {
  std::int64_t id = 0;
  std::int64_t dependency = 0;
  std::vector<std::int64_t> depends_on;  ///< the story's list afterwards
  std::string commit;
  bool changed = true;  ///< false when the link was already there (link) or absent (unlink)
};

/// One requested change of a front matter key: a value to set, or none to remove it.
struct FieldEdit {
  std::string key;
  std::optional<std::string> value;
};

/// What set and unset did.
struct SetResult {
  std::int64_t id = 0;
  std::vector<std::string> changes;  ///< "priority 1 -> 3", "labels +ui -api"
  std::string path;
  std::string commit;
  bool changed = false;
  std::string forced_by = ""; ///< the identity that ended another's claim with --force, or ""
  std::vector<Claim> claims_ended;
};

/// What a hand edit of one story changed.
struct EditResult {
  std::int64_t id = 0;
  std::vector<std::string> changes;  ///< "priority 1 -> 3", "body"
  std::string commit;
  bool changed = false;
  bool merged = false;  ///< the file changed while it was edited; the edit was merged into it
};

/// An edit whose story changed meanwhile in the same fields (exit 3). Nothing was
/// written. `current` is the story's text now; `proposal` is it with the edit merged
/// in, your values taken where the two sides disagree: the text to edit again.
class EditConflictError : public ConflictError {
 public:
  EditConflictError(const std::string& message, std::string current_text, std::string proposal_text,
                    std::vector<MergeConflict> both_changed)
      : ConflictError(message),
        current(std::move(current_text)),
        proposal(std::move(proposal_text)),
        conflicts(std::move(both_changed)) {}
  std::string current, proposal;
  std::vector<MergeConflict> conflicts;
};

/// What happened to one story between two versions of the board.
struct StoryDiff {
  std::int64_t id = 0;
  std::string change;  ///< created, deleted, moved or edited
  std::string name;    ///< as it is after the change (before it, for a deletion)
  std::string from;    ///< stage names; empty when created / deleted
  std::string to;
  std::vector<FieldChange> fields;
  bool body_changed = false;
  std::vector<std::string> paths;  ///< workspace-relative, old and new
  std::string before_text, after_text;
  /// When the file as it is after the change does not read as a story: where and
  /// why, "line 3: …" (the fields and the name are then what could be read).
  std::string problem;
};

/// How much board_changes() reads. `full` reads every changed file: names, fields,
/// texts. `edits` reads only the files of stories edited in place (for `log`, which
/// shows no names): a commit that adds 20,000 stories then costs a tree diff.
enum class DiffDetail { full, edits };

/// One finding of `check`.
struct Problem {
  std::string path;  ///< relative to the workspace root
  int line = 0;      ///< 0: the whole file
  std::string kind;  ///< malformed, bad-value, file-name, unknown-type, outside-stage,
                     ///< unknown-stage, duplicate-id, missing-dependency, cycle, claim
  std::string message;
};

/// What `tracker commit` committed.
struct HandCommitResult {
  std::vector<StoryDiff> changes;
  std::vector<std::string> ignored;  ///< changed files under the stories directory that are not story files
  std::vector<std::string> links;    ///< symbolic links where story files would be: never followed, left out
  std::vector<Problem> problems;        ///< why nothing was committed, every one
  std::string subject;
  std::string commit;
};

/// What renumber did.
struct RenumberResult {
  std::int64_t old_id = 0;
  std::int64_t new_id = 0;
  std::string from_path, to_path;
  std::vector<std::int64_t> rewritten;  ///< stories whose depends_on now names new_id
  std::vector<std::int64_t> ambiguous;  ///< stories still naming old_id, which may mean either copy
  std::string commit;
};

/// One transition of one story, as `log` shows it.
struct LogEntry {
  std::string commit;
  std::int64_t time = 0;
  std::string author;
  std::string action;  ///< the Tracker-Action trailer, or create / delete / move / edit read from the tree
  std::int64_t id = 0;
  std::string from, to, owner;  ///< empty when not known or not applicable
  std::string detail;           ///< what an in-place change changed ("priority 1 -> 3"); empty for moves
};

/// What `check` found. Problems fail the check; notes are worth knowing but are
/// normal states of a shared board (an expired claim awaiting reclaim, an agent set
/// by a claim made in another clone).
struct CheckReport {
  std::int64_t stories = 0;  ///< story files looked at
  std::vector<Problem> problems;
  std::vector<Problem> notes;
};

/// Counts for `stats`.
struct BoardStats {
  std::vector<std::pair<std::string, std::int64_t>> per_stage;
  std::int64_t total = 0, ready = 0, blocked = 0, claimed = 0, expired_claims = 0;
  std::optional<std::int64_t> oldest_ready_age_seconds;  ///< from `created`
  std::optional<std::int64_t> oldest_ready_id;
};

class Tracker {
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

  /// The claim on story `id` this clone held until another clone took its lease
  /// over (ClaimState::lost): the record that its holder is fenced.
  std::optional<Claim> lost_claim(std::int64_t id);

  /// Where warnings go as they happen: a commit that landed but left the git index
  /// behind, a stale lock found on the way. By default they are kept in warnings().
  void on_warning(std::function<void(const std::string&)> sink);
  const std::vector<std::string>& warnings() const;

  /// Finds and repairs what a crash can leave: a git index behind HEAD for the
  /// board's paths, git index updates that did not finish, stale locks whose holder
  /// is gone, orphaned temp files, and story moves that were never committed (which
  /// it commits). With `dry_run`, only reports.
  DoctorReport doctor(bool dry_run);

  /// The index, refreshed against every story file.
  ShadowIndex& index();

  /// Whether a refresh asked for the watcher (index.watch) and none answered.
  bool watcher_missing() const;

  NewStoryResult create(const NewStoryRequest& request);

  /// The checks `create` makes of a request before anything else (UsageError): a
  /// known type, an existing stage, and for a request without `text`, a one-line
  /// name and labels; returns the stage the story would go to. `new --edit` asks
  /// before it opens the editor.
  const Stage& check_new(const NewStoryRequest& request);
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
  EditResult apply_edit(std::int64_t id, const std::string& original, const std::string& edited);

  /// Problems that make `text` unacceptable as a new story's file: malformed front
  /// matter, values of the wrong type, no name (neither `name:` nor a `# heading`),
  /// a name of more than one line, `depends_on` ids that do not exist.
  std::vector<StoryProblem> validate_new(const std::string& text);

  /// Keeps text the user wrote that could not be used, next to the index, and
  /// returns where: `<git-dir>/tracker/rejected/<stem>-<time>.md` (the stem is the
  /// story's id, or `new` for a story not yet created).
  fs::path save_rejected(const std::string& stem, const std::string& text);
  fs::path save_rejected(std::int64_t id, const std::string& text) { return save_rejected(std::to_string(id), text); }

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

  /// Gives story `id` (the copy at `path` when the id is used more than once) a
  /// fresh id, renaming its file. References to it in `depends_on` are rewritten
  /// when they can only mean it: always when the id was unique, and otherwise only
  /// in the stories listed in `refs` (the others are returned as `ambiguous`).
  RenumberResult renumber(std::int64_t id, const std::optional<std::string>& path,
                          const std::vector<std::int64_t>& refs);

  /// The transitions of story `id` (or of every story), newest first, at most
  /// `limit`. Commits with Tracker trailers are read from them; commits made by hand
  /// from the diff of their tree with their parent's.
  std::vector<LogEntry> log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit);

  BoardStats stats();

  /// Flow metrics over `query`'s window from the whole history (see flow.hpp).
  FlowReport flow(const FlowQuery& query);

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

  /// Ready stories, by priority then id: in a ready stage, not blocked, not claimed,
  /// every dependency done.
  std::vector<Story> ready(std::optional<std::int64_t> limit);

  /// Claims that still hold, by story id.
  std::map<std::int64_t, Claim> live_claims();

  /// Ids with a claim that still holds.
  std::vector<std::int64_t> claimed_ids();

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

 private:
  std::unique_ptr<Services> services_;
};

}  // namespace tracker
