#include "process.hpp"

#include <tracker/error.hpp>
#include "fs_internal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>

extern char** environ;

namespace tracker {

namespace {

/// The environment for the child: ours, with `changes` applied.
std::vector<std::string> child_environment(const std::map<std::string, std::optional<std::string>>& changes) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    std::string name(entry.substr(0, eq));
    if (changes.count(name)) continue;
    out.emplace_back(entry);
  }
  for (const auto& [name, value] : changes)
    if (value) out.push_back(name + "=" + *value);
  return out;
}

struct Pipe {
  Fd read, write;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("cannot create a pipe");
    read = Fd(fds[0]);
    write = Fd(fds[1]);
  }
};

/// SIGPIPE blocked while we write to a child that may have exited; a pending one is
/// taken off again, so it never reaches the process.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      timespec zero{0, 0};
      sigtimedwait(&set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_{};
};

}  // namespace

ProgramResult run_program(const ProgramRun& run, const std::string& what) {
  if (run.argv.empty()) throw IoError("cannot run " + what + ": no program");
  // Everything the child needs is built before fork(): a child of a threaded process
  // may only make async-signal-safe calls.
  std::vector<std::string> env = child_environment(run.env);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = run.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string cwd = run.cwd.string();

  Pipe in, out, err, exec_error;
  SigpipeBlock no_sigpipe;
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("cannot start " + what);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::dup2(in.read.get(), STDIN_FILENO);
    if (run.out == ProgramRun::Stdout::capture)
      ::dup2(out.write.get(), STDOUT_FILENO);
    else
      ::dup2(STDERR_FILENO, STDOUT_FILENO);
    if (run.capture_stderr) ::dup2(err.write.get(), STDERR_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      int e = errno;
      (void)!::write(exec_error.write.get(), &e, sizeof e);
      ::_exit(127);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    int e = errno;
    (void)!::write(exec_error.write.get(), &e, sizeof e);
    ::_exit(127);
  }
  in.read = Fd();
  out.write = Fd();
  err.write = Fd();
  exec_error.write = Fd();

  ProgramResult result;
  std::string_view input = run.input;
  if (input.empty()) in.write = Fd();
  if (run.out != ProgramRun::Stdout::capture) out.read = Fd();
  if (!run.capture_stderr) err.read = Fd();
  // Feed stdin and drain stdout and stderr together, so that neither side blocks.
  while (in.write || out.read || err.read) {
    std::vector<pollfd> fds;
    if (in.write) fds.push_back({in.write.get(), POLLOUT, 0});
    if (out.read) fds.push_back({out.read.get(), POLLIN, 0});
    if (err.read) fds.push_back({err.read.get(), POLLIN, 0});
    int wait_ms = -1;
    if (run.deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*run.deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        // Past its time: killed, and what it started is not waited for.
        ::kill(pid, SIGKILL);
        result.timed_out = true;
        in.write = Fd();
        out.read = Fd();
        err.read = Fd();
        break;
      }
      wait_ms = static_cast<int>(std::min<std::int64_t>(left.count() + 1, 60'000));
    }
    int ready = ::poll(fds.data(), fds.size(), wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (ready == 0) continue;
    for (const auto& p : fds) {
      if (!p.revents) continue;
      if (in.write && p.fd == in.write.get()) {
        ssize_t n = ::write(p.fd, input.data(), std::min<std::size_t>(input.size(), 65536));
        if (n > 0) input.remove_prefix(static_cast<std::size_t>(n));
        if ((n < 0 && errno != EINTR && errno != EAGAIN) || input.empty()) in.write = Fd();
        continue;
      }
      Fd& fd = out.read && p.fd == out.read.get() ? out.read : err.read;
      std::string& sink = &fd == &out.read ? result.out : result.err;
      char buf[65536];
      ssize_t n = ::read(p.fd, buf, sizeof buf);
      if (n > 0)
        sink.append(buf, static_cast<std::size_t>(n));
      else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        fd = Fd();
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int child_errno = 0;
  if (::read(exec_error.read.get(), &child_errno, sizeof child_errno) == static_cast<ssize_t>(sizeof child_errno))
    throw IoError("cannot run " + what + " (" + run.argv[0] + "): " + std::strerror(child_errno));
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string shell_quote(const std::string& text) {
  bool plain = !text.empty();
  for (char c : text)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._-+=:,@%", c))) plain = false;
  if (plain) return text;
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

ProgramResult run_git(const std::filesystem::path& cwd, const std::vector<std::string>& args, const std::string& input,
                      const std::map<std::string, std::optional<std::string>>& env, const std::string& no_git,
                      std::optional<std::chrono::steady_clock::time_point> deadline) {
  ProgramRun run;
  run.deadline = deadline;
  run.argv = {"git"};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.cwd = cwd;
  run.input = input;
  run.capture_stderr = true;
  run.env = env;
  run.env["GIT_TERMINAL_PROMPT"] = "0";
  run.env["GIT_ASKPASS"] = std::nullopt;
  run.env["SSH_ASKPASS"] = std::nullopt;
  try {
    return run_program(run, "git");
  } catch (const IoError&) {
    if (no_git.empty()) throw;
    throw IoError(no_git);
  }
}

}  // namespace tracker
