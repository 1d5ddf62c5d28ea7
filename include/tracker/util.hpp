// Small helpers shared by the library and the CLI.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// The words of `text` in lower case joined by '-', at most `max_len` bytes, cut
/// at a word boundary. Latin letters are spelled in ASCII (é -> e, ß -> ss); other
/// letters (Greek, Cyrillic, CJK, …) stay as UTF-8; punctuation and emoji separate
/// words. Never empty: falls back to "untitled".
std::string slugify(std::string_view text, std::size_t max_len = 50);

/// The candidate closest to `word` by edit distance, if it is close enough to be a
/// plausible typo (or a prefix of it).
std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

/// Parses a whole decimal integer (optional sign); nullopt on anything else.
std::optional<std::int64_t> parse_int(std::string_view text);

/// Current UTC time as "2026-11-23T07:41:00Z".
std::string utc_now_iso8601();

/// Seconds since the epoch formatted as "2026-11-23T07:41:00Z".
std::string format_iso8601(std::int64_t unix_seconds);

/// Parses "2026-11-23T07:41:00Z" (or with a +HH:MM offset) to unix seconds.
std::optional<std::int64_t> parse_iso8601(std::string_view text);

/// The offset of the first byte of `text` that is not part of well-formed UTF-8
/// (no overlong forms, surrogates or code points past U+10FFFF), or nullopt when
/// all of it is.
std::optional<std::size_t> invalid_utf8_at(std::string_view text);

/// The code point of UTF-8 `text` at byte `i`, advancing `i` past it; a byte that
/// does not start a well-formed sequence (truncated, overlong, a surrogate, past
/// U+10FFFF) gives U+FFFD and advances one byte.
unsigned next_code_point(std::string_view text, std::size_t& i);

/// Appends code point `cp` to `out` as UTF-8.
void append_utf8(std::string& out, unsigned cp);

/// The lower case of `cp` as Unicode has it (glibc's tables, through the C.UTF-8
/// locale); `cp` itself where it has none, or where that locale is missing.
unsigned lower_case(unsigned cp);

/// Whether `cp` is a letter or a digit, as Unicode classes it (glibc's tables,
/// through the C.UTF-8 locale): what slugs keep and what a search term needs.
/// Past ASCII, true for all when that locale is missing.
bool is_letter_or_digit(unsigned cp);

/// True for the letters of scripts written without spaces between words (Han,
/// Hiragana, Katakana): search takes each as a word of its own, so that a run
/// of them is found anywhere in a longer run.
bool is_spaceless_letter(unsigned cp);

/// Throws UsageError "<what> is not valid UTF-8 text" when it is not, or holds a NUL.
void require_text(std::string_view text, const std::string& what);

/// Trims ASCII whitespace on both ends.
std::string_view trim(std::string_view text);

/// `text` with A-Z made a-z (other bytes as they are): for keywords and ids.
std::string ascii_lower(std::string_view text);

/// Splits on `sep`, keeping empty fields.
std::vector<std::string> split(std::string_view text, char sep);

/// Joins with `sep`.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

/// The `Tracker-*` trailers of a commit message (the "Key: value" lines of its last
/// paragraph), in order: ("Tracker-Action", "move"), ("Tracker-Story", "42"), …
std::vector<std::pair<std::string, std::string>> tracker_trailers(std::string_view message);

/// The first value of trailer `key` in `trailers`, or "".
std::string trailer_value(const std::vector<std::pair<std::string, std::string>>& trailers, std::string_view key);

/// With TRACKER_TRACE set in the environment, writes one line to stderr: the wall
/// and process CPU milliseconds since the process started, and `what`. Otherwise
/// nothing; the check is one cached branch.
void trace(std::string_view what);

/// Runs `fn` when the scope ends, unless dismiss() was called: the one scope guard.
/// `fn` must not throw.
template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F fn) : fn_(std::move(fn)) {}
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ~ScopeExit() {
    if (armed_) fn_();
  }
  void dismiss() { armed_ = false; }

 private:
  F fn_;
  bool armed_ = true;
};

}  // namespace tracker
