#include "helpers.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace testing {

namespace {

/// Every test process gets a fixed identity and no user config.
struct TestEnvironment {
  TestEnvironment() {
    setenv("GIT_AUTHOR_NAME", "Test Author", 1);
    setenv("GIT_AUTHOR_EMAIL", "author@example.com", 1);
    setenv("GIT_COMMITTER_NAME", "Test Committer", 1);
    setenv("GIT_COMMITTER_EMAIL", "committer@example.com", 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    unsetenv("GIT_DIR");
    unsetenv("NO_COLOR");
  }
} test_environment;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

TempDir::TempDir() {
  std::string templ = (fs::temp_directory_path() / "tracker-test-XXXXXX").string();
  REQUIRE(mkdtemp(templ.data()) != nullptr);
  path_ = fs::canonical(templ);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

PreparedExec::PreparedExec(const std::vector<std::string>& argv, const RunOptions& options)
    : cwd_(options.cwd.string()) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos) env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : options.env) {
    if (v == "\x01unset")
      env.erase(k);
    else
      env[k] = v;
  }
  for (const auto& [k, v] : env) env_.push_back(k + "=" + v);
  args_ = argv;
  // argv[0] stays as given (what ps shows); the file is found as execvp finds it.
  if (!args_.empty()) program_ = resolve(args_[0], env.count("PATH") ? env["PATH"] : "");
  for (auto& a : args_) argp_.push_back(a.data());
  argp_.push_back(nullptr);
  for (auto& e : env_) envp_.push_back(e.data());
  envp_.push_back(nullptr);
}

void PreparedExec::exec() const {
  if (!cwd_.empty() && chdir(cwd_.c_str()) != 0) _exit(126);
  if (argp_.size() > 1) execve(program_.c_str(), argp_.data(), envp_.data());
  _exit(127);
}

std::string PreparedExec::resolve(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return name;
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  REQUIRE(pipe(out_pipe) == 0);
  REQUIRE(pipe(err_pipe) == 0);
  REQUIRE(pipe(in_pipe) == 0);
  PreparedExec exec(argv, options);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], in_pipe[0], in_pipe[1]}) close(fd);
    exec.exec();
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(in_pipe[0]);
  if (!options.input.empty()) {
    ssize_t n = ::write(in_pipe[1], options.input.data(), options.input.size());
    (void)n;
  }
  close(in_pipe[1]);
  RunResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = decode_status(status);
  return r;
}

int spawn(const std::vector<std::string>& argv, const RunOptions& options) {
  PreparedExec exec(argv, options);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // A spawned process (a server, a daemon, a claimer) dies with the test, so an
    // aborted test leaves nothing behind holding ctest's pipes.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(127);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    exec.exec();
  }
  return pid;
}

int wait_for(int pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return decode_status(status);
}

RunResult run_tracker(const fs::path& cwd, const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv = {TRACKER_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions o = options;
  o.cwd = cwd;
  return run(argv, o);
}

std::string git(const fs::path& cwd, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"git", "-C", cwd.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv);
  INFO("git " << args.front() << ": " << r.err);
  REQUIRE(r.code == 0);
  return r.out;
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary);
  f << text;
  REQUIRE(f.good());
}

std::string read(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Board::Board() {
  git(root(), {"init", "-q", "-b", "main"});
  RunResult r = run_tracker(root(), {"init"});
  INFO(r.err);
  REQUIRE(r.code == 0);
}

long Board::create(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"new"};
  a.insert(a.end(), args.begin(), args.end());
  RunResult r = run_tracker(root(), a);
  INFO(r.err);
  REQUIRE(r.code == 0);
  return std::stol(r.out);
}

std::string Board::path_of(long id) {
  RunResult r = run_tracker(root(), {"show", std::to_string(id), "--json"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  return nlohmann::json::parse(r.out)["path"].get<std::string>();
}

int Board::commit_count() {
  return std::stoi(git(root(), {"rev-list", "--count", "HEAD"}));
}

BoardState::BoardState(const fs::path& root, Status with_status)
    : head(git(root, {"rev-parse", "HEAD"})),
      files(run({"sh", "-c", "cd '" + root.string() + "' && find work -type f | sort && cat work/*/*.md"}).out),
      status(with_status == Status::yes ? git(root, {"status", "--porcelain"}) : "") {}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

bool waiting_for_flock(int pid) {
  std::ifstream locks("/proc/locks");
  std::string line, me = " " + std::to_string(pid) + " ";
  while (std::getline(locks, line))
    if (line.find("->") != std::string::npos && line.find(me) != std::string::npos) return true;
  return false;
}

bool can_unshare() {
  return run({"unshare", "-rm", "true"}).code == 0;
}

RunResult in_namespace(const std::string& script, const fs::path& dir) {
  RunOptions o;
  o.env["T"] = TRACKER_BIN;
  o.env["D"] = dir.string();
  return run({"unshare", "-rm", "sh", "-c", script}, o);
}

bool sanitized() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#endif
#endif
  return false;
}

namespace {

std::string first_line_of(const fs::path& p) {
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  return line;
}

/// Fields of /proc/<pid>/stat after the command name: [0] is the state, [1] the parent.
std::vector<std::string> stat_fields(const fs::path& stat) {
  std::string text = first_line_of(stat);
  auto close = text.rfind(')');
  std::istringstream rest(close == std::string::npos ? std::string() : text.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

/// This process and every process below it, parents before their children.
std::vector<int> process_tree() {
  std::map<int, std::vector<int>> children;
  for (const auto& e : fs::directory_iterator("/proc", fs::directory_options::skip_permission_denied)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto fields = stat_fields(e.path() / "stat");
    if (fields.size() > 1) children[std::stoi(fields[1])].push_back(std::stoi(name));
  }
  std::vector<int> tree = {static_cast<int>(::getpid())};
  for (std::size_t i = 0; i < tree.size(); ++i)
    for (int child : children[tree[i]]) tree.push_back(child);
  return tree;
}

std::string command_line(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto& c : text)
    if (c == '\0') c = ' ';
  return text;
}

void report_hang(const std::string& phase) {
  std::ostringstream out;
  out << "\n=== HangWatch: the test is still running; its last phase: " << phase << "\n";
  std::vector<int> tree = process_tree();
  const char* use_gdb = std::getenv("TRACKER_HANGWATCH_GDB");  // "0": states only (the watch's own test)
  bool have_gdb = ::access("/usr/bin/gdb", X_OK) == 0 && !(use_gdb && std::string(use_gdb) == "0");
  for (int pid : tree) {
    fs::path proc = "/proc/" + std::to_string(pid);
    out << "--- pid " << pid << (pid == ::getpid() ? " (the test)" : "") << ": " << command_line(pid) << "\n";
    std::error_code ec;
    std::map<std::string, int> waits;  // "state wchan" -> threads
    for (const auto& t : fs::directory_iterator(proc / "task", ec)) {
      auto fields = stat_fields(t.path() / "stat");
      ++waits[(fields.empty() ? "?" : fields[0]) + " " + first_line_of(t.path() / "wchan")];
    }
    for (const auto& [w, n] : waits) out << "    " << n << " thread(s): " << w << "\n";
    if (have_gdb) {
      // gdb writes to a file: this thread is stopped with the rest of the process
      // while gdb looks at it, and could not empty a pipe.
      std::string file = "/tmp/hangwatch." + std::to_string(::getpid()) + "." + std::to_string(pid);
      std::string cmd = "timeout 60 gdb -batch -nx -p " + std::to_string(pid) +
                        " -ex 'thread apply all bt 14' > " + file + " 2>&1";
      if (std::system(cmd.c_str()) >= 0) {
        std::ifstream in(file);
        for (std::string line; std::getline(in, line);)
          if (line.rfind("#", 0) == 0 || line.rfind("Thread ", 0) == 0) out << "    " << line << "\n";
      }
      ::unlink(file.c_str());
    }
  }
  std::cerr << out.str() << "=== HangWatch: killing the processes below the test and ending it\n" << std::flush;
  for (int pid : tree)
    if (pid != ::getpid()) ::kill(pid, SIGKILL);
}

}  // namespace

HangWatch::HangWatch(std::chrono::seconds limit) {
  thread_ = std::thread([this, limit] {
    std::unique_lock<std::mutex> lock(mutex_);
    if (done_.wait_for(lock, limit, [&] { return finished_; })) return;
    std::string phase = phase_;
    lock.unlock();
    report_hang(phase);
    std::_Exit(70);
  });
}

HangWatch::~HangWatch() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  done_.notify_all();
  thread_.join();
}

void HangWatch::phase(const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  phase_ = what;
}

}  // namespace testing
