// The git side: commits of selected paths with compare-and-swap ref updates.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// A commit the tool makes: its message and the workspace paths it records.
struct CommitRequest {
  std::string subject;
  std::vector<std::pair<std::string, std::string>> trailers;
  /// Paths relative to the repository work tree. A path whose file exists is
  /// recorded with its current content; a path with no file is recorded as deleted.
  std::vector<std::string> paths;
};

/// The result of commit_paths(): empty `sha` when the tree did not change.
struct CommitResult {
  std::string sha;
  int attempts = 0;  ///< how many compare-and-swap rounds it took
};

/// One commit, as `log` reads it.
struct CommitInfo {
  std::string sha;
  std::int64_t time = 0;  ///< unix seconds
  std::string author;
  std::string message;
  std::string parent;  ///< the first parent's sha; empty for a root commit
};

/// An open git repository (libgit2).
class GitRepo {
public:
  /// Opens the repository whose work tree contains `path`. Throws IoError.
  static GitRepo open(const std::filesystem::path& path);

  /// Loads and initialises libgit2 (about 13 ms, 7 of them mbedTLS parsing the
  /// system CA bundle) so that the first commit does not wait for it. Thread-safe;
  /// a failure is reported again by the first real use.
  static void preload();

  /// Runs the equivalent of `git init` in `dir`.
  static void init(const std::filesystem::path& dir);

  GitRepo(GitRepo&&) noexcept;
  GitRepo& operator=(GitRepo&&) noexcept;
  ~GitRepo();

  /// The work tree's root directory.
  std::filesystem::path work_tree() const;

  /// Commits exactly `request.paths` on top of HEAD, never what the user staged:
  /// the tree is HEAD's tree plus those paths, HEAD's branch (or a detached HEAD)
  /// moves by compare-and-swap and the whole commit is redone when another process
  /// moved it first. Afterwards those paths, and only those, are updated in the git
  /// index so that `git status` shows them clean.
  CommitResult commit_paths(const CommitRequest& request);

  /// Work-tree-relative paths under `dir` that differ between revision `from` and
  /// revision `to`, or the working tree when `to` is not given. UsageError for an
  /// unknown revision.
  std::vector<std::string> changed_paths_between(const std::string& from, const std::optional<std::string>& to,
                                                 const std::string& dir);

  /// Calls `visit` for each commit reachable from HEAD, newest first, until it
  /// returns false. Nothing for an unborn HEAD.
  void walk_history(const std::function<bool(const CommitInfo&)>& visit);

  /// The best common ancestor of two revisions, as a sha.
  std::string merge_base(const std::string& a, const std::string& b);

  /// The content of `path` (work-tree relative) in revision `rev`, or nullopt when
  /// it has no such file (or `rev` is an unborn HEAD).
  std::optional<std::string> content_at(const std::string& rev, const std::string& path);

private:
  struct Impl;
  explicit GitRepo(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The full commit message: subject, blank line, "Key: value" trailers.
std::string format_commit_message(const CommitRequest& request);

/// Parses a git date as GIT_AUTHOR_DATE accepts it: "@<unix> [+zone]", "<unix> +zone"
/// or ISO 8601 "YYYY-MM-DD[T ]HH:MM:SS[Z|+HH:MM|+HHMM]". False when it is none of them.
bool parse_git_date(std::string_view text, std::int64_t* when, int* offset_minutes);

}  // namespace tracker
