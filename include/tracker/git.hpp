// The git side, all through libgit2: commits of selected paths with a
// compare-and-swap update of the branch, the repository's policy (hooks, signing),
// the git index, history and diffs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// Whether a commit runs the pre-commit and commit-msg hooks (`--no-verify` says no,
/// as for `git commit`). prepare-commit-msg and post-commit run either way.
enum class Verify { yes, no };

/// A commit the tool makes: its message and the work-tree paths it records.
struct CommitRequest {
  std::string subject;  ///< the first line; may be followed by a blank line and a body
  std::vector<std::pair<std::string, std::string>> trailers;
  /// Paths relative to the repository work tree. A path whose file exists is
  /// recorded with its current content; a path with no file is recorded as deleted.
  std::vector<std::string> paths;
  Verify verify = Verify::yes;
};

/// The result of commit_paths().
struct CommitResult {
  std::string sha;   ///< empty when the tree did not change: nothing was committed
  int attempts = 0;  ///< how many compare-and-swap rounds it took
  /// The commit landed, but something after it did not (the git index could not be
  /// updated, post-commit failed): one message each, saying what to do.
  std::vector<std::string> warnings;
};

/// One commit, as `log` reads it.
struct CommitInfo {
  std::string sha;
  std::int64_t time = 0;  ///< unix seconds
  std::string author;
  std::string message;
  std::string parent;  ///< the first parent's sha; empty for a root commit
  int parents = 0;     ///< how many parents: more than one for a merge
};

/// What finish_index_updates() and repair_index() did.
struct IndexRepair {
  std::vector<std::string> updated;   ///< work-tree paths whose git index entry now matches HEAD
  std::vector<std::string> warnings;  ///< what could not be done, and how to do it
};

/// An open git repository.
class GitRepo {
 public:
  /// Opens the repository whose work tree contains `path`, as git would: GIT_DIR and
  /// GIT_WORK_TREE are honoured, and so are `git -c` settings (GIT_CONFIG_PARAMETERS,
  /// GIT_CONFIG_COUNT). Throws IoError, and UsageError for a bare repository.
  static GitRepo open(const std::filesystem::path& path);

  /// Starts loading libgit2 in the background, so that an action that will commit
  /// does not wait for it later. finish_loading() must be called before the process
  /// ends.
  static void start_loading();
  /// Waits for what start_loading() started.
  static void finish_loading();

  /// Runs the equivalent of `git init` in `dir`.
  static void init(const std::filesystem::path& dir);

  GitRepo(GitRepo&&) noexcept;
  GitRepo& operator=(GitRepo&&) noexcept;
  ~GitRepo();

  /// The work tree's root directory.
  std::filesystem::path work_tree() const;
  /// This worktree's git directory.
  std::filesystem::path git_dir() const;

  /// Checks what every commit needs before any file is touched: an identity and a
  /// git index that can be read. Throws IoError saying how to fix it.
  void check_can_commit();

  /// Commits exactly `request.paths` on top of HEAD, never what the user staged.
  ///
  /// Everything is checked before the branch moves: the identity, the git index,
  /// the pre-commit and commit-msg hooks (unless `verify` is no), the signature
  /// when commit.gpgsign asks for one. Blobs go through the repository's filters
  /// (core.autocrlf, .gitattributes). The tree is HEAD's tree plus those paths;
  /// HEAD's branch (or a detached HEAD) moves by compare-and-swap, and the commit is
  /// redone on the new tip when another process moved it first. A failure up to
  /// here throws, and nothing was committed.
  ///
  /// Once the branch has moved, nothing throws: those paths, and only those, are
  /// updated in the git index (under git's index.lock), and what could not be done
  /// is returned in `warnings`. An update left unfinished is finished by the next
  /// finish_index_updates().
  CommitResult commit_paths(const CommitRequest& request);

  /// Finishes the git index updates of earlier commits whose process died or could
  /// not take index.lock: each of their paths whose entry still holds the version
  /// before that commit gets HEAD's version. Entries the user staged since are left
  /// alone. With `dry_run`, only says what it would do.
  IndexRepair finish_index_updates(bool dry_run = false);

  /// The journals of index updates that finish_index_updates() would take on: those
  /// in `pending_dir` no live process holds. Cheap: opens no repository.
  static std::vector<std::filesystem::path> orphaned_index_updates(const std::filesystem::path& pending_dir,
                                                                   std::int64_t now_ns);

  /// Paths under `dir` (work-tree relative) whose git index entry is behind HEAD: the
  /// entry differs from HEAD while the working file is HEAD's version, so that
  /// `git status` shows the tool's change reversed as staged. With `dry_run` false,
  /// sets those entries to HEAD's version.
  IndexRepair repair_index(const std::string& dir, bool dry_run);

  /// One path that differs between two sides, with its blob on each.
  struct PathChange {
    std::string path;       ///< work-tree relative
    std::string old_blob;   ///< the blob's id on the `from` side; empty when the path is not there
    std::string new_blob;   ///< the same on the `to` side; always empty for the work tree
    bool in_new = false;    ///< the path exists on the `to` side (or in the work tree)
  };

  /// The paths under `dir` (work-tree relative) that differ between revision `from`
  /// and revision `to`, or the working tree when `to` is not given: one tree diff,
  /// linear in the entries it compares, and no file or blob is read. UsageError for
  /// an unknown revision.
  std::vector<PathChange> changes_between(const std::string& from, const std::optional<std::string>& to,
                                          const std::string& dir);

  /// One entry of a tree: its mode as git writes it ("100644") and its object id
  /// (hex); an empty id where there is no entry.
  struct TreeFile {
    std::string mode, id;
    bool operator==(const TreeFile&) const = default;
    bool absent() const { return id.empty(); }
  };

  /// One path that differs between two trees (repository relative), with its entry on
  /// each side.
  struct TreeChange {
    std::string path;
    TreeFile before, after;
  };

  /// A commit with its author as git records it.
  struct CommitRecord {
    std::string sha;
    std::vector<std::string> parents;
    std::string author_name, author_email;
    std::int64_t author_time = 0;  ///< unix seconds
    int author_offset = 0;         ///< minutes east of UTC
    std::string message;           ///< as git keeps it (`git log --format=%B`)
  };

  /// The id `spec` names (`git rev-parse --verify`: a sha, a ref, `HEAD^{tree}`,
  /// `<rev>:<path>`), or "" when it names nothing.
  std::string resolve(const std::string& spec);

  /// The ref HEAD points to ("refs/heads/main"), or "" when HEAD is detached.
  std::string head_ref();

  /// The refs whose names start with `prefix`, and the id each points to.
  std::vector<std::pair<std::string, std::string>> refs_under(const std::string& prefix);

  /// Every blob (and submodule) of revision `rev`'s tree by path, repository
  /// relative, as `git ls-tree -r` lists them.
  std::map<std::string, TreeFile> files_at(const std::string& rev);

  /// Every path that differs between the trees of revisions `from` and `to`, whole
  /// repository, without rename detection (`git diff-tree -r --no-renames`); `from`
  /// "" is the empty tree. Sorted by path.
  std::vector<TreeChange> tree_changes(const std::string& from, const std::string& to);

  /// The commits reachable from `to` and not from `hide` ("": none hidden), oldest
  /// first (`git log --reverse hide..to`); only along first parents with
  /// `first_parent`.
  std::vector<CommitRecord> commits(const std::string& hide, const std::string& to, bool first_parent);

  /// The commit `rev` names, or nullopt when it names none.
  std::optional<CommitRecord> commit(const std::string& rev);

  /// The content of the blob with id `id` (hex).
  std::string blob_text(const std::string& id);
  /// The id git gives a blob of `bytes` (hex), without writing it.
  static std::string blob_id(std::string_view bytes);

  /// Calls `visit` for each commit reachable from HEAD, newest first, until it
  /// returns false. Nothing for an unborn HEAD.
  void walk_history(const std::function<bool(const CommitInfo&)>& visit);

  /// The best common ancestor of two revisions, as a sha.
  std::string merge_base(const std::string& a, const std::string& b);

  /// The content of `path` (work-tree relative) in revision `rev`, or nullopt when
  /// it has no such file (or `rev` is an unborn HEAD).
  std::optional<std::string> content_at(const std::string& rev, const std::string& path);

  /// The author email git would use: GIT_AUTHOR_EMAIL, then author.email, then
  /// user.email, then EMAIL; "" when none is set.
  std::string author_email();

  /// The ids of the objects (trees or blobs) at `paths` (work-tree relative) in
  /// revision `rev`, "" where there is none: one tree lookup, a search per path.
  std::vector<std::string> object_ids_at(const std::string& rev, const std::vector<std::string>& paths);

  /// Writes a commit whose tree holds one file, `file` with `text`, on top of
  /// `parent` when given, authored and committed by `name` <`email`> now, and
  /// returns its sha. No ref moves: the commit is for a push (a lease, the id
  /// counter). Its blob is written as it is, through no filter.
  std::string write_one_file_commit(const std::string& file, const std::string& text, const std::string& parent,
                                    const std::string& name, const std::string& email, const std::string& message);

  /// The open repository (src/git_repo.hpp), shared by the git modules.
  struct Impl;

 private:
  explicit GitRepo(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The full commit message: subject, blank line, "Key: value" trailers.
std::string format_commit_message(const CommitRequest& request);

/// Parses a git date as GIT_AUTHOR_DATE accepts it: "@<unix> [+zone]", "<unix> +zone"
/// or ISO 8601 "YYYY-MM-DD[T ]HH:MM:SS[Z|+HH:MM|+HHMM]". False when it is none of them.
bool parse_git_date(std::string_view text, std::int64_t* when, int* offset_minutes);

/// The `git -c` settings this process was started with (GIT_CONFIG_PARAMETERS, then
/// GIT_CONFIG_COUNT / GIT_CONFIG_KEY_<n> / GIT_CONFIG_VALUE_<n>), as (key, value)
/// pairs; a key given without '=' has no value (boolean true). Keys are as git
/// canonicalises them: section and name lowercase. Throws UsageError when malformed.
std::vector<std::pair<std::string, std::optional<std::string>>> git_config_parameters();

}  // namespace tracker
