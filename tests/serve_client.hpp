// A client for `tracker serve` in tests: plain sockets, so each test sees the bytes
// the server sends; and the server itself, as a child process on a temporary board.
// Nothing here uses a Catch macro outside ServeProcess's constructor and get_json:
// the load tests call the rest from many threads, where Catch's macros are unsafe.
#pragma once

#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace serve_test {

using namespace testing;
using Json = nlohmann::json;
using namespace std::chrono_literals;

/// What the socket helpers below throw. They use no Catch macro, since those may be
/// used on the test's own thread only: the stress test's readers call them from
/// threads, catch this and report it on the main thread.
struct HttpError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

/// A socket connected to the server on 127.0.0.1 (or [::1]); a read waits at most
/// 30 s, so a server that stopped answering fails the test instead of hanging it.
inline int connect_to(int port, bool v6 = false) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw HttpError(std::string("socket: ") + std::strerror(errno));
  timeval limit{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  int rc;
  if (v6) {
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_port = htons(static_cast<std::uint16_t>(port));
    addr.sin6_addr = in6addr_loopback;
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  if (rc != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    throw HttpError("connect to port " + std::to_string(port) + ": " + why);
  }
  return fd;
}

inline void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) throw HttpError(std::string("send: ") + std::strerror(errno));
    sent += static_cast<std::size_t>(n);
  }
}

/// The status line and headers of `head` (up to the blank line).
inline void parse_head(const std::string& head, Response& r) {
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0)
    throw HttpError("no status line in '" + head.substr(0, 200) + "'");
  r.status = std::stoi(head.substr(9, 3));
  std::istringstream lines(head);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[key] = line.substr(colon + 2);
  }
}

/// Sends a whole request as written (`text`) and reads the answer to the end.
inline Response raw_http(int port, const std::string& text, bool v6 = false) {
  int fd = connect_to(port, v6);
  std::string raw;
  try {
    send_all(fd, text);
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<std::size_t>(n));
    if (n < 0) throw HttpError(std::string("recv: ") + std::strerror(errno) + " after '" + raw.substr(0, 200) + "'");
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  Response r;
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) throw HttpError("no whole answer: '" + raw.substr(0, 200) + "'");
  parse_head(raw.substr(0, head_end), r);
  r.body = raw.substr(head_end + 4);
  if (r.headers["transfer-encoding"] == "chunked") {  // undo the chunking
    std::string plain, rest = r.body;
    while (true) {
      auto eol = rest.find("\r\n");
      if (eol == std::string::npos) break;
      std::size_t size = std::stoul(rest.substr(0, eol), nullptr, 16);
      if (size == 0) break;
      plain += rest.substr(eol + 2, size);
      rest = rest.substr(eol + 2 + size + 2);
    }
    r.body = plain;
  }
  return r;
}

/// One HTTP/1.1 request on a fresh connection (Connection: close), read to the end.
inline Response http(int port, const std::string& method, const std::string& path, const std::string& body = "",
                     std::map<std::string, std::string> headers = {}) {
  if (!headers.count("Host")) headers["Host"] = "127.0.0.1:" + std::to_string(port);
  std::string req = method + " " + path + " HTTP/1.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  return raw_http(port, req + "\r\n" + body);
}

/// An open /api/events connection: the answer's status and headers, the socket kept.
struct Stream {
  int fd = -1;
  Response head;
  Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (fd >= 0) ::close(fd);
  }
};

inline std::unique_ptr<Stream> open_stream(int port, const std::string& path) {
  auto s = std::make_unique<Stream>();
  s->fd = connect_to(port);
  send_all(s->fd, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n");
  std::string raw;
  char c;
  while (raw.find("\r\n\r\n") == std::string::npos && ::recv(s->fd, &c, 1, 0) == 1) raw += c;
  parse_head(raw, s->head);
  return s;
}

/// Threads that loop until `stop`; the group sets it and joins them however the test
/// ends (a REQUIRE that throws on the test's thread included), so no joinable thread
/// ever reaches std::terminate.
class ThreadGroup {
 public:
  std::atomic<bool> stop = false;
  ThreadGroup() = default;
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;
  ~ThreadGroup() { join(); }
  template <typename F>
  void start(F&& f) {
    threads_.emplace_back(std::forward<F>(f));
  }
  void join() {
    stop = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  std::vector<std::thread> threads_;
};

/// The first few failures seen on any thread, and how many there were: threads
/// record, the test's thread checks.
class Failures {
 public:
  void add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (count_++ < kKept) first_ += (first_.empty() ? "" : "\n") + what;
  }
  int count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }
  /// The first five, one a line.
  std::string first() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_;
  }

 private:
  static constexpr int kKept = 5;
  std::mutex mutex_;
  int count_ = 0;
  std::string first_;
};

/// `tracker serve --port 0` on a board; its port and token.
class ServeProcess {
 public:
  /// `address_space`: the server's RLIMIT_AS in bytes (0: none), as `ulimit -v` sets it.
  explicit ServeProcess(const fs::path& root, rlim_t address_space = 0) {
    out_ = root.parent_path() / (root.filename().string() + ".serve.out");
    pid_ = spawn_with_stdout(root, address_space);
    REQUIRE(eventually([&] { return read_port(); }, 30s));
    Response page = http(port_, "GET", "/");
    REQUIRE(page.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(page.body, m, std::regex("tracker-token\" content=\"([0-9a-f]{32})\"")));
    token_ = m[1];
  }
  ~ServeProcess() {
    ::kill(pid_, SIGTERM);
    wait_for(pid_);
    fs::remove(out_);
  }
  int port() const { return port_; }
  int pid() const { return pid_; }
  const std::string& token() const { return token_; }
  std::string output() const { return read(out_); }
  bool running() { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  /// A GET as the page sends it: with the run's token.
  Response get(const std::string& path) { return http(port_, "GET", path, "", {{"X-Tracker-Token", token_}}); }
  Json get_json(const std::string& path) {
    Response r = get(path);
    INFO(path << " " << r.status << " " << r.body);
    REQUIRE(r.status == 200);
    return Json::parse(r.body);
  }
  std::string etag(long id) { return get_json("/api/story/" + std::to_string(id))["etag"]; }
  Response post(const std::string& path, const Json& body, const std::string& etag = "") {
    std::map<std::string, std::string> h = {{"X-Tracker-Token", token_}};
    if (!etag.empty()) h["If-Match"] = "\"" + etag + "\"";
    return http(port_, "POST", path, body.dump(), h);
  }

 private:
  int spawn_with_stdout(const fs::path& root, rlim_t address_space) {
    int pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // A test that dies (an abort, a signal) takes its server with it: an orphan
      // would hold ctest's output pipe open and ctest would wait for it for ever.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() == 1) ::_exit(127);
      if (address_space) {
        rlimit limit{address_space, address_space};
        if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(126);
      }
      int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      if (::chdir(root.c_str()) != 0) ::_exit(127);
      ::execl(TRACKER_BIN, TRACKER_BIN, "serve", "--port", "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }
  bool read_port() {
    std::smatch m;
    std::string text = read(out_);
    if (!std::regex_search(text, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/"))) return false;
    port_ = std::stoi(m[1]);
    return true;
  }
  fs::path out_;
  int pid_ = -1;
  int port_ = 0;
  std::string token_;
};

}  // namespace serve_test
