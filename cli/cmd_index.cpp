#include "output.hpp"

#include <iostream>
#include <thread>

#include <tracker/watch.hpp>

namespace tracker::cli {

namespace {

int run_status(const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  IndexStatus st = tracker->index().status();
  if (g.json) {
    nlohmann::ordered_json stages = nlohmann::ordered_json::object();
    for (const auto& [name, n] : st.per_stage) stages[name] = n;
    print_json({{"path", st.in_memory ? nullptr : nlohmann::ordered_json(st.db_path)},
                {"in_memory", st.in_memory},
                {"schema_version", st.schema_version},
                {"bytes", st.db_bytes},
                {"stories", st.stories},
                {"malformed", st.malformed},
                {"stages", stages},
                {"search", "fts5"},
                {"last_rebuild", string_or_null(st.last_rebuild)},
                {"last_change", string_or_null(st.last_refresh)}});
    return 0;
  }
  if (st.in_memory)
    std::cout << "index:        in memory: the state directory cannot be written (schema " << st.schema_version
              << ")\n";
  else
    std::cout << "index:        " << st.db_path << " (" << (st.db_bytes + 1023) / 1024 << " KiB, schema "
              << st.schema_version << ")\n";
  std::cout << "stories:      " << st.stories << " (" << st.malformed << " malformed)\n";
  for (const auto& [name, n] : st.per_stage) {
    std::cout << pad("  " + name, 14) << n << "\n";
  }
  std::cout << "search:       FTS5\n";
  std::cout << "last rebuild: " << (st.last_rebuild.empty() ? "never" : st.last_rebuild) << "\n";
  std::cout << "last change:  " << (st.last_refresh.empty() ? "never" : st.last_refresh) << "\n";
  return 0;
}

int run_rebuild(const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  RefreshStats stats = tracker->index().rebuild();
  report_issues(tracker->issues(), g);
  if (g.json)
    print_json({{"files", stats.files}, {"parsed", stats.parsed}});
  else
    std::cout << "rebuilt the index from " << stats.files << " story files\n";
  return 0;
}

Workspace find_workspace(const GlobalOptions& g) {
  return Workspace::discover(g.dir.empty() ? fs::current_path() : fs::path(g.dir));
}

void print_watch_status(const GlobalOptions& g, const Workspace& ws, const WatchStatus& st) {
  if (g.json) {
    nlohmann::ordered_json out = {{"running", st.running}, {"enabled", watch_enabled(ws)}};
    if (st.running) {
      out["pid"] = st.pid;
      out["started"] = st.started;
      out["events"] = st.events;
      out["queries"] = st.queries;
      out["resets"] = st.resets;
      out["paths"] = st.paths;
    }
    print_json(out);
    return;
  }
  if (!st.running) {
    std::cout << "watcher: not running"
              << (watch_enabled(ws) ? " (index.watch is on: the next command starts one)" : "") << "\n";
    return;
  }
  std::cout << "watcher:  running, pid " << st.pid << ", since " << st.started << "\n";
  std::cout << "events:   " << st.events << " (" << st.paths << " paths changed)\n";
  std::cout << "queries:  " << st.queries << " (" << st.resets << " resets: full walks)\n";
  if (!watch_enabled(ws)) std::cout << "note:     index.watch is off, so refreshes do not ask it\n";
}

int run_watch_status(const GlobalOptions& g) {
  Workspace ws = find_workspace(g);
  print_watch_status(g, ws, watch_status(ws));
  return 0;
}

int run_watch_start(const GlobalOptions& g) {
  Workspace ws = find_workspace(g);
  WatchStatus st = watch_status(ws);
  if (!st.running) {
    watch_start(ws);
    for (int i = 0; i < 100 && !st.running; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      st = watch_status(ws);
    }
    if (!st.running)
      throw IoError("the watcher did not start (is inotify available here?); try 'tracker index watch run'");
  }
  print_watch_status(g, ws, st);
  return 0;
}

int run_watch_stop(const GlobalOptions& g) {
  Workspace ws = find_workspace(g);
  bool stopped = watch_stop(ws);
  if (g.json)
    print_json({{"stopped", stopped}});
  else
    std::cout << (stopped ? "watcher stopped\n" : "no watcher was running\n");
  return 0;
}

int run_watch_run(const GlobalOptions& g, const std::string& idle) {
  Workspace ws = find_workspace(g);
  std::int64_t seconds = parse_duration(idle);
  if (!watch_serve(ws, std::chrono::seconds(seconds))) {
    WatchStatus st = watch_status(ws);
    throw ConflictError("a watcher already runs for this workspace" +
                        (st.running ? " (pid " + std::to_string(st.pid) + ")" : std::string()));
  }
  return 0;
}

}  // namespace

Command register_index(CLI::App& app, GlobalOptions& g) {
  CLI::App* sub = app.add_subcommand("index", "Inspect or rebuild the shadow index");
  sub->require_subcommand(1);
  CLI::App* status = sub->add_subcommand("status", "Counts, size and when the index was last rebuilt");
  CLI::App* rebuild = sub->add_subcommand("rebuild", "Throw the index away and read every story file again");
  CLI::App* watch = sub->add_subcommand("watch", "The background watcher that tells refreshes which files changed");
  watch->require_subcommand(1);
  CLI::App* w_status = watch->add_subcommand("status", "Whether a watcher runs, and its counters");
  CLI::App* w_start = watch->add_subcommand("start", "Start a watcher in the background (if none runs)");
  CLI::App* w_stop = watch->add_subcommand("stop", "Stop the running watcher");
  CLI::App* w_run = watch->add_subcommand("run", "Run a watcher in the foreground");
  auto idle = std::make_shared<std::string>("1h");
  w_run->add_option("--idle", *idle, "Stop after this long without a question (e.g. 10m, 2h)")->capture_default_str();
  return {sub, [status, rebuild, w_status, w_start, w_stop, w_run, idle, &g] {
            if (status->parsed()) return run_status(g);
            if (rebuild->parsed()) return run_rebuild(g);
            if (w_status->parsed()) return run_watch_status(g);
            if (w_start->parsed()) return run_watch_start(g);
            if (w_stop->parsed()) return run_watch_stop(g);
            if (w_run->parsed()) return run_watch_run(g, *idle);
            return 2;
          }};
}

}  // namespace tracker::cli
