// Reading git through libgit2: files and trees of a revision, tree diffs, blobs,
// history walks, refs. Every read of the repository goes through here; the git
// executable is left for transport (fetch, push, ls-remote) and for what libgit2
// cannot write (a split or sparse git index).
#include <tracker/error.hpp>
#include <tracker/util.hpp>

#include "git/repo.hpp"

#include <algorithm>
#include <cstdio>

namespace tracker {

using git::api;
using git::check;

std::optional<std::string> GitRepo::content_at(const std::string& rev, const std::string& path) {
  const git::Api& a = api();
  if (rev.empty()) return std::nullopt;
  git_object* raw = nullptr;
  int rc = a.git_revparse_single(&raw, impl_->repo.get(), rev.c_str());
  if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) return std::nullopt;  // an unborn HEAD
  check(rc, "resolve " + rev);
  git::Object object(raw);
  git_object* peeled = nullptr;
  check(a.git_object_peel(&peeled, object.get(), GIT_OBJECT_TREE), "tree of " + rev);
  git::Tree tree(reinterpret_cast<git_tree*>(peeled));
  git_tree_entry* raw_entry = nullptr;
  rc = a.git_tree_entry_bypath(&raw_entry, tree.get(), path.c_str());
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  check(rc, path + " in " + rev);
  git::TreeEntry entry(raw_entry);
  if (a.git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB) return std::nullopt;
  git_blob* raw_blob = nullptr;
  check(a.git_blob_lookup(&raw_blob, impl_->repo.get(), a.git_tree_entry_id(entry.get())), path);
  git::Blob blob(raw_blob);
  return std::string(static_cast<const char*>(a.git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(a.git_blob_rawsize(blob.get())));
}

std::vector<std::string> GitRepo::object_ids_at(const std::string& rev, const std::vector<std::string>& paths) {
  const git::Api& a = api();
  std::vector<std::string> out(paths.size());
  if (rev.empty()) return out;
  git_object* raw = nullptr;
  int rc = a.git_revparse_single(&raw, impl_->repo.get(), rev.c_str());
  if (rc == GIT_ENOTFOUND) return out;
  check(rc, "resolve " + rev);
  git::Object object(raw);
  git_object* peeled = nullptr;
  check(a.git_object_peel(&peeled, object.get(), GIT_OBJECT_TREE), "tree of " + rev);
  git::Tree tree(reinterpret_cast<git_tree*>(peeled));
  for (std::size_t i = 0; i < paths.size(); ++i) {
    git_tree_entry* raw_entry = nullptr;
    rc = a.git_tree_entry_bypath(&raw_entry, tree.get(), paths[i].c_str());
    if (rc == GIT_ENOTFOUND) continue;
    check(rc, paths[i] + " in " + rev);
    git::TreeEntry entry(raw_entry);
    out[i] = git::hex(*a.git_tree_entry_id(entry.get()));
  }
  return out;
}

namespace {

/// The tree of a revision; nullptr for an unborn HEAD and for "" (the empty tree).
git::Tree tree_of(git_repository* repo, const std::string& rev) {
  const git::Api& a = api();
  if (rev.empty()) return git::Tree();
  git_object* raw = nullptr;
  int rc = a.git_revparse_single(&raw, repo, rev.c_str());
  if (rc == GIT_ENOTFOUND && rev == "HEAD") return git::Tree();
  if (rc != 0) throw UsageError("unknown revision '" + rev + "'");
  git::Object object(raw);
  git_object* peeled = nullptr;
  if (a.git_object_peel(&peeled, object.get(), GIT_OBJECT_TREE) != 0)
    throw UsageError("'" + rev + "' does not name a commit or a tree");
  return git::Tree(reinterpret_cast<git_tree*>(peeled));
}

}  // namespace

/// How many times a diff against the work tree is made before its error is given.
constexpr int kWorkdirDiffAttempts = 5;

/// Runs `make` (a libgit2 diff against the work tree) until it succeeds: true. On a
/// failure that `give_up` (reading libgit2's error) says will not pass, false; on
/// any other, a pause and another try, up to kWorkdirDiffAttempts, then its error.
template <class Make, class GiveUp>
bool diff_workdir(Make make, GiveUp give_up, const std::string& what) {
  for (int attempt = 1;; ++attempt) {
    if (make() == 0) return true;
    if (give_up()) return false;
    if (attempt == kWorkdirDiffAttempts) check(-1, what);
    backoff_sleep(attempt);
  }
}

std::vector<GitRepo::PathChange> GitRepo::changes_between(const std::string& from,
                                                          const std::optional<std::string>& to,
                                                          const std::string& dir) {
  const git::Api& a = api();
  git_repository* repo = impl_->repo.get();
  git::Tree old_tree = tree_of(repo, from);
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  opts.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS;
  std::string spec = dir + "/";
  char* specs[] = {spec.data()};
  opts.pathspec.strings = specs;
  opts.pathspec.count = 1;
  git_diff* raw = nullptr;
  if (to) {
    git::Tree new_tree = tree_of(repo, *to);
    check(a.git_diff_tree_to_tree(&raw, repo, old_tree.get(), new_tree.get(), &opts), "diff " + from + " " + *to);
  } else {
    // The work tree is read as it is, while other processes move stories: a file
    // listed and gone before it was hashed ("error reading file for hashing") fails
    // the diff, which is then made again, a few times.
    const std::string what = "diff " + from;
    bool with_index = gitindex::mode_of(*impl_) == gitindex::Mode::libgit2 &&
                      diff_workdir(
                          [&] { return a.git_diff_tree_to_workdir_with_index(&raw, repo, old_tree.get(), &opts); },
                          [&] {
                            // A split or sparse index that mode_of() could not foresee
                            // (index.sparse in a config.worktree, which libgit2 1.5 does
                            // not read): git writes it from now on.
                            if (git::last_error().find("unsupported mandatory extension") == std::string::npos)
                              return false;
                            gitindex::use_git_executable(*impl_);
                            return true;
                          },
                          what);
    // Without an index libgit2 can read, the files are compared with the tree.
    if (!with_index)
      diff_workdir([&] { return a.git_diff_tree_to_workdir(&raw, repo, old_tree.get(), &opts); },
                   [] { return false; }, what);
  }
  git::Diff diff(raw);
  // No rename detection: a diff without it pairs nothing, so each delta is one path,
  // and the caller pairs a story's old and new file by the id in their names.
  std::vector<PathChange> out;
  for (std::size_t i = 0, n = a.git_diff_num_deltas(diff.get()); i < n; ++i) {
    const git_diff_delta* d = a.git_diff_get_delta(diff.get(), i);
    const char* path = d->new_file.path ? d->new_file.path : d->old_file.path;
    if (!path || !std::string_view(path).starts_with(spec)) continue;
    PathChange c;
    c.path = path;
    bool added = d->status == GIT_DELTA_ADDED || d->status == GIT_DELTA_UNTRACKED;
    if (!added) c.old_blob = git::hex(d->old_file.id);
    c.in_new = d->status != GIT_DELTA_DELETED;
    if (c.in_new && to) c.new_blob = git::hex(d->new_file.id);
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const PathChange& x, const PathChange& y) { return x.path < y.path; });
  return out;
}

std::string GitRepo::blob_text(const std::string& id) {
  const git::Api& a = api();
  git_oid oid;
  check(a.git_oid_fromstr(&oid, id.c_str()), "blob id " + id);
  git_blob* raw_blob = nullptr;
  check(a.git_blob_lookup(&raw_blob, impl_->repo.get(), &oid), "blob " + id);
  git::Blob blob(raw_blob);
  return std::string(static_cast<const char*>(a.git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(a.git_blob_rawsize(blob.get())));
}

std::string GitRepo::blob_id(std::string_view bytes) {
  const git::Api& a = api();
  git_oid oid;
  check(a.git_odb_hash(&oid, bytes.data(), bytes.size(), GIT_OBJECT_BLOB), "blob id");
  return git::hex(oid);
}

std::string GitRepo::merge_base(const std::string& first, const std::string& second) {
  const git::Api& a = api();
  git_repository* repo = impl_->repo.get();
  auto commit_id = [&](const std::string& rev) {
    git_object* raw = nullptr;
    if (a.git_revparse_single(&raw, repo, rev.c_str()) != 0) throw UsageError("unknown revision '" + rev + "'");
    git::Object object(raw);
    git_object* peeled = nullptr;
    if (a.git_object_peel(&peeled, object.get(), GIT_OBJECT_COMMIT) != 0)
      throw UsageError("'" + rev + "' does not name a commit");
    git::Object commit(peeled);
    git_oid id;
    a.git_oid_cpy(&id, a.git_object_id(commit.get()));
    return id;
  };
  git_oid x = commit_id(first), y = commit_id(second), base;
  if (a.git_merge_base(&base, repo, &x, &y) != 0)
    throw UsageError(first + " and " + second + " have no common ancestor");
  return git::hex(base);
}

void GitRepo::walk_history(const std::function<bool(const CommitInfo&)>& visit) {
  const git::Api& a = api();
  git_repository* repo = impl_->repo.get();
  git_revwalk* raw = nullptr;
  check(a.git_revwalk_new(&raw, repo), "history");
  git::Revwalk walk(raw);
  a.git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
  int rc = a.git_revwalk_push_head(walk.get());
  if (rc == GIT_ENOTFOUND || rc == GIT_EUNBORNBRANCH) return;  // no commits yet
  check(rc, "HEAD");
  git_oid id;
  while (a.git_revwalk_next(&id, walk.get()) == 0) {
    git_commit* c = nullptr;
    check(a.git_commit_lookup(&c, repo, &id), "commit");
    git::Commit commit(c);
    CommitInfo info;
    info.sha = git::hex(id);
    info.time = static_cast<std::int64_t>(a.git_commit_time(commit.get()));
    if (const git_signature* author = a.git_commit_author(commit.get())) info.author = author->name ? author->name : "";
    if (const char* message = a.git_commit_message(commit.get())) info.message = message;
    info.parents = static_cast<int>(a.git_commit_parentcount(commit.get()));
    if (info.parents > 0) info.parent = git::hex(*a.git_commit_parent_id(commit.get(), 0));
    if (!visit(info)) return;
  }
}


namespace {

/// The object `spec` names, peeled to `type` (GIT_OBJECT_ANY: as it is); null when
/// it names none, or none of that type.
git::Object lookup(git_repository* repo, const std::string& spec, git_object_t type) {
  const git::Api& a = api();
  git_object* raw = nullptr;
  if (spec.empty() || a.git_revparse_single(&raw, repo, spec.c_str()) != 0) return git::Object();
  git::Object object(raw);
  if (type == GIT_OBJECT_ANY) return object;
  git_object* peeled = nullptr;
  if (a.git_object_peel(&peeled, object.get(), type) != 0) return git::Object();
  return git::Object(peeled);
}

std::string mode_text(git_filemode_t mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%06o", static_cast<unsigned>(mode));
  return text;
}

void list_tree(git_repository* repo, git_tree* tree, const std::string& prefix,
               std::map<std::string, GitRepo::TreeFile>& out) {
  const git::Api& a = api();
  for (std::size_t i = 0, n = a.git_tree_entrycount(tree); i < n; ++i) {
    const git_tree_entry* e = a.git_tree_entry_byindex(tree, i);
    std::string path = prefix + a.git_tree_entry_name(e);
    if (a.git_tree_entry_type(e) == GIT_OBJECT_TREE) {
      git_tree* raw = nullptr;
      check(a.git_tree_lookup(&raw, repo, a.git_tree_entry_id(e)), "tree " + path);
      git::Tree sub(raw);
      list_tree(repo, sub.get(), path + "/", out);
    } else {
      out[path] = {mode_text(a.git_tree_entry_filemode(e)), git::hex(*a.git_tree_entry_id(e))};
    }
  }
}

GitRepo::CommitRecord record_of(git_commit* commit) {
  const git::Api& a = api();
  GitRepo::CommitRecord r;
  r.sha = git::hex(*a.git_commit_id(commit));
  for (unsigned i = 0, n = a.git_commit_parentcount(commit); i < n; ++i)
    r.parents.push_back(git::hex(*a.git_commit_parent_id(commit, i)));
  if (const git_signature* author = a.git_commit_author(commit)) {
    r.author_name = author->name ? author->name : "";
    r.author_email = author->email ? author->email : "";
    r.author_time = static_cast<std::int64_t>(author->when.time);
    r.author_offset = author->when.offset;
  }
  if (const char* message = a.git_commit_message(commit)) r.message = message;
  return r;
}

}  // namespace

std::string GitRepo::resolve(const std::string& spec) {
  git::Object object = lookup(impl_->repo.get(), spec, GIT_OBJECT_ANY);
  return object ? git::hex(*api().git_object_id(object.get())) : "";
}

std::string GitRepo::head_ref() {
  const git::Api& a = api();
  git_reference* raw = nullptr;
  check(a.git_reference_lookup(&raw, impl_->repo.get(), "HEAD"), "HEAD");
  git::Reference head(raw);
  if (a.git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC) return "";
  const char* target = a.git_reference_symbolic_target(head.get());
  return target ? target : "";
}

std::vector<std::pair<std::string, std::string>> GitRepo::refs_under(const std::string& prefix) {
  const git::Api& a = api();
  std::vector<std::string> names;
  std::string glob = prefix + "*";
  check(a.git_reference_foreach_glob(
            impl_->repo.get(), glob.c_str(),
            [](const char* name, void* payload) {
              static_cast<std::vector<std::string>*>(payload)->push_back(name);
              return 0;
            },
            &names),
        "list " + prefix);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& name : names) {
    if (!name.starts_with(prefix)) continue;
    git_oid id;
    if (a.git_reference_name_to_id(&id, impl_->repo.get(), name.c_str()) == 0) out.emplace_back(name, git::hex(id));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, GitRepo::TreeFile> GitRepo::files_at(const std::string& rev) {
  git::Object tree = lookup(impl_->repo.get(), rev, GIT_OBJECT_TREE);
  if (!tree) throw UsageError("unknown revision '" + rev + "'");
  std::map<std::string, TreeFile> out;
  list_tree(impl_->repo.get(), reinterpret_cast<git_tree*>(tree.get()), "", out);
  return out;
}

std::vector<GitRepo::TreeChange> GitRepo::tree_changes(const std::string& from, const std::string& to) {
  const git::Api& a = api();
  git_repository* repo = impl_->repo.get();
  git::Object old_tree = lookup(repo, from, GIT_OBJECT_TREE), new_tree = lookup(repo, to, GIT_OBJECT_TREE);
  if ((!from.empty() && !old_tree) || !new_tree)
    throw UsageError("unknown revision '" + (new_tree ? from : to) + "'");
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  // A file that became a symlink is one change, as diff-tree gives it.
  opts.flags = GIT_DIFF_INCLUDE_TYPECHANGE;
  git_diff* raw = nullptr;
  check(a.git_diff_tree_to_tree(&raw, repo, reinterpret_cast<git_tree*>(old_tree.get()),
                                reinterpret_cast<git_tree*>(new_tree.get()), &opts),
        "compare " + from + " with " + to);
  git::Diff diff(raw);
  std::vector<TreeChange> out;
  for (std::size_t i = 0, n = a.git_diff_num_deltas(diff.get()); i < n; ++i) {
    const git_diff_delta* d = a.git_diff_get_delta(diff.get(), i);
    TreeChange c;
    c.path = d->new_file.path ? d->new_file.path : d->old_file.path;
    if (d->status != GIT_DELTA_ADDED) c.before = {mode_text(static_cast<git_filemode_t>(d->old_file.mode)), git::hex(d->old_file.id)};
    if (d->status != GIT_DELTA_DELETED) c.after = {mode_text(static_cast<git_filemode_t>(d->new_file.mode)), git::hex(d->new_file.id)};
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<GitRepo::CommitRecord> GitRepo::commits(const std::string& hide, const std::string& to, bool first_parent) {
  const git::Api& a = api();
  git_repository* repo = impl_->repo.get();
  git::Object tip = lookup(repo, to, GIT_OBJECT_COMMIT);
  if (!tip) throw UsageError("unknown revision '" + to + "'");
  git_revwalk* raw = nullptr;
  check(a.git_revwalk_new(&raw, repo), "history");
  git::Revwalk walk(raw);
  a.git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
  check(a.git_revwalk_push(walk.get(), a.git_object_id(tip.get())), "history of " + to);
  if (!hide.empty()) {
    git::Object hidden = lookup(repo, hide, GIT_OBJECT_COMMIT);
    if (!hidden) throw UsageError("unknown revision '" + hide + "'");
    check(a.git_revwalk_hide(walk.get(), a.git_object_id(hidden.get())), "history of " + hide);
  }
  if (first_parent) check(a.git_revwalk_simplify_first_parent(walk.get()), "history");
  std::vector<CommitRecord> out;
  git_oid id;
  while (a.git_revwalk_next(&id, walk.get()) == 0) {
    git_commit* c = nullptr;
    check(a.git_commit_lookup(&c, repo, &id), "commit");
    git::Commit commit(c);
    out.push_back(record_of(commit.get()));
  }
  return out;
}

std::optional<GitRepo::CommitRecord> GitRepo::commit(const std::string& rev) {
  git::Object object = lookup(impl_->repo.get(), rev, GIT_OBJECT_COMMIT);
  if (!object) return std::nullopt;
  return record_of(reinterpret_cast<git_commit*>(object.get()));
}

}  // namespace tracker
