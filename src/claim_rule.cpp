// The rule of claims, written once for every door (the CLI, `tracker mcp`, the web
// API, sync): only the holder of a claim ends it; --force does it anyway and says
// so; a holder whose lease another clone took over stays fenced.
#include <tracker/error.hpp>
#include <tracker/remote.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include <algorithm>
#include <cstdlib>

namespace tracker {

std::optional<Claim> ClaimRule::lost_claim(std::int64_t id) {
  ClaimStore store = s_.claims();
  std::optional<Claim> c = store.read(id);
  if (c && store.state(*c) == ClaimState::lost) return c;
  return std::nullopt;
}

std::optional<RemoteLease> ClaimRule::remote_lease(std::int64_t id) {
  if (!s_.ws.config().remote) return std::nullopt;
  if (Remote* r = s_.remote()) {
    try {
      const auto& refs = r->claim_refs();
      if (!refs.count(id)) return std::nullopt;
      return r->read(id);
    } catch (const RemoteUnavailableError& e) {
      if (!s_.remote_unreachable)
        s_.warn(std::string(e.what()) + "; claims are checked against the leases the last sync fetched");
      s_.remote_unreachable = true;
    }
  }
  return s_.remote_object().last_seen(id);
}

std::string ClaimRule::mark_lost(ClaimStore& store, const Claim& held) {
  std::string who = "another clone";
  try {
    if (Remote* r = s_.remote())
      if (auto lease = r->read(held.id); lease && lease->readable) who = lease->claim.owner;
  } catch (const Error&) {
  }
  Claim lost = held;
  lost.lost_to = who;
  if (!store.replace(held, lost)) store.remove(held);
  return who;
}

ClaimRule::Holding ClaimRule::check_holder(std::int64_t id, const std::optional<std::string>& actor_given,
                                       const std::string& action, Force force) {
  Holding h;
  h.id = id;
  ClaimStore store = s_.claims();
  std::optional<Claim> lost;
  if (std::optional<Claim> c = store.read(id)) {
    ClaimState state = store.state(*c);
    if (state == ClaimState::lost) {
      lost = c;  // a record that this clone's holder was fenced; it holds nothing
    } else {
      h.local = c;
      if (state == ClaimState::live) {
        h.holder = c->owner;
        h.expires = c->expires;
      }
    }
  }
  if (s_.ws.config().remote) {
    std::optional<RemoteLease> lease = remote_lease(id);
    if (lease && !lease->readable)
      s_.warn("the lease on #" + std::to_string(id) + " on the remote is unreadable (" + lease->sha.substr(0, 12) +
           "); it holds nothing, and tracker reclaim deletes it");
    if (lease && lease->readable && !s_.remote_object().expired(lease->claim)) {
      // The remote's lease decides. A lock of this clone for another lease (or an
      // offline lock) of another owner was taken over: its holder is fenced.
      if (h.local && h.local->owner != lease->claim.owner && h.local->lease != lease->sha) {
        Claim was = *h.local;
        Claim record = was;
        record.lost_to = lease->claim.owner;
        if (!store.replace(was, record)) store.remove(was);
        lost = record;
        h.local.reset();
      }
      h.lease = lease;
      h.holder = lease->claim.owner;
      h.expires = lease->claim.expires;
      h.remote = true;
    }
  }
  if (h.holder.empty() && !lost) return h;
  const std::string& actor = actor_given ? *actor_given : s_.identity();
  std::string who = "story #" + std::to_string(id);
  std::string as = actor.empty() ? "you have no identity (" + param_ref("owner") + ", TRACKER_OWNER or git's user.email)"
                                 : "you act as " + actor;
  if (lost && lost->owner == actor && h.holder != actor && force == Force::no)
    throw ConflictError("your claim on " + who + " was taken over by " + lost->lost_to +
                        (s_.ws.config().remote ? " on the remote '" + s_.ws.config().remote->name + "'" : "") +
                        "; you no longer hold it: stop working on it (" + param_ref("force", "true") + " ends the other claim)");
  if (!h.holder.empty() && h.holder != actor) {
    if (force == Force::no)
      throw ConflictError(who + " is claimed by " + h.holder + " until " + format_iso8601(h.expires) +
                          (h.remote ? " (on the remote '" + s_.ws.config().remote->name + "')" : "") +
                          "; only its holder may " + action + " it, and " + as + " (" + param_ref("force", "true") +
                          " ends the claim)");
    h.forced = true;
  }
  return h;
}

void ClaimRule::settle_local_claims(const std::map<std::int64_t, std::string>& leases,
                                  const std::vector<std::pair<std::int64_t, std::string>>& releasing) {
  ClaimStore store = s_.claims();
  for (const Claim& c : store.all()) {
    if (c.lease.empty() || store.state(c) == ClaimState::lost) continue;  // offline, or already a record
    if (std::any_of(releasing.begin(), releasing.end(), [&](const auto& r) { return r.first == c.id; })) continue;
    auto it = leases.find(c.id);
    if (it != leases.end() && it->second == c.lease) continue;
    // The fetch may predate a claim this clone made meanwhile: the lease is read
    // again before anything is decided.
    std::optional<RemoteLease> now;
    try {
      Remote* r = s_.remote();
      if (!r) return;
      now = r->read(c.id);
    } catch (const RemoteUnavailableError&) {
      return;
    }
    if (!now) {
      // The lease ended on the remote (done, released or forced from another clone,
      // or reclaimed after it expired): the lock here holds nothing.
      if (store.remove(c))
        s_.warn("the claim on #" + std::to_string(c.id) + " by " + c.owner +
             " ended on the remote (done, released or ended elsewhere); its lock here is gone");
      continue;
    }
    if (now && now->readable && now->claim.owner != c.owner) {
      Claim lost = c;
      lost.lost_to = now->claim.owner;
      if (store.replace(c, lost))
        s_.warn("the claim on #" + std::to_string(c.id) + " by " + c.owner + " was taken over by " + now->claim.owner +
             " on the remote; " + c.owner + " no longer holds it");
    }
  }
}

void ClaimRule::end_claim(const Holding& h) {
  ClaimStore store = s_.claims();
  if (h.lease) {
    std::int64_t id = h.id;
    try {
      Remote* r = s_.remote();
      if (!r)
        s_.warn("offline: the lease on #" + std::to_string(id) + " stays on the remote until it expires");
      else if (r->push_lease(id, "", h.lease->sha) != LeasePush::done)
        s_.warn("the lease on #" + std::to_string(id) + " changed on the remote meanwhile; it stays");
    } catch (const RemoteUnavailableError& e) {
      s_.warn(std::string(e.what()) + "; the lease on #" + std::to_string(id) + " stays there until it expires");
    }
  }
  if (h.local) store.remove(*h.local);
}

}  // namespace tracker
