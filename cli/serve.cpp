// `tracker serve`: the board in a browser, on 127.0.0.1 only. A JSON API over the
// library (a fresh Tracker per request, as each command opens one), the page's
// assets compiled in, and Server-Sent Events fed by the index's change detection.
// Writes need the run's token and the story file's blob id (If-Match); requests
// whose Host or Origin is not this server's are refused (DNS rebinding).
#include "serve.hpp"
#include "catalogue.hpp"
#include "views.hpp"
#include "worker_pool.hpp"

#include <httplib.h>
#include <malloc.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <deque>
#include <list>
#include <memory>
#include <charconv>

#include <tracker/config.hpp>
#include <tracker/util.hpp>

namespace tracker::cli {

/// The page's files (cli/web/*, compiled in by CMake).
extern const char* const kWebIndexHtml;
extern const char* const kWebAppJs;
extern const char* const kWebAppCss;

namespace {

using Json = nlohmann::ordered_json;

struct ServeOptions {
  int port = 7410;
  bool open = false;
};

// What one request may cost. cpp-httplib gives each connection a thread for as long
// as it lasts (a keep-alive wait, a slow client, an event stream), so the limits
// are on connections (cli/worker_pool.hpp) and streams, and every wait has a time-out.
constexpr int kMaxStreams = 32;                  ///< open /api/events streams, all clients together
constexpr int kMaxStreamsPerClient = 4;          ///< per page (its `client` id)
constexpr auto kStreamBeat = std::chrono::milliseconds(250);  ///< a closed stream fails its next write
constexpr time_t kReadTimeout = 5;               ///< seconds a client may send nothing mid-request
constexpr time_t kKeepAlive = 2;                 ///< seconds an idle keep-alive connection is kept
constexpr std::size_t kMaxBody = 4u << 20;       ///< a request body (a story is at most 1 MiB)
constexpr int kBacklog = 1024;                   ///< connections waiting to be accepted

/// 32 hex digits from the kernel's random source.
std::string random_token() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char bytes[16] = {};
  in.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  if (!in) throw Error(ExitCode::error, "cannot read /dev/urandom for the write token");
  std::string out;
  char hex[3];
  for (unsigned char b : bytes) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    out += hex;
  }
  return out;
}

int status_of(ExitCode code) {
  switch (code) {
    case ExitCode::usage: return 400;
    case ExitCode::conflict: return 409;
    case ExitCode::not_found: return 404;
    case ExitCode::invalid_data: return 422;
    case ExitCode::nothing_to_do: return 409;
    case ExitCode::remote_unavailable: return 503;
    default: return 500;
  }
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(json_text(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, int status, const std::string& message, int code = 0) {
  send_json(res, status, {{"error", message}, {"code", code ? code : static_cast<int>(ExitCode::error)}});
}

/// A board card: what a column shows of a story.
Json card_json(const Story& s, const Claim* claim, const ChildProgress& progress, std::int64_t now) {
  Json j = {{"id", s.id},
            {"type", s.type},
            {"name", s.name},
            {"stage", s.stage},
            {"priority", s.priority ? Json(*s.priority) : Json(nullptr)},
            {"labels", s.labels},
            {"agent", string_or_null(s.agent)},
            {"blocked", s.blocked},
            {"parent", s.parent ? Json(*s.parent) : Json(nullptr)},
            {"progress", progress_json(progress)},
            {"claim", claim ? Json{{"owner", claim->owner}, {"expires", format_iso8601(claim->expires)}} : Json(nullptr)}};
  auto created = parse_iso8601(s.created);
  j["age_seconds"] = created ? Json(now - *created) : Json(nullptr);
  // Since its file last changed (the index's mtime): the table's Updated column.
  j["updated_seconds"] = s.changed_ns > 0 ? Json(std::max<std::int64_t>(0, now - s.changed_ns / 1'000'000'000)) : Json(nullptr);
  return j;
}

/// Thrown after a handler wrote its own response (a 409).
struct Handled {};

class Server {
 public:
  Server(GlobalOptions g, fs::path root) : g_(std::move(g)), root_(std::move(root)), token_(random_token()) {
    g_.dir = root_.string();
    g_.json = false;
  }

  int run(const ServeOptions& opts) {
    // Few malloc arenas: a thread per connection would otherwise give each its own,
    // and the memory of a burst of requests would stay with the process.
    mallopt(M_ARENA_MAX, 4);
    int port = listen_on(v4_, "127.0.0.1", opts.port);
    if (port < 0)
      throw Error(ExitCode::error, "cannot listen on 127.0.0.1:" + std::to_string(opts.port) +
                                       " (in use? --port N, or --port 0 for any free port)");
    port_ = port;
    std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
    bool v6 = listen_on(v6_, "::1", port) == port;
    std::cout << "serving " << root_.string() << " at " << url
              << (v6 ? " and http://[::1]:" + std::to_string(port) + "/" : std::string()) << " (Ctrl-C stops)"
              << std::endl;
    if (!v6) std::cerr << "tracker serve: not listening on [::1]:" << port << " (no IPv6 loopback, or the port is taken there)\n";
    if (opts.open) std::system(("xdg-open '" + url + "' > /dev/null 2>&1 &").c_str());
    std::thread watcher([this] { watch(); });
    std::thread other;
    if (v6) other = std::thread([this] { v6_.listen_after_bind(); });
    bool ok = v4_.listen_after_bind();
    stopping_ = true;
    changed_.notify_all();
    v6_.stop();
    if (other.joinable()) other.join();
    watcher.join();
    return ok ? 0 : 1;
  }

 private:
  /// Sets up `http` (routes, limits, workers) and binds it to host:port (0: any free
  /// port); the port bound, or -1.
  int listen_on(httplib::Server& http, const std::string& host, int port) {
    routes(http);
    http.new_task_queue = [] { return new WorkerPool; };
    http.set_read_timeout(kReadTimeout);
    http.set_write_timeout(kReadTimeout);
    http.set_keep_alive_timeout(kKeepAlive);
    http.set_payload_max_length(kMaxBody);
    // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which a
    // second server on the same port would bind too and share its requests.
    auto bound = std::make_shared<socket_t>(INVALID_SOCKET);
    http.set_socket_options([bound](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      *bound = sock;
    });
    int got = port == 0 ? http.bind_to_any_port(host) : (http.bind_to_port(host, port) ? port : -1);
    // cpp-httplib listens with a backlog of 5, compiled into Debian's library: in a
    // burst of connections the kernel dropped the rest's SYNs, and those clients
    // waited 1 s, 3 s, 7 s for their retries. A second listen() sets the backlog.
    if (got >= 0 && *bound != INVALID_SOCKET) ::listen(*bound, kBacklog);
    return got;
  }

  /// Host (always, once, printable) and Origin (when sent) must name this server: a
  /// page of another site that resolves its name to 127.0.0.1 is refused. 400 for a
  /// Host that is not one clean header, 403 for another name; 0 when it is ours.
  int origin_status(const httplib::Request& req) const {
    if (req.get_header_value_count("Host") != 1) return 400;
    std::string host = req.get_header_value("Host");
    if (std::any_of(host.begin(), host.end(), [](char c) { return static_cast<unsigned char>(c) < 0x21 || c == 0x7f; }))
      return 400;
    std::string p = ":" + std::to_string(port_);
    std::set<std::string> hosts = {"127.0.0.1" + p, "localhost" + p, "[::1]" + p};
    if (!hosts.count(host)) return 403;
    if (req.get_header_value_count("Origin") > 1) return 400;
    if (req.has_header("Origin") && !hosts.count(strip_scheme(req.get_header_value("Origin")))) return 403;
    return 0;
  }

  /// Every /api/ request carries the run's token, which only the page has: in the
  /// X-Tracker-Token header, or (an EventSource cannot send headers) `token=` on a GET.
  bool has_token(const httplib::Request& req) const {
    if (req.get_header_value("X-Tracker-Token") == token_) return true;
    return req.method == "GET" && req.get_param_value("token") == token_;
  }
  /// "http://127.0.0.1:7410" -> "127.0.0.1:7410"; another scheme matches no host.
  static std::string strip_scheme(const std::string& origin) {
    return origin.starts_with("http://") ? origin.substr(7) : std::string();
  }

  TrackerHandle open() { return open_tracker(g_, TerminalProgressLine::never); }

  /// Runs `body` and answers with its JSON, or with the library's error.
  void answer(httplib::Response& res, const std::function<Json()>& body, int status = 200) {
    try {
      send_json(res, status, body());
    } catch (const Handled&) {
      // the response was written already
    } catch (const Error& e) {
      send_error(res, status_of(e.code()), for_door(e.what(), Door::web), static_cast<int>(e.code()));
    } catch (const std::exception& e) {
      send_error(res, 500, for_door(e.what(), Door::web));
    }
  }

  /// The checks of a write (the token was checked before routing): a JSON object body
  /// that holds the parameters the catalogue gives `operation` at the web door, with
  /// the MCP tool's words for what is wrong.
  std::optional<Json> write_body(const httplib::Request& req, httplib::Response& res, const std::string& operation) {
    Json body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      send_error(res, 400, "the body is not a JSON object", static_cast<int>(ExitCode::usage));
      return std::nullopt;
    }
    const auto& op = catalogue::operation(operation);
    if (auto bad = catalogue::schema_violation(catalogue::input_schema(op, Door::web), body, "")) {
      send_error(res, 400, "invalid arguments for " + op.name + ": " + *bad, static_cast<int>(ExitCode::usage));
      return std::nullopt;
    }
    return body;
  }

  /// The arguments of a read (GET `operation`'s route) from its query string, checked
  /// against the catalogue's schema as a write's body is: UsageError "invalid
  /// arguments for flow: 'days' must be at most 36600". The token is no argument.
  static Json read_arguments(const httplib::Request& req, const std::string& operation) {
    const auto& op = catalogue::operation(operation);
    std::vector<std::pair<std::string, std::string>> query;
    for (const auto& [key, value] : req.params)
      if (key != "token") query.emplace_back(key, value);
    Json args = catalogue::query_arguments(op, query);
    if (auto bad = catalogue::schema_violation(catalogue::input_schema(op, Door::web), args, ""))
      throw UsageError("invalid arguments for " + op.name + ": " + *bad);
    return args;
  }

  /// False (409 sent) when the story file is no longer the one the page read.
  bool matches(Tracker& t, std::int64_t id, const httplib::Request& req, httplib::Response& res) {
    std::string want = req.get_header_value("If-Match");
    if (want.size() >= 2 && want.front() == '"') want = want.substr(1, want.size() - 2);
    if (want.empty()) {
      send_error(res, 428, "a write needs If-Match: the story's blob id (its ETag)", static_cast<int>(ExitCode::usage));
      return false;
    }
    std::string now = GitRepo::blob_id(t.read_whole(id).second);
    if (now == want) return true;
    send_json(res, 409, {{"error", "story #" + std::to_string(id) + " changed since the page read it"},
                         {"code", static_cast<int>(ExitCode::conflict)},
                         {"etag", now}});
    return false;
  }

  static Force force_of(const Json& body) { return body.value("force", false) ? Force::yes : Force::no; }

  /// POST /api/story/<id>/<path> (`path` defaults to the operation's name): `act`
  /// runs on a fresh Tracker once the body fits `operation`'s web schema and the
  /// story file is still the one the page read.
  template <typename Act>
  void story_write(httplib::Server& http, const std::string& operation, Act act, const std::string& path = "") {
    http.Post("/api/story/(\\d+)/" + (path.empty() ? operation : path),
              [this, operation, act](const httplib::Request& req, httplib::Response& res) {
                auto body = write_body(req, res, operation);
                if (!body) return;
                std::lock_guard<std::mutex> lock(writes_);
                answer(res, [&]() -> Json {
                  std::int64_t id = story_id(req);
                  auto t = open();
                  if (!matches(*t, id, req, res)) throw Handled{};
                  return act(*t, id, *body);
                });
              });
  }

  void routes(httplib::Server& http) {
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // No page of another site may frame the board (a click there would be a move
      // here) or read an answer of the API.
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("X-Frame-Options", "DENY");
      res.set_header("Cross-Origin-Resource-Policy", "same-origin");
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                     "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
      if (int status = origin_status(req)) {
        send_error(res, status,
                   status == 400 ? std::string("a request needs one Host header naming this server")
                                 : "this server answers only requests for 127.0.0.1:" + std::to_string(port_));
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.path.starts_with("/api/") && !has_token(req)) {
        send_error(res, 403, "the API needs this run's token (the page has it)");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.Get("/", [this](const httplib::Request&, httplib::Response& res) {
      std::string page = kWebIndexHtml;
      std::string mark = "{{TOKEN}}";
      page.replace(page.find(mark), mark.size(), token_);
      res.set_header("Cache-Control", "no-store");
      res.set_content(page, "text/html; charset=utf-8");
    });
    http.Get("/app.js", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kWebAppJs, "text/javascript; charset=utf-8");
    });
    http.Get("/app.css", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kWebAppCss, "text/css; charset=utf-8");
    });
    http.Get("/api/board", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] { return board(req); });
    });
    http.Get(R"(/api/story/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        std::int64_t id = story_id(req);
        auto t = open();
        auto [story, text] = t->read_whole(id);
        std::map<std::int64_t, Claim> claims = t->live_claims();
        Json history = Json::array();
        for (const auto& e : t->log(id, 50)) history.push_back(log_entry_json(e));
        Json shown = story_json(story, true, claims.count(id) ? &claims.at(id) : nullptr);
        shown["progress"] = progress_json(t->progress(id));
        return Json{{"story", shown},
                    {"etag", GitRepo::blob_id(text)},
                    {"history", history}};
      });
    });
    // The writes to one story: the body checked against the operation's schema, one
    // write at a time, the story's file still the one the page read (If-Match), then
    // the library call of its command.
    story_write(http, "move", [](Tracker& t, std::int64_t id, const Json& body) {
      const Stage& stage = t.workspace().config().stage(body["stage"].get<std::string>());
      return move_json(t.move({id}, stage.name));
    });
    story_write(http, "set", [](Tracker& t, std::int64_t id, const Json& body) {
      return set_json(t.set_fields(id, field_edits(body["fields"])));
    }, "fields");
    story_write(http, "body", [](Tracker& t, std::int64_t id, const Json& body) -> Json {
      EditResult r = t.set_body(id, t.read_whole(id).second, body["body"].get<std::string>());
      return {{"id", r.id}, {"changed", r.changed}, {"commit", string_or_null(r.commit)}};
    });
    story_write(http, "claim", [](Tracker& t, std::int64_t id, const Json& body) -> Json {
      ClaimRequest request;
      request.id = id;
      request.owner = body.value("owner", std::string());  // empty: the person running the server
      request.force = body.value("force", false);
      if (body.contains("ttl")) request.ttl_seconds = parse_duration(body["ttl"].get<std::string>());
      ClaimResult r = t.claim(request);
      return {{"id", r.story.id},
              {"name", r.story.name},
              {"stage", r.story.stage},
              {"claim", {{"owner", r.claim.owner}, {"expires", format_iso8601(r.claim.expires)}}},
              {"renewed", r.renewed},
              {"commit", string_or_null(r.commit)}};
    });
    story_write(http, "release", [](Tracker& t, std::int64_t id, const Json& body) {
      std::optional<std::string> owner;
      if (body.contains("owner")) owner = body["owner"].get<std::string>();
      return change_json(t.release(id, owner, force_of(body)));
    });
    story_write(http, "archive", [](Tracker& t, std::int64_t id, const Json& body) {
      if (body.contains("owner")) t.set_identity(body["owner"].get<std::string>());
      return move_json(t.move({id}, t.archive_stage().name, force_of(body)));
    });
    story_write(http, "delete", [](Tracker& t, std::int64_t id, const Json& body) -> Json {
      if (body.contains("owner")) t.set_identity(body["owner"].get<std::string>());
      DeleteResult r = t.remove({id}, force_of(body) == Force::yes);
      Json deleted = Json::array();
      for (const auto& d : r.deleted) deleted.push_back({{"id", d.id}, {"name", d.name}, {"stage", d.stage}});
      return {{"deleted", deleted}, {"commit", string_or_null(r.commit)}};
    });
    http.Post("/api/stories", [this](const httplib::Request& req, httplib::Response& res) {
      auto body = write_body(req, res, "new");
      if (!body) return;
      std::lock_guard<std::mutex> lock(writes_);
      answer(
          res,
          [&]() -> Json {
            return new_json(open()->create(new_story_request(*body)));
          },
          201);
    });
    http.Get("/api/flow", [this](const httplib::Request& req, httplib::Response& res) {
      answer(res, [&] {
        Json args = read_arguments(req, "flow");
        std::int64_t now = system_clock().now_seconds();
        FlowQuery q;
        q.since = now - args.value("days", std::int64_t{90}) * 86400;
        q.until = now;
        if (args.contains("label")) q.label = args["label"].get<std::string>();
        if (args.contains("type")) q.type = args["type"].get<std::string>();
        if (args.contains("parent")) q.parent = args["parent"].get<std::int64_t>();
        return flow_json(open()->flow(q));
      });
    });
    http.Get("/api/events", [this](const httplib::Request& req, httplib::Response& res) { events(req, res); });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        send_error(res, 500, e.what());
      } catch (...) {
        send_error(res, 500, "internal error");
      }
    });
  }

  /// The story id of a /api/story/<id> path: 400 when it does not fit.
  static std::int64_t story_id(const httplib::Request& req) {
    const std::string digits = req.matches[1];
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || end != digits.data() + digits.size() || id < 1)
      throw UsageError("a story id is a number from 1 to " + std::to_string(INT64_MAX));
    return id;
  }

  /// /api/events: Server-Sent Events, a `change` when the board changed. A stream
  /// holds a worker for as long as it is open, so there are at most kMaxStreams, and
  /// kMaxStreamsPerClient per page (429 beyond); each writes at least every
  /// kStreamBeat, so that a stream whose page closed fails its next write and ends.
  void events(const httplib::Request& req, httplib::Response& res) {
    std::string client = req.get_param_value("client");
    if (client.size() > 64 || !std::all_of(client.begin(), client.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }))
      return send_error(res, 400, "client is at most 64 letters, digits and '-'", static_cast<int>(ExitCode::usage));
    {
      std::lock_guard<std::mutex> lock(streams_mutex_);
      int& mine = streams_of_[client];
      if (streams_ >= kMaxStreams || mine >= kMaxStreamsPerClient) {
        if (mine == 0) streams_of_.erase(client);
        res.set_header("Retry-After", "5");
        return send_error(res, 429,
                          streams_ >= kMaxStreams
                              ? "too many event streams are open (" + std::to_string(kMaxStreams) + ")"
                              : "this page has " + std::to_string(kMaxStreamsPerClient) + " event streams open already");
      }
      ++streams_;
      ++mine;
    }
    res.set_header("Cache-Control", "no-store");
    std::uint64_t seen = generation_.load();
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, seen](std::size_t, httplib::DataSink& sink) mutable {
          try {
            std::unique_lock<std::mutex> lock(mutex_);
            changed_.wait_for(lock, kStreamBeat, [&] { return stopping_ || generation_.load() != seen; });
            if (stopping_) return false;
            lock.unlock();
            std::string event = ":\n\n";  // a beat: the page ignores it; a closed stream fails on it
            if (generation_.load() != seen) {
              seen = generation_.load();
              event = "event: change\ndata: " + std::to_string(seen) + "\n\n";
            }
            return sink.write(event.data(), event.size());
          } catch (...) {
            return false;
          }
        },
        [this, client](bool) {
          std::lock_guard<std::mutex> lock(streams_mutex_);
          --streams_;
          if (--streams_of_[client] <= 0) streams_of_.erase(client);
        });
  }

  Json board(const httplib::Request& req) {
    Json args = read_arguments(req, "board");
    auto text = [&](const char* key) -> std::optional<std::string> {
      return args.contains(key) ? std::optional<std::string>(args[key].get<std::string>()) : std::nullopt;
    };
    auto t = open();
    const Config& config = t->workspace().config();
    std::optional<std::set<std::int64_t>> hits;
    if (auto query = text("q"); query && !trim(*query).empty()) {
      hits.emplace();
      for (const auto& h : t->search(*query, {}, std::nullopt).hits) hits->insert(h.story.id);
    }
    ListQuery q;
    q.label = text("label");
    q.type = text("type");
    q.agent = text("agent");
    std::map<std::int64_t, Claim> claims = t->live_claims();
    std::map<std::int64_t, ChildProgress> progress = t->progress();
    std::int64_t now = system_clock().now_seconds();
    std::map<std::string, Json> columns;
    for (const auto& st : config.stages) columns[st.name] = Json::array();
    t->list_each(q, [&](Story&& s) {
      if (hits && !hits->count(s.id)) return;
      auto c = claims.find(s.id);
      auto p = progress.find(s.id);
      columns[s.stage].push_back(
          card_json(s, c == claims.end() ? nullptr : &c->second, p == progress.end() ? ChildProgress{} : p->second, now));
    });
    Json stages = Json::array();
    for (const auto& st : config.stages)
      stages.push_back({{"name", st.name}, {"done", config.is_done_stage(st.name)}, {"stories", columns[st.name]}});
    Json types = config.types;
    return {{"stages", stages},
            {"types", types},
            {"archive", t->archive_stage().name},
            {"identity", string_or_null(t->identity())},
            {"generation", generation_.load()}};
  }

  /// Polls the board through the index's change detection (a refresh) and bumps
  /// the generation when what a board shows changed: the events stream says so.
  void watch() {
    std::string last;
    while (!stopping_) {
      try {
        auto t = open();
        std::string sig;
        for (const auto& s : t->list(ListQuery{}))
          sig += std::to_string(s.id) + "|" + s.stage + "|" + s.name + "|" + s.path + "|" +
                 (s.priority ? std::to_string(*s.priority) : "") + "|" + s.agent + "|" + (s.blocked ? "b" : "") + "|" + (s.parent ? std::to_string(*s.parent) : "") + "|" +
                 join(s.labels, ",") + "\n";
        for (const auto& [id, c] : t->live_claims()) sig += "c" + std::to_string(id) + c.owner + "\n";
        if (!last.empty() && sig != last) {
          ++generation_;
          changed_.notify_all();
        }
        last = std::move(sig);
      } catch (const std::exception& e) {
        std::cerr << "tracker serve: watching the board: " << e.what() << "\n";
      }
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_.load(); });
    }
  }

  GlobalOptions g_;
  fs::path root_;
  std::string token_;
  int port_ = 0;
  httplib::Server v4_;  ///< on 127.0.0.1
  httplib::Server v6_;  ///< on [::1]
  std::mutex streams_mutex_;
  int streams_ = 0;
  std::map<std::string, int> streams_of_;  ///< open streams per page
  /// Writes through this server take turns. Reads take no lock: the index walk
  /// settles moves made while it runs, here or by any other process, so a read
  /// never waits behind a commit.
  std::mutex writes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace

int run_serve(const GlobalOptions& g, int port, bool open) {
  fs::path root = Workspace::discover(g.dir.empty() ? fs::current_path() : fs::path(g.dir)).root();
  Server server(g, root);
  return server.run({port, open});
}

}  // namespace tracker::cli
