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

const Stage& Tracker::check_new(const NewStoryRequest& request) {
  const Config& config = ws_.config();
  if (!config.is_known_type(request.type))
    throw UsageError("unknown type '" + request.type + "'" + did_you_mean(request.type, config.types) +
                     "; types are: " + join(config.types, ", "));
  const Stage& stage = config.stage(request.stage.value_or(config.ready_stages.front()));
  if (request.text) return stage;
  std::string name(trim(request.name));
  if (name.empty()) throw UsageError("a story needs a name");
  require_text(name, "the story name");
  require_text(request.body, "the story body");
  if (name.find('\n') != std::string::npos) throw UsageError("a story name must be one line");
  for (const auto& label : request.labels) {
    require_text(label, "label");
    if (trim(label).empty() || label.find(',') != std::string::npos || label.find('\n') != std::string::npos)
      throw UsageError("bad label '" + label + "'");
  }
  return stage;
}

NewStoryResult Tracker::create(const NewStoryRequest& request) {
  will_commit();
  const Config& config = ws_.config();
  const Stage& stage = check_new(request);
  refresh_all();
  std::string name(trim(request.name));
  std::string text;
  if (request.text) {
    // A file written in an editor: used as it is, once it reads as a story.
    std::vector<StoryProblem> problems = validate_new(*request.text);
    if (!problems.empty())
      throw InvalidDataError("line " + std::to_string(problems.front().line) + ": " + problems.front().message);
    Story parsed;
    parse_story_text(*request.text, parsed, config.story_limits);
    name = trim(parsed.name);
    text = *request.text;
  } else {
    for (auto dep : request.depends_on) find(dep);  // NotFoundError for an unknown id
    text = render_story(NewStory{name, request.priority, request.labels, request.depends_on,
                                 format_iso8601(clock_.now_seconds()), request.body});
  }
  if (text.size() > config.story_limits.max_bytes)
    throw UsageError("the story would be " + std::to_string(text.size()) + " bytes; a story file holds at most " +
                     std::to_string(config.story_limits.max_bytes) + " (limits.story_bytes in .tracker/config.yml)");

  NewStoryResult result;
  // The id lock is held until the commit has landed: a failed commit gives its id
  // back, and an idempotency key is recorded only for a story that was committed.
  IdAllocation ids(ws_);
  if (request.key) {
    if (auto existing = ids.find_key(*request.key)) {
      result.id = *existing;
      Lookup found = index_->lookup(*existing);
      if (!found.stories.empty()) result.path = found.stories.front().path;
      return result;
    }
  }
  prepare_commit();
  std::int64_t above = std::max({index_->max_id(), id_floor(), ids.last()});
  if (Remote* r = remote()) above = std::max(above, remote_id(*r, above) - 1);
  result.id = ids.reserve(above);
  lock_stories({result.id});  // a `tracker commit` meanwhile leaves the new file to this commit
  fs::path file = ws_.real_stage_dir(stage) / make_story_file_name(result.id, request.type, slugify(name));
  result.path = ws_.relative(file);

  try {
    result.commit = in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
      tx.create(file, text);
      touched.push_back(result.path);
      index_->update_files(touched);
      return commit(
          "tracker: create #" + std::to_string(result.id) + " " + name,
          {{"Tracker-Action", "create"}, {"Tracker-Story", std::to_string(result.id)}, {"Tracker-To", stage.name}},
          {result.path});
    });
  } catch (...) {
    ids.release(result.id);
    throw;
  }
  if (request.key) ids.record_key(*request.key, result.id);
  result.created = true;
  return result;
}

std::vector<Story> Tracker::list(const ListQuery& query) {
  std::vector<Story> out;
  list_each(query, [&](Story&& s) { out.push_back(std::move(s)); });
  return out;
}

void Tracker::list_each(const ListQuery& query, const std::function<void(Story&&)>& visit) {
  ListQuery q = query;
  for (auto& s : q.stages) s = ws_.config().stage(s).name;
  if (q.type && !ws_.config().is_known_type(*q.type))
    throw UsageError("unknown type '" + *q.type + "'" + did_you_mean(*q.type, ws_.config().types));
  refresh_all();
  index_->list_each(q, visit);
}

SearchResult Tracker::search(const std::string& text, const std::vector<std::string>& stages,
                             std::optional<std::int64_t> limit) {
  SearchQuery query = parse_search_query(text);  // before the walk: a typo fails fast
  std::vector<int> orders;
  for (const auto& s : stages) orders.push_back(ws_.config().stage_order(ws_.config().stage(s).name));
  refresh_all();
  return index_->search(query, orders, limit);
}

std::vector<StoryIssue> Tracker::issues() {
  refresh_all();
  return index_->issues();
}

// show, raw and move need only their own stories: they stat those files instead of
// walking the whole board (and walk it when a file moved or changed).
Story Tracker::show(std::int64_t id) {
  return load(id);
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

MoveResult Tracker::move(const std::vector<std::int64_t>& ids, std::string_view stage_name, Force force) {
  will_commit();
  const Stage& target = ws_.config().stage(stage_name);
  lock_stories(ids);
  index_->refresh_stories(ids);
  std::vector<Story> stories;
  std::set<std::int64_t> seen;
  for (auto id : ids)
    if (seen.insert(id).second) stories.push_back(find(id));  // all ids are checked before anything moves

  MoveResult result;
  // The rule of claims, for every story before anything moves: a story another
  // identity holds is refused unless forced. Into a done stage, the work is
  // finished: the claims end, as with done (the stories already there too).
  const bool finishing = ws_.config().is_done_stage(target.name);
  std::vector<Holding> holdings;
  bool own = false;
  for (const auto& s : stories) {
    if (s.stage == target.name && !finishing) continue;
    Holding h = check_holder(s.id, std::nullopt, "move", force);
    if (h.forced) result.forced_by = identity();
    if (!h.holder.empty() && !h.forced && s.stage != target.name) own = true;
    holdings.push_back(std::move(h));
  }
  auto end_claims = [&] {
    for (const auto& h : holdings) {
      if (!h.forced && !finishing) continue;  // the holder's own claim goes on in the new stage
      if (!h.local && !h.lease) continue;
      end_claim(h);
      result.claims_ended.push_back(h.lease ? h.lease->claim : *h.local);
    }
  };
  for (const auto& s : stories)
    if (s.stage == target.name) result.already_there.push_back(s.id);
  if (result.already_there.size() == stories.size()) {
    end_claims();
    return result;
  }
  ws_.real_stage_dir(target);  // refuses a symbolic link before anything moves
  prepare_commit();
  result.commit = in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    std::vector<std::string> paths;  // every stage path of every moved story
    for (const auto& s : stories) {
      if (s.stage == target.name) continue;
      fs::path from = ws_.root() / s.path;
      fs::path to = ws_.real_stage_dir(target) / from.filename();
      tx.rename(from, to);
      // A retry count carried over from an earlier stage is a known bug: a move resets it.
      std::string text = read_file(to);
      std::string edited = s.retry_count != 0 ? set_front_matter_line(text, "retry_count", "0") : text;
      // A claim ended by force out of the working stages: nobody works on it now.
      if (!finishing && std::any_of(holdings.begin(), holdings.end(), [&](const Holding& h) {
            return h.forced && h.id == s.id;
          }))
        edited = remove_front_matter_line(edited, "agent");
      if (edited != text) tx.rewrite(to, text, edited);
      result.moved.push_back({s.id, s.stage, target.name, ws_.relative(to)});
      touched.push_back(s.path);
      touched.push_back(ws_.relative(to));
      for (auto& p : paths_in_every_stage(to.filename())) paths.push_back(std::move(p));
    }
    index_->update_files(touched);
    std::vector<std::string> parts;
    std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "move"}};
    for (const auto& m : result.moved) {
      parts.push_back("#" + std::to_string(m.id) + " " + m.from + " -> " + m.to);
      trailers.emplace_back("Tracker-Story", std::to_string(m.id));
    }
    for (const auto& m : result.moved) trailers.emplace_back("Tracker-From", m.from);
    trailers.emplace_back("Tracker-To", target.name);
    // Who moved a story they hold, or forced another's: what sync's fence reads.
    if (own) trailers.emplace_back("Tracker-Owner", identity());
    if (!result.forced_by.empty()) trailers.emplace_back("Tracker-Forced-By", result.forced_by);
    return commit("tracker: move " + join(parts, ", "), trailers, paths);
  });
  end_claims();
  return result;
}
}  // namespace tracker

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

/// The ready queue, most urgent first, without the stories in `claimed`.
ListQuery ready_query(std::vector<std::int64_t> claimed, std::optional<std::int64_t> limit) {
  ListQuery q;
  q.ready_only = true;
  q.sort = SortKey::priority;
  q.limit = limit;
  q.exclude_ids = std::move(claimed);
  return q;
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

std::map<std::int64_t, Claim> Tracker::live_claims() {
  std::map<std::int64_t, Claim> out;
  std::int64_t now = clock_.now_seconds();
  for (auto& c : claims().all())
    if (ClaimStore::state(c, now) == ClaimState::live) out.emplace(c.id, std::move(c));
  return out;
}

std::vector<std::int64_t> Tracker::claimed_ids() {
  std::vector<std::int64_t> ids;
  for (const auto& [id, c] : live_claims()) ids.push_back(id);
  // Claimed on the remote, from this clone or another: one ls-remote per command.
  if (Remote* r = remote())
    for (const auto& [id, sha] : r->claim_refs()) ids.push_back(id);
  return ids;
}

Remote* Tracker::remote() {
  const Config& config = ws_.config();
  if (!config.remote || offline_) return nullptr;
  return &remote_object();
}

Remote& Tracker::remote_object() {
  const Config& config = ws_.config();
  if (!config.remote) throw UsageError("this board has no shared remote ('remote:' in .tracker/config.yml)");
  if (!remote_) {
    remote_ = std::make_unique<Remote>(ws_.root(), *config.remote, [this]() -> GitRepo& { return git(); }, clock_);
    remote_->on_warning([this](const std::string& message) { warn(message); });
  }
  return *remote_;
}

std::optional<Tracker::RemoteTake> Tracker::acquire_remote(ClaimStore& store, const Claim& local, bool by_id,
                                                          std::string& refusal) {
  Remote& r = *remote();
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

std::int64_t Tracker::remote_id(Remote& r, std::int64_t above) {
  // "<next> <last>": what is left of the block of ids this clone reserved.
  const fs::path block = ws_.shared_state_dir() / "id-block";
  if (auto text = read_file_if_exists(block)) {
    std::vector<std::string> parts = split(trim(*text), ' ');
    auto next = parts.size() == 2 ? parse_int(parts[0]) : std::nullopt;
    auto last = parts.size() == 2 ? parse_int(parts[1]) : std::nullopt;
    if (next && last && *next > above && *next <= *last) {
      write_file_atomic(block, std::to_string(*next + 1) + " " + std::to_string(*last) + "\n");
      return *next;
    }
  }
  try {
    const std::int64_t count = r.settings().id_block;
    std::int64_t first = r.reserve_ids(above, count, "tracker");
    write_file_atomic(block, std::to_string(first + 1) + " " + std::to_string(first + count - 1) + "\n");
    return first;
  } catch (const RemoteUnavailableError& e) {
    warn(std::string(e.what()) +
         "; the id comes from this clone alone, so another clone may give it out too (after a merge, 'tracker check' "
         "finds a duplicate and 'tracker renumber' fixes it)");
    return above + 1;
  }
}

void Tracker::warn_if_offline_claim(std::int64_t id) {
  if (ws_.config().remote)
    warn("offline: the claim on #" + std::to_string(id) + " holds on this machine only; other clones do not see it");
}

void Tracker::renew_remote_lease(ClaimStore& store, const Claim& held, Claim& renewed) {
  Remote* r = remote();
  if (!r || held.lease.empty()) return;
  ++renewed.generation;
  renewed.lease = r->write_lease(renewed, held.lease);
  if (!move_remote_lease(store, held, renewed.lease))
    throw ConflictError("the claim on story #" + std::to_string(held.id) + " was lost: another clone took it over on the remote '" +
                        r->settings().name + "'; stop working on it");
}

bool Tracker::move_remote_lease(ClaimStore& store, const Claim& held, const std::string& replacement) {
  Remote* r = remote();
  if (!r || held.lease.empty()) return true;
  if (r->push_lease(held.id, replacement, held.lease) == LeasePush::done) return true;
  mark_lost(store, held);  // another clone holds it now: this holder is fenced
  return false;
}

std::vector<Story> Tracker::ready(std::optional<std::int64_t> limit) {
  refresh_all();
  return index_->list(ready_query(claimed_ids(), limit));
}

std::vector<std::string> Tracker::paths_in_every_stage(const fs::path& file_name) const {
  std::vector<std::string> paths;
  for (const auto& stage : ws_.config().stages) paths.push_back(ws_.relative(ws_.stage_dir(stage) / file_name));
  return paths;
}

Tracker::Transition Tracker::transition(const Story& original, const Stage& target,
                                        const std::function<std::string(const std::string&)>& edit,
                                        const std::string& action, const std::string& detail,
                                        const std::string& owner, const std::string& new_slug,
                                        const std::string& forced_by) {
  prepare_commit();
  Story story = original;
  for (int attempt = 1;; ++attempt) {
    try {
      return transition_once(story, target, edit, action, detail, owner, new_slug, forced_by);
    } catch (const FileChangedError&) {
      // Changed or moved by hand since it was read: the edit is made again on what is
      // there now, never written over it.
      if (attempt >= limits::kFileChangedRetries) throw;
      index_->refresh_stories({story.id});
      story = find(story.id);
    }
  }
}

Tracker::Transition Tracker::transition_once(const Story& story, const Stage& target,
                                             const std::function<std::string(const std::string&)>& edit,
                                             const std::string& action, const std::string& detail,
                                             const std::string& owner, const std::string& new_slug,
                                             const std::string& forced_by) {
  fs::path from = ws_.root() / story.path;
  fs::path to = story.stage == target.name ? from : ws_.real_stage_dir(target) / from.filename();
  if (!new_slug.empty() && new_slug != story.slug)
    to = to.parent_path() / make_story_file_name(story.id, story.type, new_slug);
  Transition result;
  result.path = ws_.relative(to);
  result.commit = in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    std::optional<std::string> read = read_file_if_exists(from);
    if (!read) throw FileChangedError(story.path + " went away while tracker was changing it");
    std::string old_text = std::move(*read);
    std::string new_text = edit(old_text);
    if (from != to) tx.rename(from, to);
    tx.rewrite(to, old_text, new_text);
    // The index follows the files at once, not after the commit: a concurrent
    // command's walk then finds them as the index says.
    touched = from == to ? std::vector<std::string>{result.path} : std::vector<std::string>{story.path, result.path};
    index_->update_files(touched);
    trace("transition: file changed");
    std::string id = std::to_string(story.id);
    // "(backlog -> current)" for a move; nothing for an edit in place (the trailers
    // still name the stage).
    std::string stages = story.stage == target.name ? "" : " (" + story.stage + " -> " + target.name + ")";
    std::vector<std::pair<std::string, std::string>> trailers = {
        {"Tracker-Action", action}, {"Tracker-Story", id}, {"Tracker-From", story.stage}, {"Tracker-To", target.name}};
    if (!owner.empty()) trailers.emplace_back("Tracker-Owner", owner);
    if (!forced_by.empty()) trailers.emplace_back("Tracker-Forced-By", forced_by);
    std::vector<std::string> paths = paths_in_every_stage(to.filename());
    if (to.filename() != from.filename())
      for (auto& p : paths_in_every_stage(from.filename())) paths.push_back(std::move(p));
    return commit("tracker: " + action + " #" + id + (detail.empty() ? "" : " " + detail) + stages, trailers, paths);
  });
  trace("transition: committed");
  return result;
}

ClaimResult Tracker::take(const Story& story, const Claim& claim, bool after_stale) {
  const Config& config = ws_.config();
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
    Transition t = transition(story, target, edit, "claim", "by " + claim.owner, claim.owner);
    result.commit = t.commit;
  } catch (...) {
    ClaimStore store = claims();
    try {
      move_remote_lease(store, claim, "");  // the claim goes with the transition it was made for
    } catch (const Error&) {
      warn("the lease on #" + std::to_string(claim.id) + " stays on the remote until it expires");
    }
    store.remove(claim);
    throw;
  }
  result.story = story;
  result.story.stage = target.name;
  result.story.path = ws_.relative(ws_.stage_dir(target) / fs::path(story.path).filename());
  result.story.agent = claim.owner;
  if (after_stale) ++result.story.retry_count;
  return result;
}

ClaimResult Tracker::claim(const ClaimRequest& given) {
  will_commit();
  ClaimRequest request = given;
  if (request.owner.empty()) {
    request.owner = identity();
    if (request.owner.empty())
      throw UsageError("a claim needs an owner: " + param_ref("owner", "NAME") +
                       ", TRACKER_OWNER, or git config user.email");
  }
  check_owner(request.owner);
  if (request.pid && (*request.pid < 1 || *request.pid > kMaxPid))
    throw UsageError(param_ref("pid") + " is a process id from 1 to " + std::to_string(kMaxPid));
  std::int64_t ttl = claim_ttl(ws_.config(), request.ttl_seconds);
  ClaimStore store = claims();

  if (!request.id) {
    // Try the ready stories in order; one lost to a concurrent claimer is skipped.
    // They are read in batches: usually the first few will do. Claimed stories have
    // mostly left the ready stages, so each candidate's lock is looked at on its own
    // rather than reading every lock first.
    refresh_all();
    trace("claim: board refreshed");
    Remote* r = remote();
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
    if (r) contention.emplace(ws_.shared_state_dir() / "claim-contention", clock_.now_seconds());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(r ? r->settings().timeout_seconds : 0);
    int lost = 0;
    while (true) {
      const std::size_t spread = contention ? contention->spread() : 1;
      ListQuery candidates = ready_query(skipped, static_cast<std::int64_t>(std::max<std::size_t>(16, 2 * spread)));
      candidates.summary_only = true;  // the id and stage pick one; the one taken is read whole below
      std::vector<Story> batch = index_->list(candidates);
      if (batch.empty()) {
        if (lost) throw NothingToDoError("no ready story to claim: the last were taken by other clones (" +
                                         std::to_string(lost) + " races lost)");
        throw NothingToDoError("no ready story to claim");
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
        lock_stories({story.id});
        index_->refresh_stories({story.id});
        ListQuery still = ready_query({}, 1);
        still.only_ids = std::vector<std::int64_t>{story.id};
        std::vector<Story> now_ready = index_->list(still);
        if (now_ready.empty()) {
          store.remove(c);
          unlock_story(story.id);
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
          unlock_story(story.id);
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
  Story story = load_for_change(id);
  if (ws_.config().is_done_stage(story.stage))
    throw UsageError("story #" + std::to_string(id) + " is " + story.stage +
                     "; only unfinished stories can be claimed");
  std::optional<Claim> mine = store.read(id);
  bool renewing = mine && mine->owner == request.owner && store.state(*mine) == ClaimState::live;
  if (!request.force && !renewing) {
    // What keeps it out of the ready queue keeps it from a claim by id, too.
    if (!story.depends_on.empty()) refresh_all();
    std::string who = "story #" + std::to_string(id);
    if (story.blocked) {
      std::string reason;
      for (const auto& f : story.fields)
        if (f.key == "blocked_reason" && f.json.size() > 2 && f.json.front() == '"')
          reason = " (" + nlohmann::json::parse(f.json).get<std::string>() + ")";
      throw ConflictError(who + " is blocked" + reason + "; unblock it first (" +
                          op_ref("unblock", {{"id", std::to_string(id)}}) + "), or claim it with " +
                          param_ref("force", "true"));
    }
    for (std::int64_t dep : story.depends_on) {
      Lookup found = index_->lookup(dep);
      bool done = false;
      std::string where = "no such story";
      for (const Story& d : found.stories) {
        if (ws_.config().is_done_stage(d.stage)) done = true;
        where = d.stage;
      }
      if (!done)
        throw ConflictError(who + " depends on #" + std::to_string(dep) + " (" + where +
                            "), which is not done; claim it with " + param_ref("force", "true") + " to take it anyway");
    }
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
    if (remote()) {
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

StoryChange Tracker::release(std::int64_t id, const std::optional<std::string>& owner, Force force) {
  will_commit();
  lock_stories({id});
  Story story = load_for_change(id);
  Holding h = check_holder(id, owner, "release", force);
  if (!h.local && !h.lease) {
    // What was asked for already holds: nobody holds the story.
    StoryChange unchanged{id, story.stage, story.stage, "", {}, false};
    return unchanged;
  }
  const Claim& held = h.lease ? h.lease->claim : *h.local;
  // The lease first: one another clone took over meanwhile is theirs, and this
  // holder is fenced.
  if (h.lease) {
    Remote* r = remote();
    if (!r)
      warn("offline: the lease on #" + std::to_string(id) + " stays on the remote until it expires");
    else if (r->push_lease(id, "", h.lease->sha) != LeasePush::done) {
      ClaimStore store = claims();
      if (h.local) mark_lost(store, *h.local);
      throw ConflictError("the claim on story #" + std::to_string(id) +
                          " was taken over by another clone on the remote; nothing was released");
    }
  }
  const Config& config = ws_.config();
  const Stage& back =
      config.find_stage(held.from_stage) ? config.stage(held.from_stage) : config.stage(config.ready_stages.front());
  StoryChange result{id, story.stage, back.name, held.owner, {}, true};
  if (h.forced) result.forced_by = owner ? *owner : identity();
  result.commit = transition(
                      story, back, [](const std::string& text) { return remove_front_matter_line(text, "agent"); },
                      "release", "by " + held.owner, held.owner, "", result.forced_by)
                      .commit;
  if (h.local) claims().remove(*h.local);
  return result;
}

StoryChange Tracker::done(std::int64_t id, Force force) {
  will_commit();
  Story story = load_for_change(id);
  const Stage& target = ws_.config().stage(ws_.config().done_stages.front());
  Holding h = check_holder(id, std::nullopt, "finish", force);
  if (h.lease && remote() && commits()) {
    // The holder may finish from a clone that has not seen her claim's move yet. Her
    // done follows that move, so it is made on top of it: a done made from the stale
    // stage would be a move in the same second as the claim's, which the remote's
    // move wins (docs/remote.md), and the story would stay in current.
    sync_branch({});
    story = load_for_change(id);
  }
  std::string owner = !h.holder.empty() ? h.holder : h.local ? h.local->owner : "";
  StoryChange result{id, story.stage, target.name, owner, {}, true};
  if (h.forced) result.forced_by = identity();
  if (story.stage == target.name && !h.local && !h.lease) {
    result.changed = false;
    return result;
  }
  // With a lease on the remote, the done commit and the lease's end go in one
  // atomic push: the lease is the fencing token.
  if (h.lease && remote() && commits()) return done_remote(story, target, h, h.lease->sha, result);
  if (story.stage != target.name)
    result.commit = transition(
                        story, target, [](const std::string& text) { return text; }, "done", "", result.owner, "",
                        result.forced_by)
                        .commit;
  end_claim(h);
  return result;
}

StoryChange Tracker::done_remote(const Story& story, const Stage& target, const Holding& held, const std::string& lease,
                                 StoryChange result) {
  std::int64_t id = story.id;
  std::string subject;
  if (story.stage != target.name) {
    result.commit = transition(
                        story, target, [](const std::string& text) { return text; }, "done", "", result.owner, "",
                        result.forced_by)
                        .commit;
    subject = first_commit_line(result.commit);
  }
  // One atomic push moves the branch (with this commit) and deletes the lease: the
  // lease is the fencing token, so a holder whose lease another clone took over
  // cannot finish the story.
  SyncResult synced;
  try {
    synced = sync_branch({{id, lease}});
  } catch (...) {
    if (!subject.empty() && !undo_tip_commit(subject))
      warn("#" + std::to_string(id) + " was committed as done here, but could not be pushed nor undone; run tracker sync");
    throw;
  }
  ClaimStore store = claims();
  if (synced.lease_lost) {
    if (!subject.empty() && !undo_tip_commit(subject))
      warn("#" + std::to_string(id) + " was committed as done here before the lease was found lost; undo that commit");
    std::string who = held.local ? mark_lost(store, *held.local) : "another clone";
    throw ConflictError("the claim on story #" + std::to_string(id) + " was taken over by " + who +
                        " on the remote; #" + std::to_string(id) + " is not done");
  }
  for (const auto& c : synced.outgoing)
    if (c.subject == subject) result.commit = c.commit;  // as replayed on the remote's branch
  if (held.local) store.remove(*held.local);
  return result;
}

Claim Tracker::renew(std::int64_t id, const std::optional<std::string>& owner_given,
                     std::optional<std::int64_t> ttl_seconds) {
  const std::string owner = owner_given ? *owner_given : identity();
  check_owner(owner);
  std::int64_t ttl = claim_ttl(ws_.config(), ttl_seconds);
  // Another's claim, here or on the remote, is named with its holder.
  Holding h = check_holder(id, owner, "renew", Force::no);
  ClaimStore store = claims();
  std::optional<Claim> held = h.local;
  if (!held || held->owner != owner) {
    index_->refresh_stories({id});
    find(id);  // no such story: not found, rather than a lost claim
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

std::vector<StoryChange> Tracker::reclaim(std::optional<std::int64_t> id) {
  will_commit();
  ClaimStore store = claims();
  std::vector<Claim> candidates;
  if (id) {
    std::optional<Claim> held = store.read(*id);
    if (!held) {
      load_for_change(*id);  // no such story: not found; else nothing to reclaim here
      if (!remote()) return {};
    } else {
      candidates.push_back(*held);
    }
  } else {
    candidates = store.all();
  }
  std::vector<StoryChange> out;
  const Config& config = ws_.config();
  // A claim that ends here ends on the remote too; a lease another clone took over
  // meanwhile is theirs, and stays.
  auto drop_lease = [&](const Claim& c) {
    try {
      if (Remote* r = remote(); r && !c.lease.empty()) r->push_lease(c.id, "", c.lease);
    } catch (const RemoteUnavailableError& e) {
      warn(std::string(e.what()) + "; the lease on #" + std::to_string(c.id) + " stays there until it expires");
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
    lock_stories({c.id});
    index_->refresh_stories({c.id});
    Lookup found = index_->lookup(c.id);
    if (found.stories.empty() && found.malformed.empty()) {
      index_->refresh();  // it may have been moved meanwhile: look at every file again
      refreshed_ = true;
      found = index_->lookup(c.id);
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
  if (Remote* r = remote()) reclaim_remote(*r, id, candidates, out);
  return out;
}

void Tracker::put_back(const Story& story, const Claim& c, StoryChange& change) {
  const Config& config = ws_.config();
  const Stage& back =
      config.find_stage(c.from_stage) ? config.stage(c.from_stage) : config.stage(config.ready_stages.front());
  auto edit = [&](const std::string& text) {
    return set_front_matter_line(remove_front_matter_line(text, "agent"), "retry_count",
                                 std::to_string(story.retry_count + 1));
  };
  change.to = back.name;
  change.commit = transition(story, back, edit, "reclaim", "from " + c.owner, c.owner).commit;
}

void Tracker::reclaim_remote(Remote& r, std::optional<std::int64_t> id, const std::vector<Claim>& local,
                             std::vector<StoryChange>& out) {
  const Config& config = ws_.config();
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
    lock_stories({c.id});
    index_->refresh_stories({c.id});
    Lookup found = index_->lookup(c.id);
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

StoryChange Tracker::block(std::int64_t id, const std::optional<std::string>& reason) {
  will_commit();
  if (reason && reason->find('\n') != std::string::npos) throw UsageError(param_ref("reason") + " must be one line");
  Story story = load_for_change(id);
  const Stage& stage = ws_.config().stage(story.stage);
  auto edit = [&](const std::string& text) {
    std::string out = set_front_matter_line(text, "blocked", "true");
    return reason ? set_front_matter_line(out, "blocked_reason", yaml_scalar(*reason)) : out;
  };
  StoryChange result{id, story.stage, story.stage, "", {}, true};
  std::string before = read_file(ws_.root() / story.path);
  if (edit(before) == before) {
    result.changed = false;
    return result;
  }
  result.commit = transition(story, stage, edit, "block", "", "").commit;
  return result;
}

StoryChange Tracker::unblock(std::int64_t id) {
  will_commit();
  Story story = load_for_change(id);
  const Stage& stage = ws_.config().stage(story.stage);
  StoryChange result{id, story.stage, story.stage, "", {}, true};
  if (!story.blocked) {
    result.changed = false;
    return result;
  }
  auto edit = [](const std::string& text) {
    return remove_front_matter_line(set_front_matter_line(text, "blocked", "false"), "blocked_reason");
  };
  result.commit = transition(story, stage, edit, "unblock", "", "").commit;
  return result;
}

LinkResult Tracker::link(std::int64_t id, std::int64_t dependency) {
  will_commit();
  lock_dependency_graph();
  refresh_all();
  Story story = load_for_change(id);
  if (id == dependency) throw InvalidDataError("story #" + std::to_string(id) + " cannot depend on itself");
  Lookup target = index_->lookup(dependency);
  if (target.stories.empty() && target.malformed.empty())
    throw NotFoundError("no story #" + std::to_string(dependency));
  LinkResult result{id, dependency, story.depends_on, {}, false};
  if (std::find(story.depends_on.begin(), story.depends_on.end(), dependency) != story.depends_on.end()) return result;
  if (auto path = dependency_path(dependency_graph(), dependency, id)) {
    path->insert(path->begin(), id);
    throw InvalidDataError("linking #" + std::to_string(id) + " to #" + std::to_string(dependency) +
                           " would make a dependency cycle: " + format_dependency_path(*path));
  }
  auto edit = [&](const std::string& text) {
    return edit_front_matter_list(text, "depends_on", [](std::string_view) { return true; },
                                  {std::to_string(dependency)});
  };
  result.commit =
      transition(story, ws_.config().stage(story.stage), edit, "link", "to #" + std::to_string(dependency), "").commit;
  result.depends_on.push_back(dependency);
  result.changed = true;
  graph_changed(id, result.depends_on);
  return result;
}

LinkResult Tracker::unlink(std::int64_t id, std::int64_t dependency) {
  will_commit();
  Story story = load_for_change(id);
  LinkResult result{id, dependency, {}, {}, false};
  for (auto d : story.depends_on)
    if (d != dependency) result.depends_on.push_back(d);
  std::string before = read_file(ws_.root() / story.path);
  auto edit = [&](const std::string& text) {
    return edit_front_matter_list(text, "depends_on",
                                  [&](std::string_view item) { return story_ref(item) != dependency; }, {});
  };
  if (edit(before) == before) return result;
  result.commit =
      transition(story, ws_.config().stage(story.stage), edit, "unlink", "from #" + std::to_string(dependency), "")
          .commit;
  result.changed = true;
  graph_changed(id, result.depends_on);
  return result;
}

BoardStats Tracker::stats() {
  refresh_all();
  BoardStats st;
  ListQuery all;
  all.summary_only = true;
  std::map<std::string, std::int64_t> counts;
  for (const auto& s : index_->list(all)) {
    ++counts[s.stage];
    ++st.total;
    if (s.blocked) ++st.blocked;
  }
  for (const auto& stage : ws_.config().stages) st.per_stage.emplace_back(stage.name, counts[stage.name]);
  std::int64_t now = clock_.now_seconds();
  std::vector<std::int64_t> live;
  for (const auto& c : claims().all()) {
    if (ClaimStore::state(c, now) == ClaimState::live)
      live.push_back(c.id);
    else
      ++st.expired_claims;
  }
  st.claimed = static_cast<std::int64_t>(live.size());
  std::vector<Story> ready_now = index_->list(ready_query(std::move(live), std::nullopt));
  st.ready = static_cast<std::int64_t>(ready_now.size());
  for (const auto& s : ready_now) {
    auto created = parse_iso8601(s.created);
    if (!created) continue;
    if (!st.oldest_ready_age_seconds || now - *created > *st.oldest_ready_age_seconds) {
      st.oldest_ready_age_seconds = now - *created;
      st.oldest_ready_id = s.id;
    }
  }
  return st;
}

namespace {

fs::path id_floor_file(const Workspace& ws) {
  return ws.config_path().parent_path() / "id-floor";
}

}  // namespace

std::int64_t Tracker::id_floor() const {
  auto text = read_file_if_exists(id_floor_file(ws_));
  return text ? parse_int(trim(*text)).value_or(0) : 0;
}

const Stage& Tracker::archive_stage() const {
  const Config& config = ws_.config();
  if (const Stage* s = config.find_stage("archived")) return *s;
  if (config.done_stages.empty()) throw UsageError("no done stage to archive to (done_stages is empty)");
  return config.stage(config.done_stages.back());
}

DeleteResult Tracker::remove(const std::vector<std::int64_t>& ids, bool force) {
  will_commit();
  lock_stories(ids);
  refresh_all();
  std::vector<Story> stories;
  std::set<std::int64_t> seen;
  for (auto id : ids)
    if (seen.insert(id).second) stories.push_back(find(id));  // every id checked before anything goes
  // The rule of claims: a story another identity holds (here or on the remote) is
  // refused unless forced; every claim on a deleted story ends with it.
  DeleteResult result;
  std::vector<Holding> held;
  for (const auto& s : stories) {
    Holding h = check_holder(s.id, std::nullopt, "delete", force ? Force::yes : Force::no);
    if (h.forced) result.forced_by = identity();
    if (h.local || h.lease) held.push_back(std::move(h));
  }
  if (!force)
    for (const auto& [story_id, deps] : index_->dependencies()) {
      if (seen.count(story_id)) continue;
      for (auto dep : deps)
        if (seen.count(dep))
          throw ConflictError("story #" + std::to_string(story_id) + " depends on #" + std::to_string(dep) +
                              "; unlink it first (" +
                              op_ref("unlink", {{"id", std::to_string(story_id)}, {"depends_on", std::to_string(dep)}}) +
                              "), or delete with " + param_ref("force", "true"));
    }

  std::int64_t floor = id_floor(), highest = *std::max_element(seen.begin(), seen.end());
  fs::path floor_file = id_floor_file(ws_);
  prepare_commit();
  result.commit = in_transaction([&](FileTransaction& tx, std::vector<std::string>& touched) {
    for (const auto& s : stories) {
      fs::path file = ws_.root() / s.path;
      tx.remove(file, read_file(file));
      touched.push_back(s.path);
      result.deleted.push_back({s.id, s.name, s.stage, s.path});
    }
    index_->update_files(touched);
    std::vector<std::string> paths = touched;
    if (highest > floor) {
      std::string text = std::to_string(highest) + "\n";
      if (auto old = read_file_if_exists(floor_file))
        tx.rewrite(floor_file, *old, text);
      else
        tx.create(floor_file, text);
      paths.push_back(ws_.relative(floor_file));
    }
    std::vector<std::string> parts;
    std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "delete"}};
    for (const auto& d : result.deleted) {
      parts.push_back("#" + std::to_string(d.id) + " " + d.name);
      trailers.emplace_back("Tracker-Story", std::to_string(d.id));
    }
    for (const auto& d : result.deleted) trailers.emplace_back("Tracker-From", d.stage);
    if (!result.forced_by.empty()) trailers.emplace_back("Tracker-Forced-By", result.forced_by);
    return commit("tracker: delete " + join(parts, ", "), trailers, paths);
  });
  for (const auto& h : held) {
    end_claim(h);
    result.claims_ended.push_back(h.lease ? h.lease->claim : *h.local);
  }
  return result;
}

}  // namespace tracker
