// What repo.cpp, read.cpp, commit.cpp and index.cpp share: the open repository and
// the git index update.
#pragma once

#include "fs_internal.hpp"
#include <tracker/git.hpp>

#include "git/api.hpp"

#include <sys/stat.h>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracker {

struct GitRepo::Impl {
  git::Repo repo;
  fs::path work_tree;   ///< no trailing slash
  fs::path git_dir;     ///< this worktree's
  fs::path common_dir;  ///< shared by the worktrees
  fs::path index_file;  ///< GIT_INDEX_FILE, else <git-dir>/index
  /// The `git -c` settings, as a config file that libgit2 reads at the app level;
  /// removed with the repository.
  std::unique_ptr<OwnedFile> config_parameters;
  /// What gitindex::mode_of() found: whether the git index needs the git
  /// executable (a split or sparse index). Read once per process.
  std::optional<bool> index_needs_git;

  fs::path tracker_dir() const { return git_dir / "tracker"; }
  /// Temp files of this worktree's commands; the next command sweeps what a dead one left.
  fs::path temp_dir() const { return tracker_dir() / "tmp"; }
  /// One journal file per commit whose git index update has not finished.
  fs::path pending_dir() const { return tracker_dir() / "pending-index"; }

  /// A config value as git reads it (`git -c` first), or nullopt when unset.
  std::optional<std::string> config_string(const char* key);
  /// A boolean config value, or nullopt when unset. Throws UsageError when it is not a boolean.
  std::optional<bool> config_bool(const char* key);

  /// Where a work-tree path is on disk.
  fs::path file(const std::string& path) const { return work_tree / path; }
};

/// A failure to write an object or a ref that another process may have caused: a
/// `git gc` that removed an object directory or a pack while we wrote into it. The
/// commit is tried again; nothing was committed.
class TransientGitError : public IoError {
 public:
  using IoError::IoError;
};

/// Throws TransientGitError "<context>: <libgit2's message>" when rc < 0.
void check_transient(int rc, const std::string& context);

namespace gitindex {

/// How the git index is written: through libgit2, or, for a split or sparse index
/// (which libgit2 1.5 cannot read), through `git update-index`.
enum class Mode { libgit2, git_executable };

/// The git index entry of one path: its mode and object id, or none.
struct Entry {
  std::uint32_t mode = 0;  ///< 0: no entry
  git_oid id{};
  bool operator==(const Entry& o) const;
};

/// A new entry for one path: `entry.mode` 0 removes it. With `st`, its stat data
/// (taken before the file was read), so that git sees it clean without re-reading it.
struct Update {
  std::string path;
  Entry entry;
  std::optional<struct stat> st;
};

/// Reads the git index once to decide how it can be written. Throws IoError when it
/// cannot be read at all (corrupt), saying how to rebuild it.
Mode mode_of(GitRepo::Impl& g);

/// From now on this repository's git index is written by `git update-index`, and
/// libgit2 gets an empty index of its own.
void use_git_executable(GitRepo::Impl& g);

/// Applies one update to an open index.
void apply_update(git_index* index, const Update& u);

/// Gives `paths` new entries: `decide` is called with their current entries (read
/// under index.lock when libgit2 writes) and returns the updates to make. Returns a
/// warning when the index could not be written (a stale index.lock, say), else
/// nullopt. The caller holds the git index's turn (<git-dir>/tracker/git-index.lock).
/// With LookFirst::yes, the index is first read without the lock, and nothing is
/// locked or written when `decide` finds nothing to do then. `decide` may be called
/// twice.
enum class LookFirst { no, yes };
std::optional<std::string> update(GitRepo::Impl& g, Mode mode, const std::vector<std::string>& paths,
                                  const std::function<std::vector<Update>(const std::map<std::string, Entry>&)>& decide,
                                  LookFirst look_first = LookFirst::no);

/// The message for a lock file that stays: its age and the command that removes it.
std::string stale_lock_message(const std::string& what, const fs::path& lock);

}  // namespace gitindex

/// Entries of one tree looked up by path, each subtree read once. One path at a
/// time (tree_entry) reads every tree on the way again, and a stage directory of
/// 10,000 stories is a tree that large: looking up many paths must not be quadratic.
class TreeEntries {
 public:
  explicit TreeEntries(git_tree* root) : root_(root) {}
  /// The entry of `path` (mode 0 when absent or not a blob).
  gitindex::Entry at(std::string_view path);

 private:
  /// The tree at directory `dir` ("" for the root), or null when there is none.
  git_tree* subtree(std::string_view dir);
  git_tree* root_;
  std::map<std::string, git::Tree, std::less<>> subtrees_;  ///< null Tree: no such directory
};

/// The blob id git would record for `data` at work-tree path `path`: through the
/// repository's filters (core.autocrlf, .gitattributes). Writes the blob.
/// With `batch`, the blob goes through it: no fsync of its own.
git_oid write_blob(GitRepo::Impl& g, const std::string& path, const std::string& data,
                   class BatchObjects* batch = nullptr);

/// Many objects written as one pack: they go to memory (libgit2's mempack backend,
/// on top of a repository handle of their own), and sync() writes them with
/// libgit2's packbuilder and indexer as a pack and its index in objects/pack, made
/// durable with two fsyncs, before anything refers to them. Loose, each object
/// would cost an fsync (libgit2 fsyncs every loose object while
/// GIT_OPT_ENABLE_FSYNC_GITDIR is on, which tracker needs for refs and the index):
/// 10,000 of them took seven seconds.
class BatchObjects {
 public:
  explicit BatchObjects(GitRepo::Impl& g);
  git_odb* odb() { return odb_.get(); }
  /// Records that `id` was written through odb(), for the pack.
  void add(const git_oid& id) { ids_.push_back(id); }
  /// Writes the pack of what was written (nothing when nothing was).
  void sync();

 private:
  git::Repo repo_;
  std::unique_ptr<git_odb, git::Deleter<git_odb, &git::Api::git_odb_free>> odb_;
  fs::path objects_;
  std::vector<git_oid> ids_;
};

/// The journal of a commit about to move the branch: if its git index update does
/// not finish, GitRepo::finish_index_updates() finishes it. Removed with the file.
std::unique_ptr<OwnedFile> start_pending_index(GitRepo::Impl& g, const std::string& sha,
                                               const std::vector<std::string>& paths);
/// The same journal, for the commit of another compare-and-swap round.
void rewrite_pending_index(OwnedFile& journal, const std::string& sha, const std::vector<std::string>& paths);

}  // namespace tracker
