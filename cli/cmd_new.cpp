#include "output.hpp"

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
  std::optional<std::string> body;
  std::optional<std::string> body_file;
  std::optional<std::string> key;
};

int run_new(const NewOptions& opts, const GlobalOptions& g) {
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
  NewStoryResult r = tracker->create(request);
  if (g.json)
    print_json({{"id", r.id}, {"path", r.path}, {"created", r.created}, {"commit", string_or_null(r.commit)}});
  else
    std::cout << r.id << "\n";
  return 0;
}

}  // namespace

Command register_new(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<NewOptions>();
  CLI::App* sub = app.add_subcommand("new", "Create a story and print its id");
  sub->add_option("name", opts->name, "The story's name")->required();
  sub->add_option("--type", opts->type, "story, bug, spike, refactor or a type from the config")->capture_default_str();
  sub->add_option("--stage", opts->stage, "Stage to create it in (default: the ready stage)");
  sub->add_option("--priority", opts->priority, "Priority: higher is more urgent");
  sub->add_option("--label", opts->labels, "A label (repeatable, or comma-separated)");
  sub->add_option("--depends-on", opts->depends_on, "Id of a story this one waits for (repeatable)");
  auto* body = sub->add_option("--body", opts->body, "The story's markdown body");
  auto* body_file = sub->add_option("--body-file", opts->body_file, "Read the body from a file ('-': stdin)");
  body->excludes(body_file);
  sub->add_option("--key", opts->key, "Idempotency key: the same key again prints the first id");
  return {sub, [opts, &g] { return run_new(*opts, g); }};
}

}  // namespace tracker::cli
