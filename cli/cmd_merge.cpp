// tracker merge-file: git's merge driver for story files (docs/remote.md).
#include "output.hpp"

#include <tracker/fs.hpp>
#include <tracker/remote.hpp>
#include <tracker/story.hpp>
#include <tracker/util.hpp>

#include <iostream>

namespace tracker::cli {

namespace {

struct MergeOptions {
  std::vector<std::string> files;  ///< base, ours, theirs [, path]
  bool install = false;
};

int run_merge(const MergeOptions& opts, const GlobalOptions& g) {
  if (opts.install) {
    if (!opts.files.empty()) throw UsageError("merge-file --install takes no files");
    fs::path root = g.dir.empty() ? fs::current_path() : fs::path(g.dir);
    install_merge_driver(root);
    std::cout << "git merges story files with 'tracker merge-file' in this clone (merge.tracker.driver); "
                 ".gitattributes says which files: <stories_dir>/** merge=tracker\n";
    return 0;
  }
  if (opts.files.size() < 3 || opts.files.size() > 4)
    throw UsageError("merge-file takes <base> <ours> <theirs> [<path>], as git's %O %A %B %P");
  auto read_side = [](const std::string& file) {
    auto text = read_file_if_exists(file);
    if (!text) throw UsageError("merge-file: cannot read '" + file + "'");
    return *text;
  };
  std::string base = read_side(opts.files[0]), ours = read_side(opts.files[1]), theirs = read_side(opts.files[2]);
  Story where;
  if (opts.files.size() == 4) {
    // The story's name falls back on its file name's slug.
    std::string name = fs::path(opts.files[3]).filename().string();
    if (auto parsed = parse_story_file_name(name, Config::defaults().types)) {
      where.id = parsed->id;
      where.type = parsed->type;
      where.slug = parsed->slug;
    }
    where.path = opts.files[3];
  }
  StoryFileMerge merged = merge_story_file(where, base, ours, theirs, StoryLimits{},
                                          [](auto b, auto o, auto t) { return git_line_merge(b, o, t); });
  write_file_atomic(opts.files[1], merged.text);  // git takes the result from %A
  if (merged.conflicts > 0) {
    std::cerr << "tracker merge-file: " << merged.conflicts << " conflict" << (merged.conflicts == 1 ? "" : "s") << " in "
              << (opts.files.size() == 4 ? opts.files[3] : opts.files[1]) << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

Command register_merge_file(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<MergeOptions>();
  CLI::App* sub =
      app.add_subcommand("merge-file", "git's merge driver for story files: front matter field by field, body by lines");
  sub->add_option("files", opts->files, "<base> <ours> <theirs> [<path>]: git's %O %A %B %P; the result goes to <ours>");
  sub->add_flag("--install", opts->install, "Register the driver in this clone's git config (merge.tracker.driver)");
  return {sub, [opts, &g] { return run_merge(*opts, g); }};
}

}  // namespace tracker::cli
