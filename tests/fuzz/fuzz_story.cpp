// The front matter parser and the minimal-diff editors. For any input:
// - parsing never crashes, and never gets past the limits;
// - when the file parses, setting `name` to a value (as `tracker set` does) gives a
//   file that set refuses (it does not parse, another field or the body changed, or
//   the name does not read back: set checks all three), or one whose only change is
//   the name, which is exactly that value, and which sets again to the same text;
// - removing a custom key gives a file set refuses, or one without that key.
// Input: the file's text, then a 0x01 byte, then the value.
#include <tracker/error.hpp>
#include <tracker/story.hpp>
#include <tracker/util.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace tracker;

namespace {

Story where() {
  Story s;
  s.id = 1;
  s.type = "story";
  s.slug = "fuzz";
  s.stage = "backlog";
  s.path = "work/1_backlog/1_story_fuzz.md";
  return s;
}

std::optional<Story> parse(std::string_view text) {
  try {
    return reparse_story(where(), text, StoryLimits{});
  } catch (const StoryParseError&) {
    return std::nullopt;
  }
}

/// Stops the fuzzer with the input that broke a property.
void require(bool ok, int line = __builtin_LINE()) {
  if (!ok) {
    if (std::getenv("FUZZ_DEBUG")) std::fprintf(stderr, "property failed at line %d\n", line);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t split = input.rfind('\x01');
  std::string_view text = split == std::string_view::npos ? input : input.substr(0, split);
  std::string value(split == std::string_view::npos ? "" : trim(input.substr(split + 1)));

  std::optional<Story> before = parse(text);
  if (!before) return 0;

  // set name=value, as tracker set writes it.
  if (!value.empty() && value.find_first_of("\r\n") == std::string::npos && !invalid_utf8_at(value) &&
      value.find('\0') == std::string::npos) {
    std::string out = set_front_matter_line(text, "name", yaml_scalar(value));
    std::optional<Story> after = parse(out);
    bool refused = !after || after->body != before->body || after->name != value;
    if (after)
      for (const auto& c : field_changes(*before, *after)) refused = refused || c.key != "name";
    if (!refused) {
      std::string again = set_front_matter_line(out, "name", yaml_scalar(value));
      if (again != out && std::getenv("FUZZ_DEBUG"))
        std::fprintf(stderr, "set once:\n%s\nset twice:\n%s\n", out.c_str(), again.c_str());
      require(again == out);  // idempotent
    }
  }
  // unset of the first custom key.
  if (!before->fields.empty()) {
    const std::string key = before->fields.front().key;
    std::string out = remove_front_matter_line(text, key);
    std::vector<std::string> keys = front_matter_keys(out);
    bool still_there = std::find(keys.begin(), keys.end(), key) != keys.end();  // set refuses that
    if (std::optional<Story> after = parse(out); after && !still_there) {
      bool removed = true;
      for (const auto& f : after->fields) removed = removed && f.key != key;
      bool refused = after->body != before->body;
      for (const auto& c : field_changes(*before, *after)) refused = refused || c.key != key;
      require(refused || removed);
    }
  }
  return 0;
}
