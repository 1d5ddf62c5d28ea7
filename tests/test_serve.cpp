// `tracker serve` over raw HTTP: the real server on 127.0.0.1, spoken to through a
// plain socket (the browser test is tests/web/board.mjs).
#include <catch2/catch.hpp>

#include "helpers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <fstream>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

using namespace testing;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

/// One HTTP/1.1 request on a fresh connection (Connection: close), read to the end.
Response http(int port, const std::string& method, const std::string& path, const std::string& body = "",
              std::map<std::string, std::string> headers = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  if (!headers.count("Host")) headers["Host"] = "127.0.0.1:" + std::to_string(port);
  std::string req = method + " " + path + " HTTP/1.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST") req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  std::size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  Response r;
  auto head_end = raw.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  std::string head = raw.substr(0, head_end);
  r.body = raw.substr(head_end + 4);
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

/// `tracker serve --port 0` on a board; its port and token.
class ServeProcess {
 public:
  explicit ServeProcess(const fs::path& root) {
    out_ = root.parent_path() / (root.filename().string() + ".serve.out");
    pid_ = spawn_with_stdout(root);
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
  const std::string& token() const { return token_; }

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
  int spawn_with_stdout(const fs::path& root) {
    int pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
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

}  // namespace

TEST_CASE("serve: the board and a story as JSON, and the page with its token") {
  Board b;
  long id = b.create({"Login page", "--label", "auth", "--priority", "2", "--body", "Hello <b>world</b>"});
  ServeProcess s(b.root());
  Json board = s.get_json("/api/board");
  REQUIRE(board["stages"][0]["name"] == "backlog");
  REQUIRE(board["stages"][0]["stories"].size() == 1);
  Json card = board["stages"][0]["stories"][0];
  CHECK(card["id"] == id);
  CHECK(card["labels"] == Json{"auth"});
  CHECK(card["priority"] == 2);
  Json story = s.get_json("/api/story/" + std::to_string(id));
  CHECK(story["story"]["body"] == "Hello <b>world</b>\n");
  CHECK(story["etag"] == git(b.root(), {"hash-object", b.path_of(id)}).substr(0, 40));
  CHECK(story["history"][0]["action"] == "create");
  Response page = s.get("/");
  CHECK(page.headers["content-security-policy"].find("script-src 'self'") != std::string::npos);
  CHECK(s.get("/app.js").status == 200);
  CHECK(s.get("/api/story/99").status == 404);
  CHECK(s.get_json("/api/board?label=nope")["stages"][0]["stories"].empty());
  CHECK(s.get_json("/api/board?q=login")["stages"][0]["stories"].size() == 1);
  CHECK(s.get_json("/api/flow")["wip"][0]["count"] == 1);
}

TEST_CASE("serve: a foreign Host or Origin gets 403, a write without the token 403") {
  Board b;
  long id = b.create({"Story"});
  ServeProcess s(b.root());
  CHECK(http(s.port(), "GET", "/api/board", "", {{"Host", "evil.example:" + std::to_string(s.port())}}).status == 403);
  CHECK(http(s.port(), "GET", "/", "", {{"Host", "127.0.0.1:1"}}).status == 403);
  CHECK(http(s.port(), "GET", "/api/board", "", {{"Host", "localhost:" + std::to_string(s.port())}, {"X-Tracker-Token", s.token()}})
            .status == 200);
  std::string etag = s.etag(id);
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  Response foreign = http(s.port(), "POST", "/api/story/" + std::to_string(id) + "/move", R"({"stage":"qa"})",
                          {{"Origin", "http://evil.example"}, {"X-Tracker-Token", s.token()}, {"If-Match", "\"" + etag + "\""}});
  CHECK(foreign.status == 403);
  Response no_token = http(s.port(), "POST", "/api/story/" + std::to_string(id) + "/move", R"({"stage":"qa"})",
                           {{"If-Match", "\"" + etag + "\""}});
  CHECK(no_token.status == 403);
  CHECK(git(b.root(), {"rev-parse", "HEAD"}) == head);
}

TEST_CASE("serve: a stale ETag gets 409 and changes nothing, bad JSON gets 400, a good write commits") {
  Board b;
  long id = b.create({"Story"});
  ServeProcess s(b.root());
  std::string etag = s.etag(id);
  REQUIRE(run_tracker(b.root(), {"set", std::to_string(id), "priority=5"}).code == 0);  // meanwhile, on the CLI
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  Response stale = s.post("/api/story/" + std::to_string(id) + "/move", {{"stage", "qa"}}, etag);
  CHECK(stale.status == 409);
  CHECK(Json::parse(stale.body)["etag"] == s.etag(id));
  CHECK(git(b.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(s.post("/api/story/" + std::to_string(id) + "/move", {{"stage", "qa"}}).status == 428);  // no If-Match

  Response bad = http(s.port(), "POST", "/api/stories", "{not json", {{"X-Tracker-Token", s.token()}});
  CHECK(bad.status == 400);
  CHECK(s.post("/api/story/" + std::to_string(id) + "/move", {{"stage", "nowhere"}}, s.etag(id)).status == 400);

  Response moved = s.post("/api/story/" + std::to_string(id) + "/move", {{"stage", "qa"}}, s.etag(id));
  CHECK(moved.status == 200);
  CHECK(git(b.root(), {"log", "-1", "--format=%s"}) == "tracker: move #" + std::to_string(id) + " backlog -> qa\n");
  Response set = s.post("/api/story/" + std::to_string(id) + "/fields", {{"fields", {{"priority", "2"}, {"labels", {"ui"}}}}},
                        s.etag(id));
  CHECK(set.status == 200);
  CHECK(Json::parse(set.body)["changes"] == Json{"priority 5 -> 2", "labels +ui"});
  Response created = s.post("/api/stories", {{"name", "From the web"}, {"priority", 1}});
  CHECK(created.status == 201);
  CHECK(Json::parse(created.body)["id"] == id + 1);
  CHECK(run({"git", "fsck", "--strict"}, RunOptions{b.root(), {}, ""}).code == 0);

  // A second server on the port in use: a clear error, exit 1; a port out of range: exit 2.
  RunResult busy = run_tracker(b.root(), {"serve", "--port", std::to_string(s.port())});
  CHECK(busy.code == 1);
  CHECK(busy.err.find("cannot listen on 127.0.0.1:" + std::to_string(s.port())) != std::string::npos);
  CHECK(run_tracker(b.root(), {"serve", "--port", "70000"}).code == 2);
}

TEST_CASE("serve: a story another identity holds is 409 naming the holder, for a move and for its agent") {
  Board b;
  long id = b.create({"Held"});
  REQUIRE(run_tracker(b.root(), {"claim", std::to_string(id), "--owner", "coder-2"}).code == 0);
  ServeProcess s(b.root());  // acts as the person running it: git's author email here
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  std::string path = "/api/story/" + std::to_string(id);
  for (const auto& [route, body] : std::vector<std::pair<std::string, Json>>{
           {"/move", {{"stage", "backlog"}}}, {"/fields", {{"fields", {{"agent", "me"}}}}}}) {
    Response r = s.post(path + route, body, s.etag(id));
    INFO(route << " " << r.body);
    CHECK(r.status == 409);
    Json error = Json::parse(r.body);
    CHECK(error["code"] == 3);
    CHECK(error["error"].get<std::string>().find("claimed by coder-2 until ") != std::string::npos);
    CHECK(error["error"].get<std::string>().find("you act as author@example.com") != std::string::npos);
  }
  CHECK(git(b.root(), {"rev-parse", "HEAD"}) == head);
  // A field that is not the agent is anyone's to change.
  CHECK(s.post(path + "/fields", {{"fields", {{"priority", "3"}}}}, s.etag(id)).status == 200);
}

TEST_CASE("serve: 200 concurrent reads during 20 moves: no error and no torn response", "[stress]") {
  Board b;
  long id = b.create({"Moving"});
  for (int i = 0; i < 10; ++i) b.create({"Other " + std::to_string(i)});
  ServeProcess s(b.root());
  std::atomic<int> bad = 0, reads = 0;
  std::atomic<bool> done = false;
  std::mutex first_bad_mutex;
  std::string first_bad;
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r)
    readers.emplace_back([&] {
      while (!done || reads < 200) {
        Response res = s.get("/api/board");
        Json j = Json::parse(res.body, nullptr, false);
        std::size_t stories = 0;
        if (res.status == 200 && !j.is_discarded())
          for (const auto& st : j["stages"]) stories += st["stories"].size();
        if (res.status != 200 || j.is_discarded() || stories != 11) {
          if (bad++ == 0) {
            std::lock_guard<std::mutex> lock(first_bad_mutex);
            first_bad = std::to_string(res.status) + " " + std::to_string(stories) + " stories: " + res.body.substr(0, 300);
          }
        }
        ++reads;
      }
    });
  const char* stages[] = {"current", "qa", "backlog", "merge"};
  int moves = 0;
  for (int i = 0; i < 20; ++i) {
    Response m = s.post("/api/story/" + std::to_string(id) + "/move", {{"stage", stages[i % 4]}}, s.etag(id));
    if (m.status == 200) ++moves;
  }
  done = true;
  for (auto& t : readers) t.join();
  CHECK(moves == 20);
  CHECK(reads >= 200);
  INFO(first_bad);
  CHECK(bad == 0);
  CHECK(git(b.root(), {"status", "--porcelain"}).empty());
}

TEST_CASE("serve: a change made anywhere is announced on the event stream") {
  Board b;
  long id = b.create({"Story"});
  ServeProcess s(b.root());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(s.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string req = "GET /api/events?token=" + s.token() + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s.port()) +
                    "\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string got;
  auto read_some = [&] {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return got.find("event: change") != std::string::npos;
  };
  REQUIRE(eventually([&] { read_some(); return got.find("text/event-stream") != std::string::npos; }, 10s));
  REQUIRE(run_tracker(b.root(), {"move", std::to_string(id), "qa"}).code == 0);
  CHECK(eventually(read_some, 10s));
  ::close(fd);
}
