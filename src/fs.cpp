#include <tracker/disk.hpp>
#include <tracker/error.hpp>
#include "fs_internal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <istream>
#include <thread>

namespace tracker {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value)) {
    value = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
            (static_cast<std::uint64_t>(::getpid()) << 32);
  }
  return value;
}

std::string unique_name(std::string_view stem) {
  char suffix[40];
  std::snprintf(suffix, sizeof suffix, ".%d.%016llx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(random_u64()));
  return std::string(stem) + suffix;
}

namespace {

fs::path temp_path_for(const fs::path& target, const fs::path& temp_dir) {
  fs::path dir = target.parent_path();
  if (!temp_dir.empty()) {
    // A rename cannot cross file systems: the temp file then goes beside the target.
    struct stat a {
    }, b{};
    if (::stat(temp_dir.c_str(), &a) == 0 && ::stat(dir.empty() ? "." : dir.c_str(), &b) == 0 && a.st_dev == b.st_dev)
      dir = temp_dir;
  }
  return dir / (unique_name("." + target.filename().string()) + ".tmp");
}

/// Creates `path` exclusively and takes its flock().
Fd create_locked(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) throw_errno("cannot create " + path.string());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) throw_errno("cannot lock " + path.string());
  return fd;
}

}  // namespace

AtomicFile::AtomicFile(fs::path target, Durability durability, const fs::path& temp_dir)
    : target_(std::move(target)), temp_(temp_path_for(target_, temp_dir)), durability_(durability) {
  fd_ = create_locked(temp_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    ::unlink(temp_.c_str());
    fd_ = Fd();
  }
}

void AtomicFile::write(std::string_view data) {
  write_all(fd_.get(), data, temp_.string());
}

void write_all(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write " + what);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string read_all(int fd, std::size_t size_hint, const std::string& what) {
  std::string data(size_hint, '\0');
  std::size_t got = 0;
  while (true) {
    if (got == data.size()) data.resize(data.size() * 2 + 4096);
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot read " + what);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

void backoff_sleep(int attempt) {
  auto cap = std::min(50, 1 << std::min(attempt, 6));
  std::this_thread::sleep_for(std::chrono::microseconds(500 + random_u64() % (static_cast<unsigned>(cap) * 1000)));
}

void AtomicFile::commit() {
  bool durable = durability_ == Durability::durable;
  if (durable && ::fsync(fd_.get()) != 0) throw_errno("cannot fsync " + temp_.string());
  if (::rename(temp_.c_str(), target_.c_str()) != 0) throw_errno("cannot rename to " + target_.string());
  committed_ = true;
  fd_ = Fd();
  if (durable) fsync_directory(target_.parent_path());
}

void AtomicFile::commit_new() {
  if (durability_ == Durability::durable && ::fsync(fd_.get()) != 0) throw_errno("cannot fsync " + temp_.string());
  rename_no_replace(temp_, target_, durability_);
  committed_ = true;
  fd_ = Fd();
}

void write_file_atomic(const fs::path& path, std::string_view data, Durability durability, const fs::path& temp_dir) {
  AtomicFile file(path, durability, temp_dir);
  file.write(data);
  file.commit();
}

OwnedFile::OwnedFile(fs::path path, std::string_view data) : OwnedFile(std::move(path), data, Seen::after_a_while) {}

OwnedFile::OwnedFile(fs::path path, std::string_view data, Seen seen) : path_(std::move(path)) {
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  fs::path made = seen == Seen::at_once
                      ? path_.parent_path() / (unique_name("." + path_.filename().string()) + ".tmp")
                      : path_;
  fd_ = create_locked(made);
  try {
    write_all(fd_.get(), data, made.string());
    if (made != path_ && ::link(made.c_str(), path_.c_str()) != 0) throw_errno("cannot create " + path_.string());
  } catch (...) {
    ::unlink(made.c_str());
    throw;
  }
  if (made != path_) ::unlink(made.c_str());
}

OwnedFile::~OwnedFile() {
  if (!keep_) ::unlink(path_.c_str());
}

void OwnedFile::sync() {
  if (::fsync(fd_.get()) != 0) throw_errno("cannot fsync " + path_.string());
}

void OwnedFile::rewrite(std::string_view data) {
  if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0)
    throw_errno("cannot rewrite " + path_.string());
  write_all(fd_.get(), data, path_.string());
}

bool is_orphan(const fs::path& path, std::int64_t now_ns, std::int64_t min_age_ns) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (now_ns - mtime_ns < min_age_ns) return false;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0;
}

std::vector<fs::path> sweep_orphans(const fs::path& dir, std::int64_t now_ns, std::int64_t min_age_ns, bool dry_run,
                                    const std::function<bool(std::string_view)>& wanted) {
  std::vector<fs::path> out;
  Dir d(dir);
  if (!d) return out;
  while (auto entry = d.next()) {
    if (wanted && !wanted(entry->first)) continue;
    fs::path file = dir / std::string(entry->first);
    if (!is_orphan(file, now_ns, min_age_ns)) continue;
    if (dry_run || ::unlink(file.c_str()) == 0) out.push_back(file);
  }
  return out;
}

std::optional<std::int64_t> file_age_seconds(const fs::path& path, std::int64_t now_ns) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  std::int64_t age = now_ns / 1'000'000'000 - static_cast<std::int64_t>(st.st_mtim.tv_sec);
  return age < 0 ? 0 : age;
}

std::string format_age(std::int64_t seconds) {
  auto unit = [](std::int64_t n, const char* name) { return std::to_string(n) + " " + name + (n == 1 ? "" : "s"); };
  if (seconds < 120) return unit(seconds, "second");
  if (seconds < 2 * 3600) return unit(seconds / 60, "minute");
  if (seconds < 2 * 86400) return unit(seconds / 3600, "hour");
  return unit(seconds / 86400, "day");
}

Dir::Dir(const fs::path& path) : dir_(::opendir(path.c_str())) {}

Dir::~Dir() {
  if (dir_) ::closedir(dir_);
}

std::optional<std::pair<std::string_view, unsigned char>> Dir::next() {
  if (!dir_) return std::nullopt;
  while (dirent* e = ::readdir(dir_)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    return std::make_pair(name, e->d_type);
  }
  return std::nullopt;
}

int Dir::fd() const {
  return dir_ ? ::dirfd(dir_) : -1;
}

std::optional<std::string> read_file_if_exists(const fs::path& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno("cannot open " + path.string());
  }
  std::string out;
  std::size_t cap = max_bytes == static_cast<std::size_t>(-1) ? max_bytes : max_bytes + 1;
  struct stat st {};
  if (::fstat(fd.get(), &st) == 0 && st.st_size > 0)
    out.reserve(std::min(cap, static_cast<std::size_t>(st.st_size)));
  char buf[65536];
  while (out.size() < cap) {
    ssize_t n = ::read(fd.get(), buf, std::min(sizeof buf, cap - out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string read_stream(std::istream& in, std::size_t max_bytes) {
  std::string out;
  char buf[65536];
  while (out.size() <= max_bytes && in) {
    in.read(buf, static_cast<std::streamsize>(std::min(sizeof buf, max_bytes + 1 - out.size())));
    out.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  return out;
}

std::string read_file(const fs::path& path) {
  auto content = read_file_if_exists(path);
  if (!content) throw IoError("cannot open " + path.string() + ": No such file or directory");
  return std::move(*content);
}

void sync_file_system(const fs::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open " + path.string());
  if (::syncfs(fd.get()) != 0) throw_errno("cannot flush the file system of " + path.string());
}

void fsync_directory(const fs::path& dir) {
  Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open directory " + dir.string());
  if (::fsync(fd.get()) != 0 && errno != EINVAL) throw_errno("cannot fsync " + dir.string());
}

void rename_no_replace(const fs::path& from, const fs::path& to, Durability durability) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EINVAL || errno == ENOSYS) {
      // File system without RENAME_NOREPLACE: link() refuses an existing target too.
      if (::link(from.c_str(), to.c_str()) != 0) throw_errno("cannot move " + from.string() + " to " + to.string());
      if (::unlink(from.c_str()) != 0) throw_errno("cannot remove " + from.string());
    } else {
      throw_errno("cannot move " + from.string() + " to " + to.string());
    }
  }
  if (durability == Durability::cache) return;
  fsync_directory(to.parent_path());
  if (from.parent_path() != to.parent_path()) fsync_directory(from.parent_path());
}

std::optional<FileSnapshot> read_snapshot(const fs::path& file, const std::string& what) {
  Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno("cannot open " + what);
  }
  FileSnapshot snap;
  if (::fstat(fd.get(), &snap.st) != 0) throw_errno("cannot stat " + what);
  snap.data = read_all(fd.get(), static_cast<std::size_t>(snap.st.st_size), what);
  return snap;
}

namespace {

void wake_only(int) {}

/// Blocks in flock() until the lock is ours or `deadline` passes (false). A timer
/// aimed at this thread interrupts the wait at the deadline, so a waiter wakes the
/// moment the holder lets go instead of polling. SIGALRM gets a handler that does
/// nothing (installed once, when nobody else handles it).
bool wait_for_flock(int fd, std::chrono::steady_clock::time_point deadline) {
  static const bool can_interrupt = [] {
    struct sigaction old {};
    if (::sigaction(SIGALRM, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) return false;
    struct sigaction sa {};
    sa.sa_handler = wake_only;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the signal must end the wait with EINTR
    return ::sigaction(SIGALRM, &sa, nullptr) == 0;
  }();
  timer_t timer{};
  bool armed = false;
  if (can_interrupt) {
    sigevent sev{};
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGALRM;
    sev._sigev_un._tid = static_cast<pid_t>(::gettid());
    armed = ::timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0;
  }
  bool got = false;
  while (!got) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    if (!armed) {  // no timer: poll
      if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
        got = true;
        break;
      }
      if (errno != EWOULDBLOCK && errno != EINTR) break;
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(2)));
      continue;
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    its.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    // And again every 5 ms after the deadline: a signal that comes before flock()
    // has begun to wait (this thread descheduled in between) interrupts nothing, and
    // with a single shot the wait would last until the holder let go.
    its.it_interval.tv_nsec = 5'000'000;
    ::timer_settime(timer, 0, &its, nullptr);
    if (::flock(fd, LOCK_EX) == 0)
      got = true;
    else if (errno != EINTR)
      break;
  }
  if (armed) ::timer_delete(timer);
  return got;
}

}  // namespace

ProcessLock::ProcessLock(const fs::path& path, std::chrono::milliseconds timeout, const std::string& what) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) throw IoError("cannot create directory " + path.parent_path().string() + ": " + ec.message());
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) throw_errno("cannot open lock " + path.string());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) throw_errno("cannot lock " + path.string());
    if (!wait_for_flock(fd.get(), std::chrono::steady_clock::now() + timeout))
      throw ConflictError(what + " is locked by another process (" + path.string() + "); try again");
  }
  fd_ = fd.release();
}

ProcessLock::~ProcessLock() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

std::int64_t ns(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

FileInfo info_of(const struct stat& st) {
  return {st.st_size, ns(st.st_mtim), ns(st.st_ctim), static_cast<std::int64_t>(st.st_ino)};
}

class RealDisk : public Disk {
 public:
  void list(const fs::path& dir, std::string_view suffix,
            const std::function<void(std::string_view, const FileInfo&)>& visit,
            std::vector<std::string>& vanished) const override {
    Dir d(dir);
    while (auto e = d.next()) {
      std::string_view name = e->first;  // NUL-terminated: it is the dirent's name
      if (name.empty() || name[0] == '.' || !name.ends_with(suffix)) continue;
      if (e->second != DT_REG && e->second != DT_UNKNOWN) continue;
      struct stat st {};
      // Relative to the open directory: one path lookup per file, not per component.
      if (::fstatat(d.fd(), name.data(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) vanished.emplace_back(name);
        continue;
      }
      if (S_ISREG(st.st_mode)) visit(name, info_of(st));
    }
  }

  std::optional<FileInfo> stat(const fs::path& path) const override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    return info_of(st);
  }

  std::optional<std::string> read(const fs::path& path, std::size_t max_bytes) const override {
    return read_file_if_exists(path, max_bytes);
  }
};

}  // namespace

const Disk& real_disk() {
  static const RealDisk disk;
  return disk;
}

}  // namespace tracker
