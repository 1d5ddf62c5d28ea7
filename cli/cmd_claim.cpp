#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct ClaimOptions {
  std::optional<std::int64_t> id;
  std::string owner;
  std::optional<std::string> ttl;
  std::optional<long> pid;
  bool force = false;
};

int run_claim(const ClaimOptions& opts, const GlobalOptions& g) {
  ClaimRequest request;
  request.id = opts.id;
  request.owner = opts.owner;
  if (opts.ttl) request.ttl_seconds = parse_duration(*opts.ttl);
  if (opts.pid && *opts.pid > 0) request.pid = opts.pid;  // 0: tied to no process
  request.force = opts.force;
  auto tracker = open_tracker(g);
  ClaimResult r = tracker->claim(request);
  if (g.json) {
    nlohmann::ordered_json out = story_json(r.story, false, &r.claim);
    out["renewed"] = r.renewed;
    out["commit"] = string_or_null(r.commit);
    print_json(out);
    return 0;
  }
  std::string until = format_iso8601(r.claim.expires);
  if (r.renewed)
    std::cout << "renewed #" << r.story.id << " for " << r.claim.owner << " until " << until << "\n";
  else
    std::cout << "claimed #" << r.story.id << " " << r.story.name << " for " << r.claim.owner << " ("
              << (r.from == r.to ? r.to : r.from + " -> " + r.to) << ") until " << until << "\n";
  return 0;
}

/// One line per story for what done, release or reclaim did; `verb` is the past
/// tense ("done", "released", "reclaimed").
void print_change_line(const StoryChange& c, const std::string& verb) {
  if (!c.changed) {
    if (verb == "done")
      std::cout << "#" << c.id << " is already " << c.to << "\n";
    else
      std::cout << "#" << c.id << " is not claimed; nothing to " << (verb == "released" ? "release" : "reclaim")
                << "\n";
    return;
  }
  if (!c.unreadable_lease.empty()) {
    std::cout << "deleted the lease on #" << c.id << " (" << c.unreadable_lease.substr(0, 12)
              << "): it held no readable claim\n";
    return;
  }
  std::string forced = c.forced_by.empty() ? "" : "; forced by " + c.forced_by + " (recorded as Tracker-Forced-By)";
  std::cout << verb << " #" << c.id;
  if (verb == "released") {
    std::cout << " from " << c.owner << " (" << (c.from == c.to ? c.to : c.from + " -> " + c.to) << ")" << forced
              << "\n";
    return;
  }
  if (!c.owner.empty()) std::cout << " (was " << c.owner << ")";
  if (c.from.empty())
    std::cout << ": the story is gone";
  else if (c.claim_only)
    std::cout << ": it is " << c.from << ", so only its claim ended";
  else if (c.from != c.to)
    std::cout << " " << c.from << " -> " << c.to;
  std::cout << forced << "\n";
}

struct ReleaseOptions {
  std::int64_t id = 0;
};

int run_release(const ReleaseOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  StoryChange c = tracker->release(opts.id, std::nullopt, force_of(g));
  if (g.json)
    print_json(change_json(c));
  else
    print_change_line(c, "released");
  return 0;
}

struct IdOptions {
  std::int64_t id = 0;
};

struct RenewOptions {
  std::int64_t id = 0;
  std::optional<std::string> ttl;
};

int run_renew(const RenewOptions& opts, const GlobalOptions& g) {
  std::optional<std::int64_t> ttl;
  if (opts.ttl) ttl = parse_duration(*opts.ttl);
  auto tracker = open_tracker(g);
  Claim c = tracker->renew(opts.id, std::nullopt, ttl);
  if (g.json)
    print_json(renew_json(c));
  else
    std::cout << "renewed #" << c.id << " for " << c.owner << " until " << format_iso8601(c.expires) << "\n";
  return 0;
}

struct ReclaimOptions {
  std::optional<std::int64_t> id;
};

struct ReadyOptions {
  std::optional<std::int64_t> limit;
  bool explain = false;
};

/// How many stories that are not ready `ready --explain` names.
constexpr std::size_t kExplained = 5;

int run_ready(const ReadyOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  std::vector<Story> stories = tracker->ready(opts.limit);
  report_issues(tracker->issues(), g);
  std::vector<NotReady> waiting;
  if (opts.explain) waiting = tracker->not_ready(kExplained);
  if (g.json) {
    if (!opts.explain) {
      print_json(stories_json(stories, {}));
      return 0;
    }
    auto out = nlohmann::ordered_json::object();
    out["ready"] = stories_json(stories, {});
    out["not_ready"] = nlohmann::ordered_json::array();
    for (const auto& n : waiting) out["not_ready"].push_back(not_ready_json(n));
    print_json(out);
    return 0;
  }
  Style style = make_style(g);
  std::string out;
  if (!stories.empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : stories) rows.push_back({std::to_string(s.id), s.type, priority_text(s), s.name});
    out = format_table(style, {"ID", "TYPE", "PRI", "NAME"}, rows, {"33", "36", nullptr, nullptr});
  }
  if (opts.explain) {
    const auto& stages = tracker->workspace().config().ready_stages;
    if (stories.empty()) out += waiting.empty() ? "no story is ready: no story is in " + join(stages, " or ") + "\n"
                                                : "no story is ready:\n";
    else if (!waiting.empty())
      out += "\nnot ready:\n";
    for (const auto& n : waiting)
      out += "  " + paint(style, "#" + std::to_string(n.story.id), "33") +
             (n.story.priority ? " P" + priority_text(n.story) : "") + " " + n.story.name + ": " +
             n.why() + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

Command register_claim(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ClaimOptions>();
  const auto& op = catalogue::operation("claim");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "owner", opts->owner);
  catalogue::add_param(sub, op, "ttl", opts->ttl);
  catalogue::add_param(sub, op, "pid", opts->pid);
  catalogue::add_param(sub, op, "force", opts->force);
  return {sub, [opts, &g] { return run_claim(*opts, g); }};
}

Command register_release(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ReleaseOptions>();
  const auto& op = catalogue::operation("release");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", g.force);
  return {sub, [opts, &g] { return run_release(*opts, g); }};
}

Command register_renew(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<RenewOptions>();
  const auto& op = catalogue::operation("renew");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "ttl", opts->ttl);
  return {sub, [opts, &g] { return run_renew(*opts, g); }};
}

Command register_reclaim(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ReclaimOptions>();
  const auto& op = catalogue::operation("reclaim");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  return {sub, [opts, &g] {
            auto tracker = open_tracker(g);
            std::vector<StoryChange> changes = tracker->reclaim(opts->id);
            if (g.json) {
              auto arr = nlohmann::ordered_json::array();
              for (const auto& c : changes) arr.push_back(change_json(c));
              print_json({{"reclaimed", arr}});
            } else if (changes.empty()) {
              if (opts->id)
                std::cout << "#" << *opts->id << " is not claimed; nothing to reclaim\n";
              else
                std::cout << "nothing to reclaim: every claim holds\n";
            } else {
              for (const auto& c : changes) print_change_line(c, "reclaimed");
            }
            return 0;
          }};
}

Command register_done(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<IdOptions>();
  const auto& op = catalogue::operation("done");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", g.force);
  return {sub, [opts, &g] {
            auto tracker = open_tracker(g);
            StoryChange c = tracker->done(opts->id, force_of(g));
            if (g.json)
              print_json(change_json(c));
            else
              print_change_line(c, "done");
            return 0;
          }};
}

Command register_ready(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ReadyOptions>();
  const auto& op = catalogue::operation("ready");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "limit", opts->limit);
  catalogue::add_param(sub, op, "explain", opts->explain);
  return {sub, [opts, &g] { return run_ready(*opts, g); }};
}

}  // namespace tracker::cli
