// The shared git remote as the engine of claims across clones (docs/remote.md).
//
// A claim is a ref on the remote, refs/tracker/claims/<id>, pointing at a lease
// commit whose tree holds claim.yml. Every change of it is a push with
// --force-with-lease, which the remote applies as a compare-and-swap: of any number
// of clones pushing at once, exactly one wins. Every exchange with the remote goes
// through the `git` executable, so the user's credential helpers, ssh configuration
// and the server's hooks apply; the lease commits themselves are local objects,
// written by libgit2 when the tracker gives a CommitWriter.
#pragma once

#include <tracker/claims.hpp>
#include <tracker/clock.hpp>
#include <tracker/config.hpp>
#include <tracker/git.hpp>
#include <tracker/story.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tracker {

/// A claim ref as it was read from the remote: its lease commit and what it says.
struct RemoteLease {
  std::string sha;
  Claim claim;
  /// False when its commit holds no readable claim.yml (a tree, a blob or YAML put
  /// there by hand): it holds nothing, and reclaim and doctor delete it.
  bool readable = true;
};

/// How a lease push ended: the ref is what was pushed, or the remote holds
/// something other than what was expected (another clone changed it first).
enum class LeasePush { done, lost };

/// How a push of the board's branch ended (Remote::push_branch).
enum class BranchPush { done, moved, lease_lost };

/// `git merge-file` on three texts (base, ours, theirs): the line merge that
/// merge_story_file uses for bodies, and for whole files that are not stories.
/// With `favour`, a conflicting hunk takes that side (`--ours` / `--theirs`).
StoryFileMerge git_line_merge(std::string_view base, std::string_view ours, std::string_view theirs,
                              Favour favour = Favour::none);

/// Registers `tracker merge-file` as the merge driver `tracker` in the git config
/// of the repository at `root` (merge.tracker.name and merge.tracker.driver), as
/// `init` does; `.gitattributes` says which files use it.
void install_merge_driver(const std::filesystem::path& root);

/// The story ids that the sides of a merge git gave the driver hold, as far as they
/// can be found: ours among the story files of HEAD with the same blob, theirs in
/// the commit being merged (`git merge` names it in GITHEAD_<sha>; a rebase in
/// rebase-merge/done) and base in their merge base. A side that cannot be found
/// is an empty set.
struct MergeSides {
  std::set<std::int64_t> base, ours, theirs;
};
MergeSides locate_merge_sides(const std::filesystem::path& root, std::string_view base, std::string_view ours,
                              std::string_view theirs);

/// Why the sides are not one story ("git paired different stories (ours #1,
/// theirs #2)"), or nullopt when every side that could be found, and the merged
/// path's id, agree.
std::optional<std::string> merge_sides_mismatch(const MergeSides& sides, std::optional<std::int64_t> result_id);

/// `text` with the line endings most of `sides` use (CRLF or LF), so that a merge
/// of sides that differ does not write a file that mixes both.
std::string normalize_line_endings(std::string text, const std::vector<std::string_view>& sides);

/// The .gitattributes line that sends story files to the driver.
std::string merge_attributes_line(const std::string& stories_dir);

class Remote {
 public:
  /// `repository` gives the clone's open repository: the leases, the id counter and
  /// the branch are read through it (libgit2), and lease and id commits written in
  /// it; the git executable talks to the remote (ls-remote, fetch, push).
  Remote(std::filesystem::path work_tree, RemoteSettings settings, std::function<GitRepo&()> repository,
         const Clock& clock = system_clock());

  const RemoteSettings& settings() const { return settings_; }

  /// The ref of story `id`'s claim: refs/tracker/claims/<id>.
  static std::string claim_ref(std::int64_t id);

  /// Every claim ref on the remote, id -> lease sha: one `git ls-remote`, made the
  /// first time it is asked (or when `again`) and kept for the life of this object.
  const std::map<std::int64_t, std::string>& claim_refs(bool again = false);

  /// Story `id`'s lease as the remote has it now (one fetch of that ref), or nullopt
  /// when it has none. A lease whose claim.yml cannot be read is not `readable`: it
  /// counts as held by "unknown" (the ready queue leaves its story out) until
  /// reclaim or doctor deletes it.
  std::optional<RemoteLease> read(std::int64_t id);

  /// Story `id`'s lease as this clone last fetched it (refs/tracker/remote-claims/),
  /// without asking the remote: what `--offline` and an unreachable remote go by.
  std::optional<RemoteLease> last_seen(std::int64_t id);

  /// Every lease on the remote, read: one fetch of the claim refs (into
  /// refs/tracker/remote-claims/, pruned), each claim.yml read in-process.
  std::vector<RemoteLease> read_all();

  /// Whether `claim` has expired, with the clock-skew margin: only
  /// remote.clock_skew after its expiry, so that a holder whose clock is behind
  /// ours is not overtaken while it still believes it holds.
  bool expired(const Claim& claim) const;

  /// Writes a lease commit holding `claim` as claim.yml, on top of `parent` when
  /// given, and returns its sha. It is only a local object until it is pushed.
  std::string write_lease(const Claim& claim, const std::string& parent);

  /// Sets the claim ref of `id` to `sha` (an empty `sha` deletes it) if the remote
  /// has it at `expected` now (an empty `expected`: if it does not exist). Network
  /// errors are retried with backoff until remote.timeout, then
  /// RemoteUnavailableError (exit 7); a push that may have landed before the
  /// connection broke is checked, never taken for a lost lease. IoError when the
  /// remote refuses the ref itself (a hook, a hosting rule).
  LeasePush push_lease(std::int64_t id, const std::string& sha, const std::string& expected);

  /// Reserves `count` ids on the remote, all above `above`, and returns the first:
  /// `refs/tracker/ids` is a chain of commits whose ids.yml holds the last id given
  /// out, moved on by a fast-forward push with a lease, so no two clones get the
  /// same id. A remote without the counter (new, or deleted by hand) starts it from
  /// the highest id its branch ever held, with a warning when that is not 0.
  /// RemoteUnavailableError when the remote cannot be reached.
  std::int64_t reserve_ids(std::int64_t above, std::int64_t count, const std::string& who);

  /// Where warnings go (a missing id counter, rebuilt).
  void on_warning(std::function<void(const std::string&)> sink) { warn_ = std::move(sink); }

  /// Where this clone keeps the remote's branch: refs/remotes/<name>/<branch>.
  std::string tracking_ref() const;

  /// Fetches the board's branch into tracking_ref(), the claim refs (pruned) into
  /// refs/tracker/remote-claims/ and the id counter into refs/tracker/remote-ids,
  /// and returns the branch's sha: empty when the
  /// remote has no such branch yet. RemoteUnavailableError as for every exchange.
  std::string fetch_board();

  /// Moves the remote's branch from `expected` (empty: it must not exist) to `sha`,
  /// and in the same atomic push deletes the claim refs `release` names (id, the
  /// lease held). Pre-push hooks run, as for `git push`. `moved`: the branch is no
  /// longer at `expected` (fetch and replay again); `lease_lost`: a lease is not
  /// the one held. In either case nothing changed there.
  BranchPush push_branch(const std::string& sha, const std::string& expected,
                         const std::vector<std::pair<std::int64_t, std::string>>& release = {});

 private:
  struct GitRun;
  GitRun git(std::vector<std::string> args, const std::string& input = {},
             std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) const;
  /// The exit-7 message after `what` failed until remote.timeout, `err` its last
  /// words; `cut_off_push`: a push killed at the deadline, which may have landed.
  std::string unavailable(const std::string& what, const std::string& err, bool cut_off_push = false) const;
  /// Runs a git command that talks to the remote until it succeeds or `accept`
  /// says its failure is an answer, retrying the rest until the deadline.
  GitRun talk(const std::vector<std::string>& args, const std::string& what,
              bool (*accept)(const GitRun&) = nullptr) const;
  /// One ref of a push: set it to `sha` (empty: delete it) if it is at `expected`.
  struct RefUpdate {
    std::string ref, sha, expected;
  };
  /// How one ref of a push ended; `not_tried`: an atomic push failed on another ref.
  enum class RefPush { done, lost, not_tried };
  /// Pushes `updates` (atomically when more than one), each with its lease: retries
  /// network errors until remote.timeout, checks whether a push whose connection
  /// broke landed, throws IoError when the remote (or, with `verify`, a pre-push
  /// hook) refuses a ref.
  std::vector<RefPush> push_refs(const std::vector<RefUpdate>& updates, const std::string& what, bool verify);
  /// push_lease for any ref under refs/tracker/.
  LeasePush push_ref(const std::string& ref, const std::string& sha, const std::string& expected,
                     const std::string& what);
  /// Fetches the remote's `ref` into this clone's `seen`; its sha, or empty when the
  /// remote has no such ref.
  std::string fetch_ref(const std::string& ref, const std::string& seen, const std::string& what);
  /// Reads `lease`'s claim.yml (its commit is `lease.sha`) into it, as story `id`'s.
  void read_claim(RemoteLease& lease, std::int64_t id);
  /// A commit holding one file, on top of `parent` when given.
  std::string write_commit(const std::string& file, const std::string& text, const std::string& parent,
                           const std::string& author, const std::string& message);
  /// The highest story id the remote's branch ever held (its whole history, and
  /// .tracker/id-floor): where a missing id counter starts again.
  std::int64_t highest_id_on_branch();

  std::filesystem::path work_tree_;
  RemoteSettings settings_;
  const Clock* clock_;
  std::optional<std::map<std::int64_t, std::string>> refs_;
  std::function<GitRepo&()> repo_;
  std::function<void(const std::string&)> warn_;
};

}  // namespace tracker
