#include <tracker/clock.hpp>
#include <tracker/error.hpp>
#include <tracker/util.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <locale.h>
#include <wctype.h>

namespace tracker {

namespace {

class SystemClock : public Clock {
  static constexpr std::int64_t kMaxOffset = 100LL * 365 * 24 * 3600;  // seconds: a century

 public:
  SystemClock() {
    // The test seam of a whole process, as git's GIT_TEST_DATE_NOW: tests that run
    // the binary make a claim as if an earlier command had (a negative offset),
    // instead of sleeping until it expires.
    if (const char* text = std::getenv("TRACKER_TEST_TIME_OFFSET"))
      if (auto seconds = parse_int(text); seconds && *seconds > -kMaxOffset && *seconds < kMaxOffset)
        offset_ns_ = *seconds * 1'000'000'000;
  }
  std::int64_t now_ns() const override {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec + offset_ns_;
  }

 private:
  std::int64_t offset_ns_ = 0;
};

}  // namespace

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

namespace {

/// The ASCII spelling of a Latin letter from U+00C0 to U+017F, lower case; null
/// for the few that are not letters (× and ÷).
const char* latin_ascii(unsigned cp) {
  static const char* const latin1[64] = {
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",  // C0
      "d", "n", "o", "o", "o", "o", "o",  nullptr, "o", "u", "u", "u", "u", "y", "th", "ss",  // D0
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",  // E0
      "d", "n", "o", "o", "o", "o", "o",  nullptr, "o", "u", "u", "u", "u", "y", "th", "y"};  // F0
  if (cp >= 0xC0 && cp <= 0xFF) return latin1[cp - 0xC0];
  // Latin Extended-A: each letter's base letter (from its Unicode decomposition).
  static const char* const ext_a[128] = {"a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d", "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g", "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i", "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l", "l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o", "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s", "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s"};
  if (cp >= 0x100 && cp <= 0x17F) return ext_a[cp - 0x100];
  return nullptr;
}

}  // namespace

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

unsigned next_code_point(std::string_view text, std::size_t& i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned c = b(i);
  std::size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (n == 0 || i + n > text.size()) {
    ++i;
    return 0xFFFD;
  }
  unsigned cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // An overlong form (C0 A2 is '"' in disguise), a surrogate or a code point past
  // U+10FFFF is not UTF-8: one bad byte, never the character it pretends to be.
  bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  if (overlong || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    ++i;
    return 0xFFFD;
  }
  i += n;
  return cp;
}

namespace {

/// The C.UTF-8 locale, for its Unicode character classes and case mappings; null
/// when the C library has none.
locale_t unicode_locale() {
  static const locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
  return loc;
}

}  // namespace

unsigned lower_case(unsigned cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 0x20 : cp;
  locale_t loc = unicode_locale();
  return loc ? static_cast<unsigned>(towlower_l(static_cast<wint_t>(cp), loc)) : cp;
}

bool is_letter_or_digit(unsigned cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
  if (cp == 0xFFFD) return false;
  locale_t loc = unicode_locale();
  return !loc || iswalnum_l(static_cast<wint_t>(cp), loc);
}

bool is_spaceless_letter(unsigned cp) {
  return (cp >= 0x3041 && cp <= 0x30FF && cp != 0x30A0 && cp != 0x30FB) ||  // Hiragana, Katakana
         (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x4E00 && cp <= 0x9FFF) ||  // Han
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFF66 && cp <= 0xFF9F) ||  // compatibility Han, half-width kana
         (cp >= 0x20000 && cp <= 0x3134F);                                   // Han, supplementary planes
}

std::string slugify(std::string_view text, std::size_t max_len) {
  // Words of lower-case ASCII letters and digits; Latin letters spelled in ASCII
  // (é -> e, ß -> ss); other letters (Greek, Cyrillic, CJK, …) kept as UTF-8.
  std::vector<std::string> words;
  std::string word;
  auto end_word = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    unsigned cp = next_code_point(text, i);
    if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
      word += static_cast<char>(cp);
    } else if (cp >= 'A' && cp <= 'Z') {
      word += static_cast<char>(cp - 'A' + 'a');
    } else if (cp == '\'' || cp == 0x2019) {
      continue;  // "don't" -> "dont"
    } else if ((cp >= 0x300 && cp <= 0x36F) || cp == 0x200D) {
      continue;  // a combining mark or a joiner: part of the letter before it
    } else if (!is_letter_or_digit(cp)) {
      end_word();
    } else if (cp <= 0x17F) {
      if (const char* ascii = latin_ascii(cp))
        word += ascii;
      else
        end_word();
    } else {
      append_utf8(word, lower_case(cp));
    }
  }
  end_word();

  std::string slug;
  for (const auto& w : words) {
    std::size_t needed = slug.empty() ? w.size() : slug.size() + 1 + w.size();
    if (needed > max_len) {
      if (slug.empty()) {  // one very long word: cut it, at a character's start
        std::size_t cut = max_len;
        while (cut > 0 && (static_cast<unsigned char>(w[cut]) & 0xC0) == 0x80) --cut;
        slug = w.substr(0, cut);
      }
      break;
    }
    if (!slug.empty()) slug += '-';
    slug += w;
  }
  return slug.empty() ? "untitled" : slug;
}

// Optimal string alignment distance: edits plus adjacent transpositions ("bgu" -> "bug" is 1).
static std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = SIZE_MAX;
  for (const auto& c : candidates) {
    if (!word.empty() && c.starts_with(word)) return c;
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  // Allow about one typo per three characters, like git's suggestions.
  if (best && word.size() >= 3 && best_distance <= std::max<std::size_t>(1, word.size() / 3)) return best;
  return std::nullopt;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  auto match = closest_match(word, candidates);
  return match ? " (did you mean '" + *match + "'?)" : "";
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '+') text.remove_prefix(1);
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string format_iso8601(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string utc_now_iso8601() {
  return format_iso8601(static_cast<std::int64_t>(std::time(nullptr)));
}

std::optional<std::int64_t> parse_iso8601(std::string_view text) {
  text = trim(text);
  if (text.size() < 19) return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len) { return parse_int(text.substr(pos, len)); };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), sec = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !sec || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' '))
    return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*y - 1900);
  tm.tm_mon = static_cast<int>(*mo - 1);
  tm.tm_mday = static_cast<int>(*d);
  tm.tm_hour = static_cast<int>(*h);
  tm.tm_min = static_cast<int>(*mi);
  tm.tm_sec = static_cast<int>(*sec);
  std::int64_t t = static_cast<std::int64_t>(timegm(&tm));
  std::string_view zone = text.substr(19);
  if (!zone.empty() && zone.front() == '.') {  // fractional seconds
    zone.remove_prefix(1);
    while (!zone.empty() && zone.front() >= '0' && zone.front() <= '9') zone.remove_prefix(1);
  }
  if (zone.empty() || zone == "Z") return t;
  if (zone.size() != 6 || (zone[0] != '+' && zone[0] != '-') || zone[3] != ':') return std::nullopt;
  auto oh = parse_int(zone.substr(1, 2)), om = parse_int(zone.substr(4, 2));
  if (!oh || !om) return std::nullopt;
  std::int64_t offset = *oh * 3600 + *om * 60;
  return zone[0] == '+' ? t - offset : t + offset;
}

std::string_view trim(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(text.substr(start));
      return out;
    }
    out.emplace_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> tracker_trailers(std::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ' || message.back() == '\r'))
    message.remove_suffix(1);
  auto last = message.rfind("\n\n");
  if (last == std::string_view::npos) return {};
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& line : split(message.substr(last + 2), '\n')) {
    auto colon = line.find(": ");
    if (colon != std::string::npos && line.starts_with("Tracker-"))
      out.emplace_back(line.substr(0, colon), std::string(trim(line.substr(colon + 2))));
  }
  return out;
}

std::string trailer_value(const std::vector<std::pair<std::string, std::string>>& trailers, std::string_view key) {
  for (const auto& [k, v] : trailers)
    if (k == key) return v;
  return "";
}

namespace {

double clock_ms(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// When the process started, by the same clocks: set before main() runs.
const double kStartWall = clock_ms(CLOCK_MONOTONIC);

}  // namespace

void trace(std::string_view what) {
  static const bool enabled = std::getenv("TRACKER_TRACE") != nullptr;
  if (!enabled) return;
  std::fprintf(stderr, "trace: %8.2f ms wall %8.2f ms cpu  %.*s\n", clock_ms(CLOCK_MONOTONIC) - kStartWall,
               clock_ms(CLOCK_PROCESS_CPUTIME_ID), static_cast<int>(what.size()), what.data());
}

std::optional<std::size_t> invalid_utf8_at(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F;  // no surrogates
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;  // nothing past U+10FFFF
    else return i;
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    i += len;
  }
  return std::nullopt;
}

void require_text(std::string_view text, const std::string& what) {
  if (invalid_utf8_at(text) || text.find('\0') != std::string_view::npos)
    throw UsageError(what + " is not valid UTF-8 text");
}

}  // namespace tracker
