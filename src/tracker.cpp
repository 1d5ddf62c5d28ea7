#include <tracker/deps.hpp>
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include "gitnative.hpp"

#include <algorithm>
#include <ctime>
#include <functional>
#include <set>

namespace tracker {

Tracker::Tracker(Workspace ws, CommitMode commit)
    : ws_(std::move(ws)), commit_mode_(commit), started_(Instant::now()), index_(std::make_unique<ShadowIndex>(ws_)) {}

void Tracker::refresh_all() {
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
  if (git_loader_.joinable()) git_loader_.join();
}

namespace {

/// The end of init and adopt: `git init` when there is no repository, the config
/// file, and one commit of it and of `also`.
void write_config_and_commit(InitResult& result, const Config& config, CommitMode commit, const std::string& subject,
                             const std::vector<fs::path>& also) {
  if (!find_git_dirs(result.root)) {
    GitRepo::init(result.root);
    result.created_repository = true;
  }
  fs::path config_file = Workspace::config_path_for(result.root);
  fs::create_directories(config_file.parent_path());
  write_file_atomic(config_file, config.render());
  if (commit == CommitMode::yes && config.commit) {
    GitRepo repo = GitRepo::open(result.root);
    CommitRequest request;
    request.subject = subject;
    request.trailers = {{"Tracker-Action", "init"}};
    request.paths.push_back(config_file.lexically_relative(repo.work_tree()).generic_string());
    for (const auto& p : also) request.paths.push_back(p.lexically_relative(repo.work_tree()).generic_string());
    result.commit = repo.commit_paths(request).sha;
  }
}

}  // namespace

InitResult Tracker::init(const fs::path& dir, const InitOptions& options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create " + dir.string() + ": " + ec.message());
  InitResult result;
  result.root = fs::weakly_canonical(fs::absolute(dir));
  fs::path config_file = Workspace::config_path_for(result.root);
  if (fs::exists(config_file)) throw UsageError("already a tracker workspace: " + config_file.string() + " exists");

  Config config = Config::for_stages(options.stories_dir, options.stages);
  std::vector<fs::path> written;
  for (const auto& stage : config.stages) {
    fs::path stage_dir = result.root / config.stories_dir / stage.dir;
    fs::create_directories(stage_dir);
    fs::path keep = stage_dir / ".gitkeep";
    if (!fs::exists(keep)) write_file_atomic(keep, "");
    written.push_back(keep);
  }
  write_config_and_commit(result, config, options.commit, "tracker: init " + join(config.stage_names(), ", "), written);
  return result;
}

InitResult Tracker::adopt(const fs::path& dir, const std::string& stories_dir, CommitMode commit) {
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

std::string Tracker::commit(const std::string& subject, const std::vector<std::pair<std::string, std::string>>& trailers,
                            const std::vector<std::string>& paths) {
  if (commit_mode_ == CommitMode::no || !ws_.config().commit) return {};
  CommitRequest request{subject, trailers, {}};
  if (const auto& dirs = native_git()) {
    for (const auto& p : paths) request.paths.push_back((ws_.root() / p).lexically_relative(dirs->work_tree).generic_string());
    if (auto done = native_commit_paths(*dirs, request)) return done->sha;
    native_git_ = std::optional<GitDirs>();  // it needs libgit2 after all
    request.paths.clear();
  }
  for (const auto& p : paths) request.paths.push_back((ws_.root() / p).lexically_relative(git().work_tree()).generic_string());
  return git().commit_paths(request).sha;
}

const std::optional<GitDirs>& Tracker::native_git() {
  if (!native_git_) {
    std::optional<GitDirs> dirs = find_git_dirs(ws_.root());
    native_git_ = dirs && native_commit_unsupported(*dirs).empty() ? dirs : std::nullopt;
  }
  return *native_git_;
}

GitRepo& Tracker::git() {
  if (!git_) git_ = std::make_unique<GitRepo>(GitRepo::open(ws_.root()));
  return *git_;
}

void Tracker::will_commit() {
  if (commit_mode_ == CommitMode::no || !ws_.config().commit || git_loader_.joinable() || git_) return;
  if (native_git()) return;
  git_loader_ = std::thread(&GitRepo::preload);
}

Story Tracker::find(std::int64_t id) {
  Lookup found = index_->lookup(id);
  if (found.stories.empty() && found.malformed.empty()) {
    // Another process may have moved the story since our targeted check or our
    // last walk: look at every file again before saying it does not exist.
    index_->refresh();
    refreshed_ = true;
    found = index_->lookup(id);
  }
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

NewStoryResult Tracker::create(const NewStoryRequest& request) {
  will_commit();
  const Config& config = ws_.config();
  std::string name(trim(request.name));
  if (name.empty()) throw UsageError("a story needs a name");
  if (name.find('\n') != std::string::npos) throw UsageError("a story name must be one line");
  if (!config.is_known_type(request.type))
    throw UsageError("unknown type '" + request.type + "'" + did_you_mean(request.type, config.types) +
                     "; types are: " + join(config.types, ", "));
  const Stage& stage = config.stage(request.stage.value_or(config.ready_stages.front()));
  for (const auto& label : request.labels)
    if (trim(label).empty() || label.find(',') != std::string::npos || label.find('\n') != std::string::npos)
      throw UsageError("bad label '" + label + "'");
  refresh_all();
  for (auto dep : request.depends_on) find(dep);  // NotFoundError for an unknown id

  NewStoryResult result;
  {
    IdAllocation ids(ws_);
    if (request.key) {
      if (auto existing = ids.find_key(*request.key)) {
        result.id = *existing;
        Lookup found = index_->lookup(*existing);
        if (!found.stories.empty()) result.path = found.stories.front().path;
        return result;
      }
    }
    result.id = ids.reserve(index_->max_id());
    fs::path dir = ws_.stage_dir(stage);
    fs::create_directories(dir);
    fs::path file = dir / make_story_file_name(result.id, request.type, slugify(name));
    NewStory story{name, request.priority, request.labels, request.depends_on, utc_now_iso8601(), request.body};
    write_file_atomic(file, render_story(story));
    if (request.key) ids.record_key(*request.key, result.id);
    result.path = ws_.relative(file);
    result.created = true;
  }
  result.commit = commit("tracker: create #" + std::to_string(result.id) + " " + name,
                         {{"Tracker-Action", "create"}, {"Tracker-Story", std::to_string(result.id)}, {"Tracker-To", stage.name}},
                         {result.path});
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
  if (!refreshed_) index_->refresh_stories({id});
  return find(id);
}

std::string Tracker::raw(std::int64_t id) { return read_file(ws_.root() / show(id).path); }

MoveResult Tracker::move(const std::vector<std::int64_t>& ids, std::string_view stage_name) {
  will_commit();
  const Stage& target = ws_.config().stage(stage_name);
  if (!refreshed_) index_->refresh_stories(ids);
  std::vector<Story> stories;
  std::set<std::int64_t> seen;
  for (auto id : ids)
    if (seen.insert(id).second) stories.push_back(find(id));  // all ids are checked before anything moves

  MoveResult result;
  std::vector<std::string> paths;                   // every stage path of every moved story
  std::vector<std::pair<fs::path, fs::path>> done;  // for rolling back a half-done move
  try {
    for (const auto& s : stories) {
      if (s.stage == target.name) {
        result.already_there.push_back(s.id);
        continue;
      }
      fs::path from = ws_.root() / s.path;
      fs::path dir = ws_.stage_dir(target);
      fs::create_directories(dir);
      fs::path to = dir / from.filename();
      rename_no_replace(from, to);
      done.emplace_back(from, to);
      // A retry count carried over from an earlier stage is a known bug: a move resets it.
      if (s.retry_count != 0) write_file_atomic(to, set_front_matter_line(read_file(to), "retry_count", "0"));
      result.moved.push_back({s.id, s.stage, target.name, ws_.relative(to)});
      for (auto& p : paths_in_every_stage(to.filename())) paths.push_back(std::move(p));
    }
  } catch (...) {
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      std::error_code ec;
      fs::rename(it->second, it->first, ec);
    }
    throw;
  }
  if (result.moved.empty()) return result;

  std::vector<std::string> parts;
  std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "move"}};
  for (const auto& m : result.moved) {
    parts.push_back("#" + std::to_string(m.id) + " " + m.from + " -> " + m.to);
    trailers.emplace_back("Tracker-Story", std::to_string(m.id));
  }
  for (const auto& m : result.moved) trailers.emplace_back("Tracker-From", m.from);
  trailers.emplace_back("Tracker-To", target.name);
  result.commit = commit("tracker: move " + join(parts, ", "), trailers, paths);
  return result;
}

}  // namespace tracker

namespace tracker {

namespace {

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void check_owner(const std::string& owner) {
  if (trim(owner).empty()) throw UsageError("--owner must not be empty");
  if (owner.size() > 100) throw UsageError("--owner is too long (at most 100 characters)");
  for (unsigned char c : owner)
    if (c < 0x20 || c == 0x7f) throw UsageError("--owner must not contain control characters");
}

/// The TTL of a claim: the one asked for, else the config's.
std::int64_t claim_ttl(const Config& config, std::optional<std::int64_t> ttl_seconds) {
  std::int64_t ttl = ttl_seconds.value_or(config.claim_ttl_seconds);
  if (ttl <= 0) throw UsageError("the claim TTL must be positive");
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

/// A story file rewritten and moved as one step, which can be undone until committed.
class FileChange {
public:
  FileChange(fs::path from, fs::path to, std::string old_text, std::string new_text)
      : from_(std::move(from)), to_(std::move(to)), old_(std::move(old_text)), new_(std::move(new_text)) {}

  void apply() {
    if (from_ != to_) {
      fs::create_directories(to_.parent_path());
      rename_no_replace(from_, to_);
      moved_ = true;
    }
    if (new_ != old_) {
      write_file_atomic(to_, new_);
      rewritten_ = true;
    }
  }

  /// Best effort: puts the old bytes back where they were.
  void undo() noexcept {
    try {
      if (rewritten_) write_file_atomic(to_, old_);
      if (moved_) rename_no_replace(to_, from_);
    } catch (...) {
    }
  }

private:
  fs::path from_, to_;
  std::string old_, new_;
  bool moved_ = false, rewritten_ = false;
};

}  // namespace

std::map<std::int64_t, Claim> Tracker::live_claims() {
  std::map<std::int64_t, Claim> out;
  std::int64_t now = unix_now();
  for (auto& c : claims().all())
    if (ClaimStore::state(c, now) == ClaimState::live) out.emplace(c.id, std::move(c));
  return out;
}

std::vector<std::int64_t> Tracker::claimed_ids() {
  std::vector<std::int64_t> ids;
  for (const auto& [id, c] : live_claims()) ids.push_back(id);
  return ids;
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

Tracker::Transition Tracker::transition(const Story& story, const Stage& target,
                                        const std::function<std::string(const std::string&)>& edit,
                                        const std::string& action, const std::string& detail,
                                        const std::string& owner) {
  fs::path from = ws_.root() / story.path;
  fs::path to = story.stage == target.name ? from : ws_.stage_dir(target) / from.filename();
  std::string old_text = read_file(from);
  FileChange change(from, to, old_text, edit(old_text));
  Transition result;
  result.path = ws_.relative(to);
  // The index follows the files at once, not after the commit: a concurrent command's
  // walk then finds them as the index says, instead of redoing its comparison.
  const std::vector<std::string> touched =
      from == to ? std::vector<std::string>{result.path} : std::vector<std::string>{story.path, result.path};
  try {
    change.apply();
    index_->update_files(touched);
    trace("transition: file changed");
    std::string id = std::to_string(story.id);
    // "(backlog -> current)" for a move; nothing for an edit in place (the trailers
    // still name the stage).
    std::string stages = story.stage == target.name ? "" : " (" + story.stage + " -> " + target.name + ")";
    std::vector<std::pair<std::string, std::string>> trailers = {
        {"Tracker-Action", action}, {"Tracker-Story", id}, {"Tracker-From", story.stage}, {"Tracker-To", target.name}};
    if (!owner.empty()) trailers.emplace_back("Tracker-Owner", owner);
    result.commit = commit("tracker: " + action + " #" + id + (detail.empty() ? "" : " " + detail) + stages,
                           trailers, paths_in_every_stage(to.filename()));
  } catch (...) {
    change.undo();
    try {
      index_->update_files(touched);
    } catch (...) {  // the next walk corrects the index
    }
    throw;
  }
  trace("transition: committed");
  return result;
}

ClaimResult Tracker::take(const Story& story, const Claim& claim, bool after_stale) {
  const Config& config = ws_.config();
  const Stage& target = config.stage(config.claim_move_to);
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
    claims().remove(claim);
    throw;
  }
  result.story = story;
  result.story.stage = target.name;
  result.story.path = ws_.relative(ws_.stage_dir(target) / fs::path(story.path).filename());
  result.story.agent = claim.owner;
  if (after_stale) ++result.story.retry_count;
  return result;
}

ClaimResult Tracker::claim(const ClaimRequest& request) {
  will_commit();
  check_owner(request.owner);
  std::int64_t ttl = claim_ttl(ws_.config(), request.ttl_seconds);
  ClaimStore store = claims();

  if (!request.id) {
    // Try the ready stories in order; one lost to a concurrent claimer is skipped.
    // They are read in batches: usually the first few will do. Claimed stories have
    // mostly left the ready stages, so each candidate's lock is looked at on its own
    // rather than reading every lock first.
    refresh_all();
    trace("claim: board refreshed");
    std::vector<std::int64_t> skipped;
    constexpr std::int64_t kBatch = 16;
    while (true) {
      ListQuery candidates = ready_query(skipped, kBatch);
      candidates.summary_only = true;  // the id and stage pick one; the one taken is read whole below
      std::vector<Story> batch = index_->list(candidates);
      if (batch.empty()) throw NothingToDoError("no ready story to claim");
      for (const Story& story : batch) {
        skipped.push_back(story.id);
        Takeover prior{false, story.stage};
        if (std::optional<Claim> held = store.read(story.id)) {
          // A lock left by a claimer that died or timed out.
          ClaimState state = ClaimStore::state(*held, unix_now());
          if (state == ClaimState::live) continue;
          auto broken = break_stale(store, *held, state);
          if (!broken) continue;
          prior = *broken;
        }
        Claim c = ClaimStore::make(story.id, request.owner, ttl, prior.from_stage, request.pid);
        if (!store.create(c)) continue;
        trace("claim: lock taken");
        // Our view of the board may predate a concurrent change to this story (another
        // claimer finished it, a hand edit blocked it): with its lock held, look at its
        // file again, and take it only if it is still ready.
        index_->refresh_stories({story.id});
        ListQuery still = ready_query({}, 1);
        still.only_ids = std::vector<std::int64_t>{story.id};
        std::vector<Story> now_ready = index_->list(still);
        if (now_ready.empty()) {
          store.remove(c);
          continue;
        }
        return take(now_ready.front(), c, prior.after_expiry);
      }
    }
  }

  std::int64_t id = *request.id;
  if (!refreshed_) index_->refresh_stories({id});
  Story story = find(id);
  if (ws_.config().is_done_stage(story.stage))
    throw UsageError("story #" + std::to_string(id) + " is " + story.stage + "; only unfinished stories can be claimed");
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::optional<Claim> held = store.read(id);
    Takeover prior{false, story.stage};
    if (held) {
      ClaimState state = ClaimStore::state(*held, unix_now());
      if (state == ClaimState::live) {
        if (held->owner != request.owner)
          throw ConflictError("story #" + std::to_string(id) + " is claimed by " + held->owner + " until " +
                              format_iso8601(held->expires));
        Claim renewed = ClaimStore::renewed(*held, ttl, request.pid);
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
    Claim c = ClaimStore::make(id, request.owner, ttl, prior.from_stage, request.pid);
    if (!store.create(c)) continue;  // someone else was faster: look at their claim
    return take(story, c, prior.after_expiry);
  }
  throw ConflictError("story #" + std::to_string(id) + " keeps changing hands; try again");
}

ReleaseResult Tracker::release(std::int64_t id, const std::optional<std::string>& owner) {
  ClaimStore store = claims();
  std::optional<Claim> held = store.read(id);
  if (!held) throw NothingToDoError("story #" + std::to_string(id) + " is not claimed");
  if (owner && *owner != held->owner)
    throw ConflictError("story #" + std::to_string(id) + " is claimed by " + held->owner + ", not " + *owner);
  if (!refreshed_) index_->refresh_stories({id});
  Story story = find(id);
  const Config& config = ws_.config();
  const Stage& back = config.find_stage(held->from_stage) ? config.stage(held->from_stage)
                                                          : config.stage(config.ready_stages.front());
  ReleaseResult result{id, held->owner, story.stage, back.name, {}};
  result.commit = transition(story, back, [](const std::string& text) { return remove_front_matter_line(text, "agent"); },
                             "release", "by " + held->owner, held->owner)
                      .commit;
  store.remove(*held);
  return result;
}

StoryChange Tracker::done(std::int64_t id) {
  if (!refreshed_) index_->refresh_stories({id});
  Story story = find(id);
  const Stage& target = ws_.config().stage(ws_.config().done_stages.front());
  ClaimStore store = claims();
  std::optional<Claim> held = store.read(id);
  StoryChange result{id, story.stage, target.name, held ? held->owner : "", {}, true};
  if (story.stage == target.name && !held) {
    result.changed = false;
    return result;
  }
  if (story.stage != target.name)
    result.commit = transition(story, target, [](const std::string& text) { return text; }, "done", "", result.owner).commit;
  if (held) store.remove(*held);
  return result;
}

Claim Tracker::renew(std::int64_t id, const std::string& owner, std::optional<std::int64_t> ttl_seconds) {
  check_owner(owner);
  std::int64_t ttl = claim_ttl(ws_.config(), ttl_seconds);
  ClaimStore store = claims();
  std::optional<Claim> held = store.read(id);
  if (!held) throw NothingToDoError("story #" + std::to_string(id) + " is not claimed");
  if (held->owner != owner)
    throw ConflictError("story #" + std::to_string(id) + " is claimed by " + held->owner + ", not " + owner);
  Claim renewed = ClaimStore::renewed(*held, ttl, std::nullopt);
  if (!store.replace(*held, renewed))
    throw ConflictError("the claim on story #" + std::to_string(id) + " changed meanwhile; look at it again");
  return renewed;
}

std::vector<StoryChange> Tracker::reclaim(std::optional<std::int64_t> id) {
  ClaimStore store = claims();
  std::vector<Claim> candidates;
  if (id) {
    std::optional<Claim> held = store.read(*id);
    if (!held) throw NothingToDoError("story #" + std::to_string(*id) + " is not claimed");
    candidates.push_back(*held);
  } else {
    candidates = store.all();
  }
  std::vector<StoryChange> out;
  const Config& config = ws_.config();
  for (const Claim& c : candidates) {
    bool live = ClaimStore::state(c, unix_now()) == ClaimState::live;
    if (!refreshed_) index_->refresh_stories({c.id});
    Lookup found = index_->lookup(c.id);
    if (found.stories.empty() && found.malformed.empty()) {
      index_->refresh();  // it may have been moved meanwhile: look at every file again
      refreshed_ = true;
      found = index_->lookup(c.id);
    }
    if (found.stories.empty() && found.malformed.empty()) {
      // The story is gone: even a live claim on it holds nothing any more.
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
    const Stage& back =
        config.find_stage(c.from_stage) ? config.stage(c.from_stage) : config.stage(config.ready_stages.front());
    auto edit = [&](const std::string& text) {
      return set_front_matter_line(remove_front_matter_line(text, "agent"), "retry_count",
                                   std::to_string(story.retry_count + 1));
    };
    StoryChange change{c.id, story.stage, back.name, c.owner, {}, true};
    change.commit = transition(story, back, edit, "reclaim", "from " + c.owner, c.owner).commit;
    store.remove(c);
    out.push_back(change);
  }
  return out;
}

StoryChange Tracker::block(std::int64_t id, const std::optional<std::string>& reason) {
  if (reason && reason->find('\n') != std::string::npos) throw UsageError("--reason must be one line");
  if (!refreshed_) index_->refresh_stories({id});
  Story story = find(id);
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
  if (!refreshed_) index_->refresh_stories({id});
  Story story = find(id);
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
  refresh_all();
  Story story = find(id);
  if (id == dependency) throw InvalidDataError("story #" + std::to_string(id) + " cannot depend on itself");
  Lookup target = index_->lookup(dependency);
  if (target.stories.empty() && target.malformed.empty())
    throw NotFoundError("no story #" + std::to_string(dependency));
  LinkResult result{id, dependency, story.depends_on, {}, false};
  if (std::find(story.depends_on.begin(), story.depends_on.end(), dependency) != story.depends_on.end())
    return result;
  if (auto path = dependency_path(index_->dependencies(), dependency, id)) {
    path->insert(path->begin(), id);
    throw InvalidDataError("linking #" + std::to_string(id) + " to #" + std::to_string(dependency) +
                           " would make a dependency cycle: " + format_dependency_path(*path));
  }
  auto edit = [&](const std::string& text) {
    return edit_front_matter_list(text, "depends_on", [](std::string_view) { return true; },
                                  {std::to_string(dependency)});
  };
  result.commit = transition(story, ws_.config().stage(story.stage), edit, "link",
                             "to #" + std::to_string(dependency), "")
                      .commit;
  result.depends_on.push_back(dependency);
  result.changed = true;
  return result;
}

LinkResult Tracker::unlink(std::int64_t id, std::int64_t dependency) {
  if (!refreshed_) index_->refresh_stories({id});
  Story story = find(id);
  LinkResult result{id, dependency, {}, {}, false};
  for (auto d : story.depends_on)
    if (d != dependency) result.depends_on.push_back(d);
  std::string before = read_file(ws_.root() / story.path);
  auto edit = [&](const std::string& text) {
    return edit_front_matter_list(
        text, "depends_on", [&](std::string_view item) { return story_ref(item) != dependency; }, {});
  };
  if (edit(before) == before) return result;
  result.commit = transition(story, ws_.config().stage(story.stage), edit, "unlink",
                             "from #" + std::to_string(dependency), "")
                      .commit;
  result.changed = true;
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
  std::int64_t now = unix_now();
  std::vector<std::int64_t> live;
  for (const auto& c : claims().all()) {
    if (ClaimStore::state(c, now) == ClaimState::live) live.push_back(c.id);
    else ++st.expired_claims;
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

}  // namespace tracker
