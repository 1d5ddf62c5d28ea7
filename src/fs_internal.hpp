// The library's file-system primitives: owned descriptors and directory streams,
// atomic and owned files, orphan sweeps, no-replace renames, snapshots for commits.
#pragma once

#include <tracker/fs.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <functional>
#include <utility>
#include <vector>

namespace tracker {

/// Owns a file descriptor; closes it on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// Writes a file atomically: a temp file is filled, fsynced and renamed over the
/// target on commit(), and the directory is fsynced. Without commit() the destructor
/// removes the temp file and the target is untouched.
///
/// The temp file goes in `temp_dir` (beside the target when empty, or when
/// `temp_dir` is on another file system) and is held with a flock() while it is
/// written, so that sweep_orphans() can tell it from one left by a dead process.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path target, Durability durability = Durability::durable, const fs::path& temp_dir = {});
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(std::string_view data);
  void commit();
  /// Like commit(), but fails (IoError) instead of replacing a target that exists.
  void commit_new();

 private:
  fs::path target_;
  fs::path temp_;
  Fd fd_;
  Durability durability_;
  bool committed_ = false;
};

/// A file this process creates and holds with a flock() for as long as it lives,
/// such as a journal entry: when the process dies, the kernel drops the lock, and
/// the file can be told apart from a live one (see is_orphan()). The file is removed
/// on destruction unless keep() was called.
class OwnedFile {
 public:
  /// Creates `path`, which must not exist, with `data` in it. Throws IoError.
  OwnedFile(fs::path path, std::string_view data);
  /// Whether others look at the file by its name at once (a scanner that takes any
  /// unlocked file for an orphan, however young): then it is made under a hidden
  /// name (".<name>.<unique>.tmp"), locked and written there, and linked to `path`,
  /// so that it never shows under `path` unlocked or partly written.
  enum class Seen { after_a_while, at_once };
  OwnedFile(fs::path path, std::string_view data, Seen seen);
  OwnedFile(const OwnedFile&) = delete;
  OwnedFile& operator=(const OwnedFile&) = delete;
  ~OwnedFile();

  /// Replaces the content (in place; a reader holds no lock, so only the owner reads it back).
  void rewrite(std::string_view data);
  /// Fsyncs the content.
  void sync();
  /// Leaves the file behind: for the next command, which sees it as an orphan, or
  /// because it was renamed into place.
  void keep() { keep_ = true; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  Fd fd_;
  bool keep_ = false;
};

/// Whether `path` was left by a process that is gone: nobody holds its flock() and
/// it is at least `min_age_ns` old by `now_ns` (a file younger than that may belong to
/// a process that has created it but not yet locked it). False when it is missing.
bool is_orphan(const fs::path& path, std::int64_t now_ns, std::int64_t min_age_ns);

/// Removes the files in `dir` that is_orphan() calls orphans and whose names
/// `wanted` accepts (every name when it is empty); returns their paths. With
/// `dry_run`, only returns them.
std::vector<fs::path> sweep_orphans(const fs::path& dir, std::int64_t now_ns, std::int64_t min_age_ns,
                                    bool dry_run = false, const std::function<bool(std::string_view)>& wanted = {});

/// How long ago, in whole seconds, `path` was last modified; nullopt when it is missing.
std::optional<std::int64_t> file_age_seconds(const fs::path& path, std::int64_t now_ns);

/// "5 seconds", "3 minutes", "2 hours", "4 days".
std::string format_age(std::int64_t seconds);

/// Owns an open directory stream; closes it on destruction.
class Dir {
 public:
  explicit Dir(const fs::path& path);
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir();
  explicit operator bool() const { return dir_ != nullptr; }
  /// The next entry's name and d_type, or nullopt at the end. "." and ".." are skipped.
  std::optional<std::pair<std::string_view, unsigned char>> next();
  /// The directory's file descriptor, for *at() calls.
  int fd() const;

 private:
  DIR* dir_ = nullptr;
};

/// Renames `from` to `to`, failing (IoError) when `to` exists. Fsyncs both
/// directories, unless `durability` is cache (the caller syncs).
void rename_no_replace(const fs::path& from, const fs::path& to, Durability durability = Durability::durable);

/// Fsyncs a directory so that a rename or create inside it is durable.
void fsync_directory(const fs::path& dir);

/// Makes everything written to the file system holding `path` durable (one
/// syncfs): for many files written with Durability::cache, instead of an fsync each.
void sync_file_system(const fs::path& path);

/// A random 64-bit value from the OS (for nonces and temp names).
std::uint64_t random_u64();

/// `stem` made unique to this process and call: "<stem>.<pid>.<16 hex digits>".
std::string unique_name(std::string_view stem);

/// Writes all of `data` to `fd` (retrying short writes and EINTR); throws IoError
/// naming `what`.
void write_all(int fd, std::string_view data, const std::string& what);

/// Reads `fd` to its end; `size_hint` (its size from fstat) sizes the buffer.
std::string read_all(int fd, std::size_t size_hint, const std::string& what);

/// A file as a commit records it: its stat data, taken before its bytes were read.
struct FileSnapshot {
  struct stat st {};
  std::string data;
};

/// Opens `file` without following a final symbolic link (ELOOP is an IoError) and
/// reads it; nullopt when it does not exist. Errors name `what`.
std::optional<FileSnapshot> read_snapshot(const fs::path& file, const std::string& what);

/// Sleeps before retry number `attempt` of a lost race: a random 0.5 ms up to a
/// bound that doubles with each attempt to 50 ms.
void backoff_sleep(int attempt);

}  // namespace tracker
