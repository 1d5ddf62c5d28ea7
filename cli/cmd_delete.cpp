// tracker delete and tracker archive: stories leave the board, in one commit.
#include "output.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct DeleteOptions {
  std::vector<std::int64_t> ids;
  bool force = false;
};

int run_delete(const DeleteOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  DeleteResult r = tracker->remove(opts.ids, opts.force);
  if (g.json) {
    auto deleted = nlohmann::ordered_json::array();
    for (const auto& d : r.deleted)
      deleted.push_back({{"id", d.id}, {"name", d.name}, {"from", d.stage}, {"path", d.path}});
    auto ended = nlohmann::ordered_json::array();
    for (const auto& c : r.claims_ended) ended.push_back({{"id", c.id}, {"owner", c.owner}});
    print_json({{"deleted", deleted},
                {"claims_ended", ended},
                {"forced_by", string_or_null(r.forced_by)},
                {"commit", string_or_null(r.commit)}});
    return 0;
  }
  for (const auto& d : r.deleted) std::cout << "deleted #" << d.id << " " << d.name << " (was in " << d.stage << ")\n";
  for (const auto& c : r.claims_ended) std::cout << "ended " << c.owner << "'s claim on #" << c.id << "\n";
  if (!r.forced_by.empty()) std::cout << "forced by " << r.forced_by << " (recorded as Tracker-Forced-By)\n";
  return 0;
}

struct ArchiveOptions {
  std::vector<std::int64_t> ids;
};

int run_archive(const ArchiveOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  const Stage& stage = tracker->archive_stage();
  return print_move_result(tracker->move(opts.ids, stage.name, force_of(g)), stage.name, "archived", g);
}

}  // namespace

Command register_delete(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<DeleteOptions>();
  CLI::App* sub = app.add_subcommand("delete", "Delete stories (one commit); their ids are never given out again");
  sub->alias("rm");
  sub->add_option("ids", opts->ids, "Story ids")->required()->transform(story_id());
  sub->add_option("--owner", g.owner, "Act as this owner (default: TRACKER_OWNER, else git's user.email)");
  sub->add_flag("--force", opts->force,
                "Delete even a story another owner has claimed (recorded as Tracker-Forced-By), or one others depend on");
  return {sub, [opts, &g] { return run_delete(*opts, g); }};
}

Command register_archive(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ArchiveOptions>();
  CLI::App* sub = app.add_subcommand("archive", "Move stories to the archive stage (one commit)");
  sub->add_option("ids", opts->ids, "Story ids")->required()->transform(story_id());
  add_identity_options(sub, g, "Archive a story another owner has claimed");
  return {sub, [opts, &g] { return run_archive(*opts, g); }};
}

}  // namespace tracker::cli
