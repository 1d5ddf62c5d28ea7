// Claims on this machine: claim, renew, release, done and reclaim, and the live
// claims other operations check (src/claim_rule.cpp says who may do what).
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
#include "ready_queue.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <functional>
#include <set>
#include <thread>

namespace tracker {


namespace {

void check_owner(const std::string& owner) {
  if (trim(owner).empty()) throw UsageError(param_ref("owner") + " must not be empty");
  if (owner.size() > 100) throw UsageError(param_ref("owner") + " is too long (at most 100 characters)");
  for (unsigned char c : owner)
    if (c < 0x20 || c == 0x7f) throw UsageError(param_ref("owner") + " must not contain control characters");
}

/// The TTL of a claim: the one asked for, else the config's.
std::int64_t claim_ttl(const Config& config, std::optional<std::int64_t> ttl_seconds) {
  std::int64_t ttl = ttl_seconds.value_or(config.claim_ttl_seconds);
  if (ttl <= 0) throw UsageError("the claim TTL must be positive");
  if (ttl > limits::kMaxClaimTtlSeconds)
    throw UsageError("a claim lasts at most " + std::to_string(limits::kMaxClaimTtlSeconds / 86400) +
                     " days (--ttl " + std::to_string(limits::kMaxClaimTtlSeconds / 86400) + "d); renew it to hold it longer");
  return ttl;
}

/// What taking over a story from a claim that no longer holds carries over.
struct Takeover {
  bool after_expiry = false;  ///< an expired claim counts as a retry of the story
  std::string from_stage;     ///< the stage of the first claim
};

/// Breaks `held`, a claim that no longer holds (only one breaker wins). Returns
/// nullopt when another process changed the lock first.
std::optional<Takeover> break_stale(ClaimStore& store, const Claim& held, ClaimState state) {
  if (!store.remove(held)) return std::nullopt;
  return Takeover{state == ClaimState::expired, held.from_stage};
}

}  // namespace

std::map<std::int64_t, Claim> Claims::live_claims() {
  std::map<std::int64_t, Claim> out;
  std::int64_t now = s_.clock.now_seconds();
  for (auto& c : s_.claims().all())
    if (ClaimStore::state(c, now) == ClaimState::live) out.emplace(c.id, std::move(c));
  return out;
}

std::vector<std::int64_t> Claims::claimed_ids() { return claimed_ids(live_claims()); }

std::vector<std::int64_t> Claims::claimed_ids(const std::map<std::int64_t, Claim>& live) {
  std::vector<std::int64_t> ids;
  for (const auto& [id, c] : live) ids.push_back(id);
  // Claimed on the remote, from this clone or another: one ls-remote per command.
  if (Remote* r = s_.remote())
    for (const auto& [id, sha] : r->claim_refs()) ids.push_back(id);
  return ids;
}

ClaimResult Claims::take(const Story& story, const Claim& claim, bool after_stale) {
  const Config& config = s_.ws.config();
  // claim.move_to moves a story forward only: a story claimed in a later stage (a
  // reviewer's claim in qa) stays where it is.
  auto order = [&](const std::string& name) {
    for (std::size_t i = 0; i < config.stages.size(); ++i)
      if (config.stages[i].name == name) return i;
    return config.stages.size();
  };
  const Stage& target =
      order(config.claim_move_to) > order(story.stage) ? config.stage(config.claim_move_to) : config.stage(story.stage);
  auto edit = [&](const std::string& text) {
    std::string out = text;
    if (story.agent != claim.owner) out = set_front_matter_line(out, "agent", yaml_scalar(claim.owner));
    // Taking over an expired claim counts as a retry of the story.
    if (after_stale) out = set_front_matter_line(out, "retry_count", std::to_string(story.retry_count + 1));
    return out;
  };
  ClaimResult result;
  result.claim = claim;
  result.from = story.stage;
  result.to = target.name;
  try {
    Transitions::Transition t = all_.transitions.transition(story, target, edit, "claim", "by " + claim.owner, claim.owner);
    result.commit = t.commit;
  } catch (...) {
    ClaimStore store = s_.claims();
    try {
      move_remote_lease(store, claim, "");  // the claim goes with the transition it was made for
    } catch (const Error&) {
      s_.warn("the lease on #" + std::to_string(claim.id) + " stays on the remote until it expires");
    }
    store.remove(claim);
    throw;
  }
  result.story = story;
  result.story.stage = target.name;
  result.story.path = s_.ws.relative(s_.ws.stage_dir(target) / fs::path(story.path).filename());
  result.story.agent = claim.owner;
  if (after_stale) ++result.story.retry_count;
  return result;
}

std::string Claims::why_nothing_is_ready() {
  constexpr std::size_t kNamed = 3;
  std::vector<NotReady> waiting = all_.board.not_ready(kNamed + 1);
  if (waiting.empty())
    return s_.ws.config().ready_stages.empty() ? ""
                                                : ": no story is in " + join(s_.ws.config().ready_stages, " or ");
  std::vector<std::string> named;
  for (std::size_t i = 0; i < waiting.size() && i < kNamed; ++i) named.push_back(waiting[i].describe());
  return ": " + join(named, ", ") + (waiting.size() > kNamed ? ", and more" : "");
}

ClaimResult Claims::claim(const ClaimRequest& given) {
  s_.will_commit();
  ClaimRequest request = given;
  if (request.owner.empty()) {
    request.owner = s_.identity();
    if (request.owner.empty())
      throw UsageError("a claim needs an owner: " + param_ref("owner", "NAME") +
                       ", TRACKER_OWNER, or git config user.email");
  }
  check_owner(request.owner);
  if (request.pid && (*request.pid < 1 || *request.pid > kMaxPid))
    throw UsageError(param_ref("pid") + " is a process id from 1 to " + std::to_string(kMaxPid));
  std::int64_t ttl = claim_ttl(s_.ws.config(), request.ttl_seconds);
  ClaimStore store = s_.claims();

  if (!request.id) {
    // Try the ready stories in order; one lost to a concurrent claimer is skipped.
    // They are read in batches: usually the first few will do. Claimed stories have
    // mostly left the ready stages, so each candidate's lock is looked at on its own
    // rather than reading every lock first.
    s_.refresh_all();
    trace("claim: board refreshed");
    Remote* r = s_.remote();
    std::vector<std::int64_t> skipped;
    // Stories leased on the remote are taken: one ls-remote per listing.
    auto skip_remote_claims = [&] {
      if (r)
        for (const auto& [id, sha] : r->claim_refs(true)) skipped.push_back(id);
    };
    skip_remote_claims();
    // Across clones, the tries spread over the queue's first stories while races
    // are being lost (claim_spread.hpp). A lost race lists the remote's leases
    // again before the next try: where races are lost the listing is stale within
    // one push, and an ls-remote costs the remote less than a push that loses
    // (going on within the same listing, relisting after two losses, lost 1.5
    // races per claim at 32 clones against 0.9: docs/remote.md). Past
    // remote.timeout the claimer gives up (exit 6) instead of starving.
    std::optional<ClaimContention> contention;
    if (r) contention.emplace(s_.ws.shared_state_dir() / "claim-contention", s_.clock.now_seconds());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(r ? r->settings().timeout_seconds : 0);
    int lost = 0;
    while (true) {
      const std::size_t spread = contention ? contention->spread() : 1;
      ListQuery candidates = ready_query(skipped, static_cast<std::int64_t>(std::max<std::size_t>(16, 2 * spread)));
      candidates.summary_only = true;  // the id and stage pick one; the one taken is read whole below
      std::vector<Story> batch = s_.shadow->list(candidates);
      if (batch.empty()) {
        if (lost) throw NothingToDoError("no ready story to claim: the last were taken by other clones (" +
                                         std::to_string(lost) + " races lost)");
        throw NothingToDoError("no ready story to claim" + why_nothing_is_ready());
      }
      bool relist = false;
      while (!batch.empty() && !relist) {
        std::size_t at = pick_candidate(batch.size(), contention ? contention->spread() : 1, random_u64());
        Story story = std::move(batch[at]);
        batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(at));
        skipped.push_back(story.id);
        Takeover prior{false, story.stage};
        if (std::optional<Claim> held = store.read(story.id)) {
          // A lock left by a claimer that died or timed out.
          ClaimState state = store.state(*held);
          if (state == ClaimState::live) continue;
          auto broken = break_stale(store, *held, state);
          if (!broken) continue;
          prior = *broken;
        }
        Claim c = store.make(story.id, request.owner, ttl, prior.from_stage, request.pid);
        if (!store.create(c)) continue;
        trace("claim: lock taken");
        // Our view of the board may predate a concurrent change to this story (another
        // claimer finished it, a hand edit blocked it): with its claim and its story
        // lock held, look at its file again, and take it only if it is still ready.
        s_.lock_stories({story.id});
        s_.shadow->refresh_stories({story.id});
        ListQuery still = ready_query({}, 1);
        still.only_ids = std::vector<std::int64_t>{story.id};
        std::vector<Story> now_ready = s_.shadow->list(still);
        if (now_ready.empty()) {
          store.remove(c);
          s_.unlock_story(story.id);
          continue;
        }
        if (r) {
          std::string refusal;
          auto taken = acquire_remote(store, c, false, refusal);
          if (taken) {
            contention->won(lost == 0);
            return take(now_ready.front(), taken->claim, prior.after_expiry || taken->took_over);
          }
          // Another clone was faster.
          trace("claim: race lost");
          s_.unlock_story(story.id);
          contention->lost();
          ++lost;
          if (std::chrono::steady_clock::now() >= deadline)
            throw NothingToDoError("no story claimed within " + format_duration(r->settings().timeout_seconds) +
                                   " (remote.timeout): " + std::to_string(lost) +
                                   " races lost to other clones claiming at once; try again");
          // After a few losses in a row, a pause of random length, so that the
          // claimers who lost together do not push together again.
          if (lost >= 3)
            std::this_thread::sleep_for(std::chrono::milliseconds(
                random_u64() % static_cast<std::uint64_t>(std::min(400, 25 << std::min(lost - 3, 4)))));
          skip_remote_claims();
          relist = true;
          continue;
        }
        warn_if_offline_claim(story.id);
        return take(now_ready.front(), c, prior.after_expiry);
      }
    }
  }

  std::int64_t id = *request.id;
  Story story = s_.load_for_change(id);
  if (s_.ws.config().is_done_stage(story.stage))
    throw UsageError("story #" + std::to_string(id) + " is " + story.stage +
                     "; only unfinished stories can be claimed");
  std::optional<Claim> mine = store.read(id);
  bool renewing = mine && mine->owner == request.owner && store.state(*mine) == ClaimState::live;
  if (!request.force && !renewing) {
    // What keeps it out of the ready queue keeps it from a claim by id, too.
    std::string who = "story #" + std::to_string(id);
    // A walk only for a story with links: the index as our own writes left it knows
    // whether it has children (its dependencies and children are looked up in it).
    if (!story.depends_on.empty() || !all_.transitions.open_children(id).empty()) s_.refresh_all();
    if (story.blocked) {
      std::string reason = blocked_reason(story);
      if (!reason.empty()) reason = " (" + reason + ")";
      throw ConflictError(who + " is blocked" + reason + "; unblock it first (" +
                          op_ref("unblock", {{"id", std::to_string(id)}}) + "), or claim it with " +
                          param_ref("force", "true"));
    }
    for (std::int64_t dep : story.depends_on) {
      Lookup found = s_.shadow->lookup(dep);
      bool done = false;
      std::string where = "no such story";
      for (const Story& d : found.stories) {
        if (s_.ws.config().is_done_stage(d.stage)) done = true;
        where = d.stage;
      }
      if (!done)
        throw ConflictError(who + " depends on #" + std::to_string(dep) + " (" + where +
                            "), which is not done; claim it with " + param_ref("force", "true") + " to take it anyway");
    }
    if (std::vector<Story> open = all_.transitions.open_children(id); !open.empty())
      throw ConflictError(who + " is a parent whose children are not done: " + Transitions::name_children(open) +
                          "; its work is theirs (claim one of them), or claim it with " + param_ref("force", "true"));
  }
  for (int attempt = 0; attempt < limits::kClaimAttempts; ++attempt) {
    std::optional<Claim> held = store.read(id);
    Takeover prior{false, story.stage};
    if (held) {
      ClaimState state = store.state(*held);
      if (state == ClaimState::live) {
        if (held->owner != request.owner)
          throw ConflictError("story #" + std::to_string(id) + " is claimed by " + held->owner + " until " +
                              format_iso8601(held->expires));
        Claim renewed = store.renewed(*held, ttl, request.pid);
        renew_remote_lease(store, *held, renewed);
        if (!store.replace(*held, renewed)) continue;  // changed under us: look again
        ClaimResult result;
        result.story = story;
        result.claim = renewed;
        result.renewed = true;
        result.from = result.to = story.stage;
        return result;
      }
      // An expired claim, or one whose holder died: the story keeps the stage it was
      // first claimed from.
      auto broken = break_stale(store, *held, state);
      if (!broken) continue;
      prior = *broken;
    }
    Claim c = store.make(id, request.owner, ttl, prior.from_stage, request.pid);
    if (!store.create(c)) continue;  // someone else was faster: look at their claim
    if (s_.remote()) {
      std::string refusal;
      auto taken = acquire_remote(store, c, true, refusal);
      if (!taken) throw ConflictError(refusal);
      return take(story, taken->claim, prior.after_expiry || taken->took_over);
    }
    warn_if_offline_claim(id);
    return take(story, c, prior.after_expiry);
  }
  throw ConflictError("story #" + std::to_string(id) + " keeps changing hands; try again");
}

StoryChange Claims::release(std::int64_t id, const std::optional<std::string>& owner, Force force) {
  s_.will_commit();
  s_.lock_stories({id});
  Story story = s_.load_for_change(id);
  Holding h = all_.rule.check_holder(id, owner, "release", force);
  if (!h.local && !h.lease) {
    // What was asked for already holds: nobody holds the story.
    StoryChange unchanged{id, story.stage, story.stage, "", {}, false};
    return unchanged;
  }
  const Claim& held = h.lease ? h.lease->claim : *h.local;
  // The lease first: one another clone took over meanwhile is theirs, and this
  // holder is fenced.
  if (h.lease) {
    Remote* r = s_.remote();
    if (!r)
      s_.warn("offline: the lease on #" + std::to_string(id) + " stays on the remote until it expires");
    else if (r->push_lease(id, "", h.lease->sha) != LeasePush::done) {
      ClaimStore store = s_.claims();
      if (h.local) all_.rule.mark_lost(store, *h.local);
      throw ConflictError("the claim on story #" + std::to_string(id) +
                          " was taken over by another clone on the remote; nothing was released");
    }
  }
  const Config& config = s_.ws.config();
  const Stage& back =
      config.find_stage(held.from_stage) ? config.stage(held.from_stage) : config.stage(config.ready_stages.front());
  StoryChange result{id, story.stage, back.name, held.owner, {}, true};
  if (h.forced) result.forced_by = owner ? *owner : s_.identity();
  result.commit = all_.transitions.transition(
                      story, back, [](const std::string& text) { return remove_front_matter_line(text, "agent"); },
                      "release", "by " + held.owner, held.owner, {}, result.forced_by)
                      .commit;
  if (h.local) s_.claims().remove(*h.local);
  return result;
}

StoryChange Claims::done(std::int64_t id, Force force) {
  s_.will_commit();
  Story story = s_.load_for_change(id);
  const Stage& target = s_.ws.config().stage(s_.ws.config().done_stages.front());
  Holding h = all_.rule.check_holder(id, std::nullopt, "finish", force);
  if (h.lease && s_.remote() && s_.commits()) {
    // The holder may finish from a clone that has not seen her claim's move yet. Her
    // done follows that move, so it is made on top of it: a done made from the stale
    // stage would be a move in the same second as the claim's, which the remote's
    // move wins (docs/remote.md), and the story would stay in current.
    all_.syncer.sync_branch({});
    story = s_.load_for_change(id);
  }
  if (!s_.ws.config().is_done_stage(story.stage)) all_.transitions.require_children_done({id}, force);
  std::string owner = !h.holder.empty() ? h.holder : h.local ? h.local->owner : "";
  StoryChange result{id, story.stage, target.name, owner, {}, true};
  if (h.forced) result.forced_by = s_.identity();
  if (story.stage == target.name && !h.local && !h.lease) {
    result.changed = false;
    return result;
  }
  // With a lease on the remote, the done commit and the lease's end go in one
  // atomic push: the lease is the fencing token.
  if (h.lease && s_.remote() && s_.commits()) return done_remote(story, target, h, h.lease->sha, result);
  if (story.stage != target.name)
    result.commit = all_.transitions.transition(
                        story, target, [](const std::string& text) { return text; }, "done", "", result.owner, {},
                        result.forced_by)
                        .commit;
  all_.rule.end_claim(h);
  return result;
}

Claim Claims::renew(std::int64_t id, const std::optional<std::string>& owner_given,
                     std::optional<std::int64_t> ttl_seconds) {
  const std::string owner = owner_given ? *owner_given : s_.identity();
  check_owner(owner);
  std::int64_t ttl = claim_ttl(s_.ws.config(), ttl_seconds);
  // Another's claim, here or on the remote, is named with its holder.
  Holding h = all_.rule.check_holder(id, owner, "renew", Force::no);
  ClaimStore store = s_.claims();
  std::optional<Claim> held = h.local;
  if (!held || held->owner != owner) {
    s_.shadow->refresh_stories({id});
    s_.find(id);  // no such story: not found, rather than a lost claim
    throw ConflictError("story #" + std::to_string(id) + " is not claimed by " + owner +
                        (h.lease ? " here: its claim was taken in another clone; renew it there"
                                 : ": the claim ended (released, reclaimed or done); stop, or claim it again"));
  }
  Claim renewed = store.renewed(*held, ttl, std::nullopt);
  renew_remote_lease(store, *held, renewed);
  if (!store.replace(*held, renewed))
    throw ConflictError("the claim on story #" + std::to_string(id) + " changed meanwhile; look at it again");
  return renewed;
}

std::vector<StoryChange> Claims::reclaim(std::optional<std::int64_t> id) {
  s_.will_commit();
  ClaimStore store = s_.claims();
  std::vector<Claim> candidates;
  if (id) {
    std::optional<Claim> held = store.read(*id);
    if (!held) {
      s_.load_for_change(*id);  // no such story: not found; else nothing to reclaim here
      if (!s_.remote()) return {};
    } else {
      candidates.push_back(*held);
    }
  } else {
    candidates = store.all();
  }
  std::vector<StoryChange> out;
  const Config& config = s_.ws.config();
  // A claim that ends here ends on the remote too; a lease another clone took over
  // meanwhile is theirs, and stays.
  auto drop_lease = [&](const Claim& c) {
    try {
      if (Remote* r = s_.remote(); r && !c.lease.empty()) r->push_lease(c.id, "", c.lease);
    } catch (const RemoteUnavailableError& e) {
      s_.warn(std::string(e.what()) + "; the lease on #" + std::to_string(c.id) + " stays there until it expires");
    }
  };
  for (const Claim& c : candidates) {
    if (store.state(c) == ClaimState::lost) {
      // The record of a claim another clone took over: the story is theirs, so only
      // the record goes.
      store.remove(c);
      StoryChange ended{c.id, {}, {}, c.owner, {}, true};
      ended.claim_only = true;
      out.push_back(ended);
      continue;
    }
    bool live = store.state(c) == ClaimState::live;
    s_.lock_stories({c.id});
    s_.shadow->refresh_stories({c.id});
    Lookup found = s_.shadow->lookup(c.id);
    if (found.stories.empty() && found.malformed.empty()) {
      s_.shadow->refresh();  // it may have been moved meanwhile: look at every file again
      s_.refreshed = true;
      found = s_.shadow->lookup(c.id);
    }
    if (found.stories.empty() && found.malformed.empty()) {
      // The story is gone: even a live claim on it holds nothing any more.
      drop_lease(c);
      store.remove(c);
      out.push_back({c.id, {}, {}, c.owner, {}, true});
      continue;
    }
    if (live) {
      if (id)
        throw ConflictError("story #" + std::to_string(c.id) + " is claimed by " + c.owner + " until " +
                            format_iso8601(c.expires));
      continue;
    }
    if (found.stories.size() != 1) continue;  // malformed or ambiguous: check reports it
    const Story& story = found.stories.front();
    if (config.is_done_stage(story.stage)) {
      // Finished work stays finished: the claim just ends.
      drop_lease(c);
      store.remove(c);
      StoryChange ended{c.id, story.stage, story.stage, c.owner, {}, true};
      ended.claim_only = true;
      out.push_back(ended);
      continue;
    }
    StoryChange change{c.id, story.stage, {}, c.owner, {}, true};
    put_back(story, c, change);
    drop_lease(c);
    store.remove(c);
    out.push_back(change);
  }
  if (Remote* r = s_.remote()) reclaim_remote(*r, id, candidates, out);
  return out;
}

void Claims::put_back(const Story& story, const Claim& c, StoryChange& change) {
  const Config& config = s_.ws.config();
  const Stage& back =
      config.find_stage(c.from_stage) ? config.stage(c.from_stage) : config.stage(config.ready_stages.front());
  auto edit = [&](const std::string& text) {
    return set_front_matter_line(remove_front_matter_line(text, "agent"), "retry_count",
                                 std::to_string(story.retry_count + 1));
  };
  change.to = back.name;
  change.commit = all_.transitions.transition(story, back, edit, "reclaim", "from " + c.owner, c.owner).commit;
}

}  // namespace tracker
