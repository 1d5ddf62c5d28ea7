// The file side of a transition, undone when its commit fails.
#pragma once

#include <tracker/error.hpp>
#include <tracker/fs.hpp>

#include <string>
#include <vector>

namespace tracker {

/// A file was not as the change expected it (edited by hand, or moved away, since
/// it was read): nothing was written over it, and the change can be made again on
/// what is there now.
class FileChangedError : public ConflictError {
 public:
  using ConflictError::ConflictError;
};

/// Story file changes made one after another, each undone in reverse order by
/// rollback() (or by the destructor) unless keep() was called. Writes are atomic
/// (temp files in `temp_dir`); a file is never written over one it did not expect.
class FileTransaction {
 public:
  explicit FileTransaction(fs::path temp_dir) : temp_dir_(std::move(temp_dir)) {}
  FileTransaction(const FileTransaction&) = delete;
  FileTransaction& operator=(const FileTransaction&) = delete;
  ~FileTransaction();

  /// Creates `path`, which must not exist (IoError when it does). With
  /// Durability::cache the caller makes the files durable together (sync_file_system).
  void create(const fs::path& path, std::string_view text, Durability durability = Durability::durable);
  /// Replaces the content of `path`, which must still hold `old_text` (else
  /// FileChangedError, and nothing is written), with `new_text`.
  void rewrite(const fs::path& path, std::string old_text, std::string_view new_text);
  /// Renames `from` to `to`, which must not exist. FileChangedError when `from`
  /// is gone.
  void rename(const fs::path& from, const fs::path& to);
  /// Removes `path`, which holds `old_text`.
  void remove(const fs::path& path, std::string old_text);

  /// The changes stay: the commit has landed (or no commit is made).
  void keep() { steps_.clear(); }
  /// Puts every file back as it was; returns what could not be put back.
  std::vector<std::string> rollback() noexcept;
  bool empty() const { return steps_.empty(); }

 private:
  struct Step {
    enum class Kind { created, rewritten, renamed, removed } kind;
    fs::path path, other;  ///< renamed: path was moved to other
    std::string old_text;
  };
  fs::path temp_dir_;
  std::vector<Step> steps_;
};

}  // namespace tracker
