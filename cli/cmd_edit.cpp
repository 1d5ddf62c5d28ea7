#include "editor.hpp"
#include "catalogue.hpp"
#include "output.hpp"

#include <tracker/fs.hpp>
#include <tracker/util.hpp>

#include <unistd.h>
#include <iostream>

namespace tracker::cli {

namespace {

struct EditOptions {
  std::int64_t id = 0;
  bool keep_file_name = false;
};

/// Asks what to do about an invalid edit; 'e', 'k' or 'a'.
char ask(const std::string& problems) {
  std::cerr << problems << "\n";
  return ask_choice("[e]dit again, [k]eep the story as it was and your text aside, or [a]bort and discard your text (q)?",
                    {{'e', "edit", "to edit again"}, {'k', "keep", "to keep"}, {'a', "abort", "to abort"}});
}

/// "  priority: yours 3, theirs 5" for each key both sides changed.
std::string describe(const std::vector<MergeConflict>& conflicts) {
  std::string out;
  for (const auto& c : conflicts) {
    if (c.key == "body" || c.key == "format")
      out += "  " + c.key + ": changed on both sides\n";
    else
      out += "  " + c.key + ": yours " + c.yours + ", theirs " + c.theirs + "\n";
  }
  return out;
}

/// After a conflicting change made meanwhile: 'e' (edit the merged text) or 'a'.
char ask_after_conflict() {
  return ask_choice("[e]dit again (their version with your changes in it, yours where both changed), or [a]bort (q)?",
                    {{'e', "edit", "to edit again"}, {'a', "abort", "to abort"}});
}

int run_edit(const EditOptions& opts, const GlobalOptions& g) {
  auto tracker = open_tracker(g);
  auto [story, original] = tracker->read_whole(opts.id);  // what the edit is measured against

  // The editor works on a copy with the story's own file name (for syntax
  // highlighting); the story file changes only once the text is valid.
  EditScratch scratch(tracker->workspace().local_state_dir());
  fs::path copy = scratch.file(fs::path(story.path).filename().string());
  std::string start = original;  // what the editor opens

  const std::string command = editor_command();
  bool interactive = ::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO);
  EditResult r;
  while (true) {
    write_file_atomic(copy, start);
    std::string edited;
    while (true) {
      int status = run_editor(command, copy);
      edited = read_file(copy);
      if (status != 0) {
        std::string saved =
            edited == start ? "" : "; your text is saved at " + tracker->save_rejected(opts.id, edited).string();
        throw Error(ExitCode::error, "the editor (" + command + ") exited with status " + std::to_string(status) +
                                         "; #" + std::to_string(opts.id) + " is unchanged" + saved);
      }
      if (trim(edited).empty())  // as git does with an empty commit message
        throw Error(ExitCode::error, "the text was emptied, so the edit is aborted; #" + std::to_string(opts.id) +
                                         " is unchanged");
      std::vector<StoryProblem> problems = tracker->validate_edit(opts.id, edited);
      if (problems.empty()) break;
      std::string report = describe_problems(story.path, problems);
      if (!interactive) {
        // One line: the first problem, how many more, and where the text went.
        fs::path saved = tracker->save_rejected(opts.id, edited);
        std::string first = report.substr(0, report.find('\n'));
        std::string more = problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : "";
        throw InvalidDataError(first + more + "; #" + std::to_string(opts.id) +
                               " is unchanged, your text is saved at " + saved.string());
      }
      // keep: the story as it was, the text kept aside for later; abort: the story
      // as it was and the text thrown away, as the user asked.
      char choice = ask(report);
      if (choice == 'e') continue;
      if (choice == 'k') {
        fs::path saved = tracker->save_rejected(opts.id, edited);
        std::cerr << "kept #" << opts.id << " as it was; your text is saved at " << saved.string() << "\n";
        return 0;
      }
      throw Error(ExitCode::error, "aborted: #" + std::to_string(opts.id) + " is unchanged and your text is discarded");
    }

    try {
      r = tracker->apply_edit(opts.id, original, edited, opts.keep_file_name);
      break;
    } catch (const EditConflictError& e) {
      // The story changed meanwhile in the same fields: nothing was written, and
      // neither side is dropped. The user decides, in the editor.
      fs::path saved = tracker->save_rejected(opts.id, edited);
      if (!interactive)
        throw ConflictError(std::string(e.what()) + "; #" + std::to_string(opts.id) +
                            " is unchanged, your text is saved at " + saved.string());
      std::cerr << e.what() << "\n" << describe(e.conflicts) << "your text is saved at " << saved.string() << "\n";
      if (ask_after_conflict() != 'e')
        throw ConflictError("aborted: #" + std::to_string(opts.id) + " is unchanged; your text is saved at " +
                            saved.string());
      original = e.current;
      start = e.proposal;
    } catch (const ConflictError& e) {
      fs::path saved = tracker->save_rejected(opts.id, edited);
      throw ConflictError(std::string(e.what()) + "; your text is saved at " + saved.string());
    }
  }
  if (g.json) {
    print_json({{"id", r.id},
                {"changed", r.changed},
                {"merged", r.merged},
                {"changes", r.changes},
                {"commit", string_or_null(r.commit)}});
  } else if (r.changed) {
    std::cout << "edited #" << r.id << " (" << join(r.changes, ", ") << ")"
              << (r.merged ? ", merged with the changes made while it was open" : "") << "\n";
  } else {
    std::cout << "#" << r.id << ": no change\n";
  }
  return 0;
}

}  // namespace

Command register_edit(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<EditOptions>();
  const auto& op = catalogue::operation("edit");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "id", opts->id);
  catalogue::add_param(sub, op, "keep_file_name", opts->keep_file_name);
  return {sub, [opts, &g] { return run_edit(*opts, g); }};
}

}  // namespace tracker::cli
