// Story value type, story file names, front matter parsing and minimal-diff updates.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include <tracker/config.hpp>
#include <tracker/error.hpp>

namespace tracker {

/// The parts of a story file name `<id>_<type>_<slug>.md`.
struct StoryFileName {
  std::int64_t id = 0;
  std::string type;
  std::string slug;
};

/// Parses a story file name. `42_story_add-login.md` gives {42, story, add-login}.
/// `42_add-login.md` gives {42, story, add-login} unless "add-login" is a known type.
/// Returns nullopt when the name does not start with an id or does not end in ".md".
std::optional<StoryFileName> parse_story_file_name(std::string_view file_name,
                                                   const std::vector<std::string>& known_types);

/// `<id>_<type>_<slug>.md`
std::string make_story_file_name(std::int64_t id, std::string_view type, std::string_view slug);

/// A problem in a story file; line 0 means the whole file.
struct StoryProblem {
  int line = 0;
  std::string message;
};

/// A front matter key tracker does not know, with its value as JSON text.
struct CustomField {
  std::string key;
  std::string json;  ///< "3", "\"text\"", "[1,2]", "{\"a\":true}", "null"
  bool operator==(const CustomField&) const = default;
};

/// A story: where it is and what its front matter and body say.
struct Story {
  std::int64_t id = 0;
  std::string type;
  std::string slug;
  std::string stage;  ///< stage name, e.g. "current"
  std::string path;   ///< relative to the workspace root, '/'-separated
  std::string name;
  std::optional<std::int64_t> priority;  ///< none when the file gives none (sorts as below any)
  std::vector<std::string> labels;
  std::vector<std::int64_t> depends_on;
  std::optional<std::int64_t> parent;  ///< the story this one is part of (an epic), when any
  std::string agent;  ///< empty when none
  bool blocked = false;
  std::int64_t retry_count = 0;
  std::string created;
  std::vector<CustomField> fields;  ///< every other key, in file order
  std::string body;
  std::vector<StoryProblem> warnings;  ///< values of the wrong type (the story is still usable)
  std::int64_t changed_ns = 0;  ///< when its file last changed (mtime), as the index saw it; 0 when not read from it
};

/// How a StoryParseError about a file that is not UTF-8 text begins (check calls
/// it an `encoding` problem).
inline constexpr const char* kNotUtf8 = "not valid UTF-8 text";

/// The value of front matter key `key` as JSON (also `id`, `type` and `stage`):
/// known keys as `show --json` gives them, other keys as written; null when absent.
nlohmann::ordered_json field_value(const Story& s, const std::string& key);

/// The text of a story file `text` with its body replaced by `body` (empty: no
/// body); the front matter stays byte for byte. Throws StoryParseError when a
/// front matter is opened and never closed.
std::string with_body(const std::string& text, const std::string& body);

/// The `blocked_reason` a story gives, "" when none (or not a string).
std::string blocked_reason(const Story& s);

/// Malformed front matter: the story cannot be read at all.
class StoryParseError : public InvalidDataError {
 public:
  StoryParseError(int line, const std::string& detail) : InvalidDataError(detail), line_(line), detail_(detail) {}
  int line() const { return line_; }
  const std::string& detail() const { return detail_; }

 private:
  int line_;
  std::string detail_;
};

/// Fills the front matter fields and body of `story` from a file's text. Accepts a
/// UTF-8 BOM, CRLF line endings and a file with no front matter (the name then comes
/// from the first "# " heading, else from the slug). Throws StoryParseError.
/// Past `limits` the file is malformed.
void parse_story_text(std::string_view text, Story& story, const StoryLimits& limits = {});

/// `text` read as the story `where` is (its id, type, slug, stage and path kept).
/// Throws StoryParseError.
Story reparse_story(const Story& where, std::string_view text, const StoryLimits& limits = {});

/// The largest story id: 15 digits, as many as a story file name holds, and below
/// 2^53, so JSON consumers read every id exactly.
inline constexpr std::int64_t kMaxStoryId = 999'999'999'999'999;

/// A story id written `7` or `#7`: decimal digits only (no sign, no `0x`), from 1 to
/// kMaxStoryId; nullopt for anything else.
std::optional<std::int64_t> parse_story_id(std::string_view text);

/// The story id a `depends_on` item names (`7` or `#7`, spaces around it allowed), or nullopt.
std::optional<std::int64_t> story_ref(std::string_view item);

/// The front matter keys tracker reads into a Story (and `set` suggests for a
/// typo): name, priority, labels, depends_on, parent, agent, retry_count, blocked,
/// created. Any other valid key is a custom one.
const std::vector<std::string>& known_keys();

/// Fields for a new story file.
struct NewStory {
  std::string name;
  std::optional<std::int64_t> priority;
  std::vector<std::string> labels;
  std::vector<std::int64_t> depends_on;
  std::string created;
  std::string body;
  std::optional<std::int64_t> parent;
};

/// Renders the text of a new story file.
std::string render_story(const NewStory& story);

/// Sets a top-level front matter key to `yaml_value` (already YAML text) by rewriting
/// only that key's line; every other byte stays as it was. Adds the key at the end
/// of the front matter when it is missing.
std::string set_front_matter_line(std::string_view text, std::string_view key, std::string_view yaml_value);

/// Removes a top-level front matter key's line (and the indented lines of a block
/// value under it); every other byte stays as it was. Returns the text unchanged when
/// the key is missing.
std::string remove_front_matter_line(std::string_view text, std::string_view key);

/// Edits a list-valued key in place, in the style it is written in (a flow list
/// `[a, b]`, a block list of `- a` lines, or a comma list `a, b`): items for which
/// `keep` is false are removed, then each item of `add` not already present is
/// appended. Untouched items keep their lines and bytes. A missing key is added as a
/// flow list (unless there is nothing to add); a list left empty becomes `key: []`.
std::string edit_front_matter_list(std::string_view text, std::string_view key,
                                   const std::function<bool(std::string_view)>& keep,
                                   const std::vector<std::string>& add);

/// One key that differs between two versions of a story, its values as JSON text;
/// "null" stands for "not set".
struct FieldChange {
  std::string key;
  std::string before;
  std::string after;
};

/// The front matter keys that differ between two versions of a story: the known
/// keys first, then custom fields in file order. The body is compared separately.
std::vector<FieldChange> field_changes(const Story& before, const Story& after);

/// A key (or "body", or "format" for changes that are neither) that both sides of a
/// 3-way merge changed, each differently. Values are JSON text; the body is its text.
struct MergeConflict {
  std::string key;
  std::string yours, theirs;
};

/// The result of merge_story.
struct StoryMerge {
  std::string text;
  std::vector<MergeConflict> conflicts;
};

/// Merges what changed from `base` to `yours` into `theirs`, field by field: a key
/// only you changed takes your line (or block), a key only they changed keeps
/// theirs, one both changed alike is fine, one both changed differently is a
/// conflict. The body is merged as a whole, the same way. A conflict keeps their
/// value in `text`, or yours with `prefer_yours`. Changes that are neither a field
/// nor the body (comments, formatting) are a conflict unless theirs is unchanged.
/// Throws StoryParseError when a side cannot be read.
StoryMerge merge_story(const Story& where, std::string_view base, std::string_view yours, std::string_view theirs,
                       const StoryLimits& limits, bool prefer_yours = false);

/// Which side a 3-way merge takes where both changed the same thing differently:
/// neither (conflict markers), ours or theirs (`tracker sync` keeps the later change).
enum class Favour { none, ours, theirs };

/// What a three-way merge of a story file gave: the text, and how many conflicts it
/// marks with <<<<<<< / ======= / >>>>>>> lines (0: a clean merge).
struct StoryFileMerge {
  std::string text;
  int conflicts = 0;
};

/// Merges lines three ways, as `git merge-file` does: (base, ours, theirs) -> the
/// text and its number of conflicts.
using LineMerge = std::function<StoryFileMerge(std::string_view, std::string_view, std::string_view)>;

/// git's merge driver for story files (`tracker merge-file`): the front matter
/// field by field (a key changed on one side takes that side; `labels` and
/// `depends_on` changed on both are merged as sets: what either added, less what
/// either removed), the body with `line_merge`. A key both sides changed
/// differently is the only conflict: that key's lines from each side between
/// conflict markers, everything else merged. A side that does not read as a story,
/// or a change that is only formatting, is merged by `line_merge` as a whole.
/// With `favour`, a key both changed differently takes that side's value instead of
/// markers (`line_merge` is then expected to favour the same side).
StoryFileMerge merge_story_file(const Story& where, std::string_view base, std::string_view ours,
                                std::string_view theirs, const StoryLimits& limits, const LineMerge& line_merge,
                                Favour favour = Favour::none);

/// {"priority 1 -> 3", "labels +ui -api", "body"}: scalars with both values when
/// they are short, lists as additions and removals, long values by key name alone.
std::vector<std::string> describe_changes(const std::vector<FieldChange>& changes, bool body_changed);

/// The top-level front matter keys as YAML reads them (a quoted or flow-style key
/// too), in file order; empty when there is no front matter or it does not parse.
std::vector<std::string> front_matter_keys(std::string_view text);

/// The 1-based line of a top-level front matter key, or 0 when it is missing.
int front_matter_key_line(std::string_view text, std::string_view key);

/// Quotes `value` as a YAML scalar only when it needs quoting.
std::string yaml_scalar(std::string_view value);

/// A YAML flow list of scalars, each quoted only when it needs it: `[ui, "a: b"]`.
std::string yaml_flow_list(const std::vector<std::string>& items);

/// A YAML flow list of ids: `[3, 7]`.
std::string yaml_id_list(const std::vector<std::int64_t>& ids);

}  // namespace tracker
