// The front matter of a story's text: where it sits, the lines of its top-level
// keys, and the YAML helpers that the parser, the line edits and the change
// descriptions share. The library's own; the public line edits are declared in
// include/tracker/story.hpp.
#pragma once

#include <tracker/story.hpp>

#include <yaml-cpp/yaml.h>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// Where the front matter sits in a file's text.
struct FrontMatter {
  bool present = false;
  std::size_t yaml_begin = 0;  ///< byte offset of the first YAML line
  std::size_t yaml_end = 0;    ///< byte offset of the closing "---" line
  std::size_t body_begin = 0;  ///< byte offset just past the closing line
  int first_yaml_line = 1;     ///< 1-based line number of yaml_begin
};

/// A line without its line ending.
std::string_view line_content(std::string_view line);
/// 3 when the text starts with a UTF-8 byte order mark, else 0.
std::size_t skip_bom(std::string_view text);
/// Finds the front matter; StoryParseError when a '---' opens it and none closes it.
FrontMatter locate_front_matter(std::string_view text);
/// The text without carriage returns.
std::string strip_cr(std::string_view text);

/// The file line of a YAML node of the front matter `fm` (0 when unknown).
int line_of(const YAML::Node& node, const FrontMatter& fm);
/// A scalar that is not quoted or tagged '!'.
bool is_plain_scalar(const YAML::Node& node);
/// YAML's null: no value, `~`, `null`, or an empty plain scalar.
bool is_null(const YAML::Node& node);

/// Counts the YAML values a story reads, aliases expanded, against the limits: a
/// few hundred bytes of nested aliases ("billion laughs") or an alias to itself
/// would otherwise expand without end.
class NodeBudget {
 public:
  NodeBudget(const StoryLimits& limits, const FrontMatter& fm) : limits_(limits), fm_(fm) {}
  void take(const YAML::Node& node, std::size_t depth);

 private:
  const StoryLimits& limits_;
  const FrontMatter& fm_;
  std::size_t used_ = 0;
};

/// A list key: a YAML sequence, or one scalar holding a comma list.
std::vector<std::string> scalar_list(const YAML::Node& node, NodeBudget& budget);

/// Where a top-level key's line sits: [begin, end) including its line ending.
struct KeyLine {
  std::size_t begin = 0, end = 0;
  std::string_view content;  ///< without the line ending
};

/// The line of top-level key `key` in the front matter `fm` of `text`.
std::optional<KeyLine> find_key_line(std::string_view text, const FrontMatter& fm, std::string_view key);

/// Just past the lines that belong to a key line's value: the indented lines after
/// it (a block list or mapping, or a plain or quoted scalar continued on the next
/// lines) and, when the key line's own value is empty, `- item` lines at column 0;
/// the key line's end when there are none.
std::size_t block_value_end(std::string_view text, const FrontMatter& fm, const KeyLine& line, std::size_t key_size);

/// What a YAML parse error in the front matter means to the person who wrote it:
/// the file line to report (1-based) and what to do, with the line as written, as
/// `the value has ': ' in it, so it needs quotes: name: "Fix: crash"`. `yaml` is
/// the front matter's text (no carriage returns), `first_yaml_line` its first
/// line's number in the file, `e` what yaml-cpp threw.
std::pair<int, std::string> explain_yaml_error(std::string_view yaml, int first_yaml_line, const YAML::Exception& e);

/// Splits what follows `key:` on a line into the value and a trailing " # comment"
/// (with the blanks before it). Knows enough about quotes not to split inside them.
std::pair<std::string_view, std::string_view> split_comment(std::string_view rest);

}  // namespace tracker
