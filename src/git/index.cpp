// The git index: updating the tool's own paths under git's index.lock, the journal
// of updates that did not finish, and the repair of an index left behind HEAD.
#include <tracker/clock.hpp>
#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/util.hpp>

#include "git/repo.hpp"
#include "limits.hpp"
#include "process.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>

namespace tracker {

using git::api;
using git::check;

namespace gitindex {

bool Entry::operator==(const Entry& o) const {
  return mode == o.mode && (mode == 0 || std::memcmp(id.id, o.id.id, GIT_OID_RAWSZ) == 0);
}

std::string stale_lock_message(const std::string& what, const fs::path& lock) {
  std::optional<std::int64_t> age = file_age_seconds(lock, system_clock().now_ns());
  return what + " is locked: " + lock.string() + " exists" +
         (age ? " (last changed " + format_age(*age) + " ago)" : std::string()) +
         "; if no git process is running, it was left by one that crashed: remove it with rm -f " +
         shell_quote(lock.string());
}

/// git's environment for the repository, explicit, for the git executable.
std::map<std::string, std::optional<std::string>> git_env(const GitRepo::Impl& g) {
  return {{"GIT_DIR", g.git_dir.string()},
          {"GIT_WORK_TREE", g.work_tree.string()},
          {"GIT_INDEX_FILE", g.index_file.string()}};
}

/// `git ls-files --stage` of `paths` (the git executable reads any index).
std::map<std::string, Entry> entries_from_git(const GitRepo::Impl& g, const std::vector<std::string>& pathspecs) {
  ProgramRun run;
  run.argv = {"git", "ls-files", "--stage", "-z", "--"};
  for (const auto& p : pathspecs) run.argv.push_back(p);
  run.cwd = g.work_tree;
  run.env = git_env(g);
  run.env["GIT_LITERAL_PATHSPECS"] = "1";
  run.capture_stderr = true;
  ProgramResult r = run_program(run, "git ls-files");
  if (r.status != 0) throw IoError("git ls-files failed: " + std::string(trim(r.err)));
  std::map<std::string, Entry> out;
  std::string_view rest = r.out;
  while (!rest.empty()) {
    auto end = rest.find('\0');
    std::string_view record = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    // "<mode> <sha> <stage>\t<path>"
    auto tab = record.find('\t');
    auto fields = split(record.substr(0, tab), ' ');
    if (tab == std::string_view::npos || fields.size() != 3 || fields[2] != "0") continue;
    Entry e;
    e.mode = static_cast<std::uint32_t>(std::stoul(fields[0], nullptr, 8));
    if (api().git_oid_fromstr(&e.id, fields[1].c_str()) != 0) continue;
    out.emplace(std::string(record.substr(tab + 1)), e);
  }
  return out;
}

namespace {

/// The index's entry for `path`.
Entry entry_of(git_index* index, const std::string& path) {
  Entry e;
  if (const git_index_entry* found = api().git_index_get_bypath(index, path.c_str(), 0)) {
    e.mode = found->mode;
    e.id = found->id;
  }
  return e;
}

}  // namespace

void apply_update(git_index* index, const Update& u) {
  const git::Api& a = api();
  if (u.entry.mode == 0) {
    int rc = a.git_index_remove(index, u.path.c_str(), 0);
    if (rc != GIT_ENOTFOUND) check(rc, "unstage " + u.path);
    return;
  }
  git_index_entry entry{};
  if (u.st) {
    const struct stat& st = *u.st;
    entry.ctime.seconds = static_cast<std::int32_t>(st.st_ctim.tv_sec);
    entry.ctime.nanoseconds = static_cast<std::uint32_t>(st.st_ctim.tv_nsec);
    entry.mtime.seconds = static_cast<std::int32_t>(st.st_mtim.tv_sec);
    entry.mtime.nanoseconds = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    entry.dev = static_cast<std::uint32_t>(st.st_dev);
    entry.ino = static_cast<std::uint32_t>(st.st_ino);
    entry.uid = st.st_uid;
    entry.gid = st.st_gid;
    entry.file_size = static_cast<std::uint32_t>(st.st_size);
  }
  entry.mode = u.entry.mode;
  entry.id = u.entry.id;
  entry.path = u.path.c_str();
  check(a.git_index_add(index, &entry), "stage " + u.path);
}

namespace {

/// Takes git's index.lock as git does (an exclusive create), waiting a little for
/// a git process that holds it. nullopt when it stays taken.
std::optional<Fd> take_index_lock(const fs::path& lock) {
  auto deadline = std::chrono::steady_clock::now() + limits::kGitLockWait;
  for (int attempt = 1;; ++attempt) {
    Fd fd(::open(lock.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd) {
      // Held with a flock() too, so that `doctor` can tell one a dead tracker left.
      ::flock(fd.get(), LOCK_EX | LOCK_NB);
      return fd;
    }
    if (errno != EEXIST) throw_errno("cannot create " + lock.string());
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    // Empty and held by nobody for a while: a tracker that died left it (git fills
    // its lock as soon as it has made it). Waiting for it would be in vain.
    struct stat st {};
    if (::stat(lock.c_str(), &st) == 0 && st.st_size == 0 &&
        is_orphan(lock, system_clock().now_ns(), limits::kOrphanMinAgeNs / 20))
      return std::nullopt;
    backoff_sleep(attempt);
  }
}

/// The libgit2 way: under index.lock, a copy of the index is read, changed and
/// written by libgit2, then renamed onto the lock and the lock onto the index, as
/// git commits a lock file.
std::optional<std::string> update_with_libgit2(
    GitRepo::Impl& g, const std::vector<std::string>& paths,
    const std::function<std::vector<Update>(const std::map<std::string, Entry>&)>& decide) {
  const git::Api& a = api();
  fs::path lock = g.index_file.string() + ".lock";
  std::optional<Fd> held = take_index_lock(lock);
  if (!held) return stale_lock_message("the git index", lock);
  bool lock_ours = true;
  ScopeExit drop_lock([&] {
    if (lock_ours) ::unlink(lock.c_str());
  });

  std::error_code ec;
  fs::create_directories(g.temp_dir(), ec);
  fs::path copy = g.temp_dir() / unique_name("index");
  ScopeExit drop_copy([&] { ::unlink(copy.c_str()); });
  if (auto bytes = read_file_if_exists(g.index_file)) {
    AtomicFile out(copy, Durability::cache);
    out.write(*bytes);
    out.commit();
  }
  git_index* raw = nullptr;
  check(a.git_index_open(&raw, copy.c_str()), "read the git index");
  git::Index index(raw);
  std::map<std::string, Entry> current;
  for (const auto& p : paths) current.emplace(p, entry_of(index.get(), p));
  std::vector<Update> updates = decide(current);
  if (updates.empty()) return std::nullopt;
  for (const auto& u : updates) apply_update(index.get(), u);
  check(a.git_index_write(index.get()), "write the git index");
  {
    Fd fd(::open(copy.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) throw_errno("cannot fsync " + copy.string());
  }
  if (::rename(copy.c_str(), lock.c_str()) != 0) throw_errno("cannot rename " + copy.string());
  if (::rename(lock.c_str(), g.index_file.c_str()) != 0) throw_errno("cannot rename " + lock.string());
  lock_ours = false;
  fsync_directory(g.index_file.parent_path());
  return std::nullopt;
}

/// The git executable's way, for the split and sparse indexes libgit2 cannot write.
std::optional<std::string> update_with_git(
    GitRepo::Impl& g, const std::vector<std::string>& paths,
    const std::function<std::vector<Update>(const std::map<std::string, Entry>&)>& decide) {
  // Many paths are read through their directories, to keep the command line short.
  std::vector<std::string> specs = paths;
  if (specs.size() > 256) {
    std::set<std::string> dirs;
    for (const auto& p : paths) dirs.insert(p.find('/') == std::string::npos ? p : p.substr(0, p.rfind('/')));
    specs.assign(dirs.begin(), dirs.end());
  }
  std::map<std::string, Entry> read = entries_from_git(g, specs);
  std::map<std::string, Entry> current;
  for (const auto& p : paths) current.emplace(p, read.count(p) ? read.at(p) : Entry{});
  std::vector<Update> updates = decide(current);
  if (updates.empty()) return std::nullopt;
  ProgramRun run;
  run.argv = {"git", "update-index", "-z", "--index-info"};
  run.cwd = g.work_tree;
  run.env = git_env(g);
  run.capture_stderr = true;
  for (const auto& u : updates) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", u.entry.mode);
    git_oid zero{};
    run.input += std::string(mode) + " " + git::hex(u.entry.mode ? u.entry.id : zero) + "\t" + u.path + '\0';
  }
  ProgramResult r = run_program(run, "git update-index");
  if (r.status == 0) return std::nullopt;
  fs::path lock = g.index_file.string() + ".lock";
  if (fs::exists(lock)) return stale_lock_message("the git index", lock);
  return "git update-index failed: " + std::string(trim(r.err));
}

}  // namespace

Mode mode_of(GitRepo::Impl& g) {
  if (g.index_needs_git) return *g.index_needs_git ? Mode::git_executable : Mode::libgit2;
  // libgit2 verifies the whole index's checksum whenever it reads it (8 ms at
  // 10,000 entries), so the index is read in full only when it may be split or
  // sparse: shared index files beside it, or index.sparse. Its header is always
  // checked, so that a damaged index refuses the commit before anything changes.
  std::string header;
  {
    Fd fd(::open(g.index_file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd && errno != ENOENT) throw_errno("cannot open the git index " + g.index_file.string());
    if (fd) {
      header.resize(12);
      ssize_t n = ::read(fd.get(), header.data(), header.size());
      header.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    }
  }
  auto corrupt = [&](const std::string& why) {
    return IoError("cannot read the git index " + g.index_file.string() + ": " + why +
                   "; nothing was committed. To rebuild it from HEAD (what you staged is lost): rm -f " +
                   shell_quote(g.index_file.string()) + " && git reset");
  };
  if (!header.empty()) {
    unsigned version = header.size() == 12 ? static_cast<unsigned char>(header[7]) : 0;
    if (header.size() < 12 || header.compare(0, 4, "DIRC") != 0 || header.compare(4, 3, std::string(3, '\0')) != 0 ||
        version < 2 || version > 4)
      throw corrupt("not a git index (bad header)");
  }
  bool maybe_split = false;
  {
    Dir dir(g.git_dir);
    while (auto e = dir.next())
      if (e->first.starts_with("sharedindex.")) maybe_split = true;
  }
  bool maybe_sparse = false;
  try {
    maybe_sparse = g.config_bool("index.sparse").value_or(false);
  } catch (const UsageError&) {
    maybe_sparse = true;  // git will say what is wrong with it; read the index to be sure
  }
  if (header.empty() || (!maybe_split && !maybe_sparse)) {
    g.index_needs_git = false;
    return Mode::libgit2;
  }
  const git::Api& a = api();
  git_index* raw = nullptr;
  int rc = a.git_index_open(&raw, g.index_file.c_str());
  if (rc == 0) {
    a.git_index_free(raw);
    g.index_needs_git = false;
    return Mode::libgit2;
  }
  std::string message = git::last_error();
  if (message.find("unsupported mandatory extension") == std::string::npos) throw corrupt(message);
  use_git_executable(g);
  return Mode::git_executable;
}

void use_git_executable(GitRepo::Impl& g) {
  // A split index ('link') or a sparse index ('sdir'): git itself can write it.
  // libgit2 must not read it either (attribute lookups for the filters do): it gets
  // an empty index of its own, and .gitattributes come from the work tree.
  const git::Api& a = api();
  git_index* empty = nullptr;
  check(a.git_index_new(&empty), "an index for libgit2");
  git::Index owned(empty);
  a.git_repository_set_index(g.repo.get(), empty);
  g.index_needs_git = true;
}

std::optional<std::string> update(GitRepo::Impl& g, Mode mode, const std::vector<std::string>& paths,
                                  const std::function<std::vector<Update>(const std::map<std::string, Entry>&)>& decide,
                                  LookFirst look_first) {
  try {
    if (look_first == LookFirst::yes && mode == Mode::libgit2) {
      const git::Api& a = api();
      git_index* raw = nullptr;
      check(a.git_index_open(&raw, g.index_file.c_str()), "read the git index");
      git::Index index(raw);
      std::map<std::string, Entry> current;
      for (const auto& p : paths) current.emplace(p, entry_of(index.get(), p));
      if (decide(current).empty()) return std::nullopt;
    }
    if (mode == Mode::libgit2) {
      try {
        return update_with_libgit2(g, paths, decide);
      } catch (const IoError& e) {
        // The index became split or sparse since mode_of() looked: git writes it.
        if (std::string_view(e.what()).find("unsupported mandatory extension") == std::string_view::npos) throw;
        use_git_executable(g);
      }
    }
    return update_with_git(g, paths, decide);
  } catch (const Error& e) {
    return std::string(e.what());
  }
}

}  // namespace gitindex

namespace {

/// A journal entry: the commit whose git index update has not finished, and its paths.
struct Pending {
  std::string sha;
  std::vector<std::string> paths;
};

constexpr std::string_view kJournalMagic = "tracker-pending-index 1\n";

std::string format_pending(const Pending& p) {
  std::string out(kJournalMagic);
  out += "commit " + p.sha + "\n";
  for (const auto& path : p.paths) out += path + '\0';
  return out;
}

std::optional<Pending> parse_pending(std::string_view text) {
  if (!text.starts_with(kJournalMagic)) return std::nullopt;
  text.remove_prefix(kJournalMagic.size());
  auto nl = text.find('\n');
  if (!text.starts_with("commit ") || nl == std::string_view::npos) return std::nullopt;
  Pending p;
  p.sha = std::string(text.substr(7, nl - 7));
  text.remove_prefix(nl + 1);
  while (!text.empty()) {
    auto end = text.find('\0');
    if (end == std::string_view::npos) return std::nullopt;  // cut short
    p.paths.emplace_back(text.substr(0, end));
    text.remove_prefix(end + 1);
  }
  return p;
}

/// The stat data to record for `path` when its file holds exactly `want`.
std::optional<struct stat> stat_if_matches(GitRepo::Impl& g, const std::string& path, const gitindex::Entry& want) {
  const git::Api& a = api();
  struct stat st {};
  if (want.mode == 0 || ::lstat(g.file(path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  git_oid id;
  if (a.git_repository_hashfile(&id, g.repo.get(), g.file(path).c_str(), GIT_OBJECT_BLOB, path.c_str()) != 0)
    return std::nullopt;
  if (std::memcmp(id.id, want.id.id, GIT_OID_RAWSZ) != 0) return std::nullopt;
  return st;
}

/// HEAD's tree, or null for an unborn HEAD.
git::Tree head_tree(GitRepo::Impl& g) {
  const git::Api& a = api();
  git_object* raw = nullptr;
  if (a.git_revparse_single(&raw, g.repo.get(), "HEAD^{tree}") != 0) return git::Tree();
  return git::Tree(reinterpret_cast<git_tree*>(raw));
}

}  // namespace

/// Written by commit_paths() before the branch moves; see GitRepo::finish_index_updates().
std::unique_ptr<OwnedFile> start_pending_index(GitRepo::Impl& g, const std::string& sha,
                                               const std::vector<std::string>& paths) {
  // Every command looks for orphaned journals at once (no minimum age): it must
  // never find this one before it is locked.
  return std::make_unique<OwnedFile>(g.pending_dir() / unique_name("commit"), format_pending({sha, paths}),
                                     OwnedFile::Seen::at_once);
}

void rewrite_pending_index(OwnedFile& journal, const std::string& sha, const std::vector<std::string>& paths) {
  journal.rewrite(format_pending({sha, paths}));
}

std::vector<fs::path> GitRepo::orphaned_index_updates(const fs::path& pending_dir, std::int64_t now_ns) {
  std::vector<fs::path> out;
  Dir dir(pending_dir);
  while (auto e = dir.next()) {
    if (e->first.starts_with('.')) continue;  // one being made (start_pending_index)
    fs::path file = pending_dir / std::string(e->first);
    // A journal whose process still holds it is that process's own business.
    if (is_orphan(file, now_ns, 0)) out.push_back(file);
  }
  return out;
}

IndexRepair GitRepo::finish_index_updates(bool dry_run) {
  Impl& g = *impl_;
  IndexRepair out;
  std::vector<fs::path> journals = orphaned_index_updates(g.pending_dir(), system_clock().now_ns());
  if (journals.empty()) return out;
  const git::Api& a = api();
  std::optional<ProcessLock> turn;
  try {
    turn.emplace(g.tracker_dir() / "git-index.lock", limits::kGitIndexTurn, "the git index");
  } catch (const ConflictError& e) {
    out.warnings.emplace_back(e.what());
    return out;
  }
  std::optional<gitindex::Mode> mode;
  git::Tree head = head_tree(g);
  git_oid head_id{};
  bool has_head = a.git_reference_name_to_id(&head_id, g.repo.get(), "HEAD") == 0;
  for (const fs::path& file : journals) {
    std::optional<Pending> pending;
    if (auto text = read_file_if_exists(file)) pending = parse_pending(*text);
    git_oid commit_id{};
    git_commit* raw_commit = nullptr;
    bool landed = pending && has_head && a.git_oid_fromstr(&commit_id, pending->sha.c_str()) == 0 &&
                  a.git_commit_lookup(&raw_commit, g.repo.get(), &commit_id) == 0;
    git::Commit commit(raw_commit);
    if (landed && std::memcmp(commit_id.id, head_id.id, GIT_OID_RAWSZ) != 0)
      landed = a.git_graph_descendant_of(g.repo.get(), &head_id, &commit_id) == 1;
    if (!landed) {  // the branch never moved to it (or the journal was cut short): nothing to finish
      if (!dry_run) ::unlink(file.c_str());
      continue;
    }
    git::Tree before;
    if (a.git_commit_parentcount(commit.get()) > 0) {
      git_commit* raw_parent = nullptr;
      check(a.git_commit_lookup(&raw_parent, g.repo.get(), a.git_commit_parent_id(commit.get(), 0)), "parent commit");
      git::Commit parent(raw_parent);
      git_tree* t = nullptr;
      check(a.git_commit_tree(&t, parent.get()), "parent tree");
      before.reset(t);
    }
    try {
      if (!mode) mode = gitindex::mode_of(g);
    } catch (const Error& e) {
      out.warnings.emplace_back(e.what());
      return out;
    }
    std::vector<std::string> changed;
    TreeEntries head_entries(head.get()), before_entries(before.get());
    auto decide = [&](const std::map<std::string, gitindex::Entry>& current) {
      std::vector<gitindex::Update> updates;
      changed.clear();
      for (const auto& path : pending->paths) {
        gitindex::Entry want = head_entries.at(path);
        gitindex::Entry cur = current.count(path) ? current.at(path) : gitindex::Entry{};
        // Only an entry still at the version before the commit is ours to move on;
        // anything else was staged by the user since.
        if (cur == want || !(cur == before_entries.at(path))) continue;
        changed.push_back(path);
        updates.push_back({path, want, stat_if_matches(g, path, want)});
      }
      return dry_run ? std::vector<gitindex::Update>{} : updates;
    };
    std::optional<std::string> warning = gitindex::update(g, *mode, pending->paths, decide, gitindex::LookFirst::yes);
    if (warning) {
      out.warnings.push_back("cannot bring the git index up to date with commit " + pending->sha.substr(0, 12) + ": " +
                             *warning);
      continue;
    }
    for (auto& p : changed) out.updated.push_back(std::move(p));
    if (!dry_run) ::unlink(file.c_str());
  }
  return out;
}

IndexRepair GitRepo::repair_index(const std::string& dir, bool dry_run) {
  Impl& g = *impl_;
  const git::Api& a = api();
  IndexRepair out;
  git::Tree head = head_tree(g);
  gitindex::Mode mode = gitindex::mode_of(g);
  std::string prefix = dir + "/";

  // Every path under `dir` in HEAD or in the git index.
  std::set<std::string> paths;
  std::function<void(git_tree*, const std::string&)> walk = [&](git_tree* tree, const std::string& base) {
    for (std::size_t i = 0, n = a.git_tree_entrycount(tree); i < n; ++i) {
      const git_tree_entry* e = a.git_tree_entry_byindex(tree, i);
      std::string path = base + a.git_tree_entry_name(e);
      if (a.git_tree_entry_type(e) == GIT_OBJECT_TREE) {
        git_tree* sub = nullptr;
        check(a.git_tree_lookup(&sub, g.repo.get(), a.git_tree_entry_id(e)), path);
        git::Tree owned(sub);
        walk(sub, path + "/");
      } else {
        paths.insert(path);
      }
    }
  };
  if (head) {
    git_tree_entry* raw = nullptr;
    if (a.git_tree_entry_bypath(&raw, head.get(), dir.c_str()) == 0) {
      git::TreeEntry entry(raw);
      if (a.git_tree_entry_type(entry.get()) == GIT_OBJECT_TREE) {
        git_tree* sub = nullptr;
        check(a.git_tree_lookup(&sub, g.repo.get(), a.git_tree_entry_id(entry.get())), dir);
        git::Tree owned(sub);
        walk(sub, prefix);
      }
    }
  }
  git_index* raw = nullptr;
  if (mode == gitindex::Mode::libgit2 && a.git_index_open(&raw, g.index_file.c_str()) != 0) {
    if (git::last_error().find("unsupported mandatory extension") == std::string::npos) check(-1, "read the git index");
    gitindex::use_git_executable(g);
    mode = gitindex::Mode::git_executable;
  }
  if (mode == gitindex::Mode::libgit2) {
    git::Index index(raw);
    for (std::size_t i = 0, n = a.git_index_entrycount(index.get()); i < n; ++i) {
      const git_index_entry* e = a.git_index_get_byindex(index.get(), i);
      if (std::string_view(e->path).starts_with(prefix)) paths.insert(e->path);
    }
  } else {
    for (auto& [path, e] : gitindex::entries_from_git(g, {dir})) paths.insert(path);
  }

  std::vector<std::string> all(paths.begin(), paths.end());
  TreeEntries head_entries(head.get());
  auto decide = [&](const std::map<std::string, gitindex::Entry>& current) {
    std::vector<gitindex::Update> updates;
    out.updated.clear();
    for (const auto& path : all) {
      gitindex::Entry want = head_entries.at(path);
      gitindex::Entry cur = current.count(path) ? current.at(path) : gitindex::Entry{};
      if (cur == want) continue;
      // Behind: the working file is HEAD's version, yet the index holds another.
      struct stat st {};
      bool file_exists = ::lstat(g.file(path).c_str(), &st) == 0;
      std::optional<struct stat> matches = stat_if_matches(g, path, want);
      if (want.mode == 0 ? file_exists : !matches) continue;
      out.updated.push_back(path);
      updates.push_back({path, want, matches});
    }
    return dry_run ? std::vector<gitindex::Update>{} : updates;
  };
  ProcessLock turn(g.tracker_dir() / "git-index.lock", limits::kGitIndexTurn, "the git index");
  if (auto warning = gitindex::update(g, mode, all, decide, gitindex::LookFirst::yes)) out.warnings.push_back(*warning);
  return out;
}

}  // namespace tracker
