#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/git.hpp>
#include <tracker/util.hpp>

#include <git2.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <ctime>
#include <fcntl.h>
#include <map>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace tracker {

namespace {

// libgit2 is loaded on the first commit, not at process start: linking it pulls in
// libcrypto, krb5, mbedtls and libssh2, whose relocations cost more than the rest of
// a read-only command. git2.h still provides every type and signature.
#define TRACKER_GIT_FUNCTIONS(X) \
  X(git_blob_create_from_buffer) \
  X(git_blob_free) \
  X(git_blob_lookup) \
  X(git_blob_rawcontent) \
  X(git_blob_rawsize) \
  X(git_revparse_single) \
  X(git_object_free) \
  X(git_object_id) \
  X(git_object_peel) \
  X(git_diff_free) \
  X(git_diff_get_delta) \
  X(git_diff_num_deltas) \
  X(git_diff_tree_to_tree) \
  X(git_diff_tree_to_workdir_with_index) \
  X(git_merge_base) \
  X(git_tree_entry_bypath) \
  X(git_tree_entry_free) \
  X(git_buf_dispose) \
  X(git_commit_create) \
  X(git_commit_author) \
  X(git_commit_free) \
  X(git_commit_message) \
  X(git_commit_parent_id) \
  X(git_commit_parentcount) \
  X(git_commit_time) \
  X(git_revwalk_free) \
  X(git_revwalk_new) \
  X(git_revwalk_next) \
  X(git_revwalk_push_head) \
  X(git_revwalk_sorting) \
  X(git_commit_lookup) \
  X(git_commit_tree) \
  X(git_config_free) \
  X(git_config_get_string_buf) \
  X(git_error_last) \
  X(git_index_add) \
  X(git_index_free) \
  X(git_index_read) \
  X(git_index_remove_bypath) \
  X(git_index_write) \
  X(git_libgit2_init) \
  X(git_oid_cpy) \
  X(git_oid_equal) \
  X(git_oid_tostr) \
  X(git_reference_create) \
  X(git_reference_create_matching) \
  X(git_reference_free) \
  X(git_reference_lookup) \
  X(git_reference_name_to_id) \
  X(git_reference_symbolic_target) \
  X(git_reference_target) \
  X(git_reference_type) \
  X(git_repository_config_snapshot) \
  X(git_repository_free) \
  X(git_repository_index) \
  X(git_repository_init) \
  X(git_repository_open_ext) \
  X(git_repository_path) \
  X(git_repository_commondir) \
  X(git_repository_workdir) \
  X(git_signature_free) \
  X(git_signature_new) \
  X(git_signature_now) \
  X(git_tree_entry_byname) \
  X(git_tree_entry_filemode) \
  X(git_tree_entry_id) \
  X(git_tree_entry_type) \
  X(git_tree_free) \
  X(git_tree_id) \
  X(git_tree_lookup) \
  X(git_treebuilder_entrycount) \
  X(git_treebuilder_free) \
  X(git_treebuilder_get) \
  X(git_treebuilder_insert) \
  X(git_treebuilder_new) \
  X(git_treebuilder_remove) \
  X(git_treebuilder_write)

struct Api {
#define TRACKER_DECLARE(name) decltype(&::name) name = nullptr;
  TRACKER_GIT_FUNCTIONS(TRACKER_DECLARE)
#undef TRACKER_DECLARE
};

const Api& api() {
  static const Api loaded = [] {
    void* lib = ::dlopen(TRACKER_LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) throw IoError(std::string("cannot load libgit2 (") + TRACKER_LIBGIT2_SONAME + "): " + ::dlerror());
    Api a;
#define TRACKER_RESOLVE(name)                                                            \
  if (void* sym = ::dlsym(lib, #name)) std::memcpy(&a.name, &sym, sizeof sym);           \
  else throw IoError("cannot load libgit2: " TRACKER_LIBGIT2_SONAME " lacks " #name);
    TRACKER_GIT_FUNCTIONS(TRACKER_RESOLVE)
#undef TRACKER_RESOLVE
    a.git_libgit2_init();
    return a;
  }();
  return loaded;
}

}  // namespace

void GitRepo::preload() {
  try {
    api();
    trace("libgit2 loaded");
  } catch (...) {  // the first real use reports it
  }
}

namespace {

/// Frees a libgit2 handle through the loaded library.
template <class T, auto Api::*Free>
struct Deleter {
  void operator()(T* p) const { (api().*Free)(p); }
};
using Repo = std::unique_ptr<git_repository, Deleter<git_repository, &Api::git_repository_free>>;
using Reference = std::unique_ptr<git_reference, Deleter<git_reference, &Api::git_reference_free>>;
using Tree = std::unique_ptr<git_tree, Deleter<git_tree, &Api::git_tree_free>>;
using Commit = std::unique_ptr<git_commit, Deleter<git_commit, &Api::git_commit_free>>;
using TreeBuilder = std::unique_ptr<git_treebuilder, Deleter<git_treebuilder, &Api::git_treebuilder_free>>;
using Signature = std::unique_ptr<git_signature, Deleter<git_signature, &Api::git_signature_free>>;
using Object = std::unique_ptr<git_object, Deleter<git_object, &Api::git_object_free>>;
using Blob = std::unique_ptr<git_blob, Deleter<git_blob, &Api::git_blob_free>>;
using TreeEntry = std::unique_ptr<git_tree_entry, Deleter<git_tree_entry, &Api::git_tree_entry_free>>;
using Diff = std::unique_ptr<git_diff, Deleter<git_diff, &Api::git_diff_free>>;
using Index = std::unique_ptr<git_index, Deleter<git_index, &Api::git_index_free>>;
using Config = std::unique_ptr<git_config, Deleter<git_config, &Api::git_config_free>>;

void ensure_libgit2() { api(); }

/// Throws IoError with libgit2's last error when rc < 0.
void check(int rc, const std::string& context) {
  if (rc >= 0) return;
  const git_error* e = api().git_error_last();
  throw IoError(context + ": " + (e && e->message ? e->message : "unknown libgit2 error"));
}

/// One path of a commit: the blob to record, or a deletion.
struct Change {
  std::string path;
  bool deleted = false;
  git_oid blob{};
  git_filemode_t mode = GIT_FILEMODE_BLOB;
  struct stat st {};
};

/// What build_tree() made of one tree.
enum class TreeResult { unchanged, empty, written };

/// Applies `changes` (paths relative to this tree) to `base` (may be null). Returns
/// `unchanged` without building anything when no entry would differ, e.g. when every
/// change deletes a name that is not there, so untouched directories cost a lookup.
TreeResult build_tree(git_repository* repo, const git_tree* base,
                      const std::vector<std::pair<std::string, const Change*>>& changes, git_oid* out) {
  std::vector<const std::pair<std::string, const Change*>*> leaves;
  std::map<std::string, std::vector<std::pair<std::string, const Change*>>> subdirs;
  for (const auto& change : changes) {
    auto slash = change.first.find('/');
    if (slash == std::string::npos) leaves.push_back(&change);
    else subdirs[change.first.substr(0, slash)].emplace_back(change.first.substr(slash + 1), change.second);
  }

  auto base_entry = [&](const std::string& name) -> const git_tree_entry* {
    return base ? api().git_tree_entry_byname(base, name.c_str()) : nullptr;
  };
  std::vector<const std::pair<std::string, const Change*>*> leaf_edits;
  for (const auto* leaf : leaves) {
    const git_tree_entry* entry = base_entry(leaf->first);
    const Change* c = leaf->second;
    bool same = c->deleted ? entry == nullptr
                           : entry && api().git_tree_entry_filemode(entry) == c->mode &&
                                 api().git_oid_equal(api().git_tree_entry_id(entry), &c->blob);
    if (!same) leaf_edits.push_back(leaf);
  }
  struct SubResult {
    std::string name;
    TreeResult result;
    git_oid oid;
  };
  std::vector<SubResult> sub_edits;
  for (const auto& [name, sub] : subdirs) {
    Tree sub_base;
    const git_tree_entry* entry = base_entry(name);
    if (entry && api().git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
      git_tree* t = nullptr;
      check(api().git_tree_lookup(&t, repo, api().git_tree_entry_id(entry)), "tree lookup");
      sub_base.reset(t);
    }
    SubResult r{name, TreeResult::unchanged, {}};
    r.result = build_tree(repo, sub_base.get(), sub, &r.oid);
    if (r.result != TreeResult::unchanged) sub_edits.push_back(r);
  }
  if (leaf_edits.empty() && sub_edits.empty()) return TreeResult::unchanged;

  git_treebuilder* raw = nullptr;
  check(api().git_treebuilder_new(&raw, repo, base), "tree builder");
  TreeBuilder builder(raw);
  for (const auto* leaf : leaf_edits) {
    const Change* c = leaf->second;
    if (c->deleted) check(api().git_treebuilder_remove(builder.get(), leaf->first.c_str()), "tree remove");
    else check(api().git_treebuilder_insert(nullptr, builder.get(), leaf->first.c_str(), &c->blob, c->mode),
               "tree insert " + leaf->first);
  }
  for (const auto& sub : sub_edits) {
    if (sub.result == TreeResult::written)
      check(api().git_treebuilder_insert(nullptr, builder.get(), sub.name.c_str(), &sub.oid, GIT_FILEMODE_TREE),
            "tree insert " + sub.name);
    else if (api().git_treebuilder_get(builder.get(), sub.name.c_str()))
      check(api().git_treebuilder_remove(builder.get(), sub.name.c_str()), "tree remove");
  }
  if (api().git_treebuilder_entrycount(builder.get()) == 0) return TreeResult::empty;
  check(api().git_treebuilder_write(out, builder.get()), "tree write");
  return TreeResult::written;
}

std::string config_string(git_repository* repo, const char* key) {
  git_config* raw = nullptr;
  if (api().git_repository_config_snapshot(&raw, repo) < 0) return {};
  Config config(raw);
  git_buf buf = GIT_BUF_INIT;
  std::string out;
  if (api().git_config_get_string_buf(&buf, config.get(), key) == 0) out.assign(buf.ptr, buf.size);
  api().git_buf_dispose(&buf);
  return out;
}

Signature make_signature(git_repository* repo, const std::string& role) {
  auto env = [](const std::string& name) -> std::string {
    const char* v = std::getenv(name.c_str());
    return v ? v : "";
  };
  std::string name = env("GIT_" + role + "_NAME");
  if (name.empty()) name = config_string(repo, "user.name");
  std::string email = env("GIT_" + role + "_EMAIL");
  if (email.empty()) email = config_string(repo, "user.email");
  if (email.empty()) email = env("EMAIL");
  if (name.empty() || email.empty())
    throw IoError("cannot commit: no git identity; run 'git config user.name \"Your Name\"' and "
                  "'git config user.email you@example.com' (or set GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL), or pass --no-commit");
  git_signature* sig = nullptr;
  std::string date = env("GIT_" + role + "_DATE");
  if (date.empty()) {
    check(api().git_signature_now(&sig, name.c_str(), email.c_str()), "signature");
  } else {
    std::int64_t when = 0;
    int offset = 0;
    if (!parse_git_date(date, &when, &offset)) throw UsageError("cannot parse GIT_" + role + "_DATE '" + date + "'");
    check(api().git_signature_new(&sig, name.c_str(), email.c_str(), when, offset), "signature");
  }
  return Signature(sig);
}

/// Reads a file for a commit: its blob, mode and the stat data taken before reading.
Change read_change(git_repository* repo, const std::filesystem::path& work_tree, const std::string& path) {
  Change c;
  c.path = path;
  std::optional<FileSnapshot> file = read_snapshot(work_tree / path, path);
  if (!file) {
    c.deleted = true;
    return c;
  }
  c.st = file->st;
  c.mode = (c.st.st_mode & S_IXUSR) ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
  check(api().git_blob_create_from_buffer(&c.blob, repo, file->data.data(), file->data.size()), "blob " + path);
  return c;
}


}  // namespace

struct GitRepo::Impl {
  Repo repo;
  std::filesystem::path work_tree;
};

GitRepo::GitRepo(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GitRepo::GitRepo(GitRepo&&) noexcept = default;
GitRepo& GitRepo::operator=(GitRepo&&) noexcept = default;
GitRepo::~GitRepo() = default;

GitRepo GitRepo::open(const std::filesystem::path& path) {
  ensure_libgit2();
  git_repository* raw = nullptr;
  check(api().git_repository_open_ext(&raw, path.c_str(), 0, nullptr), "cannot open git repository at " + path.string());
  auto impl = std::make_unique<Impl>();
  impl->repo.reset(raw);
  const char* wd = api().git_repository_workdir(raw);
  if (!wd) throw IoError("the git repository at " + path.string() + " is bare; tracker needs a work tree");
  std::error_code ec;
  impl->work_tree = std::filesystem::weakly_canonical(wd, ec);
  if (ec) impl->work_tree = wd;
  return GitRepo(std::move(impl));
}

void GitRepo::init(const std::filesystem::path& dir) {
  ensure_libgit2();
  git_repository* raw = nullptr;
  check(api().git_repository_init(&raw, dir.c_str(), 0), "git init " + dir.string());
  api().git_repository_free(raw);
}

std::filesystem::path GitRepo::work_tree() const { return impl_->work_tree; }

std::string format_commit_message(const CommitRequest& request) {
  std::string message = request.subject + "\n";
  if (!request.trailers.empty()) {
    message += "\n";
    for (const auto& [key, value] : request.trailers) message += key + ": " + value + "\n";
  }
  return message;
}

bool parse_git_date(std::string_view text, std::int64_t* when, int* offset_minutes) {
  text = trim(text);
  *offset_minutes = 0;
  auto parse_zone = [&](std::string_view z) {
    z = trim(z);
    if (z.empty() || z == "Z") return true;
    if (z.size() < 5 || (z[0] != '+' && z[0] != '-')) return false;
    std::string digits;
    for (char c : z.substr(1))
      if (c != ':') digits += c;
    auto hhmm = parse_int(digits);
    if (!hhmm || digits.size() != 4) return false;
    int minutes = static_cast<int>(*hhmm / 100 * 60 + *hhmm % 100);
    *offset_minutes = z[0] == '-' ? -minutes : minutes;
    return true;
  };
  std::string_view num = text;
  if (num.starts_with('@')) num.remove_prefix(1);
  auto space = num.find(' ');
  if (auto secs = parse_int(num.substr(0, space)); secs && (text.starts_with('@') || space != std::string_view::npos)) {
    *when = *secs;
    return parse_zone(space == std::string_view::npos ? "" : num.substr(space + 1));
  }
  std::tm tm{};
  const char* end = strptime(std::string(text).c_str(), "%Y-%m-%d", &tm);
  if (!end || text.size() < 19) return false;
  std::string rest(text.substr(10));
  if (rest[0] != 'T' && rest[0] != ' ') return false;
  if (!strptime(rest.c_str() + 1, "%H:%M:%S", &tm)) return false;
  if (!parse_zone(rest.substr(9))) return false;
  *when = static_cast<std::int64_t>(timegm(&tm)) - *offset_minutes * 60;
  return true;
}

CommitResult GitRepo::commit_paths(const CommitRequest& request) {
  git_repository* repo = impl_->repo.get();
  std::vector<Change> changes;
  for (const auto& path : request.paths) changes.push_back(read_change(repo, impl_->work_tree, path));
  std::vector<std::pair<std::string, const Change*>> edits;
  for (const auto& c : changes) edits.emplace_back(c.path, &c);

  Signature author = make_signature(repo, "AUTHOR");
  Signature committer = make_signature(repo, "COMMITTER");
  const std::string message = format_commit_message(request);
  const std::string reflog = "commit: " + request.subject;

  CommitResult result;
  constexpr int kMaxAttempts = 200;
  // Our own commits take turns, so concurrent tracker processes queue instead of
  // building trees that lose the compare-and-swap; other writers (git itself) are
  // still caught by it.
  trace("commit: blobs written");
  std::optional<ProcessLock> turn;
  turn.emplace(std::filesystem::path(api().git_repository_commondir(repo)) / "tracker" / "commit.lock",
               std::chrono::seconds(60), "the branch");
  trace("commit: commit lock taken");
  for (result.attempts = 1;; ++result.attempts) {
    if (result.attempts > kMaxAttempts)
      throw ConflictError("HEAD kept moving under us after " + std::to_string(kMaxAttempts) + " attempts; try again");
    git_reference* raw_head = nullptr;
    check(api().git_reference_lookup(&raw_head, repo, "HEAD"), "HEAD");
    Reference head(raw_head);
    std::string ref_name = "HEAD";
    bool unborn = false;
    git_oid parent_oid{};
    if (api().git_reference_type(head.get()) == GIT_REFERENCE_SYMBOLIC) {
      ref_name = api().git_reference_symbolic_target(head.get());
      int rc = api().git_reference_name_to_id(&parent_oid, repo, ref_name.c_str());
      if (rc == GIT_ENOTFOUND) unborn = true;
      else check(rc, "resolve " + ref_name);
    } else {
      api().git_oid_cpy(&parent_oid, api().git_reference_target(head.get()));
    }

    Commit parent;
    Tree base_tree;
    if (!unborn) {
      git_commit* c = nullptr;
      check(api().git_commit_lookup(&c, repo, &parent_oid), "parent commit");
      parent.reset(c);
      git_tree* t = nullptr;
      check(api().git_commit_tree(&t, parent.get()), "parent tree");
      base_tree.reset(t);
    }
    git_oid tree_oid;
    TreeResult built = build_tree(repo, base_tree.get(), edits, &tree_oid);
    if (built == TreeResult::unchanged && base_tree) return result;  // nothing to commit
    if (built != TreeResult::written) {  // an empty tree (a root commit of nothing, or everything deleted)
      git_treebuilder* raw_empty = nullptr;
      check(api().git_treebuilder_new(&raw_empty, repo, nullptr), "tree builder");
      TreeBuilder empty(raw_empty);
      check(api().git_treebuilder_write(&tree_oid, empty.get()), "tree write");
    }

    git_tree* t = nullptr;
    check(api().git_tree_lookup(&t, repo, &tree_oid), "new tree");
    Tree tree(t);
    const git_commit* parents[] = {parent.get()};
    git_oid commit_oid;
    check(api().git_commit_create(&commit_oid, repo, nullptr, author.get(), committer.get(), nullptr, message.c_str(),
                            tree.get(), unborn ? 0 : 1, parents),
          "create commit");

    git_reference* updated = nullptr;
    int rc = unborn ? api().git_reference_create(&updated, repo, ref_name.c_str(), &commit_oid, 0, reflog.c_str())
                    : api().git_reference_create_matching(&updated, repo, ref_name.c_str(), &commit_oid, 1, &parent_oid,
                                                    reflog.c_str());
    api().git_reference_free(updated);
    if (rc == GIT_EMODIFIED || rc == GIT_ELOCKED || rc == GIT_EEXISTS) {
      backoff_sleep(result.attempts);  // lost the race: redo on top of the new HEAD
      continue;
    }
    check(rc, "update " + ref_name);
    char sha[GIT_OID_HEXSZ + 1];
    api().git_oid_tostr(sha, sizeof sha, &commit_oid);
    result.sha = sha;
    break;
  }
  trace("commit: ref updated");

  // Bring only our paths in the git index up to date; the user's staged changes stay.
  // The branch's turn is let go once the git index's is ours, so that commits reach
  // the git index in the order they were made.
  ProcessLock lock(std::filesystem::path(api().git_repository_path(repo)) / "tracker" / "git-index.lock",
                   std::chrono::seconds(30), "the git index");
  turn.reset();
  for (int attempt = 1;; ++attempt) {
    git_index* raw_index = nullptr;
    check(api().git_repository_index(&raw_index, repo), "git index");
    Index index(raw_index);
    check(api().git_index_read(index.get(), 1), "read git index");
    for (const auto& c : changes) {
      if (c.deleted) {
        int rc = api().git_index_remove_bypath(index.get(), c.path.c_str());
        if (rc != GIT_ENOTFOUND) check(rc, "unstage " + c.path);
        continue;
      }
      git_index_entry entry{};
      entry.ctime.seconds = static_cast<std::int32_t>(c.st.st_ctim.tv_sec);
      entry.ctime.nanoseconds = static_cast<std::uint32_t>(c.st.st_ctim.tv_nsec);
      entry.mtime.seconds = static_cast<std::int32_t>(c.st.st_mtim.tv_sec);
      entry.mtime.nanoseconds = static_cast<std::uint32_t>(c.st.st_mtim.tv_nsec);
      entry.dev = static_cast<std::uint32_t>(c.st.st_dev);
      entry.ino = static_cast<std::uint32_t>(c.st.st_ino);
      entry.mode = c.mode;
      entry.uid = c.st.st_uid;
      entry.gid = c.st.st_gid;
      entry.file_size = static_cast<std::uint32_t>(c.st.st_size);
      entry.id = c.blob;
      entry.path = c.path.c_str();
      check(api().git_index_add(index.get(), &entry), "stage " + c.path);
    }
    int rc = api().git_index_write(index.get());
    if (rc == GIT_ELOCKED && attempt < 200) {  // git itself holds index.lock
      backoff_sleep(attempt);
      continue;
    }
    if (rc == GIT_ELOCKED)
      throw ConflictError("committed " + result.sha.substr(0, 12) +
                          ", but the git index stays locked (index.lock); run 'git status' to check it");
    check(rc, "write git index");
    break;
  }
  trace("commit: git index written");
  return result;
}

std::optional<std::string> GitRepo::content_at(const std::string& rev, const std::string& path) {
  if (rev.empty()) return std::nullopt;
  git_object* raw = nullptr;
  int rc = api().git_revparse_single(&raw, impl_->repo.get(), rev.c_str());
  if (rc == GIT_ENOTFOUND) return std::nullopt;  // an unborn HEAD
  check(rc, "resolve " + rev);
  Object object(raw);
  git_object* peeled = nullptr;
  check(api().git_object_peel(&peeled, object.get(), GIT_OBJECT_TREE), "tree of " + rev);
  Tree tree(reinterpret_cast<git_tree*>(peeled));
  git_tree_entry* raw_entry = nullptr;
  rc = api().git_tree_entry_bypath(&raw_entry, tree.get(), path.c_str());
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  check(rc, path + " in " + rev);
  TreeEntry entry(raw_entry);
  if (api().git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB) return std::nullopt;
  git_blob* raw_blob = nullptr;
  check(api().git_blob_lookup(&raw_blob, impl_->repo.get(), api().git_tree_entry_id(entry.get())), path);
  Blob blob(raw_blob);
  return std::string(static_cast<const char*>(api().git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(api().git_blob_rawsize(blob.get())));
}

namespace {

/// The tree of a revision; nullptr for an unborn HEAD and for "" (the empty tree).
Tree tree_of(git_repository* repo, const std::string& rev) {
  if (rev.empty()) return Tree();
  git_object* raw = nullptr;
  int rc = api().git_revparse_single(&raw, repo, rev.c_str());
  if (rc == GIT_ENOTFOUND && rev == "HEAD") return Tree();
  if (rc != 0) throw UsageError("unknown revision '" + rev + "'");
  Object object(raw);
  git_object* peeled = nullptr;
  if (api().git_object_peel(&peeled, object.get(), GIT_OBJECT_TREE) != 0)
    throw UsageError("'" + rev + "' does not name a commit or a tree");
  return Tree(reinterpret_cast<git_tree*>(peeled));
}

}  // namespace

std::vector<std::string> GitRepo::changed_paths_between(const std::string& from, const std::optional<std::string>& to,
                                                        const std::string& dir) {
  git_repository* repo = impl_->repo.get();
  Tree a = tree_of(repo, from);
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS;
  std::string spec = dir + "/";
  char* specs[] = {spec.data()};
  opts.pathspec.strings = specs;
  opts.pathspec.count = 1;
  git_diff* raw = nullptr;
  if (to) {
    Tree b = tree_of(repo, *to);
    check(api().git_diff_tree_to_tree(&raw, repo, a.get(), b.get(), &opts), "diff " + from + " " + *to);
  } else {
    check(api().git_diff_tree_to_workdir_with_index(&raw, repo, a.get(), &opts), "diff " + from);
  }
  Diff diff(raw);
  std::vector<std::string> out;
  for (std::size_t i = 0, n = api().git_diff_num_deltas(diff.get()); i < n; ++i) {
    const git_diff_delta* d = api().git_diff_get_delta(diff.get(), i);
    for (const char* path : {d->old_file.path, d->new_file.path})
      if (path && std::string_view(path).starts_with(spec)) out.emplace_back(path);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string GitRepo::merge_base(const std::string& a, const std::string& b) {
  git_repository* repo = impl_->repo.get();
  auto commit_id = [&](const std::string& rev) {
    git_object* raw = nullptr;
    if (api().git_revparse_single(&raw, repo, rev.c_str()) != 0) throw UsageError("unknown revision '" + rev + "'");
    Object object(raw);
    git_object* peeled = nullptr;
    if (api().git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0)
      throw UsageError("'" + rev + "' does not name a commit");
    Object commit(peeled);
    git_oid id;
    api().git_oid_cpy(&id, api().git_object_id(commit.get()));
    return id;
  };
  git_oid x = commit_id(a), y = commit_id(b), base;
  if (api().git_merge_base(&base, repo, &x, &y) != 0) throw UsageError(a + " and " + b + " have no common ancestor");
  char sha[GIT_OID_HEXSZ + 1];
  api().git_oid_tostr(sha, sizeof sha, &base);
  return sha;
}

void GitRepo::walk_history(const std::function<bool(const CommitInfo&)>& visit) {
  git_repository* repo = impl_->repo.get();
  git_revwalk* raw = nullptr;
  check(api().git_revwalk_new(&raw, repo), "history");
  std::unique_ptr<git_revwalk, Deleter<git_revwalk, &Api::git_revwalk_free>> walk(raw);
  api().git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  int rc = api().git_revwalk_push_head(walk.get());
  if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) return;  // no commits yet
  check(rc, "HEAD");
  git_oid id;
  while (api().git_revwalk_next(&id, walk.get()) == 0) {
    git_commit* c = nullptr;
    check(api().git_commit_lookup(&c, repo, &id), "commit");
    Commit commit(c);
    CommitInfo info;
    char sha[GIT_OID_HEXSZ + 1];
    api().git_oid_tostr(sha, sizeof sha, &id);
    info.sha = sha;
    info.time = static_cast<std::int64_t>(api().git_commit_time(commit.get()));
    if (const git_signature* author = api().git_commit_author(commit.get())) info.author = author->name ? author->name : "";
    if (const char* message = api().git_commit_message(commit.get())) info.message = message;
    if (api().git_commit_parentcount(commit.get()) > 0) {
      api().git_oid_tostr(sha, sizeof sha, api().git_commit_parent_id(commit.get(), 0));
      info.parent = sha;
    }
    if (!visit(info)) return;
  }
}

}  // namespace tracker
