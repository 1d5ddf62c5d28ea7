// File-system primitives a caller of the library needs: whole-file reads, atomic
// writes and process-owned locks. The rest (descriptors, directory streams, owned
// files, orphan sweeps) is the library's own, in src/fs_internal.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace tracker {

namespace fs = std::filesystem;

/// Whether a write must survive a crash (fsync) or is a cache that may be lost.
enum class Durability { durable, cache };

/// Writes `data` to `path` atomically: a temp file is filled and renamed over the
/// target; the file and then its directory are fsynced unless `durability` is cache.
/// The temp file goes in `temp_dir` (beside the target when empty).
void write_file_atomic(const fs::path& path, std::string_view data, Durability durability = Durability::durable,
                       const fs::path& temp_dir = {});

/// Reads a whole file. Throws IoError.
std::string read_file(const fs::path& path);

/// Reads a whole file, or nullopt when it does not exist. With `max_bytes`, reads at
/// most max_bytes + 1 bytes, so that a longer file (or /dev/zero) shows as too long
/// without being read to its end.
std::optional<std::string> read_file_if_exists(const fs::path& path,
                                               std::size_t max_bytes = static_cast<std::size_t>(-1));

/// Reads at most max_bytes + 1 bytes of `in` (stdin for `-`).
std::string read_stream(std::istream& in, std::size_t max_bytes);

/// An exclusive flock() on a lock file. The kernel drops it when the holding process
/// dies, so a crashed holder never leaves it stale. Released on destruction.
class ProcessLock {
 public:
  /// Waits up to `timeout` for the lock; throws ConflictError when it stays held.
  ProcessLock(const fs::path& path, std::chrono::milliseconds timeout, const std::string& what);
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;
  ~ProcessLock();

 private:
  int fd_ = -1;
};

}  // namespace tracker
