// Claims across clones: the lease on the shared remote that a claim, renew, done
// and reclaim take, move or end (docs/remote.md).
#include <tracker/claim_spread.hpp>
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include <nlohmann/json.hpp>

#include "file_tx.hpp"
#include "process.hpp"
#include "limits.hpp"
#include "fs_internal.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <set>
#include <thread>

namespace tracker {

std::optional<Claims::RemoteTake> Claims::acquire_remote(ClaimStore& store, const Claim& local, bool by_id,
                                                          std::string& refusal) {
  Remote& r = *s_.remote();
  const std::string who = "story #" + std::to_string(local.id);
  // Whatever goes wrong on the way (an unreachable remote, a refusing hook), the
  // local claim goes with it.
  ScopeExit drop_local([&] { store.remove(local); });
  std::optional<RemoteLease> seen;  // none: the first push assumes there is no lease yet
  for (int attempt = 0; attempt < limits::kClaimAttempts; ++attempt) {
    Claim lease = local;
    bool took_over = false;
    if (seen) {
      bool mine = by_id && seen->claim.owner == local.owner;
      if (!mine && !r.expired(seen->claim)) {
        refusal = who + " is claimed by " + seen->claim.owner + (seen->claim.host.empty() ? "" : " on " + seen->claim.host) +
                  " until " + format_iso8601(seen->claim.expires) + " (on the remote '" + r.settings().name + "')";
        return std::nullopt;
      }
      took_over = !mine;  // the same owner from another clone carries on, as a renewal does
      lease.generation = seen->claim.generation + 1;
      if (!seen->claim.from_stage.empty()) lease.from_stage = seen->claim.from_stage;
    }
    const std::string expected = seen ? seen->sha : "";
    const std::string sha = r.write_lease(lease, expected);
    if (r.push_lease(local.id, sha, expected) == LeasePush::done) {
      lease.lease = sha;
      if (!store.replace(local, lease)) {
        r.push_lease(local.id, "", sha);
        throw ConflictError(who + ": its claim changed on this machine meanwhile; try again");
      }
      drop_local.dismiss();
      trace("claim: remote lease pushed");
      return RemoteTake{lease, took_over};
    }
    if (!by_id) {
      // From the ready queue, which left out every lease the remote had: a lost
      // push is a claimer that was faster. The next story, without reading its lease.
      refusal = who + " was just claimed from another clone";
      return std::nullopt;
    }
    seen = r.read(local.id);  // lost the race, or a lease was there: look at it
  }
  throw ConflictError(who + " keeps changing hands on the remote; try again");
}

void Claims::warn_if_offline_claim(std::int64_t id) {
  if (s_.ws.config().remote)
    s_.warn("offline: the claim on #" + std::to_string(id) + " holds on this machine only; other clones do not see it");
}

void Claims::renew_remote_lease(ClaimStore& store, const Claim& held, Claim& renewed) {
  Remote* r = s_.remote();
  if (!r || held.lease.empty()) return;
  ++renewed.generation;
  renewed.lease = r->write_lease(renewed, held.lease);
  if (!move_remote_lease(store, held, renewed.lease))
    throw ConflictError("the claim on story #" + std::to_string(held.id) + " was lost: another clone took it over on the remote '" +
                        r->settings().name + "'; stop working on it");
}

bool Claims::move_remote_lease(ClaimStore& store, const Claim& held, const std::string& replacement) {
  Remote* r = s_.remote();
  if (!r || held.lease.empty()) return true;
  if (r->push_lease(held.id, replacement, held.lease) == LeasePush::done) return true;
  all_.rule.mark_lost(store, held);  // another clone holds it now: this holder is fenced
  return false;
}

StoryChange Claims::done_remote(const Story& story, const Stage& target, const Holding& held, const std::string& lease,
                                 StoryChange result) {
  std::int64_t id = story.id;
  std::string subject;
  if (story.stage != target.name) {
    result.commit = all_.transitions.transition(
                        story, target, [](const std::string& text) { return text; }, "done", "", result.owner, {},
                        result.forced_by)
                        .commit;
    subject = all_.syncer.first_commit_line(result.commit);
  }
  // One atomic push moves the branch (with this commit) and deletes the lease: the
  // lease is the fencing token, so a holder whose lease another clone took over
  // cannot finish the story.
  SyncResult synced;
  try {
    synced = all_.syncer.sync_branch({{id, lease}});
  } catch (...) {
    if (!subject.empty() && !all_.syncer.undo_tip_commit(subject))
      s_.warn("#" + std::to_string(id) + " was committed as done here, but could not be pushed nor undone; run tracker sync");
    throw;
  }
  ClaimStore store = s_.claims();
  if (synced.lease_lost) {
    if (!subject.empty() && !all_.syncer.undo_tip_commit(subject))
      s_.warn("#" + std::to_string(id) + " was committed as done here before the lease was found lost; undo that commit");
    std::string who = held.local ? all_.rule.mark_lost(store, *held.local) : "another clone";
    throw ConflictError("the claim on story #" + std::to_string(id) + " was taken over by " + who +
                        " on the remote; #" + std::to_string(id) + " is not done");
  }
  for (const auto& c : synced.outgoing)
    if (c.subject == subject) result.commit = c.commit;  // as replayed on the remote's branch
  if (held.local) store.remove(*held.local);
  return result;
}

void Claims::reclaim_remote(Remote& r, std::optional<std::int64_t> id, const std::vector<Claim>& local,
                             std::vector<StoryChange>& out) {
  const Config& config = s_.ws.config();
  std::set<std::int64_t> handled;
  for (const Claim& c : local) handled.insert(c.id);
  for (const RemoteLease& lease : r.read_all()) {
    const Claim& c = lease.claim;
    if (handled.count(c.id) || (id && c.id != *id)) continue;
    if (!lease.readable) {
      // A ref that holds no readable claim (a tree, a blob, bad YAML put there by
      // hand) blocks its story for ever: it is deleted with the sha that was read.
      if (r.push_lease(c.id, "", lease.sha) != LeasePush::done) continue;
      StoryChange cleared{c.id, {}, {}, "", {}, true};
      cleared.claim_only = true;
      cleared.unreadable_lease = lease.sha;
      out.push_back(cleared);
      continue;
    }
    if (!r.expired(c)) {
      if (id)
        throw ConflictError("story #" + std::to_string(c.id) + " is claimed by " + c.owner + " on " + c.host + " until " +
                            format_iso8601(c.expires) + " (on the remote '" + r.settings().name + "')");
      continue;
    }
    // Deleted with the lease that was read: a holder that renewed meanwhile keeps it.
    if (r.push_lease(c.id, "", lease.sha) != LeasePush::done) continue;
    s_.lock_stories({c.id});
    s_.shadow->refresh_stories({c.id});
    Lookup found = s_.shadow->lookup(c.id);
    StoryChange change{c.id, {}, {}, c.owner, {}, true};
    if (found.stories.size() != 1) {  // gone here (or malformed, or ambiguous: check reports it)
      out.push_back(change);
      continue;
    }
    const Story& story = found.stories.front();
    change.from = change.to = story.stage;
    // This clone's board shows the holder's claim once the holder synced: it goes
    // back as a local reclaim puts it back. Otherwise only the lease ended.
    if (story.agent != c.owner || config.is_done_stage(story.stage)) {
      change.claim_only = true;
      out.push_back(change);
      continue;
    }
    put_back(story, c, change);
    out.push_back(change);
  }
}

}  // namespace tracker
