// Creating a board: `tracker init` and `tracker init --adopt`.
#include <tracker/error.hpp>
#include <tracker/git.hpp>
#include <tracker/tracker.hpp>
#include <tracker/util.hpp>

#include "fs_internal.hpp"
#include "process.hpp"

#include <algorithm>
#include <set>

namespace tracker {

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

}  // namespace tracker
