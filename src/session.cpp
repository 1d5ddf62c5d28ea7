// The Session: what every service of a Tracker shares. The commit of a change and
// its undo, story locks, loading stories, the git repository and the remote.
#include <tracker/claim_spread.hpp>
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include "session.hpp"
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

Session::Session(Workspace ws_in, CommitOptions commit, const Clock& clock_in, const Disk& disk)
    : ws(std::move(ws_in)),
      commit_options(commit),
      clock(clock_in),
      started(Instant::now()),
      shadow(std::make_unique<ShadowIndex>(ws, clock_in, disk)) {
  if (!ws.config().commit_verify) commit_options.verify = Verify::no;
}

void Session::refresh_all() {
  finish_pending();
  if (refreshed) return;
  // A walk that another process began after this action started saw every change
  // made before it, so it serves this action too.
  shadow->refresh(started);
  refreshed = true;
}

ShadowIndex& Session::index() {
  refresh_all();
  return *shadow;
}

Session::~Session() {
  GitRepo::finish_loading();
}


namespace {

/// The lock every read-modify-write of story `id` holds (`locks/<id>`).
/// Each held story lock is an open file: a commit of 20,000 hand-made stories holds
/// 20,000. Raises this process's soft limit on open files as far as the hard limit
/// allows, and refuses, saying what to do, when even that is too few.
void ensure_open_files(std::size_t locks) {
  constexpr rlim_t kSpare = 256;  // the index, git's files, hooks
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  rlim_t needed = static_cast<rlim_t>(locks) + kSpare;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max == RLIM_INFINITY ? needed : std::min(needed, lim.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed)
    throw IoError("cannot lock " + std::to_string(locks) + " stories at once: this process may open only " +
                  std::to_string(lim.rlim_cur) + " files (ulimit -n); commit them in parts (tracker commit <id>...)");
}

std::unique_ptr<ProcessLock> story_lock(const Workspace& ws, std::int64_t id) {
  std::string n = std::to_string(id);
  return std::make_unique<ProcessLock>(ws.shared_state_dir() / "locks" / n, limits::kStoryLock, "story #" + n);
}

}  // namespace

bool Session::commits() const {
  return commit_options.mode == CommitMode::yes && ws.config().commit;
}

void Session::warn(const std::string& message) {
  warnings.push_back(message);
  if (warn_sink) warn_sink(message);
}

GitRepo& Session::git() {
  if (!repo) repo = std::make_unique<GitRepo>(GitRepo::open(ws.root()));
  return *repo;
}

void Session::will_commit() {
  if (commits()) GitRepo::start_loading();
}

void Session::finish_pending() {
  if (pending_checked) return;
  pending_checked = true;
  if (!commits()) return;
  // Journals still held belong to commits in progress in other processes.
  if (GitRepo::orphaned_index_updates(ws.local_state_dir() / "pending-index", clock.now_ns()).empty()) return;
  IndexRepair repair = git().finish_index_updates();
  for (const auto& w : repair.warnings) warn(w);
}

void Session::prepare_commit() {
  finish_pending();
  if (prepared) return;
  prepared = true;
  sweep_temp_files(false);
  if (commits()) git().check_can_commit();
}

std::vector<fs::path> Session::sweep_temp_files(bool dry_run) {
  std::int64_t now = clock.now_ns();
  std::vector<fs::path> out = sweep_orphans(ws.temp_dir(), now, limits::kOrphanMinAgeNs, dry_run);
  for (auto& p : sweep_orphans(ws.temp_dir() / "hooks", now, limits::kHookFileMinAgeNs, dry_run)) out.push_back(p);
  // A journal its process did not live to link into place.
  for (auto& p : sweep_orphans(ws.local_state_dir() / "pending-index", now, limits::kOrphanMinAgeNs, dry_run,
                               [](std::string_view name) { return name.starts_with('.'); }))
    out.push_back(p);
  // Claim locks are never held open; only the claim store's temp and released
  // files (".<id>...") are candidates.
  for (auto& p : sweep_orphans(claims().dir(), now, limits::kOrphanMinAgeNs, dry_run,
                               [](std::string_view name) { return name.starts_with('.'); }))
    out.push_back(p);
  return out;
}

std::string Session::commit(const std::string& subject,
                            const std::vector<std::pair<std::string, std::string>>& trailers,
                            const std::vector<std::string>& paths) {
  if (!commits()) return {};
  CommitRequest request{subject, trailers, {}, commit_options.verify};
  for (const auto& p : paths)
    request.paths.push_back((ws.root() / p).lexically_relative(git().work_tree()).generic_string());
  CommitResult result = git().commit_paths(request);
  for (const auto& w : result.warnings) warn(w);
  if (!result.sha.empty()) ++unsynced_commits;
  return result.sha;
}

std::string Session::in_transaction(
    const std::function<std::string(FileTransaction&, std::vector<std::string>&)>& body) {
  FileTransaction tx(ws.temp_dir());
  std::vector<std::string> touched;
  try {
    std::string sha = body(tx, touched);
    tx.keep();
    return sha;
  } catch (...) {
    std::vector<std::string> failed = tx.rollback();
    try {
      shadow->update_files(touched);  // the index follows the files back
    } catch (const Error&) {
      // The index is a cache: the next refresh sees the files' new stat data.
    }
    if (failed.empty()) throw;
    try {
      throw;
    } catch (const std::exception& e) {
      throw IoError(std::string(e.what()) + "; putting the files back failed too: " + join(failed, "; "));
    }
  }
}

void Session::refresh_story(std::int64_t id) {
  finish_pending();
  if (!refreshed) shadow->refresh_stories({id});
}

Story Session::load(std::int64_t id) {
  refresh_story(id);
  return find(id);
}

void Session::lock_stories(std::vector<std::int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::erase_if(ids, [&](std::int64_t id) { return story_locks.count(id) > 0; });
  if (ids.empty()) return;
  // Locks are always taken in id order: when one below a held lock is needed, the
  // higher ones are let go and taken again after it.
  std::vector<std::int64_t> retake;
  for (auto it = story_locks.upper_bound(ids.front()); it != story_locks.end();) {
    retake.push_back(it->first);
    it = story_locks.erase(it);
  }
  ids.insert(ids.end(), retake.begin(), retake.end());
  std::sort(ids.begin(), ids.end());
  ensure_open_files(story_locks.size() + ids.size());
  for (auto id : ids) story_locks.emplace(id, story_lock(ws, id));
}

void Session::lock_dependency_graph() {
  if (graph_lock) return;
  graph_lock = std::make_unique<ProcessLock>(ws.shared_state_dir() / "locks" / "depends_on", limits::kStoryLock,
                                              "the dependency graph");
  // What was read before the lock may be out of date, and so may a walk another
  // process began before it: the graph is read from a walk begun under the lock.
  started = Instant::now();
  refreshed = false;
  refresh_all();
  // The graph is read once, and kept: the edges cannot change while the lock is
  // held, but another process's walk can still rewrite the index under us. Two kinds
  // of story in that read would hide edges, and so let a cycle through:
  // - one whose file was empty or did not parse: a writer holding its lock may be
  //   rewriting it in place;
  // - one an edge names that has no row: a walk that ran while it moved saw it in
  //   neither directory.
  // Each is read again from its file under its lock (it cannot move or be rewritten
  // meanwhile), and what it names is checked the same way.
  ShadowIndex::DependencySnapshot snapshot = shadow->dependency_snapshot();
  DependencyGraph read = std::move(snapshot.graph);
  std::set<std::int64_t> settled;
  std::vector<std::int64_t> todo = snapshot.unsettled;
  todo.insert(todo.end(), snapshot.missing.begin(), snapshot.missing.end());
  while (!todo.empty()) {
    std::int64_t id = todo.back();
    todo.pop_back();
    if (!settled.insert(id).second) continue;
    Lookup found;
    {
      std::unique_ptr<ProcessLock> held = story_locks.count(id) ? nullptr : story_lock(ws, id);
      shadow->settle_story(id);
      found = shadow->lookup(id);
    }
    read.erase(id);
    for (const auto& s : found.stories) {
      if (s.depends_on.empty()) continue;
      auto& edges = read[id];
      edges.insert(edges.end(), s.depends_on.begin(), s.depends_on.end());
      for (auto dep : s.depends_on)
        if (!snapshot.ids.count(dep)) todo.push_back(dep);  // its edges were not in the read
    }
  }
  graph = std::move(read);
}

DependencyGraph Session::dependency_graph() {
  return graph ? *graph : shadow->dependencies();
}

void Session::graph_changed(std::int64_t id, const std::vector<std::int64_t>& depends_on) {
  if (!graph) return;
  if (depends_on.empty())
    graph->erase(id);
  else
    (*graph)[id] = depends_on;
}

void Session::unlock_story(std::int64_t id) {
  story_locks.erase(id);
}

Story Session::load_for_change(std::int64_t id) {
  finish_pending();
  lock_stories({id});
  shadow->refresh_stories({id});
  return find(id);
}

Lookup Session::lookup(std::int64_t id) {
  Lookup found = shadow->lookup(id);
  if (found.stories.empty() && found.malformed.empty()) {
    // Another process may have moved the story since the targeted check: every
    // file is looked at before "no story" is said.
    shadow->refresh();
    refreshed = true;
    found = shadow->lookup(id);
  }
  return found;
}

bool Session::story_exists(std::int64_t id) {
  auto any = [](const Lookup& found) { return !found.stories.empty() || !found.malformed.empty(); };
  if (any(shadow->lookup(id))) return true;
  bool held_here = story_locks.count(id) > 0;
  if (!held_here && !story_locks.empty()) return false;  // its lock now would break the locks' order
  std::unique_ptr<ProcessLock> held = held_here ? nullptr : story_lock(ws, id);
  shadow->settle_story(id);
  return any(shadow->lookup(id));
}

Story Session::find(std::int64_t id) {
  Lookup found = lookup(id);
  if (!found.malformed.empty()) {
    const auto& bad = found.malformed.front();
    throw InvalidDataError(bad.path + ":" + std::to_string(bad.line) + ": " + bad.message);
  }
  if (found.stories.empty()) throw NotFoundError("no story #" + std::to_string(id));
  if (found.stories.size() > 1) {
    std::vector<std::string> paths;
    for (const auto& s : found.stories) paths.push_back(s.path);
    throw InvalidDataError("story #" + std::to_string(id) + " exists more than once: " + join(paths, ", ") +
                           "; give one of them a new id");
  }
  return std::move(found.stories.front());
}

const std::string& Session::identity() {
  if (!acting_as) {
    const char* env = std::getenv("TRACKER_OWNER");
    if (env && *env)
      acting_as = std::string(trim(env));
    else
      acting_as = git().author_email();
  }
  return *acting_as;
}

Remote* Session::remote() {
  const Config& config = ws.config();
  if (!config.remote || offline) return nullptr;
  return &remote_object();
}

Remote& Session::remote_object() {
  const Config& config = ws.config();
  if (!config.remote) throw UsageError("this board has no shared remote ('remote:' in .tracker/config.yml)");
  if (!shared_remote) {
    shared_remote = std::make_unique<Remote>(ws.root(), *config.remote, [this]() -> GitRepo& { return git(); }, clock);
    shared_remote->on_warning([this](const std::string& message) { warn(message); });
  }
  return *shared_remote;
}

std::vector<std::string> Session::paths_in_every_stage(const fs::path& file_name) const {
  std::vector<std::string> paths;
  for (const auto& stage : ws.config().stages) paths.push_back(ws.relative(ws.stage_dir(stage) / file_name));
  return paths;
}

}  // namespace tracker
