#include "catalogue.hpp"
#include "output.hpp"

#include <iostream>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct RenumberOptions {
  std::int64_t id = 0;
  std::optional<std::string> path;
  std::vector<std::int64_t> refs;
};

int run_renumber(const RenumberOptions& opts, const GlobalOptions& g) {
  RenumberResult r = open_tracker(g)->renumber(opts.id, opts.path, opts.refs);
  auto keys_of = [&](std::int64_t id) {
    auto it = r.keys.find(id);
    return it == r.keys.end() ? std::vector<std::string>{"depends_on"} : it->second;
  };
  // "depends on #7 and is part of #7": what each key that named the story says.
  auto says = [&](std::int64_t id, std::int64_t target) {
    std::vector<std::string> parts;
    for (const auto& key : keys_of(id))
      parts.push_back((key == "depends_on" ? "depends on #" : key == "parent" ? "is part of #" : "is related to #") +
                      std::to_string(target));
    return join(parts, " and ");
  };
  for (auto id : r.ambiguous) {
    std::vector<std::string> fixes;
    for (const auto& key : keys_of(id)) {
      std::string i = std::to_string(id), was = std::to_string(r.old_id), now = std::to_string(r.new_id);
      if (key == "depends_on") fixes.push_back("tracker unlink " + i + " " + was + " && tracker link " + i + " " + now);
      if (key == "parent") fixes.push_back("tracker set " + i + " parent=" + now);
      if (key == "related") fixes.push_back("tracker edit " + i + " (related)");
    }
    std::cerr << "tracker: #" << id << " " << says(id, r.old_id) << ", which may have meant either copy; if it meant "
              << r.to_path << ": " << join(fixes, "; ") << "\n";
  }
  if (g.json) {
    print_json({{"old_id", r.old_id},
                {"new_id", r.new_id},
                {"from", r.from_path},
                {"to", r.to_path},
                {"rewritten", r.rewritten},
                {"ambiguous", r.ambiguous},
                {"keys", [&] {
                   auto out = nlohmann::ordered_json::object();
                   for (const auto& [id, keys] : r.keys) out[std::to_string(id)] = keys;
                   return out;
                 }()},
                {"commit", string_or_null(r.commit)}});
    return 0;
  }
  std::cout << "renumbered #" << r.old_id << " -> #" << r.new_id << ": " << r.to_path << "\n";
  for (auto id : r.rewritten) std::cout << "#" << id << " now " << says(id, r.new_id) << "\n";
  return 0;
}

}  // namespace

Command register_renumber(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<RenumberOptions>();
  const auto& op = catalogue::operation("renumber");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "path", opts->path);
  catalogue::add_param(sub, op, "refs", opts->refs)->delimiter(',');
  return {sub, [opts, &g] { return run_renumber(*opts, g); }};
}

}  // namespace tracker::cli
