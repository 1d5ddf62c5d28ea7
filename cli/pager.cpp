#include "pager.hpp"

#include <sys/ioctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace tracker::cli {

namespace {

struct Terminal {
  bool tty = false;
  std::size_t width = 0;
};

const Terminal& terminal() {
  static const Terminal t = [] {
    Terminal out;
    out.tty = ::isatty(STDOUT_FILENO) != 0;
    if (out.tty) {
      winsize ws{};
      if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        out.width = ws.ws_col;
      else if (const char* cols = std::getenv("COLUMNS"))
        out.width = static_cast<std::size_t>(std::atoi(cols));
      else
        out.width = 80;
    }
    return out;
  }();
  return t;
}

std::string pager_command() {
  for (const char* name : {"TRACKER_PAGER", "PAGER"})
    if (const char* v = std::getenv(name)) return v;
  return "less";
}

}  // namespace

bool stdout_is_terminal() {
  return terminal().tty;
}

std::size_t terminal_width() {
  return terminal().width;
}

Pager::Pager(bool disabled) {
  terminal();  // decided before stdout becomes a pipe
  if (disabled || !terminal().tty) return;
  std::string command = pager_command();
  if (command.empty() || command == "cat") return;
  int fds[2];
  if (::pipe(fds) != 0) return;  // no pager, as if there were none
  std::cout.flush();
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  if (pid == 0) {
    ::dup2(fds[0], STDIN_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    // As git does: less quits when the text fits, keeps colours, leaves the screen.
    ::setenv("LESS", "FRX", 0);
    ::setenv("LV", "-c", 0);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::dup2(fds[1], STDOUT_FILENO);
  ::close(fds[0]);
  ::close(fds[1]);
  // A pager quit early (q in less) must not kill us with SIGPIPE mid-write.
  ::signal(SIGPIPE, SIG_IGN);
  pid_ = pid;
}

Pager::~Pager() {
  if (pid_ < 0) return;
  std::cout.flush();
  std::fflush(stdout);
  ::close(STDOUT_FILENO);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace tracker::cli
