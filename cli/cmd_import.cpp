// tracker import <format> <path>...: another tracker's backlog in one commit.
// tracker export --format jsonl|csv|backlog-md [--out PATH]: the board out again.
#include "catalogue.hpp"
#include "output.hpp"

#include <tracker/error.hpp>
#include <tracker/fs.hpp>
#include <tracker/import.hpp>
#include <tracker/util.hpp>

#include <cstdio>

namespace tracker::cli {

namespace {

using OJson = nlohmann::ordered_json;

struct ImportOptions {
  std::string format;
  std::vector<std::string> paths;
  std::vector<std::string> map, map_type;
  std::string repo;
  bool dry_run = false;
  bool force = false;
};

/// "STATUS=STAGE" words as a map; UsageError naming the option for another word.
std::map<std::string, std::string> pairs(const std::vector<std::string>& words, const std::string& option,
                                         const std::string& form) {
  std::map<std::string, std::string> out;
  for (const auto& w : words) {
    auto eq = w.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == w.size())
      throw UsageError(option + " takes " + form + ", got '" + w + "'");
    out[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return out;
}

OJson imported_json(const ImportedStory& s) {
  OJson j = {{"id", s.id ? OJson(s.id) : OJson(nullptr)}, {"source", s.source}, {"name", s.name},
             {"stage", s.stage}, {"type", s.type}, {"path", s.path}};
  if (!s.changed.empty()) j["changed"] = s.changed;
  return j;
}

int run_import(const ImportOptions& opts, const GlobalOptions& g) {
  ImportRequest request;
  request.format = parse_import_format(opts.format);
  for (const auto& p : opts.paths) request.paths.emplace_back(p);
  request.status_map = pairs(opts.map, "--map", "STATUS=STAGE");
  request.type_map = pairs(opts.map_type, "--map-type", "TYPE=TYPE");
  request.repo = opts.repo;
  request.dry_run = opts.dry_run;
  request.force = opts.force;
  auto tracker = open_tracker(g);
  ImportResult r = tracker->import_stories(request);
  if (g.json) {
    OJson out = {{"format", r.format}, {"source", r.source}, {"dry_run", r.dry_run}};
    out["created"] = OJson::array();
    for (const auto& s : r.created) out["created"].push_back(imported_json(s));
    out["updated"] = OJson::array();
    for (const auto& s : r.updated) out["updated"].push_back(imported_json(s));
    out["unchanged"] = r.unchanged;
    out["statuses"] = r.statuses;
    out["types"] = r.types;
    out["types_added"] = r.types_added;
    out["missing_links"] = r.missing_links;
    out["skipped"] = r.skipped;
    out["problems"] = r.problems;
    out["commit"] = r.commit.empty() ? OJson(nullptr) : OJson(r.commit);
    print_json(out);
    return r.problems.empty() ? 0 : static_cast<int>(ExitCode::invalid_data);
  }
  Style style = make_style(g);
  std::string out;
  if (r.dry_run) {
    out += "Statuses:\n";
    for (const auto& [status, stage] : r.statuses) out += "  " + status + " -> " + stage + "\n";
    out += "Types:\n";
    for (const auto& [from, to] : r.types) {
      bool added = std::find(r.types_added.begin(), r.types_added.end(), to) != r.types_added.end();
      out += "  " + from + " -> " + to + (added ? " (added to .tracker/config.yml)" : "") + "\n";
    }
    for (const auto& s : r.created)
      out += paint(style, "+ ", "32") + s.source + " -> " + s.stage + " " + s.type + " " + s.name + "\n";
    for (const auto& s : r.updated)
      out += paint(style, "~ ", "33") + s.source + " -> #" + std::to_string(s.id) + " (" + join(s.changed, ", ") + ")\n";
  }
  for (const auto& m : r.missing_links) print_warning(g, m);
  for (const auto& s : r.skipped) out += "skipped " + s + "\n";
  std::string verb = r.dry_run ? "would create " : "created ";
  out += verb + std::to_string(r.created.size()) + ", " + (r.dry_run ? "would update " : "updated ") +
         std::to_string(r.updated.size()) + ", unchanged " + std::to_string(r.unchanged) + " (from " + r.format + " " +
         r.source + ")";
  if (!r.commit.empty()) out += " in " + r.commit.substr(0, 7);
  out += "\n";
  if (!r.types_added.empty()) out += "types added to .tracker/config.yml: " + join(r.types_added, ", ") + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  for (const auto& p : r.problems) std::fprintf(stderr, "tracker: %s\n", p.c_str());
  if (!r.problems.empty()) {
    std::fprintf(stderr, "tracker: %zu problem%s: nothing can be imported until every record maps\n", r.problems.size(),
                 r.problems.size() == 1 ? "" : "s");
    return static_cast<int>(ExitCode::invalid_data);
  }
  return 0;
}

struct ExportOptions {
  std::string format = "jsonl";
  std::string out;
};

int run_export(const ExportOptions& opts, const GlobalOptions& g) {
  ExportFormat format = parse_export_format(opts.format);
  auto tracker = open_tracker(g);
  ListQuery query;
  query.sort = SortKey::id;
  std::vector<Story> stories;
  for (const auto& brief : tracker->list(query)) {
    try {
      stories.push_back(tracker->show(brief.id));
    } catch (const InvalidDataError& e) {
      print_warning(g, "#" + std::to_string(brief.id) + " is left out: " + e.what());
    }
  }
  const Config& config = tracker->workspace().config();
  if (format == ExportFormat::backlog_md) {
    if (opts.out.empty()) throw UsageError("export --format backlog-md writes a directory: name it with --out DIR");
    fs::path dir(opts.out);
    if (fs::exists(dir) && !fs::is_directory(dir)) throw UsageError(opts.out + " is not a directory");
    if (fs::exists(dir / "tasks") || fs::exists(dir / "config.yml"))
      throw UsageError(opts.out + " already holds a Backlog.md board; export to a new directory");
    auto files = export_backlog_md(stories, config.stage_names(), config.done_stages, config.claim_move_to,
                                   tracker->archive_stage().name);
    for (const auto& [rel, text] : files) {
      fs::create_directories((dir / rel).parent_path());
      write_file_atomic(dir / rel, text);
    }
    if (!g.json) std::printf("exported %zu stories to %s\n", stories.size(), opts.out.c_str());
    return 0;
  }
  std::string text = format == ExportFormat::csv ? export_csv(stories)
                                                 : export_jsonl(stories, config.ready_stages, config.done_stages);
  if (opts.out.empty() || opts.out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }
  write_file_atomic(opts.out, text);
  std::fprintf(stderr, "exported %zu stories to %s\n", stories.size(), opts.out.c_str());
  return 0;
}

}  // namespace

Command register_import(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ImportOptions>();
  const auto& op = catalogue::operation("import");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "format", opts->format);
  catalogue::add_param(sub, op, "paths", opts->paths);
  catalogue::add_param(sub, op, "map", opts->map);
  catalogue::add_param(sub, op, "map_type", opts->map_type);
  catalogue::add_param(sub, op, "repo", opts->repo);
  catalogue::add_param(sub, op, "dry_run", opts->dry_run);
  catalogue::add_param(sub, op, "force", opts->force);
  return {sub, [opts, &g] { return run_import(*opts, g); }};
}

Command register_export(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ExportOptions>();
  const auto& op = catalogue::operation("export");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "format", opts->format);
  catalogue::add_param(sub, op, "out", opts->out);
  return {sub, [opts, &g] { return run_export(*opts, g); }};
}

}  // namespace tracker::cli
