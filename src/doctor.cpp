// tracker doctor: finds and repairs what a crash can leave behind.
#include <tracker/error.hpp>
#include "fs_internal.hpp"
#include <tracker/remote.hpp>
#include "services.hpp"
#include <tracker/util.hpp>

#include "file_tx.hpp"
#include "limits.hpp"
#include "process.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <regex>

namespace tracker {

namespace {

/// Whether a git process runs with its working directory inside `work_tree`. git's
/// lock files carry no owner, so a lock is only called stale when none does.
bool git_running_in(const fs::path& work_tree) {
  Dir proc("/proc");
  while (auto e = proc.next()) {
    std::string pid(e->first);
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(::getpid())) continue;
    std::optional<std::string> comm;
    try {
      comm = read_file_if_exists("/proc/" + pid + "/comm");
    } catch (const IoError&) {
      continue;  // gone, or not ours to read
    }
    if (!comm || !std::string_view(*comm).starts_with("git")) continue;
    std::error_code ec;
    fs::path cwd = fs::read_symlink("/proc/" + pid + "/cwd", ec);
    if (ec) continue;
    auto rel = cwd.lexically_relative(work_tree).generic_string();
    if (!rel.empty() && !rel.starts_with("..")) return true;
  }
  return false;
}

/// git's lock files for this worktree: index.lock, HEAD.lock, packed-refs.lock and
/// the locks of branches.
std::vector<fs::path> git_lock_files(const Workspace& ws) {
  std::vector<fs::path> out;
  for (const fs::path& p :
       {ws.git_dir() / "index.lock", ws.git_dir() / "HEAD.lock", ws.common_dir() / "packed-refs.lock"})
    if (fs::exists(p)) out.push_back(p);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(ws.common_dir() / "refs", ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->path().extension() == ".lock" && it->is_regular_file(ec)) out.push_back(it->path());
  return out;
}

/// Temp files of an older tracker, written beside their target:
/// ".<name>.<pid>.<16 hex digits>.tmp".
bool legacy_temp_name(const std::string& name) {
  static const std::regex pattern(R"(^\..+\.[0-9]+\.[0-9a-f]{16}\.tmp$)");
  return std::regex_match(name, pattern);
}

}  // namespace

DoctorReport Maintenance::doctor(bool dry_run) {
  DoctorReport report;
  const std::int64_t now = s_.clock.now_ns();
  auto found = [&](std::string kind, std::string path, std::string detail, std::string action, bool repaired) {
    report.findings.push_back({std::move(kind), std::move(path), std::move(detail), std::move(action), repaired});
  };
  auto shown = [&](const fs::path& p) {
    std::string rel = s_.ws.relative(p);
    return rel.starts_with("..") ? p.string() : rel;
  };

  // Temp files whose writer is gone: this tracker's, in <git-dir>/tracker/tmp, and
  // an older tracker's, beside story files and packs.
  for (const auto& p : s_.sweep_temp_files(dry_run))
    found("temp-file", shown(p), "left by a process that is gone", dry_run ? "would remove it" : "removed", !dry_run);
  std::vector<fs::path> legacy_dirs = {s_.ws.common_dir() / "objects" / "pack"};
  for (const auto& stage : s_.ws.config().stages) legacy_dirs.push_back(s_.ws.stage_dir(stage));
  for (const auto& dir : legacy_dirs) {
    Dir d(dir);
    while (auto e = d.next()) {
      std::string name(e->first);
      fs::path p = dir / name;
      bool temp = legacy_temp_name(name) && is_orphan(p, now, limits::kOrphanMinAgeNs);
      // A pack without its index: git never reads it. git writes the index right
      // after the pack, so an hour-old one was left by a crash.
      bool lone_pack = dir.filename() == "pack" && name.starts_with("pack-") && p.extension() == ".pack" &&
                       !fs::exists(fs::path(p).replace_extension(".idx")) &&
                       is_orphan(p, now, limits::kHookFileMinAgeNs);
      if (!temp && !lone_pack) continue;
      bool removed = !dry_run && ::unlink(p.c_str()) == 0;
      found("temp-file", shown(p),
            lone_pack ? "a pack without its index, left by a crash" : "left by a process that is gone",
            dry_run   ? "would remove it"
            : removed ? "removed"
                      : "could not remove it",
            removed);
    }
  }

  // Copies of stories that `edit` (or `new --edit`) left when it was killed: the text may be the
  // user's work, so it goes to rejected/ before the copy is removed.
  if (Dir edits(s_.ws.local_state_dir() / "edit"); edits) {
    while (auto e = edits.next()) {
      fs::path dir = s_.ws.local_state_dir() / "edit" / std::string(e->first);
      if (!is_orphan(dir / ".held", now, limits::kOrphanMinAgeNs)) continue;
      std::vector<std::string> kept;
      for (const auto& f : fs::directory_iterator(dir)) {
        std::string name = f.path().filename().string();
        auto story = parse_story_file_name(name, s_.ws.config().types);
        if (name.starts_with('.') || (!story && name != "new.md")) continue;  // new.md: a `new --edit`
        std::string stem = story ? std::to_string(story->id) : "new";
        kept.push_back(dry_run ? name : shown(all_.transitions.save_rejected(stem, read_file(f.path()))));
      }
      std::error_code ec;
      if (!dry_run) fs::remove_all(dir, ec);
      found("edit-copy", shown(dir), "the copy of a story an edit was working on, left by a process that is gone",
            dry_run        ? "would keep its text in rejected/ and remove it"
            : kept.empty() ? "removed"
                           : "kept its text at " + join(kept, ", ") + "; removed",
            !dry_run && !ec);
    }
  }

  // git's lock files: git gives them no owner, so one is stale when it is old and no
  // git process works in this repository.
  bool git_busy = git_running_in(s_.ws.root());
  for (const fs::path& lock : git_lock_files(s_.ws)) {
    std::int64_t age = file_age_seconds(lock, now).value_or(0);
    std::string detail = "exists since " + format_age(age) + " ago";
    // tracker holds its index.lock empty and with a flock(): an empty one nobody
    // holds was left by a tracker that died.
    std::error_code ec;
    bool dead_tracker = fs::file_size(lock, ec) == 0 && !ec && is_orphan(lock, now, limits::kOrphanMinAgeNs);
    if (!dead_tracker && (git_busy || age * 1'000'000'000 < limits::kGitLockStaleNs)) {
      found("lock", shown(lock), detail + (git_busy ? "; a git process is running here" : ""),
            "left alone; if no git process uses it, remove it with rm -f " + shell_quote(lock.string()), false);
      continue;
    }
    bool removed = !dry_run && ::unlink(lock.c_str()) == 0;
    found("lock", shown(lock),
          detail + (dead_tracker ? "; empty and held by no process (as a tracker that died leaves it)"
                                 : "; no git process is running here"),
          dry_run   ? "would remove it"
          : removed ? "removed"
                    : "could not remove it",
          removed);
  }

  if (!s_.commits()) return report;
  GitRepo& repo = s_.git();

  // Git index updates that a crash or a held index.lock left unfinished.
  IndexRepair pending = repo.finish_index_updates(dry_run);
  for (const auto& p : pending.updated)
    found("pending-index", p, "the git index was left behind a commit",
          dry_run ? "would update it to HEAD" : "updated to HEAD", !dry_run);
  for (const auto& w : pending.warnings) report.warnings.push_back(w);

  // The git index behind HEAD for the board, however it got there.
  std::string dir = s_.ws.stories_root().lexically_relative(repo.work_tree()).generic_string();
  IndexRepair behind = repo.repair_index(dir, dry_run);
  for (const auto& p : behind.updated)
    found("git-index", p, "the git index holds another version while the file is HEAD's (git status shows it reverted)",
          dry_run ? "would update it to HEAD" : "updated to HEAD", !dry_run);
  for (const auto& w : behind.warnings) report.warnings.push_back(w);

  // With a remote: a lease that holds no readable claim blocks its story for ever.
  if (Remote* r = s_.remote()) {
    try {
      for (const RemoteLease& lease : r->read_all()) {
        if (lease.readable) continue;
        bool removed = !dry_run && r->push_lease(lease.claim.id, "", lease.sha) == LeasePush::done;
        found("lease", Remote::claim_ref(lease.claim.id),
              "on the remote '" + r->settings().name + "', object " + lease.sha.substr(0, 12) +
                  " holds no readable claim.yml",
              dry_run ? "would delete it" : removed ? "deleted" : "could not delete it (it changed meanwhile)", removed);
      }
    } catch (const RemoteUnavailableError& e) {
      report.warnings.push_back(std::string(e.what()) + "; its leases were not checked");
    }
  }

  // Moves that were never committed: the file is in another stage than in HEAD,
  // with nothing else changed but the retry count a move resets.
  std::vector<StoryDiff> moves;
  for (auto& d : all_.history.working_changes()) {
    bool only_retry =
        std::all_of(d.fields.begin(), d.fields.end(), [](const FieldChange& f) { return f.key == "retry_count"; });
    if (d.change == "moved" && only_retry && !d.body_changed) moves.push_back(std::move(d));
  }
  if (moves.empty()) return report;
  std::vector<std::string> parts, paths;
  std::vector<std::pair<std::string, std::string>> trailers = {{"Tracker-Action", "move"}};
  for (const auto& m : moves) {
    parts.push_back("#" + std::to_string(m.id) + " " + m.from + " -> " + m.to);
    trailers.emplace_back("Tracker-Story", std::to_string(m.id));
    paths.insert(paths.end(), m.paths.begin(), m.paths.end());
  }
  for (const auto& m : moves) trailers.emplace_back("Tracker-From", m.from);
  if (!dry_run) {
    s_.prepare_commit();
    report.commit = s_.in_transaction([&](FileTransaction&, std::vector<std::string>& touched) {
      touched = paths;
      s_.shadow->update_files(paths);
      return s_.commit("tracker: move " + join(parts, ", ") + " (finished by doctor)", trailers, paths);
    });
  }
  for (const auto& m : moves)
    found("uncommitted-move", m.paths.back(), "moved from " + m.from + " to " + m.to + " on disk but not in HEAD",
          dry_run ? "would commit the move" : "committed", !dry_run);

  return report;
}

}  // namespace tracker
