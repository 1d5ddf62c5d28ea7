// The services a Tracker puts together, one concern each. Each keeps only a
// reference to the Services it belongs to: the Session they share, and the other
// services it calls. Their public methods are documented where the Tracker's faces
// (BoardView, StoryEditor, ClaimDesk, HistoryView, Upkeep) expose them
// (include/tracker/tracker.hpp); what is here is how they do it.
//
//   operation (CLI, MCP, web) -> Tracker -> BoardReader   list show search ready stats
//                                         -> Transitions  new move set edit delete link block
//                                         -> Claims       claim release done renew reclaim
//                                         -> ClaimRule    who may end or change a claim
//                                         -> History      log diff flow
//                                         -> Syncer       sync, auto-sync
//                                         -> Maintenance  check doctor renumber commit
//   every service -> Session -> index (SQLite), git (libgit2), remote (git), files
#pragma once

#include "session.hpp"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tracker {

struct Services;

/// Reads the board: list, show, search, ready, stats.
class BoardReader {
 public:
  explicit BoardReader(Services& all);
  std::vector<Story> list(const ListQuery& query);
  void list_each(const ListQuery& query, const std::function<void(Story&&)>& visit);
  SearchResult search(const std::string& query, const std::vector<std::string>& stages,
                      std::optional<std::int64_t> limit);
  std::vector<StoryIssue> issues();
  Story show(std::int64_t id);
  std::string raw(std::int64_t id);
  std::pair<Story, std::string> read_whole(std::int64_t id);
  std::vector<Story> ready(std::optional<std::int64_t> limit);
  /// The first `limit` stories of the ready stages that are not ready, most urgent
  /// first, and why (src/not_ready.cpp); from the index as it is: refresh first.
  std::vector<NotReady> not_ready(std::size_t limit);
  BoardStats stats();
  std::map<std::int64_t, ChildProgress> progress();
  ChildProgress progress(std::int64_t id);
  std::vector<TreeNode> tree(std::optional<std::int64_t> root);

 private:
  Services& all_;
  Session& s_;
};

/// The rule of claims, which every action that ends or changes a claim goes
/// through (done, release, renew, move, archive, delete, set agent, edit, sync).
class ClaimRule {
 public:
  /// Who holds a story, as the rule of claims sees it.
  struct Holding {
    std::int64_t id = 0;
    std::optional<Claim> local;        ///< this clone's lock, live or stale (it ends with the action)
    std::optional<RemoteLease> lease;  ///< the lease on the remote, while it holds
    std::string holder;                ///< who holds the story now; "" when nobody
    std::int64_t expires = 0;
    bool remote = false;               ///< the holder's claim is a lease on the remote
    bool forced = false;               ///< held by another, and the action was forced
  };

  explicit ClaimRule(Services& all);
  std::optional<Claim> lost_claim(std::int64_t id);
  /// When story `id` is held by an identity other than `actor` (a live lock here,
  /// or a live lease on the remote, read there or, offline, as last fetched),
  /// throws ConflictError naming the holder and the expiry, unless `force`. A
  /// holder whose lease another clone took over stays fenced: its lock is kept as
  /// lost, and its actions on the story are refused. `action` words the refusal
  /// ("finish"). `actor` nullopt: identity(), looked up only when someone holds it.
  Holding check_holder(std::int64_t id, const std::optional<std::string>& actor, const std::string& action,
                       Force force);
  /// Ends what `h` holds: the lease on the remote (deleted with the one read) and
  /// this clone's lock. A lease another clone took meanwhile is not touched.
  void end_claim(const Holding& h);
  /// After a sync's fetch of the leases (`leases`, id -> lease commit): a lock of
  /// this clone whose lease is gone from the remote is removed (the claim ended
  /// elsewhere), one whose lease another owner now holds is kept as lost. The leases
  /// this sync itself is ending (`releasing`) are left to it.
  void settle_local_claims(const std::map<std::int64_t, std::string>& leases,
                           const std::vector<std::pair<std::int64_t, std::string>>& releasing);
  /// Keeps `held` as a record that its lease was taken over (ClaimState::lost)
  /// instead of removing it, and returns who holds the story now.
  std::string mark_lost(ClaimStore& store, const Claim& held);
  /// The lease of `id` on the remote: read there (one ls-remote per Session, a
  /// fetch of a lease that exists), or as last fetched when offline or unreachable.
  std::optional<RemoteLease> remote_lease(std::int64_t id);

 private:
  Services& all_;
  Session& s_;
};

/// Changes stories: new, move, set, edit, delete, link, block.
class Transitions {
 public:
  struct Transition {
    std::string commit;
    std::string path;  ///< the story's new path
  };

  explicit Transitions(Services& all);
  const Stage& check_new(const NewStoryRequest& request);
  NewStoryResult create(const NewStoryRequest& request);
  MoveResult move(const std::vector<std::int64_t>& ids, std::string_view stage, Force force);
  DeleteResult remove(const std::vector<std::int64_t>& ids, bool force);
  const Stage& archive_stage() const;
  std::int64_t id_floor() const;
  StoryChange block(std::int64_t id, const std::optional<std::string>& reason);
  StoryChange unblock(std::int64_t id);
  LinkResult link(std::int64_t id, std::int64_t dependency);
  LinkResult unlink(std::int64_t id, std::int64_t dependency);
  SetResult set_fields(std::int64_t id, const std::vector<FieldEdit>& edits, bool keep_file_name, Force force);
  std::vector<StoryProblem> validate_edit(std::int64_t id, const std::string& text);
  EditResult apply_edit(std::int64_t id, const std::string& original, const std::string& edited, bool keep_file_name);
  std::vector<StoryProblem> validate_new(const std::string& text);
  ImportResult import_stories(const ImportRequest& request);
  fs::path save_rejected(const std::string& stem, const std::string& text);
  /// With a remote: the next id for `new`, above `above`, from the block this clone
  /// reserved earlier (remote.id_block) or reserved on the remote now. Offline, a
  /// warning and `above + 1`. The id allocation lock is held.
  std::int64_t remote_id(Remote& remote, std::int64_t above);

  /// The rule of a story's `parent` (src/parents.cpp): not the story itself
  /// (InvalidDataError), a story that `exists` (NotFoundError), and not one of its
  /// descendants (InvalidDataError naming the cycle). The graph's lock is held.
  void check_parent(std::int64_t id, std::int64_t parent, bool exists);
  /// The children of story `id` that are not in a done stage, by id (from the index
  /// as it is: refresh first).
  std::vector<Story> open_children(std::int64_t id);
  /// "#13 (current), #14 (backlog)", at most five named.
  static std::string name_children(const std::vector<Story>& children);
  /// A parent is finished when its children are: ConflictError when one of `ids`
  /// has a child that is neither in a done stage nor among `ids`, unless forced.
  void require_children_done(const std::vector<std::int64_t>& ids, Force force);

  /// A new file name for the story: `<id>_<type>_<slug>.md` with either part
  /// changed (empty: kept).
  struct Rename {
    std::string type;
    std::string slug;
  };

  /// Applies `edit` to the story's text, moves it to `target` (renamed as `rename`
  /// says) and commits "tracker: <action> #<id> <detail> (<from> -> <to>)"; puts
  /// the file back when the commit fails.
  Transition transition(const Story& story, const Stage& target,
                        const std::function<std::string(const std::string&)>& edit, const std::string& action,
                        const std::string& detail, const std::string& owner, const Rename& rename = {},
                        const std::string& forced_by = "");

 private:
  /// One attempt of transition(): FileChangedError when the file was changed or
  /// moved by hand since it was read.
  Transition transition_once(const Story& story, const Stage& target,
                             const std::function<std::string(const std::string&)>& edit, const std::string& action,
                             const std::string& detail, const std::string& owner, const Rename& rename,
                             const std::string& forced_by);
  using Holding = ClaimRule::Holding;

  Services& all_;
  Session& s_;
};

/// Claims, local and on the shared remote: claim, release, done, renew, reclaim.
class Claims {
 public:
  explicit Claims(Services& all);
  ClaimResult claim(const ClaimRequest& request);
  StoryChange release(std::int64_t id, const std::optional<std::string>& owner, Force force);
  StoryChange done(std::int64_t id, Force force);
  Claim renew(std::int64_t id, const std::optional<std::string>& owner, std::optional<std::int64_t> ttl_seconds);
  std::vector<StoryChange> reclaim(std::optional<std::int64_t> id);
  std::map<std::int64_t, Claim> live_claims();
  std::vector<std::int64_t> claimed_ids();
  /// The same, with this clone's live claims already read.
  std::vector<std::int64_t> claimed_ids(const std::map<std::int64_t, Claim>& live);

 private:
  using Holding = ClaimRule::Holding;
  /// Takes `claim` on `story` (the lock is already held): file changes and commit.
  ClaimResult take(const Story& story, const Claim& claim, bool after_stale);
  /// With a remote: takes story `local.id`'s lease there for `local`, whose lockfile
  /// is held, and returns the claim with its lease (`took_over`: an expired lease of
  /// another owner was taken over). When another clone's lease holds, the lockfile
  /// is removed and nullopt returned, with the holder in `refusal`.
  struct RemoteTake {
    Claim claim;
    bool took_over = false;
  };
  /// `by_id`: the story was asked for by id, so the same owner's live lease from
  /// another clone is carried on (as claiming again renews); from the ready queue,
  /// any live lease means the story is taken.
  std::optional<RemoteTake> acquire_remote(ClaimStore& store, const Claim& local, bool by_id, std::string& refusal);
  /// With a remote and a claim that holds a lease there: moves the lease to
  /// `replacement` (empty: removes it). False, with the lockfile removed, when the
  /// lease was lost to another clone.
  bool move_remote_lease(ClaimStore& store, const Claim& held, const std::string& replacement);
  /// With a remote and a claim that holds a lease there: moves the lease on to
  /// `renewed` (a child lease commit, its generation one up). ConflictError "was
  /// lost" when another clone took it over.
  void renew_remote_lease(ClaimStore& store, const Claim& held, Claim& renewed);
  /// Why nothing is ready, for the claim that found nothing: ": #2 waits for #1
  /// (current), #5 blocked: vendor", at most three named; "" when nothing is in
  /// the ready stages that could be.
  std::string why_nothing_is_ready();
  /// A claim taken on the local lock alone although the config has a remote
  /// (--offline): says that other clones do not see it.
  void warn_if_offline_claim(std::int64_t id);
  /// Reclaims `story` from claim `c`: clears `agent`, adds 1 to `retry_count` and
  /// moves it back to the stage it was claimed from (`change.to`), one commit.
  void put_back(const Story& story, const Claim& c, StoryChange& change);
  /// reclaim() of the leases on the remote that no claim of this clone holds
  /// (`local`): each that expired (past clock_skew) is deleted with the lease that
  /// was read, and its story, when this clone's board shows it held by that owner,
  /// goes back to the stage it was claimed from (retry_count + 1), one commit each.
  void reclaim_remote(Remote& remote, std::optional<std::int64_t> id, const std::vector<Claim>& local,
                      std::vector<StoryChange>& out);
  /// done() of a story whose claim holds a lease on the remote: commits the
  /// transition, then syncs with the lease deleted in the same atomic push. When
  /// the push cannot be made (the lease was lost, the remote is unavailable), the
  /// commit is taken back and nothing changed.
  StoryChange done_remote(const Story& story, const Stage& target, const Holding& held, const std::string& lease,
                          StoryChange result);

  Services& all_;
  Session& s_;
};

/// The board's history: log, diff, flow.
class History {
 public:
  explicit History(Services& all);
  std::vector<StoryDiff> working_changes(std::vector<std::string>* ignored = nullptr,
                                         std::vector<std::string>* links = nullptr);
  std::vector<StoryDiff> board_changes(const std::string& from, const std::optional<std::string>& to,
                                       std::vector<std::string>* ignored = nullptr,
                                       std::vector<std::string>* links = nullptr,
                                       DiffDetail detail = DiffDetail::full);
  std::string merge_base(const std::string& a, const std::string& b);
  std::vector<LogEntry> log(std::optional<std::int64_t> id, std::optional<std::int64_t> limit);
  FlowReport flow(const FlowQuery& query);

 private:
  Services& all_;
  Session& s_;
};

/// Exchanges the board with the shared remote.
class Syncer {
 public:
  explicit Syncer(Services& all);
  SyncResult sync();
  void auto_sync();
  /// sync(), whose push also deletes the leases of `release` (id, lease) in one
  /// atomic push: `done` finishes a story and gives up its claim together.
  SyncResult sync_branch(const std::vector<std::pair<std::int64_t, std::string>>& release);
  /// The subject of commit `sha`.
  std::string first_commit_line(const std::string& sha);
  /// Takes back the commit at the tip of this clone's branch when its subject is
  /// `subject` (the branch, the git index and the work tree go back to its parent);
  /// false when the tip is another commit or the work tree is in the way.
  bool undo_tip_commit(const std::string& subject);

 private:
  Services& all_;
  Session& s_;
};

/// Keeps the board sound: check, doctor, renumber, and the commit of hand edits.
class Maintenance {
 public:
  explicit Maintenance(Services& all);
  CheckReport check();
  CheckReport check_files(const std::vector<std::string>& paths);
  std::vector<std::string> changed_story_files();
  DoctorReport doctor(bool dry_run);
  RenumberResult renumber(std::int64_t id, const std::optional<std::string>& path,
                          const std::vector<std::int64_t>& refs);
  HandCommitResult commit_hand_edits(const std::optional<std::string>& message, const std::vector<std::int64_t>& only);

 private:
  Services& all_;
  Session& s_;
};

/// One Tracker's session and services, built together.
struct Services {
  Services(Workspace ws, CommitOptions commit, const Clock& clock, const Disk& disk)
      : session(std::move(ws), commit, clock, disk) {}
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  Session session;
  BoardReader board{*this};
  ClaimRule rule{*this};
  Transitions transitions{*this};
  Claims claiming{*this};
  History history{*this};
  Syncer syncer{*this};
  Maintenance maintenance{*this};
};

}  // namespace tracker
