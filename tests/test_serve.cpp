// `tracker serve` over raw HTTP: the real server on 127.0.0.1, spoken to through a
// plain socket (the browser test is tests/web/board.mjs; the load test is
// tests/test_serve_load.cpp).
#include <catch2/catch.hpp>

#include "serve_client.hpp"

#include <atomic>
#include <mutex>
#include <thread>

using namespace serve_test;

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
  CHECK(http(s.port(), "GET", "/api/board", "",
             {{"Host", "localhost:" + std::to_string(s.port())}, {"X-Tracker-Token", s.token()}})
            .status == 200);
  std::string etag = s.etag(id);
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  Response foreign =
      http(s.port(), "POST", "/api/story/" + std::to_string(id) + "/move", R"({"stage":"qa"})",
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
  Response set = s.post("/api/story/" + std::to_string(id) + "/fields",
                        {{"fields", {{"priority", "2"}, {"labels", {"ui"}}}}}, s.etag(id));
  CHECK(set.status == 200);
  CHECK(Json::parse(set.body)["changes"] == Json{"priority 5 -> 2", "labels +ui"});
  // The type renames the file, as set does; an unknown one is the CLI's refusal.
  Response retyped = s.post("/api/story/" + std::to_string(id) + "/fields", {{"fields", {{"type", "spike"}}}}, s.etag(id));
  CHECK(retyped.status == 200);
  CHECK(Json::parse(retyped.body)["path"].get<std::string>().find("/" + std::to_string(id) + "_spike_") != std::string::npos);
  Response unknown = s.post("/api/story/" + std::to_string(id) + "/fields", {{"fields", {{"type", "epic"}}}}, s.etag(id));
  CHECK(unknown.status == 400);
  CHECK(unknown.body.find("unknown type 'epic'") != std::string::npos);
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

TEST_CASE("serve: parent stories - cards and the story give progress, the fields route keeps the parent rule") {
  Board b;
  b.create({"Epic"});
  ServeProcess s(b.root());
  Response created = s.post("/api/stories", {{"name", "Child"}, {"parent", 1}});
  REQUIRE(created.status == 201);
  CHECK(s.post("/api/stories", {{"name", "Lost"}, {"parent", 9}}).status == 404);
  Json cards = s.get_json("/api/board")["stages"][0]["stories"];
  REQUIRE(cards.size() == 2);
  CHECK(cards[0]["progress"] == Json{{"done", 0}, {"total", 1}});
  CHECK(cards[1]["parent"] == 1);
  CHECK(s.get_json("/api/story/1")["story"]["progress"] == Json{{"done", 0}, {"total", 1}});
  std::string head = git(b.root(), {"rev-parse", "HEAD"});
  Response cycle = s.post("/api/story/1/fields", {{"fields", {{"parent", "2"}}}}, s.etag(1));
  CHECK(cycle.status == 422);
  CHECK(Json::parse(cycle.body)["code"] == 5);
  Response early = s.post("/api/story/1/move", {{"stage", "done"}}, s.etag(1));
  CHECK(early.status == 409);
  CHECK(Json::parse(early.body)["error"].get<std::string>().find("#2 (backlog)") != std::string::npos);
  CHECK(git(b.root(), {"rev-parse", "HEAD"}) == head);
  CHECK(s.get_json("/api/flow?parent=1")["wip"][0]["count"] == 1);
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
  std::atomic<int> reads = 0;
  Failures bad;
  ThreadGroup readers;  // no Catch macro on these threads
  for (int r = 0; r < 4; ++r)
    readers.start([&] {
      while (!readers.stop || reads < 200) {
        try {
          Response res = s.get("/api/board");
          Json j = Json::parse(res.body, nullptr, false);
          std::size_t stories = 0;
          if (res.status == 200 && !j.is_discarded())
            for (const auto& st : j["stages"]) stories += st["stories"].size();
          if (res.status != 200 || j.is_discarded() || stories != 11)
            bad.add(std::to_string(res.status) + " " + std::to_string(stories) +
                    " stories: " + res.body.substr(0, 300));
        } catch (const std::exception& e) {
          bad.add(e.what());
          if (readers.stop) return;  // a dead server: do not spin until 200
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
  readers.join();
  CHECK(moves == 20);
  CHECK(reads >= 200);
  INFO(bad.first());
  CHECK(bad.count() == 0);
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
  std::string req =
      "GET /api/events?token=" + s.token() + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string got;
  auto read_some = [&] {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    return got.find("event: change") != std::string::npos;
  };
  REQUIRE(eventually(
      [&] {
        read_some();
        return got.find("text/event-stream") != std::string::npos;
      },
      10s));
  REQUIRE(run_tracker(b.root(), {"move", std::to_string(id), "qa"}).code == 0);
  CHECK(eventually(read_some, 10s));
  ::close(fd);
}

TEST_CASE(
    "serve: every request has a bounded cost - windows and ids out of range are 400, and every /api/ route needs the "
    "token") {
  Board b;
  b.create({"Story"});
  ServeProcess s(b.root());
  // The query strings of reads are checked against the catalogue, as a write's body
  // is, in the words the MCP tools use.
  for (auto [days, why] : std::vector<std::pair<std::string, std::string>>{
           {"99999999999", "'days' must be at most 36600"},
           {"3650000", "'days' must be at most 36600"},
           {"36601", "'days' must be at most 36600"},
           {"0", "'days' must be at least 1"},
           {"-1", "'days' must be at least 1"},
           {"abc", "'days' must be an integer, not \"abc\""},
           {"", "'days' must be an integer, not \"\""}}) {
    Response r = s.get("/api/flow?days=" + days);
    INFO("days=" << days << " " << r.body);
    CHECK(r.status == 400);
    CHECK(Json::parse(r.body)["error"] == "invalid arguments for flow: " + why);
    CHECK(Json::parse(r.body)["code"] == 2);
  }
  for (auto [path, why] : std::vector<std::pair<std::string, std::string>>{
           {"/api/flow?since=2020-01-01", "invalid arguments for flow: unknown argument 'since' (days, label, type, parent)"},
           {"/api/board?colour=red", "invalid arguments for board: unknown argument 'colour' (q, label, type, agent)"},
           {"/api/board?stage=backlog", "invalid arguments for board: unknown argument 'stage' (q, label, type, agent)"}}) {
    Response r = s.get(path);
    INFO(path << " " << r.body);
    CHECK(r.status == 400);
    CHECK(Json::parse(r.body)["error"] == why);
  }
  // A filter left empty is no filter, as the page sends them.
  CHECK(s.get("/api/flow?days=7&label=&type=").status == 200);
  CHECK(s.get("/api/board?q=&label=&type=&agent=").status == 200);
  // The longest window costs what the board's history costs: one day here.
  Json year100 = s.get_json("/api/flow?days=36600");
  CHECK(year100["cumulative_flow"]["days"].size() <= 2);
  for (const char* id : {"999999999999999999999", "9223372036854775808", "0"}) {
    Response r = s.get(std::string("/api/story/") + id);
    INFO(id << " " << r.body);
    CHECK(r.status == 400);
    CHECK(Json::parse(r.body)["error"] == "a story id is a number from 1 to 9223372036854775807");
  }
  CHECK(s.get("/api/story/9223372036854775807").status == 404);

  // The page and its assets are open; every /api/ route needs the token (a page of
  // another site, an <img> or an EventSource, cannot have it).
  CHECK(http(s.port(), "GET", "/").status == 200);
  CHECK(http(s.port(), "GET", "/app.js").status == 200);
  CHECK(http(s.port(), "GET", "/app.css").status == 200);
  for (const char* path : {"/api/board", "/api/flow?days=36600", "/api/story/1", "/api/events", "/api/board?q=story",
                           "/api/flow?token=wrong", "/api/nonesuch"}) {
    Response r = http(s.port(), "GET", path);
    INFO(path);
    CHECK(r.status == 403);
    CHECK(Json::parse(r.body)["error"] == "the API needs this run's token (the page has it)");
  }
  CHECK(http(s.port(), "GET", "/api/board?token=" + s.token()).status == 200);
  // token= is for a GET (an EventSource); a write needs the header.
  CHECK(http(s.port(), "POST", "/api/stories?token=" + s.token(), R"({"name":"x"})").status == 403);
  // A body over 4 MiB is refused before it is read (only its length is sent here).
  Response big = raw_http(s.port(), "POST /api/stories HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1:" +
                                        std::to_string(s.port()) + "\r\nX-Tracker-Token: " + s.token() +
                                        "\r\nContent-Type: application/json\r\nContent-Length: 5242880\r\n\r\n");
  CHECK(big.status == 413);
  CHECK(s.running());
  CHECK(s.get("/api/board").status == 200);
}

TEST_CASE(
    "serve: event streams are capped per page and in all, the rest of the API still answers, and a closed stream frees "
    "its place") {
  Board b;
  b.create({"Story"});
  ServeProcess s(b.root());
  auto path = [&](const std::string& client) { return "/api/events?token=" + s.token() + "&client=" + client; };
  std::vector<std::unique_ptr<Stream>> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(open_stream(s.port(), path("page-1")));
    CHECK(open.back()->head.status == 200);
  }
  auto fifth = open_stream(s.port(), path("page-1"));
  CHECK(fifth->head.status == 429);
  CHECK(fifth->head.headers["retry-after"] == "5");
  // 100 pages at once: 28 more get a stream (32 in all), the others 429.
  int ok = 0, refused = 0;
  for (int i = 0; i < 100; ++i) {
    auto st = open_stream(s.port(), path("page-x" + std::to_string(i)));
    if (st->head.status == 200) {
      ++ok;
      open.push_back(std::move(st));
    } else {
      CHECK(st->head.status == 429);
      ++refused;
    }
  }
  CHECK(ok == 28);
  CHECK(refused == 72);
  CHECK(http(s.port(), "GET", "/api/events?client=x&token=" + s.token()).status == 429);
  // With every stream taken, 200 reads answer (the library's pool of 8 workers froze here).
  for (int i = 0; i < 200; ++i) REQUIRE(s.get("/api/board").status == 200);
  // A change reaches an open stream.
  REQUIRE(run_tracker(b.root(), {"move", "1", "qa"}).code == 0);
  Stream& first = *open.front();
  std::string got;
  CHECK(eventually(
      [&] {
        char buf[4096];
        ssize_t n = ::recv(first.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        return got.find("event: change") != std::string::npos;
      },
      10s));
  // Pages closed: their places are free again (each stream writes a beat, fails,
  // ends). A stream that is answered 200 is kept, so no try takes a place from the next.
  open.clear();
  std::vector<std::unique_ptr<Stream>> again;
  CHECK(eventually(
      [&] {
        while (again.size() < 4) {
          auto st = open_stream(s.port(), path("page-1"));
          if (st->head.status != 200) return false;
          again.push_back(std::move(st));
        }
        return true;
      },
      20s));
  CHECK(s.running());
}

TEST_CASE("serve: slow and idle connections do not hold the server, and time out") {
  Board b;
  b.create({"Story"});
  ServeProcess s(b.root());
  // Twenty clients that send half a request and stop (slowloris), and twenty that
  // connect and send nothing.
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(connect_to(s.port()));
    send_all(slow.back(), "GET /api/board HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(s.port()) + "\r\nX-A: ");
    slow.push_back(connect_to(s.port()));
  }
  for (int i = 0; i < 20; ++i) CHECK(s.get("/api/board").status == 200);
  // Each of them is closed by the server after its read time-out (5 s).
  for (int fd : slow) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);  // 0 at the server's close, or an error answer first
    CHECK(n >= 0);
    ::close(fd);
  }
  CHECK(s.get("/api/board").status == 200);
}

TEST_CASE("serve: no other site may frame the board, and the Host is one clean header naming this server") {
  Board b;
  b.create({"Story"});
  ServeProcess s(b.root());
  std::string host = "127.0.0.1:" + std::to_string(s.port());
  for (const Response& r : {http(s.port(), "GET", "/"), s.get("/api/board"), http(s.port(), "GET", "/api/board")}) {
    CHECK(r.headers.at("x-frame-options") == "DENY");
    CHECK(r.headers.at("content-security-policy").find("frame-ancestors 'none'") != std::string::npos);
    CHECK(r.headers.at("cross-origin-resource-policy") == "same-origin");
    CHECK(r.headers.at("x-content-type-options") == "nosniff");
  }
  auto raw = [&](const std::string& headers) {
    return raw_http(s.port(), "GET /api/board HTTP/1.1\r\nConnection: close\r\nX-Tracker-Token: " + s.token() + "\r\n" +
                                  headers + "\r\n");
  };
  CHECK(raw("Host: " + host + "\r\n").status == 200);
  CHECK(raw("Host: " + host + "\r\nHost: evil.example\r\n").status == 400);  // the good one first
  CHECK(raw("Host: evil.example\r\nHost: " + host + "\r\n").status == 400);
  CHECK(raw("Host: " + host + "\r\nHost: " + host + "\r\n").status == 400);
  CHECK(raw("").status == 400);
  CHECK(raw("Host: " + host + " evil\r\n").status == 400);
  CHECK(raw("Host: " + host + "\r\nOrigin: http://" + host + "\r\nOrigin: http://evil.example\r\n").status == 400);
  CHECK(raw("Host: " + host + "\r\nOrigin: http://evil.example\r\n").status == 403);
  CHECK(raw("Host: " + host + "\r\nOrigin: http://" + host + "\r\n").status == 200);
  CHECK(s.running());
}

TEST_CASE("serve: it listens on [::1] as on 127.0.0.1") {
  Board b;
  b.create({"Story"});
  ServeProcess s(b.root());
  std::string v6 = "[::1]:" + std::to_string(s.port());
  if (s.output().find("and http://" + v6 + "/") == std::string::npos) {
    int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    bool has_v6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    REQUIRE_FALSE(has_v6);  // a machine with an IPv6 loopback must be served there
    WARN("no IPv6 loopback here: [::1] not tested");
    return;
  }
  Response page = raw_http(s.port(), "GET / HTTP/1.1\r\nConnection: close\r\nHost: " + v6 + "\r\n\r\n", true);
  CHECK(page.status == 200);
  Response board = raw_http(
      s.port(),
      "GET /api/board HTTP/1.1\r\nConnection: close\r\nHost: " + v6 + "\r\nX-Tracker-Token: " + s.token() + "\r\n\r\n",
      true);
  CHECK(board.status == 200);
  CHECK(Json::parse(board.body)["stages"][0]["stories"].size() == 1);
}

TEST_CASE("serve: under a 2 GiB memory limit (ulimit -v) the widest flow windows answer and the server stays up, and so "
          "does the CLI") {
  if (sanitized()) {
    SUCCEED("ASan reserves terabytes of address space up front: no RLIMIT_AS under it");
    return;
  }
  Board b;
  b.create({"Story"});
  const rlim_t limit = rlim_t{2} << 30;
  ServeProcess s(b.root(), limit);
  // Before the maximum, 3650000 days aborted the server with std::bad_alloc here.
  for (const char* days : {"3650000", "99999999999"}) {
    Response r = s.get(std::string("/api/flow?days=") + days);
    INFO(days << ": " << r.status << " " << r.body.substr(0, 200));
    CHECK(r.status == 400);
  }
  Response widest = s.get("/api/flow?days=36600");
  CHECK(widest.status == 200);
  CHECK(Json::parse(widest.body)["cumulative_flow"]["days"].size() <= 2);  // the board is a day old
  CHECK(s.get("/api/board").status == 200);
  CHECK(s.running());

  auto limited = [&](const std::string& since) {
    return run({"prlimit", "--as=" + std::to_string(limit), "--", TRACKER_BIN, "flow", "--since", since},
               RunOptions{b.root(), {}, ""});
  };
  RunResult too_wide = limited("3650000d");
  INFO(too_wide.err);
  CHECK(too_wide.code == 2);  // was 134, an abort
  CHECK(limited("36600d").code == 0);
}
