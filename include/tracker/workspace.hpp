// Finding the workspace, its config, its stage directories and its git directories;
// atomic id allocation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <tracker/config.hpp>
#include <tracker/fs.hpp>

namespace tracker {

/// A tracker workspace: the directory holding .tracker/config.yml inside a git work tree.
class Workspace {
 public:
  /// Walks up from `start` to the first directory with .tracker/config.yml, as git
  /// looks for .git: no higher than GIT_CEILING_DIRECTORIES allows, and from the top
  /// of GIT_WORK_TREE when GIT_DIR and GIT_WORK_TREE are set and `start` is outside it.
  /// Throws UsageError (with how to fix it) when there is none.
  static Workspace discover(const fs::path& start);

  /// Opens the workspace rooted at `root`. Throws like discover().
  static Workspace open(const fs::path& root);

  /// The path of the config file of a workspace rooted at `root`.
  static fs::path config_path_for(const fs::path& root) { return root / ".tracker" / "config.yml"; }

  const fs::path& root() const { return root_; }
  const Config& config() const { return config_; }
  /// Types an import adds to the config file, known from now on to this workspace.
  void add_types(const std::vector<std::string>& types) {
    config_.types.insert(config_.types.end(), types.begin(), types.end());
  }
  fs::path config_path() const { return config_path_for(root_); }
  fs::path stories_root() const { return root_ / config_.stories_dir; }
  fs::path stage_dir(const Stage& stage) const { return stories_root() / stage.dir; }

  /// The first symbolic link on the way from the workspace root to the stage's
  /// directory (the stories directory's components, then the stage directory), as
  /// a workspace-relative path; nullopt when there is none. tracker never follows one.
  std::optional<std::string> symlink_to_stage(const Stage& stage) const;

  /// stage_dir(stage), after checking that no symbolic link is on the way to it.
  /// Throws InvalidDataError naming the link.
  fs::path real_stage_dir(const Stage& stage) const;

  /// This worktree's git directory (.git, or .git/worktrees/<name>).
  const fs::path& git_dir() const { return git_dir_; }
  /// The git directory shared by every worktree of the repository.
  const fs::path& common_dir() const { return common_dir_; }
  /// Per-worktree state: <git-dir>/tracker (the shadow index lives here).
  fs::path local_state_dir() const { return git_dir_ / "tracker"; }
  /// State shared by all worktrees: <git-common-dir>/tracker (ids, claims).
  fs::path shared_state_dir() const { return common_dir_ / "tracker"; }
  /// Temp files of this worktree's commands: <git-dir>/tracker/tmp. Story files are
  /// written there and renamed into place; the next command sweeps what a dead one left.
  fs::path temp_dir() const { return local_state_dir() / "tmp"; }

  /// `path` relative to the workspace root, '/'-separated.
  std::string relative(const fs::path& path) const;

 private:
  Workspace(fs::path root, Config config, fs::path git_dir, fs::path common_dir)
      : root_(std::move(root)),
        config_(std::move(config)),
        git_dir_(std::move(git_dir)),
        common_dir_(std::move(common_dir)) {}

  fs::path root_;
  Config config_;
  fs::path git_dir_;
  fs::path common_dir_;
};

/// The git directory and common directory of the work tree containing `dir`, or
/// nullopt when `dir` is not inside a git work tree. GIT_DIR, GIT_WORK_TREE and
/// GIT_CEILING_DIRECTORIES are honoured as git honours them.
struct GitDirs {
  fs::path work_tree;
  fs::path git_dir;
  fs::path common_dir;
};
std::optional<GitDirs> find_git_dirs(const fs::path& dir);

/// Holds the id-allocation lock of a repository (shared by its worktrees). While it
/// is held, ids and idempotency keys can be read and recorded safely. The lock is a
/// flock(), so it dies with the process that holds it.
class IdAllocation {
 public:
  explicit IdAllocation(const Workspace& ws);

  /// The id recorded for an idempotency key, if any.
  std::optional<std::int64_t> find_key(const std::string& key) const;

  /// Reserves the next id: one above both `highest_seen` and the high-water mark of
  /// every id ever handed out, which survives deleting story files.
  std::int64_t reserve(std::int64_t highest_seen);

  /// Reserves `count` ids in a row, the first one above both `highest_seen` and the
  /// high-water mark; returns the first.
  std::int64_t reserve_many(std::int64_t highest_seen, std::int64_t count);

  /// The last id the clone of `ws` handed out, read without the lock (a dry run's guess).
  static std::int64_t peek_last(const Workspace& ws);

  /// The last id this clone handed out (0 for none).
  std::int64_t last() const;

  /// Records that `key` created story `id`.
  void record_key(const std::string& key, std::int64_t id);

  /// Gives back `id`, reserved by this allocation for a story that was not made
  /// after all, when no later id was handed out.
  void release(std::int64_t id);
  /// Gives back `count` ids from `first`, reserved together, when no later id was handed out.
  void release_many(std::int64_t first, std::int64_t count);

 private:
  fs::path dir_;
  ProcessLock lock_;
};

}  // namespace tracker
