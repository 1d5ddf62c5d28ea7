#include "file_tx.hpp"

#include <tracker/error.hpp>
#include "fs_internal.hpp"

#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace tracker {

FileTransaction::~FileTransaction() {
  rollback();
}

void FileTransaction::create(const fs::path& path, std::string_view text, Durability durability) {
  fs::create_directories(path.parent_path());
  // Renamed into place without replacing: a file that appeared meanwhile is never
  // written over.
  AtomicFile out(path, durability, temp_dir_);
  out.write(text);
  out.commit_new();
  steps_.push_back({Step::Kind::created, path, {}, {}});
}

void FileTransaction::rewrite(const fs::path& path, std::string old_text, std::string_view new_text) {
  if (old_text == new_text) return;
  // A hand edit since the read is never written over (a last check: an edit landing
  // between it and the rename below is a window of microseconds).
  if (read_file_if_exists(path) != old_text)
    throw FileChangedError(path.string() + " changed while tracker was changing it");
  write_file_atomic(path, new_text, Durability::durable, temp_dir_);
  steps_.push_back({Step::Kind::rewritten, path, {}, std::move(old_text)});
}

void FileTransaction::rename(const fs::path& from, const fs::path& to) {
  if (!fs::exists(fs::symlink_status(from)))
    throw FileChangedError(from.string() + " went away while tracker was moving it");
  fs::create_directories(to.parent_path());
  rename_no_replace(from, to);
  steps_.push_back({Step::Kind::renamed, from, to, {}});
}

void FileTransaction::remove(const fs::path& path, std::string old_text) {
  if (::unlink(path.c_str()) != 0) throw_errno("cannot remove " + path.string());
  fsync_directory(path.parent_path());
  steps_.push_back({Step::Kind::removed, path, {}, std::move(old_text)});
}

std::vector<std::string> FileTransaction::rollback() noexcept {
  std::vector<std::string> failed;
  for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
    try {
      switch (it->kind) {
        case Step::Kind::created:
          if (::unlink(it->path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove " + it->path.string());
          break;
        case Step::Kind::rewritten:
        case Step::Kind::removed:
          write_file_atomic(it->path, it->old_text, Durability::durable, temp_dir_);
          break;
        case Step::Kind::renamed:
          rename_no_replace(it->other, it->path);
          break;
      }
    } catch (const std::exception& e) {
      failed.emplace_back(e.what());
    }
  }
  steps_.clear();
  return failed;
}

}  // namespace tracker
