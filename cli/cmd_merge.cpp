// tracker merge-file: git's merge driver for story files (docs/remote.md).
#include "catalogue.hpp"
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
  // git's %O %A %B %P, and from git 2.44 on %S %X %Y: the sides' labels, which
  // name each side's path ("HEAD:work/…") when the paths differ. An older git
  // passes the placeholders as they are.
  if (opts.files.size() < 3 || opts.files.size() > 7)
    throw UsageError("merge-file takes <base> <ours> <theirs> [<path> [<base-label> <ours-label> <theirs-label>]], "
                     "as git's %O %A %B %P %S %X %Y");
  auto read_side = [](const std::string& file) {
    auto text = read_file_if_exists(file);
    if (!text) throw UsageError("merge-file: cannot read '" + file + "'");
    return *text;
  };
  std::string base = read_side(opts.files[0]), ours = read_side(opts.files[1]), theirs = read_side(opts.files[2]);
  std::string shown = opts.files.size() >= 4 ? opts.files[3] : opts.files[1];
  Story where;
  std::optional<std::int64_t> result_id;
  if (opts.files.size() >= 4) {
    // The story's name falls back on its file name's slug.
    std::string name = fs::path(opts.files[3]).filename().string();
    if (auto parsed = parse_story_file_name(name, Config::defaults().types)) {
      where.id = parsed->id;
      where.type = parsed->type;
      where.slug = parsed->slug;
      result_id = parsed->id;
    }
    where.path = opts.files[3];
  }
  // git pairs files by its rename detection, which can pair two similar stories:
  // the ids of every side that can be found must agree before anything merges.
  if (result_id) {
    fs::path root = g.dir.empty() ? fs::current_path() : fs::path(g.dir);
    MergeSides sides = locate_merge_sides(root, base, ours, theirs);
    for (std::size_t i = 4; i < opts.files.size(); ++i) {
      const std::string& label = opts.files[i];
      auto colon = label.find(':');
      if (label.starts_with("%") || colon == std::string::npos) continue;
      auto parsed = parse_story_file_name(fs::path(label.substr(colon + 1)).filename().string(), Config::defaults().types);
      if (!parsed) continue;
      (i == 4 ? sides.base : i == 5 ? sides.ours : sides.theirs) = {parsed->id};
    }
    if (auto mismatch = merge_sides_mismatch(sides, result_id)) {
      auto tag = [](const std::set<std::int64_t>& ids) {
        return ids.empty() ? std::string() : " (#" + std::to_string(*ids.begin()) + ")";
      };
      auto ended = [](std::string text) {
        if (!text.empty() && !text.ends_with('\n')) text += '\n';
        return text;
      };
      // Nothing merged: both whole files between markers, so that the conflict
      // cannot pass unseen (check reports the file as malformed until it is resolved).
      write_file_atomic(opts.files[1], "<<<<<<< ours" + tag(sides.ours) + "\n" + ended(ours) + "=======\n" +
                                           ended(theirs) + ">>>>>>> theirs" + tag(sides.theirs) + "\n");
      std::cerr << "tracker merge-file: " << shown << ": " << *mismatch
                << ": not merged; keep one side (git checkout --ours or --theirs), then git add it\n";
      return 1;
    }
  }
  StoryFileMerge merged = merge_story_file(where, base, ours, theirs, StoryLimits{},
                                          [](auto b, auto o, auto t) { return git_line_merge(b, o, t); });
  // Sides that disagree on line endings: the result takes the majority's.
  write_file_atomic(opts.files[1], normalize_line_endings(merged.text, {base, ours, theirs}));  // git takes %A
  if (merged.conflicts > 0) {
    std::cerr << "tracker merge-file: " << merged.conflicts << " conflict" << (merged.conflicts == 1 ? "" : "s") << " in "
              << shown << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

Command register_merge_file(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<MergeOptions>();
  const auto& op = catalogue::operation("merge-file");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "files", opts->files);
  catalogue::add_param(sub, op, "install", opts->install);
  return {sub, [opts, &g] { return run_merge(*opts, g); }};
}

}  // namespace tracker::cli
