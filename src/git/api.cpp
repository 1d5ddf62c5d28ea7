#include "git/api.hpp"

#include <tracker/error.hpp>
#include <tracker/util.hpp>

#include <dlfcn.h>
#include <cstring>
#include <atomic>
#include <mutex>
#include <thread>

namespace tracker::git {

const Api& api() {
  static const Api loaded = [] {
    void* lib = ::dlopen(TRACKER_LIBGIT2_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) throw IoError(std::string("cannot load libgit2 (") + TRACKER_LIBGIT2_SONAME + "): " + ::dlerror());
    Api a;
#define TRACKER_RESOLVE(name)               \
  if (void* sym = ::dlsym(lib, #name))      \
    std::memcpy(&a.name, &sym, sizeof sym); \
  else                                      \
    throw IoError("cannot load libgit2: " TRACKER_LIBGIT2_SONAME " lacks " #name);
    TRACKER_GIT_FUNCTIONS(TRACKER_RESOLVE)
#undef TRACKER_RESOLVE
    if (a.git_libgit2_init() < 0) throw IoError("cannot initialise libgit2");
    // Objects, refs and the index are fsynced, as git does by default (core.fsync).
    a.git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    return a;
  }();
  return loaded;
}

namespace {

/// The background loader, joined by finish_background_load(). A long-running
/// process (tracker serve) opens Trackers on several threads at once: the mutex
/// keeps them from starting or joining the loader together.
std::thread& loader() {
  static std::thread thread;
  return thread;
}
std::mutex& loader_mutex() {
  static std::mutex m;
  return m;
}
std::atomic<bool> loaded{false};

}  // namespace

void finish_background_load() {
  std::lock_guard<std::mutex> lock(loader_mutex());
  if (loader().joinable()) loader().join();
}

void load_in_background() {
  std::lock_guard<std::mutex> lock(loader_mutex());
  if (loaded || loader().joinable()) return;
  loader() = std::thread([] {
    try {
      api();
      loaded = true;
      trace("libgit2 loaded");
    } catch (const Error&) {
      // api() throws the same error again for the caller that needs it.
    }
  });
}

std::string last_error() {
  const git_error* e = api().git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

void check(int rc, const std::string& context) {
  if (rc >= 0) return;
  throw IoError(context + ": " + last_error());
}

std::string hex(const git_oid& id) {
  char sha[GIT_OID_HEXSZ + 1];
  api().git_oid_tostr(sha, sizeof sha, &id);
  return sha;
}

}  // namespace tracker::git
