#include "catalogue.hpp"
#include "output.hpp"
#include "views.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct SetOptions {
  std::int64_t id = 0;
  std::vector<std::string> args;  ///< key=value (set) or key (unset)
  bool keep_file_name = false;
};

int print_set(const SetResult& r, const GlobalOptions& g) {
  if (g.json) {
    print_json(set_json(r));
    return 0;
  }
  if (r.changed)
    std::cout << "#" << r.id << ": " << join(r.changes, ", ") << "\n";
  else
    std::cout << "#" << r.id << ": nothing to change\n";
  for (const auto& c : r.claims_ended) std::cout << "ended " << c.owner << "'s claim on #" << c.id << "\n";
  if (!r.forced_by.empty()) std::cout << "forced by " << r.forced_by << " (recorded as Tracker-Forced-By)\n";
  return 0;
}

}  // namespace

Command register_set(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<SetOptions>();
  const auto& op = catalogue::operation("set");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "fields", opts->args);
  catalogue::add_param(sub, op, "keep_file_name", opts->keep_file_name);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", g.force);
  return {sub, [opts, &g] {
            std::vector<FieldEdit> edits;
            for (const auto& a : opts->args) {
              auto eq = a.find('=');
              if (eq == std::string::npos || eq == 0)
                throw UsageError("'" + a + "' is not key=value (to remove a key: tracker unset " +
                                 std::to_string(opts->id) + " " + a + ")");
              edits.push_back({a.substr(0, eq), a.substr(eq + 1)});
            }
            return print_set(open_tracker(g)->set_fields(opts->id, edits, opts->keep_file_name, force_of(g)), g);
          }};
}

Command register_unset(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<SetOptions>();
  const auto& op = catalogue::operation("unset");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "keys", opts->args);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "force", g.force);
  return {sub, [opts, &g] {
            std::vector<FieldEdit> edits;
            for (const auto& key : opts->args) {
              if (key.find('=') != std::string::npos)
                throw UsageError("unset takes key names, not '" + key + "' (to change a value: tracker set)");
              edits.push_back({key, std::nullopt});
            }
            return print_set(open_tracker(g)->set_fields(opts->id, edits, opts->keep_file_name, force_of(g)), g);
          }};
}

}  // namespace tracker::cli
