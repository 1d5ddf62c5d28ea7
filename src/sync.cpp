// tracker sync: the board's branch exchanged with the shared git remote
// (docs/remote.md, "Sync").
//
// Fetch the remote's branch; replay this clone's commits since the two parted on
// top of it, story by story rather than line by line; move this clone's branch and
// work tree to the result; push it with a lease on the branch. A push that finds
// the branch moved starts again from the fetch.
//
// Commits, trees, blobs and refs are read through libgit2 (GitRepo); every object
// is written by the git executable (hash-object, read-tree, update-index,
// write-tree, commit-tree into a private index file), never by hand.
#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/remote.hpp>
#include "replay.hpp"
#include "services.hpp"
#include <tracker/util.hpp>

#include "process.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace tracker {

using replay::first_line;

SyncResult Syncer::sync() { return sync_branch({}); }

void Syncer::auto_sync() {
  const auto& settings = s_.ws.config().remote;
  if (!settings || !settings->auto_sync || s_.offline || s_.unsynced_commits == 0) return;
  try {
    // What sync settled is said here too: a move or a change that lost, a
    // transition not sent because another owner holds the claim.
    for (const auto& c : sync_branch({}).conflicts) s_.warn("conflict: " + c.message);
  } catch (const Error& e) {
    s_.warn(std::string("not synced (remote.auto_sync): ") + e.what() + "; the commit is here, and tracker sync sends it");
  }
}

SyncResult Syncer::sync_branch(const std::vector<std::pair<std::int64_t, std::string>>& release) {
  if (!s_.ws.config().remote) throw UsageError("sync needs a shared remote: add 'remote:' to .tracker/config.yml, or run tracker init --remote origin (docs/remote.md)");
  if (s_.offline) throw UsageError("sync exchanges the branch with the remote, which --offline leaves out");
  Remote& remote = *s_.remote();
  const RemoteSettings& settings = remote.settings();
  fs::path root = s_.git().work_tree();
  std::string prefix = s_.ws.root().lexically_relative(root).generic_string();
  prefix = (prefix.empty() || prefix == ".") ? "" : prefix + "/";
  fs::create_directories(s_.ws.local_state_dir() / "tmp");
  // A private git index for the trees the replay builds; the next command sweeps it
  // if this one dies.
  fs::path scratch = s_.ws.local_state_dir() / "tmp" / unique_name("sync-index");
  ScopeExit remove_scratch([&] {
    std::error_code ec;
    fs::remove(scratch, ec);
  });
  replay::Replay r(s_.git(), root, prefix, s_.ws.config(), scratch);
  // One sync at a time in a clone; transitions go on meanwhile.
  fs::create_directories(s_.ws.shared_state_dir() / "locks");
  ProcessLock sync_lock(s_.ws.shared_state_dir() / "locks" / "sync", std::chrono::minutes(2), "another sync");

  std::string branch_ref = s_.git().head_ref();
  if (branch_ref.empty()) throw UsageError("sync: HEAD is detached; check out the board's branch first");

  SyncResult result;
  result.remote = settings.name;
  result.branch = settings.branch;
  std::set<std::string> seen_in;
  // The leases as this attempt's fetch brought them (refs/tracker/remote-claims/):
  // a transition of a story another owner holds is not sent.
  replay::ReplayContext ctx;
  ctx.remote_name = settings.name;
  std::map<std::int64_t, std::optional<Claim>> leases;
  std::map<std::int64_t, std::string> lease_shas;  // id -> lease commit, as fetched
  ctx.live_lease = [&](std::int64_t id) -> std::optional<Claim> {
    auto it = leases.find(id);
    if (it == leases.end()) return std::nullopt;
    if (!it->second) {
      std::optional<std::string> text = s_.git().content_at(lease_shas.at(id), "claim.yml");
      std::optional<Claim> c = text ? parse_claim(*text) : std::nullopt;
      if (!c) {
        leases.erase(it);  // unreadable: reclaim and doctor clear it; it fences nothing
        return std::nullopt;
      }
      it->second = c;
    }
    if (remote.expired(*it->second)) return std::nullopt;
    return it->second;
  };
  for (int attempt = 1; attempt <= 20; ++attempt) {
    result.attempts = attempt;
    result.conflicts.clear();
    std::string upstream = remote.fetch_board();
    leases.clear();
    lease_shas.clear();
    const std::string seen_prefix = "refs/tracker/remote-claims/";
    for (const auto& [ref, sha] : s_.git().refs_under(seen_prefix))
      if (auto id = parse_int(ref.substr(seen_prefix.size()))) {
        leases.emplace(*id, std::nullopt);
        lease_shas.emplace(*id, sha);
      }
    std::string head = r.rev("HEAD");
    if (head.empty()) throw UsageError("sync: the branch has no commit yet");
    std::string base;
    if (!upstream.empty()) {
      try {
        base = s_.git().merge_base(head, upstream);
      } catch (const UsageError&) {
        throw IoError("sync: " + settings.name + "/" + settings.branch +
                      " shares no history with this branch; nothing was changed");
      }
      for (const auto& c : r.commits(base, upstream))
        if (seen_in.insert(c.sha).second) result.incoming.push_back({c.sha, first_line(c.message)});
    }

    // What this clone has that the remote does not, replayed on top of it.
    std::string target = head;
    std::vector<SyncCommit> outgoing;
    if (!upstream.empty() && base != upstream) {
      if (base == head) {
        target = upstream;  // nothing here: a fast-forward
      } else {
        target = replay::replay_onto(r, base, head, upstream, ctx, outgoing, result.conflicts);
      }
    } else if (upstream.empty()) {
      for (const auto& c : r.commits("", head)) outgoing.push_back({c.sha, first_line(c.message)});
    } else {
      // A fast-forward, unless a transition here is of a story another owner holds
      // a live lease on: then replayed, so that the fence drops it.
      bool leased = false;
      if (!leases.empty() && upstream != head)
        for (const auto& d : r.deltas(upstream, head))
          if (auto id = r.story_id(d.path); id && ctx.live_lease(*id)) leased = true;
      std::vector<SyncCommit> replayed_out;
      std::vector<SyncConflict> replayed_conflicts;
      std::string replayed =
          leased ? replay::replay_onto(r, upstream, head, upstream, ctx, replayed_out, replayed_conflicts) : head;
      if (std::any_of(replayed_conflicts.begin(), replayed_conflicts.end(),
                      [](const SyncConflict& c) { return c.kind == "fenced"; })) {
        target = replayed;
        outgoing = std::move(replayed_out);
        result.conflicts = std::move(replayed_conflicts);
      } else {
        for (const auto& c : r.commits(upstream, head)) outgoing.push_back({c.sha, first_line(c.message)});
      }
    }

    if (target != head) {
      std::string moved_to;
      if (!replay::move_branch(r, branch_ref, head, target, ctx,
                       [this](const std::vector<std::int64_t>& ids) { s_.lock_stories(ids); }, moved_to))
        continue;  // a commit landed here before anything was done: start again
      if (moved_to != target) {
        // Commits made here meanwhile went on top: they go out too.
        for (const auto& c : r.commits(target, moved_to)) outgoing.push_back({c.sha, first_line(c.message)});
        target = moved_to;
      }
    }
    // This clone's claims whose leases ended elsewhere (done, released, forced) go,
    // and those another clone took over are kept as lost.
    all_.rule.settle_local_claims(lease_shas, release);
    if (target == upstream && release.empty()) {
      s_.unsynced_commits = 0;
      result.head = target;
      result.changed = !result.incoming.empty();
      return result;
    }
    switch (remote.push_branch(target, upstream, release)) {
      case BranchPush::done:
        s_.unsynced_commits = 0;
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

std::string Syncer::first_commit_line(const std::string& sha) {
  auto commit = s_.git().commit(sha);
  return commit ? first_line(commit->message) : "";
}

bool Syncer::undo_tip_commit(const std::string& subject) {
  fs::path root = s_.git().work_tree();
  auto g = [&](const std::vector<std::string>& args) { return run_git(root, args); };
  std::string branch = s_.git().head_ref(), sha = s_.git().resolve("HEAD");
  if (branch.empty() || sha.empty()) return false;
  if (first_commit_line(sha) != subject) return false;
  if (g({"read-tree", "-m", "-u", sha, sha + "^"}).status != 0) return false;
  if (g({"update-ref", "-m", "tracker: undo " + subject, branch, sha + "^", sha}).status != 0) {
    g({"read-tree", "-m", "-u", sha + "^", sha});  // a commit landed meanwhile: the files go forward again
    return false;
  }
  return true;
}

}  // namespace tracker
