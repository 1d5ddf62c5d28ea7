// What the operations of a Tracker (tracker.hpp) take and return: requests,
// options, results and reports.
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
  std::optional<std::int64_t> parent;  ///< the story it is part of
  std::string body;
  std::optional<std::string> key;  ///< idempotency key
  /// The whole file as written in an editor (`new --edit`): used as it is, once
  /// validate_new accepts it; `name`, `priority`, `labels`, `depends_on`, `parent` and `body`
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

/// One reason a story in a ready stage is not ready (src/not_ready.cpp).
struct WaitReason {
  enum class Kind { dependency, part, blocked, claimed };
  Kind kind = Kind::dependency;
  std::int64_t other = 0;   ///< dependency, part: the story waited for
  std::string other_stage;  ///< its stage; "" when no story has that id
  std::string text;         ///< blocked: the reason given ("" when none); claimed: the holder
  std::int64_t until = 0;   ///< claimed: when the claim expires (unix seconds)
};

/// "waits for #1 (current)", "waits for its part #4 (backlog)", "blocked: waiting
/// on vendor", "claimed by coder-1 until 2026-12-07T16:38:00Z".
std::string describe_wait(const WaitReason& reason);

/// A story of a ready stage that is not ready, and why.
struct NotReady {
  Story story;
  std::vector<WaitReason> reasons;
  /// "waits for #1 (current); blocked: vendor": every reason.
  std::string why() const;
  /// "#2 waits for #1 (current)": the id, then why().
  std::string describe() const { return "#" + std::to_string(story.id) + " " + why(); }
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
  std::vector<std::int64_t> rewritten;  ///< stories whose references now name new_id
  std::vector<std::int64_t> ambiguous;  ///< stories still naming old_id, which may mean either copy
  /// Of each story in either list, the keys that named old_id: depends_on, parent, related.
  std::map<std::int64_t, std::vector<std::string>> keys;
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

/// One story of `tree`, in the order the tree is drawn (a parent before its
/// children, siblings by id).
struct TreeNode {
  Story story;         ///< id, type, stage, path, name, priority, agent, blocked, parent
  int depth = 0;       ///< 0 for a root
  ChildProgress progress;   ///< of its children; total 0 when it has none
  bool last = false;   ///< the last of its siblings (how a tree is drawn)
  /// A `parent` that names no story, or a parent whose chain loops back: the story
  /// is drawn as a root all the same (tracker check names the problem).
  bool orphan = false;
};

}  // namespace tracker
