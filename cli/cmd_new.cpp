#include "catalogue.hpp"
#include "editor.hpp"
#include "output.hpp"
#include "views.hpp"

#include <unistd.h>
#include <iostream>
#include <iterator>
#include <tracker/fs.hpp>
#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

struct NewOptions {
  std::vector<std::string> name;
  std::string type = "story";
  std::string stage;
  std::optional<std::int64_t> priority;
  std::vector<std::string> labels;
  std::vector<std::int64_t> depends_on;
  std::optional<std::int64_t> parent;
  std::optional<std::string> body;
  std::optional<std::string> body_file;
  std::optional<std::string> key;
  bool edit = false;
};

/// The first line of the template `new --edit` opens; taken out again on save.
std::string template_comment(const std::string& type, const std::string& stage) {
  return "# A new " + type + " in " + stage +
         ": fill in the name, save and quit to create it; empty the text to abort.\n";
}

/// The text `new --edit` opens: the story `request` would create, name and all.
std::string story_template(const NewStoryRequest& request, const std::string& stage) {
  NewStory story{request.name.empty() ? "x" : request.name, request.priority, request.labels, request.depends_on,
                 utc_now_iso8601(), request.body, request.parent};
  std::string text = render_story(story);
  if (request.name.empty()) text.replace(text.find("name: x\n"), 8, "name: \n");  // to be filled in
  if (request.body.empty()) text += "\n";  // the body goes after a blank line
  return "---\n" + template_comment(request.type, stage) + text.substr(4);
}

/// Creates the story from a text written in the editor: `tracker new --edit`.
/// Nothing is created unless the saved text reads as a story; a text that cannot
/// be used is kept in rejected/, as edit does.
NewStoryResult create_in_editor(Tracker& tracker, NewStoryRequest request) {
  request.text = "";  // check only the type and the stage: the name comes from the text
  const Stage& stage = tracker.check_new(request);
  for (auto dep : request.depends_on) tracker.read_whole(dep);  // an unknown id: exit 4 before any typing
  if (request.parent) tracker.read_whole(*request.parent);
  const std::string tmpl = story_template(request, stage.name);
  const std::string comment = "---\n" + template_comment(request.type, stage.name);

  EditScratch scratch(tracker.workspace().local_state_dir());
  fs::path copy = scratch.file("new.md");
  const std::string command = editor_command();
  const bool interactive = ::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO);
  std::string start = tmpl;
  while (true) {
    write_file_atomic(copy, start);
    int status = run_editor(command, copy);
    std::string edited = read_file(copy);
    if (status != 0) {
      std::string saved = edited == start ? "" : "; your text is saved at " + tracker.save_rejected("new", edited).string();
      throw Error(ExitCode::error, "the editor (" + command + ") exited with status " + std::to_string(status) +
                                       "; no story was created" + saved);
    }
    std::string text = edited;
    if (text.starts_with(comment)) text.erase(4, comment.size() - 4);
    while (text.ends_with("\n\n")) text.pop_back();  // an empty body leaves no blank lines behind
    if (trim(text).empty()) throw Error(ExitCode::error, "the text was emptied, so no story was created");
    // Judged as the editor shows it, so that line numbers match; the comment is a
    // YAML comment and changes nothing else.
    std::vector<StoryProblem> problems = tracker.validate_new(edited);
    if (problems.empty()) {
      request.text = text;
      try {
        return tracker.create(request);
      } catch (const Error& e) {  // a dependency deleted meanwhile, a refusing hook: keep the text
        throw Error(e.code(), std::string(e.what()) + "; your text is saved at " +
                                  tracker.save_rejected("new", edited).string());
      }
    }
    if (edited == tmpl)  // saved as it was opened, without a name: as git does with an empty message
      throw Error(ExitCode::error, "the template was saved unchanged, so no story was created");
    std::string report = describe_problems("new " + request.type, problems);
    if (!interactive) {
      fs::path saved = tracker.save_rejected("new", edited);
      std::string first = report.substr(0, report.find('\n'));
      std::string more = problems.size() > 1 ? " (and " + std::to_string(problems.size() - 1) + " more)" : "";
      throw InvalidDataError(first + more + "; no story was created, your text is saved at " + saved.string());
    }
    std::cerr << report << "\n";
    // As at edit's prompt: keep sets the text aside, abort throws it away.
    char choice = ask_choice("[e]dit again, [k]eep your text aside, or [a]bort and discard it (q)?",
                             {{'e', "edit", "to edit again"}, {'k', "keep", "to keep"}, {'a', "abort", "to abort"}});
    if (choice == 'e') {
      start = edited;
      continue;
    }
    if (choice == 'k')
      throw InvalidDataError("no story was created; your text is saved at " +
                             tracker.save_rejected("new", edited).string());
    throw Error(ExitCode::error, "aborted: no story was created and your text is discarded");
  }
}

int run_new(const NewOptions& opts, const GlobalOptions& g) {
  if (opts.name.empty() && !opts.edit)
    throw UsageError("name is required: tracker new <name>, or tracker new --edit to write the story in an editor");
  auto tracker = open_tracker(g);
  NewStoryRequest request;
  request.name = join(opts.name, " ");
  request.type = opts.type;
  if (!opts.stage.empty()) request.stage = opts.stage;
  request.priority = opts.priority;
  for (const auto& l : opts.labels)
    for (auto& part : split(l, ','))
      if (!trim(part).empty()) request.labels.emplace_back(trim(part));
  request.depends_on = opts.depends_on;
  request.parent = opts.parent;
  if (opts.body) request.body = *opts.body;
  if (opts.body_file) {
    // Read no more than a story may hold, so /dev/zero or a huge file fails at once.
    std::size_t limit = tracker->workspace().config().story_limits.max_bytes;
    if (*opts.body_file == "-")
      request.body = read_stream(std::cin, limit);
    else if (auto text = read_file_if_exists(*opts.body_file, limit))
      request.body = std::move(*text);
    else
      throw UsageError("cannot read --body-file '" + *opts.body_file + "': no such file");
    if (request.body.size() > limit)
      throw UsageError("--body-file '" + *opts.body_file + "' is larger than " + std::to_string(limit) +
                       " bytes, the most a story file may hold (limits.story_bytes in .tracker/config.yml)");
  }
  request.key = opts.key;
  NewStoryResult r = opts.edit ? create_in_editor(*tracker, std::move(request)) : tracker->create(request);
  if (g.json)
    print_json(new_json(r));
  else
    std::cout << r.id << "\n";
  return 0;
}

}  // namespace

Command register_new(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<NewOptions>();
  const auto& op = catalogue::operation("new");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  // With --edit, the name may be given in the editor instead.
  catalogue::add_param(sub, op, "name", opts->name)->required(false);
  catalogue::add_param(sub, op, "type", opts->type);
  catalogue::add_param(sub, op, "stage", opts->stage);
  catalogue::add_param(sub, op, "priority", opts->priority);
  catalogue::add_param(sub, op, "labels", opts->labels);
  catalogue::add_param(sub, op, "depends_on", opts->depends_on);
  catalogue::add_param(sub, op, "parent", opts->parent);
  auto* body = catalogue::add_param(sub, op, "body", opts->body);
  auto* body_file = catalogue::add_param(sub, op, "body_file", opts->body_file);
  body->excludes(body_file);
  auto* key = catalogue::add_param(sub, op, "key", opts->key);
  catalogue::add_param(sub, op, "edit", opts->edit)->excludes(key);

  return {sub, [opts, &g] { return run_new(*opts, g); }};
}

}  // namespace tracker::cli
