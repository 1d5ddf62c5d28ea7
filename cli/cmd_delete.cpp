// tracker delete and tracker archive: stories leave the board, in one commit.
#include "catalogue.hpp"
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
  const auto& op = catalogue::operation("delete");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  sub->alias("rm");
  catalogue::add_param(sub, op, "ids", opts->ids);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", opts->force);
  return {sub, [opts, &g] { return run_delete(*opts, g); }};
}

Command register_archive(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ArchiveOptions>();
  const auto& op = catalogue::operation("archive");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "ids", opts->ids);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", g.force);
  return {sub, [opts, &g] { return run_archive(*opts, g); }};
}

}  // namespace tracker::cli
