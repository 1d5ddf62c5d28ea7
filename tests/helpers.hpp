// Test helpers: temp dirs, running processes, reading git state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace testing {

namespace fs = std::filesystem;

/// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

/// Options for run(): working directory, extra environment, stdin text.
struct RunOptions {
  fs::path cwd;
  std::map<std::string, std::string> env;  ///< value "\x01unset" removes a variable
  std::string input;
};

/// What a child needs to exec, built before fork(): a child of a threaded process may
/// only make async-signal-safe calls, and an allocation there can deadlock (the ASan
/// allocator takes no lock around fork, and a serve load test once hung in one).
/// argv[0] is looked up in the child's PATH here, in the parent.
class PreparedExec {
 public:
  PreparedExec(const std::vector<std::string>& argv, const RunOptions& options);
  /// Runs in the child: chdir and execve only; exits 126 or 127 when they fail.
  [[noreturn]] void exec() const;

 private:
  static std::string resolve(const std::string& name, const std::string& path);
  std::string cwd_, program_;
  std::vector<std::string> args_, env_;
  std::vector<char*> argp_, envp_;
};

/// Runs argv[0] (searched in PATH) and waits; captures stdout and stderr.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

/// Starts a process without waiting; returns its pid. Output goes to /dev/null.
int spawn(const std::vector<std::string>& argv, const RunOptions& options = {});

/// Waits for `pid` and returns its exit code (128+signal when killed).
int wait_for(int pid);

/// Polls `condition` every 10 ms until it holds (true) or `limit` has passed (false):
/// tests wait on conditions, never on fixed sleeps.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds limit = std::chrono::seconds(30));

/// Whether process `pid` is waiting for a flock (a "->" line of /proc/locks).
bool waiting_for_flock(int pid);

/// Whether this machine lets a test make its own mount namespace (for a full disk or
/// a read-only directory without being root).
bool can_unshare();

/// Runs `script` with sh in a new user and mount namespace; $T is the tracker binary
/// and $D is `dir`.
RunResult in_namespace(const std::string& script, const fs::path& dir);

/// Runs the tracker binary under test.
RunResult run_tracker(const fs::path& cwd, const std::vector<std::string>& args, const RunOptions& options = {});

/// Runs git in `cwd`; REQUIREs success and returns stdout.
std::string git(const fs::path& cwd, const std::vector<std::string>& args);

/// Writes a file, creating parent directories.
void write(const fs::path& path, const std::string& text);

/// Reads a whole file.
std::string read(const fs::path& path);

/// A temp dir holding a git repo with `tracker init` done and committed.
struct Board {
  TempDir dir;
  Board();
  const fs::path& root() const { return dir.path(); }
  /// `tracker new` that REQUIREs success; returns the id.
  long create(const std::vector<std::string>& args);
  /// The repository path of story `id` (e.g. "work/1_backlog/1_story_x.md").
  std::string path_of(long id);
  /// Number of commits on HEAD.
  int commit_count();
};

/// What a user sees of a board: HEAD, every file under work/ with its content, and
/// (unless the git index is unreadable) `git status`. For checking that a refused
/// command changed nothing.
struct BoardState {
  enum class Status { yes, no };
  std::string head, files, status;
  explicit BoardState(const fs::path& root, Status with_status = Status::yes);
  bool operator==(const BoardState&) const = default;
};

/// A hang turned into a diagnosis. If the test is still running `limit` after this
/// is made, a thread prints the phase the test last named, and for this process and
/// every process below it (a server, a `tracker move`, its git) the command line and
/// each thread's state and kernel wait channel, with every thread's stack where gdb is
/// installed; then it kills those processes and ends this one with exit code 70. A
/// hang in CI would otherwise leave only ctest's "Timeout". Uses no Catch macro.
class HangWatch {
 public:
  explicit HangWatch(std::chrono::seconds limit);
  ~HangWatch();
  HangWatch(const HangWatch&) = delete;
  HangWatch& operator=(const HangWatch&) = delete;
  /// What the test is doing now, for the report.
  void phase(const std::string& what);

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool finished_ = false;
  std::string phase_ = "starting";
  std::thread thread_;
};

/// Whether this build runs under AddressSanitizer (2-5x slower: time bounds differ).
bool sanitized();

/// `lines` joined with newlines.
std::string join_lines(const std::vector<std::string>& lines);

/// Lines of text, without the newlines.
std::vector<std::string> lines(const std::string& text);

}  // namespace testing
