// File-system primitives: atomic writes, no-replace renames, process-owned locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <sys/stat.h>

namespace tracker {

namespace fs = std::filesystem;

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

/// Writes a file atomically: a temp file beside the target is filled, fsynced and
/// renamed over the target on commit(), and the directory is fsynced. Without
/// commit() the destructor removes the temp file and the target is untouched.
/// With `durable` false nothing is fsynced: for caches, which may be lost in a crash
/// but are never seen half-written.
class AtomicFile {
public:
  explicit AtomicFile(fs::path target, bool durable = true);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(std::string_view data);
  void commit();

private:
  fs::path target_;
  fs::path temp_;
  Fd fd_;
  bool durable_ = true;
  bool committed_ = false;
};

/// Writes `data` to `path` atomically (see AtomicFile).
void write_file_atomic(const fs::path& path, std::string_view data, bool durable = true);

/// Reads a whole file. Throws IoError.
std::string read_file(const fs::path& path);

/// Reads a whole file, or nullopt when it does not exist.
std::optional<std::string> read_file_if_exists(const fs::path& path);

/// Renames `from` to `to`, failing (IoError) when `to` exists. Fsyncs both directories.
void rename_no_replace(const fs::path& from, const fs::path& to);

/// Fsyncs a directory so that a rename or create inside it is durable.
void fsync_directory(const fs::path& dir);

/// An exclusive flock() on a lock file. The kernel drops it when the holding process
/// dies, so a crashed holder never leaves it stale. Released on destruction.
class ProcessLock {
public:
  /// Waits up to `timeout` for the lock; throws ConflictError when it stays held.
  ProcessLock(const fs::path& path, std::chrono::milliseconds timeout, const std::string& what);
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;

private:
  Fd fd_;
};

/// A random 64-bit value from the OS (for nonces and temp names).
std::uint64_t random_u64();

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
