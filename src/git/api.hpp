// libgit2, loaded on first use, and owning handles for its objects.
//
// libgit2 is dlopen()ed rather than linked. Linking it makes the dynamic loader map
// and relocate it and its 18 libraries (mbedTLS, libssh2, OpenSSL's libcrypto, …) at
// the start of every command, read-only ones included: measured on this project's
// 2-core VM, an empty program linked with -lgit2 started in 2.8 ms against 0.9 ms
// without it, a quarter of a warm `tracker show`. Only commands that commit or read
// history load it, and the signatures still come from git2.h.
#pragma once

#include <git2.h>
#include <git2/sys/config.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>

#include <memory>
#include <string>

namespace tracker::git {

#define TRACKER_GIT_FUNCTIONS(X)                                                                                       \
  X(git_libgit2_init)                                                                                                  \
  X(git_libgit2_opts)                                                                                                  \
  X(git_error_last)                                                                                                    \
  X(git_buf_dispose) X(git_repository_open_ext) X(git_repository_free) X(git_repository_init) X(                       \
      git_repository_path) X(git_repository_commondir) X(git_repository_workdir) X(git_repository_config)              \
      X(git_repository_config_snapshot) X(git_config_free) X(git_config_get_string_buf) X(git_config_get_bool) X(      \
          git_config_add_file_ondisk) X(git_blob_create_from_buffer) X(git_blob_lookup) X(git_blob_rawcontent)         \
          X(git_blob_rawsize) X(git_blob_free) X(git_filter_list_load) X(git_filter_list_apply_to_buffer) X(           \
              git_filter_list_free) X(git_object_free) X(git_object_id) X(git_object_peel) X(git_revparse_single)      \
              X(git_tree_lookup) X(git_tree_free) X(git_tree_entry_bypath) X(git_tree_entry_free) X(    \
                  git_tree_entry_id) X(git_tree_entry_type) X(git_tree_entry_filemode) X(git_tree_create_updated)      \
                  X(git_treebuilder_new) X(git_treebuilder_insert) X(git_treebuilder_write) X(git_treebuilder_free) X(git_commit_lookup) X(      \
                      git_commit_free) X(git_commit_tree) X(git_commit_create)             \
                      X(git_commit_author) X(git_commit_message) X(                \
                          git_commit_parent_id) X(git_commit_parentcount) X(git_commit_time) X(git_reference_lookup)   \
                          X(git_reference_free) X(git_reference_type) X(git_reference_symbolic_target)                 \
                              X(git_reference_target) X(git_reference_name_to_id) X(git_reference_create) X(           \
                                  git_reference_create_matching) X(git_signature_new) X(git_signature_now)             \
                                  X(git_signature_free) X(git_index_open) X(git_index_free) X(git_index_read_tree) X(  \
                                      git_index_add) X(git_index_remove) X(git_index_get_bypath) X(git_index_write)    \
                                      X(git_index_entrycount) X(git_index_get_byindex) X(git_diff_tree_to_tree) X(     \
                                          git_diff_tree_to_workdir_with_index) X(git_diff_free) X(git_diff_num_deltas) \
                                          X(git_diff_get_delta) X(git_merge_base)             \
                                              X(git_graph_descendant_of) X(git_revwalk_new) X(git_revwalk_free)        \
                                                  X(git_revwalk_next) X(git_revwalk_push_head) X(git_revwalk_sorting)  \
                                                      X(git_oid_cpy) X(git_oid_tostr)                 \
                                                          X(git_oid_fromstr) X(git_tree_entrycount) \
                                                              X(git_tree_entry_byindex) X(git_tree_entry_name)         \
                                                                  X(git_repository_hashfile) X(git_odb_hash)           \
                                                                      X(git_repository_set_workdir) X(git_index_new)   \
                                                                          X(git_repository_set_index) X(git_tree_entry_byname) X(git_tree_owner) \
                                                                              X(git_diff_tree_to_workdir)              \
                                                                                  X(git_repository_odb)                \
                                                                                      X(git_odb_free)                  \
                                                                                          X(git_odb_backend_loose)     \
                                                                                              X(git_odb_add_backend) X(git_odb_new) X(git_odb_write) \
      X(git_revwalk_push) X(git_revwalk_hide) X(git_revwalk_simplify_first_parent) X(git_reference_foreach_glob) X(git_commit_id) \
      X(git_mempack_new) X(git_packbuilder_new) X(git_packbuilder_insert) X(git_packbuilder_write) \
      X(git_packbuilder_free) X(git_packbuilder_set_threads)

/// The functions of the loaded libgit2.
struct Api {
#define TRACKER_DECLARE(name) decltype(&::name) name = nullptr;
  TRACKER_GIT_FUNCTIONS(TRACKER_DECLARE)
#undef TRACKER_DECLARE
};

/// Loads and initialises libgit2 on the first call (thread-safe). Throws IoError.
const Api& api();

/// Starts loading libgit2 in a background thread, so that an action that will
/// commit does not wait for it later. A failure is reported by the first api().
void load_in_background();

/// Waits for the background load to end. Called before the process may exit: exit
/// handlers (OpenSSL's among them) must not run while the loader is inside them.
void finish_background_load();

/// Throws IoError "<context>: <libgit2's message>" when rc < 0.
void check(int rc, const std::string& context);

/// libgit2's message for its last error, or "unknown libgit2 error".
std::string last_error();

/// Frees a libgit2 handle through the loaded library.
template <class T, auto Api::*Free>
struct Deleter {
  void operator()(T* p) const { (api().*Free)(p); }
};
using Repo = std::unique_ptr<git_repository, Deleter<git_repository, &Api::git_repository_free>>;
using Reference = std::unique_ptr<git_reference, Deleter<git_reference, &Api::git_reference_free>>;
using Tree = std::unique_ptr<git_tree, Deleter<git_tree, &Api::git_tree_free>>;
using TreeEntry = std::unique_ptr<git_tree_entry, Deleter<git_tree_entry, &Api::git_tree_entry_free>>;
using TreeBuilder = std::unique_ptr<git_treebuilder, Deleter<git_treebuilder, &Api::git_treebuilder_free>>;
using Commit = std::unique_ptr<git_commit, Deleter<git_commit, &Api::git_commit_free>>;
using Signature = std::unique_ptr<git_signature, Deleter<git_signature, &Api::git_signature_free>>;
using Object = std::unique_ptr<git_object, Deleter<git_object, &Api::git_object_free>>;
using Blob = std::unique_ptr<git_blob, Deleter<git_blob, &Api::git_blob_free>>;
using Diff = std::unique_ptr<git_diff, Deleter<git_diff, &Api::git_diff_free>>;
using Index = std::unique_ptr<git_index, Deleter<git_index, &Api::git_index_free>>;
using Config = std::unique_ptr<git_config, Deleter<git_config, &Api::git_config_free>>;
using FilterList = std::unique_ptr<git_filter_list, Deleter<git_filter_list, &Api::git_filter_list_free>>;
using Revwalk = std::unique_ptr<git_revwalk, Deleter<git_revwalk, &Api::git_revwalk_free>>;

/// A git_buf that is disposed of on scope exit.
struct Buf {
  git_buf buf = GIT_BUF_INIT;
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { api().git_buf_dispose(&buf); }
  std::string str() const { return buf.ptr ? std::string(buf.ptr, buf.size) : std::string(); }
};

/// The hex form of an object id.
std::string hex(const git_oid& id);

}  // namespace tracker::git
