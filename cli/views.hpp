// What the commands and the MCP tools share: the JSON shape of each result (CLI.md),
// the filters of `list`, the ranges of `diff`. One definition, so that an agent
// over MCP and a script over --json read the same fields.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tracker/tracker.hpp>

namespace tracker::cli {

/// The filters of `list` (CLI.md), as the command line and the MCP tool give them.
struct ListFilter {
  std::vector<std::string> stages;
  std::optional<std::string> type;
  std::optional<std::string> label;
  std::optional<std::string> agent;
  bool blocked = false;
  std::optional<std::int64_t> parent;
  bool ready = false;
  bool claimed = false;
  std::string sort = "stage";  ///< stage, priority, id or updated
  std::optional<std::int64_t> limit;
  bool open = false;
  bool reverse = false;
  std::vector<std::string> where;  ///< key=value
};

/// Visits the stories `filter` selects, in its order, at most its limit, one at a
/// time (a 100,000-story board is never all in memory unless `reverse` asks for the
/// end first). `claims` are the live claims (for `claimed` and `ready`). With
/// `summary_only`, only what a table shows is read (unless `where` needs more).
/// UsageError for a malformed `where`, or an unknown stage.
void each_listed(Tracker& tracker, const ListFilter& filter, const std::map<std::int64_t, Claim>& claims,
                 bool summary_only, const std::function<void(Story&&)>& visit);

/// The changes `diff` shows for `range` (CLI.md): none is HEAD against the working
/// tree; `<rev>` against the working tree; `<a>..<b>`; `<a>...<b>` from the merge base.
std::vector<StoryDiff> diff_range(Tracker& tracker, const std::optional<std::string>& range);

/// A JSON object of front matter keys as `set` edits (the MCP tool and the web
/// board): a string as it is, a list as a comma list, null removes the key, any
/// other value as its JSON text (3, true).
std::vector<FieldEdit> field_edits(const nlohmann::ordered_json& fields);

/// The request of `new` from its arguments as the MCP tool and the web API take
/// them (checked against the catalogue's schema already).
NewStoryRequest new_story_request(const nlohmann::ordered_json& args);

/// One story of `tree` as JSON: id, name, type, stage, depth, parent, progress.
nlohmann::ordered_json tree_node_json(const TreeNode& n);

/// One story's change as JSON: what done, release, reclaim (each entry) print.
nlohmann::ordered_json change_json(const StoryChange& c);
/// What block and unblock print.
nlohmann::ordered_json block_json(const StoryChange& c);
nlohmann::ordered_json move_json(const MoveResult& r);
nlohmann::ordered_json set_json(const SetResult& r);
nlohmann::ordered_json link_json(const LinkResult& r);
nlohmann::ordered_json new_json(const NewStoryResult& r);
nlohmann::ordered_json renew_json(const Claim& c);
nlohmann::ordered_json log_entry_json(const LogEntry& e);
nlohmann::ordered_json stats_json(const BoardStats& st);
/// {"id", "name", "stage", "priority", "why", "reasons": [{"kind", "id", "stage"} |
/// {"kind": "blocked", "reason"} | {"kind": "claimed", "owner", "until"}]}
nlohmann::ordered_json not_ready_json(const NotReady& n);
/// What `flow --json` prints (docs/flow.md).
nlohmann::ordered_json flow_json(const FlowReport& r);

}  // namespace tracker::cli
