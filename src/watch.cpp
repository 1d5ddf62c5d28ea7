// The watcher (see watch.hpp): an inotify watch on the stage directories behind a
// Unix socket in the per-worktree state directory.
//
// Protocol, one question per connection, answered in lines:
//   "since <fingerprint> <token>"  ->  "changes <token>" then one path per line,
//                                      "full <token>", or "stale" (another board)
//   "status"                       ->  "status <pid> <started> <events> <queries> <resets> <paths>"
//   "stop"                         ->  "stopping"
// A token is "<instance>:<sequence>": every event gets the next sequence number, and
// the watcher remembers the last one of each path. A token from another instance, or
// from before a reset, gets "full".
#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/util.hpp>
#include <tracker/watch.hpp>

#include "limits.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace tracker {

namespace {

constexpr std::uint32_t kStageEvents = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                       IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;
constexpr std::uint32_t kStoriesEvents =
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

fs::path socket_path(const Workspace& ws) {
  return ws.local_state_dir() / "watch.sock";
}
fs::path lock_path(const Workspace& ws) {
  return ws.local_state_dir() / "watch.lock";
}

/// What the watcher watches: the stories directory and every stage directory. A
/// client and a watcher that disagree (the config changed) must not trust each other.
std::string fingerprint(const Workspace& ws) {
  std::string text = ws.stories_root().string();
  for (const auto& stage : ws.config().stages) text += "\n" + stage.dir;
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

/// A Unix socket address for `path`. Paths longer than sun_path are reached through
/// /proc/self/fd/<n> of their directory, held open in `dir`.
bool socket_address(const fs::path& path, sockaddr_un& addr, Fd& dir) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  std::string name = path.string();
  if (name.size() >= sizeof addr.sun_path) {
    dir = Fd(::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return false;
    name = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + path.filename().string();
    if (name.size() >= sizeof addr.sun_path) return false;
  }
  std::memcpy(addr.sun_path, name.data(), name.size());
  return true;
}

/// Sends one question to the watcher and reads the whole answer; nullopt when no
/// watcher answers in time.
std::optional<std::string> ask(const Workspace& ws, const std::string& question) {
  sockaddr_un addr{};
  Fd dir;
  if (!socket_address(socket_path(ws), addr, dir)) return std::nullopt;
  Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock) return std::nullopt;
  constexpr auto kTimeoutMs = limits::kWatchClientTimeout.count();
  timeval tv{kTimeoutMs / 1000, (kTimeoutMs % 1000) * 1000};
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  // Only a watcher run by this user is believed.
  ucred peer{};
  socklen_t len = sizeof peer;
  if (::getsockopt(sock.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != ::getuid())
    return std::nullopt;
  std::string line = question + "\n";
  if (::send(sock.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
    return std::nullopt;
  std::string answer;
  try {
    answer = read_all(sock.get(), 4096, "the watcher's answer");
  } catch (const IoError&) {
    return std::nullopt;  // timed out or reset: the answer is incomplete
  }
  if (answer.empty() || answer.back() != '\n') return std::nullopt;
  return answer;
}

/// The watcher's state, in the watcher process.
class Server {
 public:
  Server(const Workspace& ws, std::chrono::seconds idle) : ws_(ws), idle_(idle), fingerprint_(fingerprint(ws)) {
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random_u64()));
    instance_ = id;
    started_ = utc_now_iso8601();
  }

  /// False when another watcher holds the lock.
  bool start() {
    std::error_code ec;
    fs::create_directories(ws_.local_state_dir(), ec);
    lock_ = Fd(::open(lock_path(ws_).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!lock_) throw_errno("cannot open " + lock_path(ws_).string());
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return false;
      throw_errno("cannot lock " + lock_path(ws_).string());
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_.get(), 0) == 0) (void)::pwrite(lock_.get(), pid.data(), pid.size(), 0);

    inotify_ = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!inotify_) throw_errno("cannot start inotify");
    stories_wd_ = ::inotify_add_watch(inotify_.get(), ws_.stories_root().c_str(), kStoriesEvents);
    if (stories_wd_ < 0) throw_errno("cannot watch " + ws_.stories_root().string());
    for (const auto& stage : ws_.config().stages) watch_stage(stage.dir);

    // We hold the lock, so a socket file left here belongs to a watcher that died.
    fs::path sock_file = socket_path(ws_);
    ::unlink(sock_file.c_str());
    sockaddr_un addr{};
    Fd dir;
    if (!socket_address(sock_file, addr, dir)) throw IoError("socket path too long: " + sock_file.string());
    listen_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listen_) throw_errno("cannot create a socket");
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
      throw_errno("cannot bind " + sock_file.string());
    if (::listen(listen_.get(), 64) != 0) throw_errno("cannot listen on " + sock_file.string());
    bound_ = true;
    return true;
  }

  ~Server() {
    if (bound_) ::unlink(socket_path(ws_).c_str());  // still ours: we hold the lock
  }

  void run() {
    auto last_question = std::chrono::steady_clock::now();
    while (!stop_) {
      pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          idle_ - (std::chrono::steady_clock::now() - last_question));
      if (left.count() <= 0) return;
      int n = ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll");
      }
      if (fds[0].revents) drain();
      if (fds[1].revents) {
        while (!stop_) {
          Fd client(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
          if (!client) break;
          answer(client.get());
          last_question = std::chrono::steady_clock::now();
        }
      }
    }
  }

 private:
  void watch_stage(const std::string& dir) {
    int wd = ::inotify_add_watch(inotify_.get(), (ws_.stories_root() / dir).c_str(), kStageEvents);
    if (wd >= 0) stage_wds_[wd] = ws_.config().stories_dir + "/" + dir + "/";
  }

  bool is_stage_dir(std::string_view name) const {
    for (const auto& stage : ws_.config().stages)
      if (stage.dir == name) return true;
    return false;
  }

  /// Forget what changed: every token handed out so far now gets "full".
  void reset() {
    reset_seq_ = ++seq_;
    changed_.clear();
    ++resets_;
  }

  /// Reads every queued event.
  void drain() {
    alignas(inotify_event) char buf[65536];
    while (true) {
      ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + e->len;
        handle(*e, e->len ? std::string_view(e->name) : std::string_view());
      }
    }
  }

  void handle(const inotify_event& e, std::string_view name) {
    if (e.mask & IN_Q_OVERFLOW) {
      reset();
      return;
    }
    if (e.wd == stories_wd_) {
      if (e.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        reset();
        stop_ = true;  // the board is gone
        return;
      }
      if (is_stage_dir(name)) {  // a stage directory came or went
        if (e.mask & (IN_CREATE | IN_MOVED_TO)) watch_stage(std::string(name));
        reset();
      }
      return;
    }
    auto stage = stage_wds_.find(e.wd);
    if (stage == stage_wds_.end()) return;
    if (e.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
      if (!(e.mask & IN_IGNORED)) ::inotify_rm_watch(inotify_.get(), e.wd);
      stage_wds_.erase(stage);
      reset();
      return;
    }
    if (name.empty() || name[0] == '.' || !name.ends_with(".md")) return;  // what the walk skips
    ++events_;
    changed_[stage->second + std::string(name)] = ++seq_;
  }

  std::string token() const { return instance_ + ":" + std::to_string(seq_); }

  void step_down() {
    if (bound_) ::unlink(socket_path(ws_).c_str());
    bound_ = false;
    listen_ = Fd();
    lock_ = Fd();
  }

  void answer(int client) {
    // The question is one short line; a client that does not send it in time is dropped.
    timeval tv{1, 0};
    ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string question;
    char buf[512];
    while (question.find('\n') == std::string::npos && question.size() < 4096) {
      ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      question.append(buf, static_cast<std::size_t>(n));
    }
    auto words = split(trim(question.substr(0, question.find('\n'))), ' ');
    std::string reply;
    if (words.size() == 3 && words[0] == "since") {
      drain();  // every change finished before the question is queued by now
      ++queries_;
      if (words[1] != fingerprint_) {
        // A new watcher, started for the new stage list, takes over. The lock and
        // the socket are let go before the answer, so that the client that starts
        // the new one finds them free.
        step_down();
        reply = "stale\n";
        stop_ = true;
      } else {
        reply = changes_since(words[2]);
      }
    } else if (words.size() == 1 && words[0] == "status") {
      reply = "status " + std::to_string(::getpid()) + " " + started_ + " " + std::to_string(events_) + " " +
              std::to_string(queries_) + " " + std::to_string(resets_) + " " + std::to_string(changed_.size()) + "\n";
    } else if (words.size() == 1 && words[0] == "stop") {
      reply = "stopping\n";
      stop_ = true;
    } else {
      reply = "error unknown question\n";
    }
    try {
      write_all(client, reply, "a watcher's reply");
    } catch (const IoError&) {
      // The client gave up waiting; it walks instead.
    }
  }

  std::string changes_since(const std::string& token) const {
    auto colon = token.find(':');
    std::optional<std::int64_t> since;
    if (colon != std::string::npos && token.substr(0, colon) == instance_) since = parse_int(token.substr(colon + 1));
    if (!since || *since < 0 || static_cast<std::uint64_t>(*since) < reset_seq_ ||
        static_cast<std::uint64_t>(*since) > seq_)
      return "full " + this->token() + "\n";
    std::string paths;
    std::size_t count = 0;
    for (const auto& [path, seq] : changed_) {
      if (seq <= static_cast<std::uint64_t>(*since)) continue;
      if (++count > limits::kWatchMaxChanges) return "full " + this->token() + "\n";
      paths += path;
      paths += '\n';
    }
    return "changes " + this->token() + "\n" + paths;
  }

  const Workspace& ws_;
  std::chrono::seconds idle_;
  std::string fingerprint_, instance_, started_;
  Fd lock_, inotify_, listen_;
  bool bound_ = false, stop_ = false;
  int stories_wd_ = -1;
  std::unordered_map<int, std::string> stage_wds_;          // watch -> "<stories_dir>/<stage dir>/"
  std::unordered_map<std::string, std::uint64_t> changed_;  // path -> sequence of its last event
  std::uint64_t seq_ = 0, reset_seq_ = 0;
  std::uint64_t events_ = 0, queries_ = 0, resets_ = 0;
};

}  // namespace

bool watch_enabled(const Workspace& ws) {
  if (const char* env = std::getenv("TRACKER_WATCH"); env && *env) return std::string_view(env) != "0";
  return ws.config().watch;
}

std::optional<WatchChanges> watch_query(const Workspace& ws, const std::string& token) {
  auto answer = ask(ws, "since " + fingerprint(ws) + " " + (token.empty() ? "-" : token));
  if (!answer) return std::nullopt;
  auto lines = split(std::string_view(*answer).substr(0, answer->size() - 1), '\n');
  auto head = split(lines.front(), ' ');
  if (head.size() != 2 || (head[0] != "changes" && head[0] != "full")) return std::nullopt;
  WatchChanges out;
  out.full = head[0] == "full";
  out.token = head[1];
  out.paths.assign(lines.begin() + 1, lines.end());
  return out;
}

void watch_start(const Workspace& ws) {
  // Fork twice so that the watcher is nobody's child, in a session of its own, with
  // nothing of ours open: a lock we hold (refresh.lock) must not live on in it.
  pid_t child = ::fork();
  if (child < 0) return;
  if (child == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::closefrom(3);
    if (::chdir("/") != 0) ::_exit(1);
    ::prctl(PR_SET_NAME, "tracker-watch");  // what ps and top show for it
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGINT, SIG_IGN);
    int code = 0;
    try {
      watch_serve(ws, std::chrono::hours(1));
    } catch (const std::exception& e) {
      // Nobody sees this process's stderr: the reason goes where `index watch status` points.
      std::string line = utc_now_iso8601() + " the watcher stopped: " + e.what() + "\n";
      Fd log(::open((ws.local_state_dir() / "watch.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
      if (log) (void)!::write(log.get(), line.data(), line.size());
      code = 1;
    }
    ::_exit(code);  // no destructors: they belong to the process we were forked from
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
}

bool watch_serve(const Workspace& ws, std::chrono::seconds idle) {
  std::signal(SIGPIPE, SIG_IGN);  // a client that hung up must not end the watcher
  Server server(ws, idle);
  if (!server.start()) return false;
  server.run();
  return true;
}

WatchStatus watch_status(const Workspace& ws) {
  WatchStatus st;
  auto answer = ask(ws, "status");
  if (!answer) return st;
  auto words = split(trim(*answer), ' ');
  if (words.size() != 7 || words[0] != "status") return st;
  st.running = true;
  st.pid = parse_int(words[1]).value_or(0);
  st.started = words[2];
  st.events = static_cast<std::uint64_t>(parse_int(words[3]).value_or(0));
  st.queries = static_cast<std::uint64_t>(parse_int(words[4]).value_or(0));
  st.resets = static_cast<std::uint64_t>(parse_int(words[5]).value_or(0));
  st.paths = static_cast<std::uint64_t>(parse_int(words[6]).value_or(0));
  return st;
}

bool watch_stop(const Workspace& ws) {
  auto answer = ask(ws, "stop");
  if (!answer) return false;
  // Wait (briefly) for it to let go of its lock, so that a start right after works.
  try {
    ProcessLock gone(lock_path(ws), limits::kWatcherStop, "the watcher");
  } catch (const ConflictError&) {
    // Still exiting: a start right now finds it running, which is no harm.
  }
  return true;
}

}  // namespace tracker
