// The Tracker: what every operation shares. Opening a board, init and adopt, the
// commit of a transition and its undo, story locks, loading stories.
#include <tracker/claim_spread.hpp>
#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/remote.hpp>
#include <tracker/tracker.hpp>
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

Tracker::Tracker(Workspace ws, CommitOptions commit, const Clock& clock, const Disk& disk)
    : ws_(std::move(ws)),
      commit_options_(commit),
      clock_(clock),
      started_(Instant::now()),
      index_(std::make_unique<ShadowIndex>(ws_, clock, disk)) {
  if (!ws_.config().commit_verify) commit_options_.verify = Verify::no;
}

void Tracker::refresh_all() {
  finish_pending();
  if (refreshed_) return;
  // A walk that another process began after this action started saw every change
  // made before it, so it serves this action too.
  index_->refresh(started_);
  refreshed_ = true;
}

ShadowIndex& Tracker::index() {
  refresh_all();
  return *index_;
}

Tracker::~Tracker() {
  GitRepo::finish_loading();
}

namespace {

/// The end of init and adopt: `git init` when there is no repository, the config
/// file, and one commit of it and of `also`.
void write_config_and_commit(InitResult& result, const Config& config, CommitOptions commit, const std::string& subject,
                             const std::vector<fs::path>& also) {
  if (!find_git_dirs(result.root)) {
    GitRepo::init(result.root);
    result.created_repository = true;
  }
  fs::path config_file = Workspace::config_path_for(result.root);
  fs::create_directories(config_file.parent_path());
  if (!fs::exists(config_file)) write_file_atomic(config_file, config.render());  // an unfinished init's stays
  if (commit.mode == CommitMode::yes && config.commit) {
    GitRepo repo = GitRepo::open(result.root);
    CommitRequest request;
    request.subject = subject;
    request.verify = config.commit_verify ? commit.verify : Verify::no;
    request.trailers = {{"Tracker-Action", "init"}};
    request.paths.push_back(config_file.lexically_relative(repo.work_tree()).generic_string());
    for (const auto& p : also) request.paths.push_back(p.lexically_relative(repo.work_tree()).generic_string());
    result.commit = repo.commit_paths(request).sha;
  }
}

}  // namespace

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

/// The files that have id `id`: the index's rows, looked at again after a walk of
/// every file when there are none (another process may have moved the story since
/// the targeted check). Sets `refreshed` when it walked.
Lookup lookup_after_walk(ShadowIndex& index, bool& refreshed, std::int64_t id) {
  Lookup found = index.lookup(id);
  if (found.stories.empty() && found.malformed.empty()) {
    index.refresh();
    refreshed = true;
    found = index.lookup(id);
  }
  return found;
}

/// The git directory (a bare repository, or the inside of a .git) that holds `dir`,
/// found before any work tree is: there, git itself refuses work-tree commands.
std::optional<fs::path> enclosing_git_dir(fs::path dir) {
  std::error_code ec;
  for (;;) {
    if (fs::exists(dir / ".git", ec)) return std::nullopt;
    if (fs::is_regular_file(dir / "HEAD", ec) && fs::is_directory(dir / "objects", ec) &&
        fs::is_directory(dir / "refs", ec))
      return dir;
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
}

}  // namespace

InitResult Tracker::init(const fs::path& dir, const InitOptions& options) {
  InitResult result;
  result.root = fs::weakly_canonical(fs::absolute(dir));
  if (auto git_dir = enclosing_git_dir(result.root))
    throw UsageError("tracker init must be run in a work tree: " + git_dir->string() +
                     " is a git directory (a bare repository has none)");
  fs::path config_file = Workspace::config_path_for(result.root);
  std::optional<Config> unfinished;  // a config an earlier init wrote and could not commit
  if (fs::exists(config_file)) {
    std::optional<std::string> committed;
    if (find_git_dirs(result.root)) {
      // No commit yet reads as no content; a repository libgit2 cannot open, or no
      // libgit2 at all, is an error here as everywhere.
      GitRepo repo = GitRepo::open(result.root);
      committed = repo.content_at("HEAD", config_file.lexically_relative(repo.work_tree()).generic_string());
    }
    if (committed || options.commit.mode != CommitMode::yes)
      throw UsageError("already a tracker workspace: " + config_file.string() + " exists");
    unfinished = Config::parse(read_file(config_file), config_file.string());
  }
  Config config = unfinished ? *unfinished : Config::for_stages(options.stories_dir, options.stages);

  // Nothing is written before it is known that the commit can be made: a git
  // identity, above all. A repository made for the check is taken away again.
  std::error_code ec;
  bool made_dir = !fs::exists(result.root, ec);
  bool made_repo = false;
  auto undo = [&] {
    std::error_code ignored;
    if (made_dir)
      fs::remove_all(result.root, ignored);
    else if (made_repo)
      fs::remove_all(result.root / ".git", ignored);
  };
  fs::create_directories(result.root, ec);
  if (ec) throw IoError("cannot create " + result.root.string() + ": " + ec.message());
  if (options.commit.mode == CommitMode::yes && config.commit) {
    try {
      if (!find_git_dirs(result.root)) {
        GitRepo::init(result.root);
        made_repo = true;
        result.created_repository = true;
      }
      GitRepo::open(result.root).check_can_commit();
    } catch (...) {
      undo();
      throw;
    }
  }
  if (options.remote && !unfinished) {
    auto git = [&](const std::vector<std::string>& args) { return run_git(result.root, args); };
    RemoteSettings remote;
    remote.name = *options.remote;
    if (git({"remote", "get-url", "--", remote.name}).status != 0) {
      undo();
      throw UsageError("no git remote '" + remote.name + "' in this repository: add it first (git remote add " +
                       remote.name + " <url>), then run tracker init --remote " + remote.name + " again");
    }
    ProgramResult branch = git({"symbolic-ref", "--quiet", "--short", "HEAD"});
    if (branch.status == 0 && !trim(branch.out).empty()) remote.branch = std::string(trim(branch.out));
    config.remote = remote;
    // The same checks as a config file read back gets.
    config = Config::parse(config.render(), Workspace::config_path_for(result.root).string());
  }

  std::vector<fs::path> written;
  for (const auto& stage : config.stages) {
    fs::path stage_dir = result.root / config.stories_dir / stage.dir;
    fs::create_directories(stage_dir);
    fs::path keep = stage_dir / ".gitkeep";
    if (!fs::exists(keep)) write_file_atomic(keep, "");
    written.push_back(keep);
  }
  // Story files merge field by field (tracker merge-file): .gitattributes names
  // them, committed; the driver is registered in this clone's git config.
  fs::path attributes = result.root / ".gitattributes";
  std::string existing = read_file_if_exists(attributes).value_or("");
  std::string line = merge_attributes_line(config.stories_dir);
  if (existing.find(line) == std::string::npos)
    write_file_atomic(attributes, existing + (existing.empty() || existing.ends_with('\n') ? "" : "\n") + line);
  written.push_back(attributes);
  if (find_git_dirs(result.root)) install_merge_driver(result.root);
  write_config_and_commit(result, config, options.commit, "tracker: init " + join(config.stage_names(), ", "), written);
  return result;
}

InitResult Tracker::adopt(const fs::path& dir, const std::string& stories_dir, CommitOptions commit) {
  InitResult result;
  result.root = fs::weakly_canonical(fs::absolute(dir));
  fs::path config_file = Workspace::config_path_for(result.root);
  if (fs::exists(config_file)) throw UsageError("already a tracker workspace: " + config_file.string() + " exists");
  fs::path board = fs::weakly_canonical(fs::absolute(stories_dir));
  std::string relative = board.lexically_relative(result.root).generic_string();
  if (relative.empty() || relative == "." || relative.starts_with(".."))
    throw UsageError(stories_dir + " is not a directory inside " + result.root.string());
  if (!fs::is_directory(board)) throw UsageError("no board to adopt: " + stories_dir + " is not a directory");

  // Stage directories are <n>_<name>, in the order of n.
  std::vector<std::pair<std::int64_t, Stage>> found;
  for (const auto& e : fs::directory_iterator(board)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || name.starts_with('.')) continue;
    auto us = name.find('_');
    auto n = us == std::string::npos ? std::nullopt : parse_int(name.substr(0, us));
    std::string stage = us == std::string::npos ? "" : name.substr(us + 1);
    if (!n || *n < 0 || !valid_stage_name(stage)) {
      result.ignored.push_back(relative + "/" + name);
      continue;
    }
    found.push_back({*n, {stage, name}});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (found.empty()) throw UsageError("no board to adopt: " + stories_dir + " has no <n>_<name> stage directories");

  std::vector<std::string> names;
  for (const auto& [n, stage] : found) names.push_back(stage.name);
  Config config = Config::for_stages(relative, names);
  for (std::size_t i = 0; i < found.size(); ++i) config.stages[i].dir = found[i].second.dir;
  // The types the file names use, after the usual ones.
  for (const auto& stage : config.stages) {
    for (const auto& e : fs::directory_iterator(board / stage.dir)) {
      std::string file = e.path().filename().string();
      auto name = parse_story_file_name(file, config.types);
      if (!name) continue;
      ++result.stories;
      std::string stem = file.substr(0, file.size() - 3);
      if (std::count(stem.begin(), stem.end(), '_') >= 2 && !config.is_known_type(name->type) &&
          std::all_of(name->type.begin(), name->type.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; }))
        config.types.push_back(name->type);
    }
  }

  write_config_and_commit(result, config, commit,
                          "tracker: adopt " + relative + " (" + join(config.stage_names(), ", ") + ")", {});
  result.config = config;
  return result;
}

bool Tracker::commits() const {
  return commit_options_.mode == CommitMode::yes && ws_.config().commit;
}

void Tracker::warn(const std::string& message) {
  warnings_.push_back(message);
  if (warn_) warn_(message);
}

GitRepo& Tracker::git() {
  if (!git_) git_ = std::make_unique<GitRepo>(GitRepo::open(ws_.root()));
  return *git_;
}

void Tracker::will_commit() {
  if (commits()) GitRepo::start_loading();
}

void Tracker::finish_pending() {
  if (pending_checked_) return;
  pending_checked_ = true;
  if (!commits()) return;
  // Journals still held belong to commits in progress in other processes.
  if (GitRepo::orphaned_index_updates(ws_.local_state_dir() / "pending-index", clock_.now_ns()).empty()) return;
  IndexRepair repair = git().finish_index_updates();
  for (const auto& w : repair.warnings) warn(w);
}

void Tracker::prepare_commit() {
  finish_pending();
  if (prepared_) return;
  prepared_ = true;
  sweep_temp_files(false);
  if (commits()) git().check_can_commit();
}

std::vector<fs::path> Tracker::sweep_temp_files(bool dry_run) {
  std::int64_t now = clock_.now_ns();
  std::vector<fs::path> out = sweep_orphans(ws_.temp_dir(), now, limits::kOrphanMinAgeNs, dry_run);
  for (auto& p : sweep_orphans(ws_.temp_dir() / "hooks", now, limits::kHookFileMinAgeNs, dry_run)) out.push_back(p);
  // A journal its process did not live to link into place.
  for (auto& p : sweep_orphans(ws_.local_state_dir() / "pending-index", now, limits::kOrphanMinAgeNs, dry_run,
                               [](std::string_view name) { return name.starts_with('.'); }))
    out.push_back(p);
  // Claim locks are never held open; only the claim store's temp and released
  // files (".<id>...") are candidates.
  for (auto& p : sweep_orphans(claims().dir(), now, limits::kOrphanMinAgeNs, dry_run,
                               [](std::string_view name) { return name.starts_with('.'); }))
    out.push_back(p);
  return out;
}

std::string Tracker::commit(const std::string& subject,
                            const std::vector<std::pair<std::string, std::string>>& trailers,
                            const std::vector<std::string>& paths) {
  if (!commits()) return {};
  CommitRequest request{subject, trailers, {}, commit_options_.verify};
  for (const auto& p : paths)
    request.paths.push_back((ws_.root() / p).lexically_relative(git().work_tree()).generic_string());
  CommitResult result = git().commit_paths(request);
  for (const auto& w : result.warnings) warn(w);
  if (!result.sha.empty()) ++unsynced_commits_;
  return result.sha;
}

std::string Tracker::in_transaction(
    const std::function<std::string(FileTransaction&, std::vector<std::string>&)>& body) {
  FileTransaction tx(ws_.temp_dir());
  std::vector<std::string> touched;
  try {
    std::string sha = body(tx, touched);
    tx.keep();
    return sha;
  } catch (...) {
    std::vector<std::string> failed = tx.rollback();
    try {
      index_->update_files(touched);  // the index follows the files back
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

Story Tracker::load(std::int64_t id) {
  finish_pending();
  if (!refreshed_) index_->refresh_stories({id});
  return find(id);
}

void Tracker::lock_stories(std::vector<std::int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::erase_if(ids, [&](std::int64_t id) { return story_locks_.count(id) > 0; });
  if (ids.empty()) return;
  // Locks are always taken in id order: when one below a held lock is needed, the
  // higher ones are let go and taken again after it.
  std::vector<std::int64_t> retake;
  for (auto it = story_locks_.upper_bound(ids.front()); it != story_locks_.end();) {
    retake.push_back(it->first);
    it = story_locks_.erase(it);
  }
  ids.insert(ids.end(), retake.begin(), retake.end());
  std::sort(ids.begin(), ids.end());
  ensure_open_files(story_locks_.size() + ids.size());
  for (auto id : ids) story_locks_.emplace(id, story_lock(ws_, id));
}

void Tracker::lock_dependency_graph() {
  if (graph_lock_) return;
  graph_lock_ = std::make_unique<ProcessLock>(ws_.shared_state_dir() / "locks" / "depends_on", limits::kStoryLock,
                                              "the dependency graph");
  // What was read before the lock may be out of date, and so may a walk another
  // process began before it: the graph is read from a walk begun under the lock.
  started_ = Instant::now();
  refreshed_ = false;
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
  ShadowIndex::DependencySnapshot snapshot = index_->dependency_snapshot();
  DependencyGraph graph = std::move(snapshot.graph);
  std::set<std::int64_t> settled;
  std::vector<std::int64_t> todo = snapshot.unsettled;
  todo.insert(todo.end(), snapshot.missing.begin(), snapshot.missing.end());
  while (!todo.empty()) {
    std::int64_t id = todo.back();
    todo.pop_back();
    if (!settled.insert(id).second) continue;
    Lookup found;
    {
      std::unique_ptr<ProcessLock> held = story_locks_.count(id) ? nullptr : story_lock(ws_, id);
      index_->settle_story(id);
      found = index_->lookup(id);
    }
    graph.erase(id);
    for (const auto& s : found.stories) {
      if (s.depends_on.empty()) continue;
      auto& edges = graph[id];
      edges.insert(edges.end(), s.depends_on.begin(), s.depends_on.end());
      for (auto dep : s.depends_on)
        if (!snapshot.ids.count(dep)) todo.push_back(dep);  // its edges were not in the read
    }
  }
  graph_ = std::move(graph);
}

DependencyGraph Tracker::dependency_graph() {
  return graph_ ? *graph_ : index_->dependencies();
}

void Tracker::graph_changed(std::int64_t id, const std::vector<std::int64_t>& depends_on) {
  if (!graph_) return;
  if (depends_on.empty())
    graph_->erase(id);
  else
    (*graph_)[id] = depends_on;
}

void Tracker::unlock_story(std::int64_t id) {
  story_locks_.erase(id);
}

Story Tracker::load_for_change(std::int64_t id) {
  finish_pending();
  lock_stories({id});
  index_->refresh_stories({id});
  return find(id);
}

Story Tracker::find(std::int64_t id) {
  Lookup found = lookup_after_walk(*index_, refreshed_, id);
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

std::string Tracker::raw(std::int64_t id) {
  // Any file with the id, malformed or not: --raw is how a broken one is looked at.
  finish_pending();
  if (!refreshed_) index_->refresh_stories({id});
  Lookup found = lookup_after_walk(*index_, refreshed_, id);
  std::vector<std::string> files;
  for (const auto& s : found.stories) files.push_back(s.path);
  for (const auto& m : found.malformed) files.push_back(m.path);
  if (files.empty()) throw NotFoundError("no story #" + std::to_string(id));
  if (files.size() > 1)
    throw InvalidDataError("story #" + std::to_string(id) + " exists more than once: " + join(files, ", ") +
                           "; give one of them a new id");
  return read_file(ws_.root() / files.front());
}

std::pair<Story, std::string> Tracker::read_whole(std::int64_t id) {
  bool held = story_locks_.count(id) > 0;
  lock_stories({id});
  index_->refresh_stories({id});
  Story story = find(id);
  std::string text = read_file(ws_.root() / story.path);
  if (!held) unlock_story(id);
  return {std::move(story), std::move(text)};
}
}  // namespace tracker
