// tracker check: the board validated as a whole.
#include <tracker/deps.hpp>
#include <tracker/fs.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <algorithm>
#include <ctime>
#include <set>

namespace tracker {

namespace {

enum class Entry { file, directory, symlink };

/// Directory entries, sorted, without hidden ones (.gitkeep and the like). A
/// symbolic link is one, whatever it points to.
std::vector<std::pair<std::string, Entry>> visible_entries(const fs::path& dir) {
  std::vector<std::pair<std::string, Entry>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with('.')) continue;
    out.emplace_back(name, e.is_symlink(ec)     ? Entry::symlink
                           : e.is_directory(ec) ? Entry::directory
                                                : Entry::file);
  }
  std::sort(out.begin(), out.end());
  return out;
}

constexpr const char* kSymlinkMessage =
    "a symbolic link: tracker never follows one (git stores the link, not what it points to); "
    "put the directory or file itself here";

/// The line of `key` in the file at `path`; 0 when the file is gone. Other commands
/// may move or delete stories while check runs (tracker commit runs it): a story
/// seen in the index a moment ago may no longer be there to read.
int key_line(const fs::path& path, std::string_view key) {
  std::optional<std::string> text = read_file_if_exists(path);
  return text ? front_matter_key_line(*text, key) : 0;
}

bool problem_order(const Problem& a, const Problem& b) {
  return std::tie(a.path, a.line, a.message) < std::tie(b.path, b.line, b.message);
}

}  // namespace

CheckReport Maintenance::check() {
  s_.refresh_all();
  const Config& config = s_.ws.config();
  CheckReport report;
  auto problem = [&](std::string path, int line, std::string kind, std::string message) {
    report.problems.push_back({std::move(path), line, std::move(kind), std::move(message)});
  };

  // The layout: stage directories and nothing else under the stories directory,
  // and only story files in them.
  fs::path root = s_.ws.stories_root();
  // A link on the way to the stories directory: the link is the one problem.
  std::optional<std::string> root_link = s_.ws.symlink_to_stage(config.stages.front());
  if (root_link == config.stories_dir + "/" + config.stages.front().dir) root_link.reset();
  if (root_link)
    problem(*root_link, 0, "symlink", kSymlinkMessage);
  else if (!fs::is_directory(root))
    problem(config.stories_dir, 0, "unknown-stage", "the stories directory is missing");
  std::vector<std::string> stage_dirs;
  for (const auto& s : config.stages) stage_dirs.push_back(s.dir);
  auto entries = root_link ? std::vector<std::pair<std::string, Entry>>{} : visible_entries(root);
  for (const auto& [name, kind] : entries) {
    std::string rel = config.stories_dir + "/" + name;
    if (kind == Entry::symlink) {
      problem(rel, 0, "symlink", kSymlinkMessage);
      continue;
    }
    if (kind == Entry::file) {
      problem(rel, 0, "outside-stage", "file outside the stage directories " + join(stage_dirs, ", "));
      continue;
    }
    if (!config.find_stage(name) || config.find_stage(name)->dir != name) {
      problem(rel, 0, "unknown-stage", "unknown stage directory" + did_you_mean(name, stage_dirs));
      continue;
    }
    for (const auto& [inner, inner_kind] : visible_entries(root / name)) {
      if (inner_kind == Entry::symlink)
        problem(rel + "/" + inner, 0, "symlink", kSymlinkMessage);
      else if (inner_kind == Entry::directory)
        problem(rel + "/" + inner, 0, "outside-stage", "directory inside a stage directory: its files are not stories");
      else if (!inner.ends_with(".md"))
        problem(rel + "/" + inner, 0, "file-name", "not a story file: story files end in .md");
    }
  }

  // Every file on its own: front matter, values, names and types.
  for (const auto& issue : s_.shadow->issues()) {
    if (issue.fatal) ++report.stories;  // a story file, if an unreadable one
    problem(
        issue.path, issue.line,
        !issue.fatal                                   ? "bad-value"
        : issue.message.starts_with("not a story file name") ? "file-name"
        : issue.message.starts_with(kNotUtf8)               ? "encoding"
                                                            : "malformed",
        issue.message);
  }
  ListQuery all;
  all.sort = SortKey::id;
  std::vector<Story> stories = s_.shadow->list(all);
  report.stories += static_cast<std::int64_t>(stories.size());

  std::map<std::int64_t, std::vector<const Story*>> by_id;
  for (const auto& s : stories) {
    by_id[s.id].push_back(&s);
    if (!config.is_known_type(s.type))
      problem(s.path, 0, "unknown-type", "unknown type '" + s.type + "'" + did_you_mean(s.type, config.types));
  }
  for (const auto& [id, copies] : by_id) {
    if (copies.size() < 2) continue;
    std::vector<std::string> paths;
    for (const Story* s : copies) paths.push_back(s->path);
    for (const Story* s : copies)
      problem(s->path, 0, "duplicate-id",
              "story #" + std::to_string(id) + " exists " + std::to_string(copies.size()) + " times (" +
                  join(paths, ", ") + "); tracker renumber " + std::to_string(id) +
                  " --path <file> gives one a new id");
  }

  // The dependency graph: every id known, no cycles.
  DependencyGraph graph;
  std::map<std::int64_t, const Story*> first;
  for (const auto& s : stories) {
    first.emplace(s.id, &s);
    if (s.depends_on.empty()) continue;
    auto& edges = graph[s.id];
    edges.insert(edges.end(), s.depends_on.begin(), s.depends_on.end());
    int line = 0;
    for (auto dep : s.depends_on) {
      if (by_id.count(dep)) continue;
      if (!line) line = key_line(s_.ws.root() / s.path, "depends_on");
      problem(s.path, line, "missing-dependency", "depends_on: no story #" + std::to_string(dep));
    }
  }
  for (const auto& cycle : dependency_cycles(graph)) {
    const Story* s = first[cycle.front()];
    problem(s->path, key_line(s_.ws.root() / s->path, "depends_on"), "cycle",
            "dependency cycle: " + format_dependency_path(cycle));
  }

  // The parents: every one a story, no story its own ancestor.
  std::map<std::int64_t, std::int64_t> parents;
  for (const auto& s : stories) {
    if (!s.parent) continue;
    parents.emplace(s.id, *s.parent);
    if (!by_id.count(*s.parent))
      problem(s.path, key_line(s_.ws.root() / s.path, "parent"), "missing-parent",
              "parent: no story #" + std::to_string(*s.parent));
  }
  std::set<std::int64_t> in_cycle;
  for (const auto& [child, parent] : parents) {
    if (in_cycle.count(child)) continue;
    auto cycle = parent_cycle(parents, child);
    if (!cycle) continue;
    in_cycle.insert(cycle->begin(), cycle->end());
    const Story* s = first[child];
    problem(s->path, key_line(s_.ws.root() / s->path, "parent"), "cycle",
            "parent cycle: " + format_dependency_path(*cycle));
  }

  // Claim locks against the files.
  ClaimStore store = s_.claims();
  fs::path lock_dir = s_.ws.shared_state_dir() / "claims";
  std::set<std::int64_t> locked;
  std::int64_t now = s_.clock.now_seconds();
  for (const auto& [name, kind] : visible_entries(lock_dir)) {
    std::string rel = s_.ws.relative(lock_dir / name);
    auto id = name.ends_with(".lock") ? parse_int(std::string_view(name).substr(0, name.size() - 5)) : std::nullopt;
    if (kind != Entry::file || !id) {
      problem(rel, 0, "claim", "not a claim lock (claim locks are named <id>.lock)");
      continue;
    }
    std::optional<Claim> c = store.read(*id);
    if (!c) {
      problem(rel, 0, "claim",
              "unreadable claim lock: not written by tracker; delete it to free #" + std::to_string(*id));
      continue;
    }
    locked.insert(*id);
    std::string who = "claim on #" + std::to_string(*id) + " by " + c->owner;
    auto it = by_id.find(*id);
    if (it == by_id.end()) {
      problem(rel, 0, "claim",
              who + ", but there is no story #" + std::to_string(*id) + "; tracker reclaim " + std::to_string(*id) +
                  " clears it");
      continue;
    }
    const Story& s = *it->second.front();
    ClaimState state = ClaimStore::state(*c, now);
    if (state == ClaimState::lost) {
      report.notes.push_back({rel, 0, "claim",
                              who + " was taken over by " + c->lost_to +
                                  " on the remote: this holder is fenced; tracker reclaim clears the record"});
      continue;
    }
    if (state != ClaimState::live) {
      report.notes.push_back(
          {rel, 0, "claim",
           who +
               (state == ClaimState::expired ? " expired at " + format_iso8601(c->expires)
                                             : ": its holder (pid " + std::to_string(*c->pid) + ") is gone") +
               "; tracker reclaim frees it"});
    }
    if (config.is_done_stage(s.stage))
      problem(s.path, 0, "claim",
              who + ", but the story is " + s.stage + "; tracker done " + std::to_string(*id) + " ends it");
    else if (s.agent != c->owner)
      problem(s.path, key_line(s_.ws.root() / s.path, "agent"), "claim",
              who + ", but the story's agent is " + (s.agent.empty() ? "not set" : s.agent));
  }
  for (const auto& s : stories)
    if (!s.agent.empty() && !locked.count(s.id) && !config.is_done_stage(s.stage))
      report.notes.push_back({s.path, key_line(s_.ws.root() / s.path, "agent"), "claim",
                              "agent: " + s.agent + ", but no claim here holds #" + std::to_string(s.id) +
                                  " (a claim made in another clone, or a hand edit)"});

  std::sort(report.problems.begin(), report.problems.end(), problem_order);
  std::sort(report.notes.begin(), report.notes.end(), problem_order);
  return report;
}

CheckReport Maintenance::check_files(const std::vector<std::string>& paths) {
  std::set<std::string> wanted(paths.begin(), paths.end());
  auto judge = [&] {
    CheckReport all = check();
    CheckReport out;
    out.stories = static_cast<std::int64_t>(wanted.size());
    for (auto& p : all.problems)
      if (p.kind != "claim" && wanted.count(p.path)) out.problems.push_back(std::move(p));
    return out;
  };
  CheckReport first = judge();
  if (first.problems.empty()) return first;
  // Other commands may be moving stories while the board is walked: a dependency
  // caught between two stage directories looks missing for a moment. A problem
  // counts only when a second walk, begun after the first ended, finds it again.
  s_.started = Instant::now();
  s_.refreshed = false;
  CheckReport second = judge();
  std::erase_if(second.problems, [&](const Problem& p) {
    return std::none_of(first.problems.begin(), first.problems.end(), [&](const Problem& q) {
      return q.path == p.path && q.kind == p.kind && q.message == p.message;
    });
  });
  return second;
}

std::vector<std::string> Maintenance::changed_story_files() {
  std::vector<std::string> paths;
  for (const auto& d : all_.history.board_changes("HEAD", std::nullopt, nullptr, nullptr, DiffDetail::edits))
    if (d.change != "deleted") paths.push_back(d.paths.back());
  return paths;
}

}  // namespace tracker
