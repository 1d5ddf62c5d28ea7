// The file system as the shadow index sees it, behind a small interface (ninja's
// DiskInterface): tests swap it where a real file system cannot show what they
// need, such as content that changes while the stat data stays the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// The stat data that tells whether a file changed.
struct FileInfo {
  std::int64_t size = 0, mtime_ns = 0, ctime_ns = 0, inode = 0;
  bool operator==(const FileInfo&) const = default;
};

class Disk {
 public:
  virtual ~Disk() = default;

  /// Calls `visit` with each regular file directly in `dir` whose name ends in
  /// `suffix` and does not start with '.', and its stat data (symbolic links are
  /// not followed); nothing when `dir` is missing. Names listed but gone before they
  /// could be statted (a concurrent move) are added to `vanished`.
  virtual void list(const std::filesystem::path& dir, std::string_view suffix,
                    const std::function<void(std::string_view name, const FileInfo& info)>& visit,
                    std::vector<std::string>& vanished) const = 0;

  /// The stat data of a regular file, not following a symbolic link; nullopt when
  /// it is missing or not a regular file.
  virtual std::optional<FileInfo> stat(const std::filesystem::path& path) const = 0;

  /// A whole file, or nullopt when it is missing; at most max_bytes + 1 bytes of a
  /// longer one (a story past its size limit is not read to its end). Throws IoError.
  virtual std::optional<std::string> read(const std::filesystem::path& path, std::size_t max_bytes) const = 0;
};

/// The real file system.
const Disk& real_disk();

}  // namespace tracker
