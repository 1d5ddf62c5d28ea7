// GitRepo::commit_paths(): the one way tracker commits, with the repository's policy
// (hooks, signing) applied as `git commit` applies it.
#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/util.hpp>

#include "git/repo.hpp"
#include "limits.hpp"
#include "process.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>

namespace tracker {

using git::api;
using git::check;

namespace {

std::string env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

/// An identity as git finds it: GIT_<ROLE>_NAME, then <role>.name, then user.name
/// (and the same for the email, which also falls back to EMAIL).
git::Signature signature(GitRepo::Impl& g, const std::string& role) {
  std::string lower = role == "AUTHOR" ? "author" : "committer";
  std::string name = env("GIT_" + role + "_NAME");
  if (name.empty()) name = g.config_string((lower + ".name").c_str()).value_or("");
  if (name.empty()) name = g.config_string("user.name").value_or("");
  std::string email = env("GIT_" + role + "_EMAIL");
  if (email.empty()) email = g.config_string((lower + ".email").c_str()).value_or("");
  if (email.empty()) email = g.config_string("user.email").value_or("");
  if (email.empty()) email = env("EMAIL");
  if (name.empty() || email.empty())
    throw IoError(
        "cannot commit: no git identity; run 'git config user.name \"Your Name\"' and "
        "'git config user.email you@example.com' (or set GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL), or pass --no-commit");
  const git::Api& a = api();
  git_signature* sig = nullptr;
  std::string date = env("GIT_" + role + "_DATE");
  if (date.empty()) {
    check(a.git_signature_now(&sig, name.c_str(), email.c_str()), "signature");
  } else {
    std::int64_t when = 0;
    int offset = 0;
    if (!parse_git_date(date, &when, &offset)) throw UsageError("cannot parse GIT_" + role + "_DATE '" + date + "'");
    check(a.git_signature_new(&sig, name.c_str(), email.c_str(), when, offset), "signature");
  }
  return git::Signature(sig);
}

/// One path of a commit: its new entry (mode 0 when deleted) and the stat data of
/// the file taken before it was read.
struct Change {
  std::string path;
  gitindex::Entry entry;
  std::optional<struct stat> st;
};

Change read_change(GitRepo::Impl& g, const std::string& path, BatchObjects* batch) {
  Change c{path, {}, std::nullopt};
  std::optional<FileSnapshot> file = read_snapshot(g.file(path), path);
  if (!file) return c;
  c.st = file->st;
  c.entry.mode = (file->st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
  c.entry.id = write_blob(g, path, file->data, batch);
  return c;
}

/// From how many paths a commit's blobs are made durable by one syncfs().
constexpr std::size_t kBatchFsyncFrom = 16;

/// Files a commit's hooks and signing programs read and write, in a directory of
/// this worktree's temp dir that the sweep leaves alone for an hour (hooks can be slow).
class Scratch {
 public:
  explicit Scratch(GitRepo::Impl& g) : dir_(g.temp_dir() / "hooks") {
    std::error_code ec;
    fs::create_directories(dir_, ec);
  }
  /// A new file holding `data`, held (flock) until this Scratch goes.
  fs::path file(const std::string& stem, std::string_view data) {
    files_.push_back(std::make_unique<OwnedFile>(dir_ / unique_name(stem), data));
    return files_.back()->path();
  }
  /// A new name for a file another program writes; removed with this Scratch.
  fs::path name(const std::string& stem) {
    others_.push_back(dir_ / unique_name(stem));
    return others_.back();
  }
  ~Scratch() {
    for (const auto& p : others_) ::unlink(p.c_str());
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

 private:
  fs::path dir_;
  std::vector<std::unique_ptr<OwnedFile>> files_;
  std::vector<fs::path> others_;
};

/// The environment a git process started for a commit needs: GIT_DIR and
/// GIT_WORK_TREE made absolute (relative ones would name other places from the work
/// tree, where it runs).
std::map<std::string, std::optional<std::string>> git_child_env(const GitRepo::Impl& g) {
  std::map<std::string, std::optional<std::string>> out;
  if (!env("GIT_DIR").empty()) out["GIT_DIR"] = g.git_dir.string();
  if (!env("GIT_WORK_TREE").empty()) out["GIT_WORK_TREE"] = g.work_tree.string();
  return out;
}

/// The repository's hooks. Whether one is there is looked up as git looks (core.hooksPath,
/// relative to the work tree, else <common-dir>/hooks; a hook that is not executable
/// is none), so that a repository without hooks starts no process; a hook that is
/// there is run by git itself (`git hook run`), as `git commit` runs it.
class Hooks {
 public:
  explicit Hooks(GitRepo::Impl& g) : g_(g) {
    std::optional<std::string> configured = g.config_string("core.hookspath");
    if (!configured || configured->empty()) {
      dir_ = g.common_dir / "hooks";
    } else {
      std::string p = *configured;
      if (p.starts_with("~/")) p = env("HOME") + p.substr(1);
      dir_ = fs::path(p).is_absolute() ? fs::path(p) : g.work_tree / p;
    }
  }

  bool has(const char* name) const {
    fs::path hook = dir_ / name;
    return ::access(hook.c_str(), X_OK) == 0 && fs::is_regular_file(hook);
  }

  /// Runs hook `name` with `args` through `git hook run` (git 2.36 or later), from
  /// the work tree; its output goes to our stderr. Returns its exit status (0 when
  /// there is no such hook).
  int run(const char* name, const std::vector<std::string>& args, const std::optional<fs::path>& index_file) const {
    if (!has(name)) return 0;
    ProgramRun run;
    run.argv = {"git", "hook", "run", "--ignore-missing", name, "--"};
    for (const auto& a : args) run.argv.push_back(a);
    run.cwd = g_.work_tree;
    run.out = ProgramRun::Stdout::to_stderr;
    run.env = git_child_env(g_);
    run.env["GIT_EDITOR"] = ":";
    if (index_file) run.env["GIT_INDEX_FILE"] = index_file->string();
    return run_program(run, std::string("git, to run the ") + name + " hook,").status;
  }

 private:
  GitRepo::Impl& g_;
  fs::path dir_;
};

/// What the pre-commit and commit-msg hooks see as the index: HEAD's tree plus this
/// commit's paths, as for `git commit --only <paths>`.
fs::path hook_index(git_tree* head, const std::vector<Change>& changes, Scratch& scratch) {
  const git::Api& a = api();
  fs::path path = scratch.name("index");
  git_index* raw = nullptr;
  check(a.git_index_open(&raw, path.c_str()), "a git index for the hooks");
  git::Index index(raw);
  if (head) check(a.git_index_read_tree(index.get(), head), "a git index for the hooks");
  for (const auto& c : changes) gitindex::apply_update(index.get(), {c.path, c.entry, c.st});
  check(a.git_index_write(index.get()), "a git index for the hooks");
  return path;
}

/// A message as `git commit -m` cleans it (its "whitespace" clean-up): by `git
/// stripspace`, which drops trailing whitespace, leading and trailing blank lines
/// and runs of blank lines.
std::string clean_message(const GitRepo::Impl& g, const std::string& text) {
  ProgramRun run;
  run.argv = {"git", "stripspace"};
  run.cwd = g.work_tree;
  run.input = text;
  run.capture_stderr = true;
  run.env = git_child_env(g);
  ProgramResult r = run_program(run, "git, to clean up the commit message,");
  if (r.status != 0) throw IoError("cannot clean up the commit message: git stripspace failed; nothing was committed");
  return r.out;
}

std::string first_line(std::string_view text) {
  text = trim(text);
  return std::string(text.substr(0, text.find('\n')));
}

/// A signature as git's GIT_AUTHOR_DATE takes it: "@<unix> +hhmm".
std::string git_date(const git_signature* who) {
  int offset = std::abs(who->when.offset);
  char zone[8];
  std::snprintf(zone, sizeof zone, "%c%02d%02d", who->when.offset < 0 || who->when.sign == '-' ? '-' : '+',
                offset / 60 % 100, offset % 60);
  return "@" + std::to_string(static_cast<long long>(who->when.time)) + " " + zone;
}

/// Writes the commit of `tree` on `parent` (none for a root commit), signed as
/// commit.gpgsign asks, by `git commit-tree -S`: git's own signing (gpg.format,
/// gpg.program, gpg.<format>.program, user.signingkey) with this commit's author,
/// committer and dates. No ref moves: the branch moves by compare-and-swap here.
git_oid signed_commit(GitRepo::Impl& g, const git_oid& tree, const git_commit* parent, const git_signature* author,
                      const git_signature* committer, const std::string& message) {
  const git::Api& a = api();
  ProgramRun run;
  run.argv = {"git", "commit-tree", "-S", git::hex(tree)};
  if (parent) {
    run.argv.push_back("-p");
    run.argv.push_back(git::hex(*a.git_commit_id(parent)));
  }
  run.cwd = g.work_tree;
  run.input = message;
  run.capture_stderr = true;
  run.env = git_child_env(g);
  run.env["GIT_AUTHOR_NAME"] = author->name;
  run.env["GIT_AUTHOR_EMAIL"] = author->email;
  run.env["GIT_AUTHOR_DATE"] = git_date(author);
  run.env["GIT_COMMITTER_NAME"] = committer->name;
  run.env["GIT_COMMITTER_EMAIL"] = committer->email;
  run.env["GIT_COMMITTER_DATE"] = git_date(committer);
  ProgramResult r = run_program(run, "git, to sign the commit,");
  git_oid id;
  std::string sha(trim(r.out));
  if (r.status != 0 || a.git_oid_fromstr(&id, sha.c_str()) != 0) {
    // git says why ("error: gpg failed to sign the data"), then that it wrote nothing.
    std::string why;
    for (const auto& line : split(r.err, '\n'))
      if (why.empty() && !trim(line).empty() && !line.starts_with("fatal: failed to write commit object"))
        why = std::string(trim(line));
    throw IoError("cannot sign the commit: git commit-tree -S failed" + (why.empty() ? "" : ": " + why) +
                  "; nothing was committed");
  }
  return id;
}

/// The lock file of a ref, where git's files backend keeps it.
fs::path ref_lock(const GitRepo::Impl& g, const std::string& ref_name) {
  bool per_worktree = ref_name == "HEAD" || !ref_name.starts_with("refs/");
  return (per_worktree ? g.git_dir : g.common_dir) / (ref_name + ".lock");
}

}  // namespace

void GitRepo::check_can_commit() {
  signature(*impl_, "AUTHOR");
  signature(*impl_, "COMMITTER");
  gitindex::mode_of(*impl_);
}

CommitResult GitRepo::commit_paths(const CommitRequest& request) {
  Impl& g = *impl_;
  const git::Api& a = api();
  git_repository* repo = g.repo.get();

  // Everything that can fail is checked before the branch moves.
  git::Signature author = signature(g, "AUTHOR");
  git::Signature committer = signature(g, "COMMITTER");
  gitindex::Mode index_mode = gitindex::mode_of(g);
  std::vector<std::string> paths;
  {
    std::set<std::string> seen;
    for (const auto& p : request.paths)
      if (seen.insert(p).second) paths.push_back(p);
  }
  std::vector<Change> changes;
  // The filters' attribute lookups would make libgit2 read the whole git index (and
  // verify its checksum) for .gitattributes files that are in the work tree anyway:
  // it looks at an empty index while the blobs are written.
  if (index_mode == gitindex::Mode::libgit2) {
    git_index* empty = nullptr;
    check(a.git_index_new(&empty), "an index for libgit2");
    git::Index owned(empty);
    a.git_repository_set_index(repo, empty);
  }
  ScopeExit real_index([&] {
    if (index_mode == gitindex::Mode::libgit2) a.git_repository_set_index(repo, nullptr);
  });
  // Many blobs are written in a batch: one flush for all instead of one each.
  std::optional<BatchObjects> batch;
  if (paths.size() > kBatchFsyncFrom) batch.emplace(g);
  for (const auto& p : paths) {
    for (int transient = 0;; ++transient) {
      try {
        changes.push_back(read_change(g, p, batch ? &*batch : nullptr));
        break;
      } catch (const TransientGitError& e) {
        if (transient >= limits::kTransientGitRetries) throw IoError(std::string(e.what()) + "; nothing was committed");
        backoff_sleep(transient + 4);
      }
    }
  }
  real_index.dismiss();
  if (index_mode == gitindex::Mode::libgit2) a.git_repository_set_index(repo, nullptr);
  if (batch) batch->sync();
  trace("commit: blobs written");
  bool sign_commits = g.config_bool("commit.gpgsign").value_or(false);

  std::string message = format_commit_message(request);
  Hooks hooks(g);
  bool verify = request.verify == Verify::yes;
  std::optional<Scratch> scratch;
  if (hooks.has("prepare-commit-msg") || (verify && (hooks.has("pre-commit") || hooks.has("commit-msg")))) {
    scratch.emplace(g);
    git_object* raw_head = nullptr;
    git::Tree head;
    if (a.git_revparse_single(&raw_head, repo, "HEAD^{tree}") == 0) head.reset(reinterpret_cast<git_tree*>(raw_head));
    fs::path index_file = hook_index(head.get(), changes, *scratch);
    if (verify) {
      if (int status = hooks.run("pre-commit", {}, index_file))
        throw IoError("the pre-commit hook refused the commit (exit status " + std::to_string(status) +
                      "); nothing was committed; --no-verify skips it");
    }
    fs::path message_file = scratch->file("COMMIT_EDITMSG", message);
    hooks.run("prepare-commit-msg", {message_file.string(), "message"}, index_file);
    if (verify) {
      if (int status = hooks.run("commit-msg", {message_file.string()}, index_file))
        throw IoError("the commit-msg hook refused the commit (exit status " + std::to_string(status) +
                      "); nothing was committed; --no-verify skips it");
    }
    std::optional<std::string> edited = read_file_if_exists(message_file);
    if (!edited) throw IoError("the commit message file went away while the hooks ran; nothing was committed");
    message = clean_message(g, *edited);
    if (message.empty()) throw IoError("the commit message is empty after the hooks ran; nothing was committed");
  }
  trace("commit: hooks run");

  // Our own commits take turns, so concurrent tracker processes queue instead of
  // building trees that lose the compare-and-swap; other writers (git itself) are
  // still caught by it.
  std::optional<ProcessLock> turn;
  turn.emplace(g.common_dir / "tracker" / "commit.lock", limits::kBranchTurn, "the branch");
  trace("commit: branch turn taken");

  CommitResult result;
  std::unique_ptr<OwnedFile> journal;
  auto lock_wait_start = std::chrono::steady_clock::now();
  int transient = 0;
  for (result.attempts = 1;; ++result.attempts) {
    try {
      if (result.attempts > limits::kCommitAttempts)
        throw ConflictError("HEAD kept moving under us after " + std::to_string(limits::kCommitAttempts) +
                            " attempts; nothing was committed; try again");
      git_reference* raw_head = nullptr;
      check(a.git_reference_lookup(&raw_head, repo, "HEAD"), "HEAD");
      git::Reference head(raw_head);
      std::string ref_name = "HEAD";
      bool unborn = false;
      git_oid parent_oid{};
      if (a.git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC) {
        ref_name = a.git_reference_symbolic_target(head.get());
        int rc = a.git_reference_name_to_id(&parent_oid, repo, ref_name.c_str());
        if (rc == GIT_ENOTFOUND)
          unborn = true;
        else
          check(rc, "resolve " + ref_name);
      } else {
        a.git_oid_cpy(&parent_oid, a.git_reference_target(head.get()));
      }
      git::Commit parent;
      git::Tree base;
      if (!unborn) {
        git_commit* c = nullptr;
        check(a.git_commit_lookup(&c, repo, &parent_oid), "parent commit");
        parent.reset(c);
        git_tree* t = nullptr;
        check(a.git_commit_tree(&t, parent.get()), "parent tree");
        base.reset(t);
      }

      std::vector<git_tree_update> updates;
      TreeEntries base_entries(base.get());
      for (const auto& c : changes) {
        gitindex::Entry before = base_entries.at(c.path);
        if (before == c.entry) continue;
        git_tree_update u{};
        u.action = c.entry.mode ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
        u.id = c.entry.id;
        u.filemode = c.entry.mode ? static_cast<git_filemode_t>(c.entry.mode) : GIT_FILEMODE_BLOB;
        u.path = c.path.c_str();
        updates.push_back(u);
      }
      if (updates.empty()) return result;  // the tree would not change: nothing to commit
      git_oid tree_oid;
      check_transient(a.git_tree_create_updated(&tree_oid, repo, base.get(), updates.size(), updates.data()),
                      "build the tree");
      git_tree* t = nullptr;
      check(a.git_tree_lookup(&t, repo, &tree_oid), "new tree");
      git::Tree tree(t);
      trace("commit: tree written");

      const git_commit* parents[] = {parent.get()};
      std::size_t parent_count = unborn ? 0 : 1;
      git_oid commit_oid;
      if (sign_commits) {
        commit_oid = signed_commit(g, tree_oid, parent_count ? parent.get() : nullptr, author.get(), committer.get(),
                                   message);
      } else {
        check_transient(a.git_commit_create(&commit_oid, repo, nullptr, author.get(), committer.get(), nullptr,
                                            message.c_str(), tree.get(), parent_count, parents),
                        "create commit");
      }
      std::string sha = git::hex(commit_oid);
      if (!journal)
        journal = start_pending_index(g, sha, paths);
      else
        rewrite_pending_index(*journal, sha, paths);

      std::string reflog = std::string(unborn ? "commit (initial): " : "commit: ") + first_line(message);
      git_reference* updated = nullptr;
      int rc = unborn ? a.git_reference_create(&updated, repo, ref_name.c_str(), &commit_oid, 0, reflog.c_str())
                      : a.git_reference_create_matching(&updated, repo, ref_name.c_str(), &commit_oid, 1, &parent_oid,
                                                        reflog.c_str());
      git::Reference owned_ref(updated);
      if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS) {  // lost the race: redo on top of the new tip
        backoff_sleep(result.attempts);
        continue;
      }
      if (rc == GIT_ELOCKED) {
        // git holds the ref's lock for milliseconds; a lock that stays was left by a crash.
        if (std::chrono::steady_clock::now() - lock_wait_start < limits::kGitLockWait) {
          backoff_sleep(result.attempts);
          continue;
        }
        throw ConflictError(gitindex::stale_lock_message(ref_name, ref_lock(g, ref_name)) + "; nothing was committed");
      }
      check_transient(rc, "update " + ref_name);
      result.sha = sha;
      break;
    } catch (const TransientGitError& e) {
      // Nothing is irrevocable before the ref moves: build the commit again.
      if (++transient > limits::kTransientGitRetries) throw IoError(std::string(e.what()) + "; nothing was committed");
      backoff_sleep(transient + 4);
    }
  }
  trace("commit: ref updated");

  // The branch has moved. From here on nothing throws: what fails is a warning, and
  // the journal lets the next command finish the git index update.
  std::optional<std::string> warning;
  try {
    // Our updates reach the git index in the order of our commits: the git index's
    // turn is taken before the branch's is handed on.
    ProcessLock index_turn(g.tracker_dir() / "git-index.lock", limits::kGitIndexTurn, "the git index");
    turn.reset();
    warning = gitindex::update(g, index_mode, paths, [&](const std::map<std::string, gitindex::Entry>&) {
      std::vector<gitindex::Update> out;
      for (const auto& c : changes) out.push_back({c.path, c.entry, c.st});
      return out;
    });
  } catch (const Error& e) {
    warning = e.what();
  }
  trace("commit: git index written");
  if (warning) {
    result.warnings.push_back("committed " + result.sha.substr(0, 12) + ", but the git index was not updated: " +
                              *warning + "; the next tracker command will update it");
    journal->keep();
  }
  try {
    hooks.run("post-commit", {}, std::nullopt);  // its exit status is ignored, as git ignores it
  } catch (const Error& e) {
    result.warnings.emplace_back(e.what());
  }
  return result;
}

std::string GitRepo::author_email() {
  std::string email = env("GIT_AUTHOR_EMAIL");
  if (email.empty()) email = impl_->config_string("author.email").value_or("");
  if (email.empty()) email = impl_->config_string("user.email").value_or("");
  if (email.empty()) email = env("EMAIL");
  return email;
}

}  // namespace tracker
