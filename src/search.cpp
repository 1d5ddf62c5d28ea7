#include <tracker/error.hpp>
#include <tracker/search.hpp>
#include <tracker/util.hpp>

#include <algorithm>
#include <cmath>

namespace tracker {

namespace {

bool is_token_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string phrase_expression(const SearchPhrase& p) {
  return "\"" + join(p.tokens, " ") + "\"" + (p.prefix ? "*" : "");
}

}  // namespace

std::vector<SearchPhrase> SearchQuery::phrases() const {
  std::vector<SearchPhrase> out;
  for (const auto& g : groups) out.insert(out.end(), g.begin(), g.end());
  out.insert(out.end(), excluded.begin(), excluded.end());
  return out;
}

std::vector<Token> tokenize(std::string_view text) {
  // The words of a term as FTS5 is given them: runs of ASCII letters and digits and
  // of any text past ASCII, split at ASCII's other characters, so that no quote or
  // FTS5 operator is ever part of one; ASCII folded to lower case. Past ASCII, the
  // index's tokenizer splits and folds the phrase as it does the text (unicode61;
  // each Han or kana letter a word): a run of punctuation, symbols or emoji alone
  // is no word at all, and is left out here too.
  std::vector<Token> out;
  for (std::size_t i = 0; i < text.size();) {
    if (!is_token_byte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    Token run;
    run.begin = i;
    bool has_word = false;
    while (i < text.size() && is_token_byte(static_cast<unsigned char>(text[i]))) {
      std::size_t at = i;
      unsigned cp = next_code_point(text, i);
      has_word = has_word || is_letter_or_digit(cp);
      if (cp < 0x80)
        run.text += static_cast<char>(lower_case(cp));
      else
        run.text.append(text.substr(at, i - at));  // as typed, a stray byte too
    }
    run.end = i;
    if (has_word) out.push_back(std::move(run));
  }
  return out;
}

SearchQuery parse_search_query(std::string_view text) {
  struct Term {
    SearchPhrase phrase;
    bool negated = false;
    bool is_or = false;
    std::string shown;  // as typed, for messages
  };
  std::vector<Term> terms;
  std::size_t i = 0;
  bool pending_not = false;  // the previous word was NOT
  while (i < text.size()) {
    if (is_space(text[i])) {
      ++i;
      continue;
    }
    Term term;
    term.negated = pending_not;
    pending_not = false;
    std::size_t start = i;
    if (text[i] == '-') {
      term.negated = true;
      ++i;
      if (i == text.size() || is_space(text[i]))
        throw UsageError("bad query: '-' must be followed by a term to exclude");
    }
    std::string content;
    if (text[i] == '"') {
      auto close = text.find('"', i + 1);
      if (close == std::string_view::npos)
        throw UsageError("bad query: unterminated quote in " + std::string(text.substr(start)));
      content = std::string(text.substr(i + 1, close - i - 1));
      i = close + 1;
      if (i < text.size() && text[i] == '*') {
        term.phrase.prefix = true;
        ++i;
      }
      if (i < text.size() && !is_space(text[i]))
        throw UsageError("bad query: expected a space after the closing quote in " + std::string(text.substr(start)));
    } else {
      std::size_t end = i;
      while (end < text.size() && !is_space(text[end]) && text[end] != '"') ++end;
      if (end < text.size() && text[end] == '"')
        throw UsageError("bad query: a quote must start a term: " + std::string(text.substr(start, end - start + 1)));
      content = std::string(text.substr(i, end - i));
      i = end;
      // AND is what terms side by side mean already; NOT excludes the next term, as '-' does.
      if (content == "AND" && !term.negated) continue;
      if (content == "NOT" && !term.negated) {
        while (i < text.size() && is_space(text[i])) ++i;
        if (i == text.size()) throw UsageError("bad query: NOT must be followed by a term to exclude");
        if (text[i] == '-') throw UsageError("bad query: NOT and '-' both exclude; use one");
        pending_not = true;
        continue;
      }
      if (content == "OR" && !term.negated) {
        term.is_or = true;
        term.shown = "OR";
        terms.push_back(std::move(term));
        continue;
      }
      // A bare word is a prefix: `passw` finds "password", as a user types it.
      term.phrase.prefix = true;
      if (content.ends_with('*')) content.pop_back();
      if (content.find('*') != std::string::npos)
        throw UsageError("bad query: '*' can only end a term, as in log*: " +
                         std::string(text.substr(start, end - start)));
    }
    term.shown = std::string(text.substr(start, i - start));
    for (auto& t : tokenize(content)) term.phrase.tokens.push_back(std::move(t.text));
    if (term.phrase.tokens.empty())
      throw UsageError("bad query: nothing to search for in " + term.shown + " (terms are letters and digits)");
    terms.push_back(std::move(term));
  }
  if (terms.empty()) throw UsageError("bad query: it is empty");

  SearchQuery query;
  bool joined = false;  // the previous term was OR
  for (std::size_t k = 0; k < terms.size(); ++k) {
    Term& t = terms[k];
    if (t.is_or) {
      if (k == 0 || k + 1 == terms.size() || terms[k - 1].is_or || terms[k + 1].is_or)
        throw UsageError("bad query: OR needs a term on each side");
      if (terms[k - 1].negated || terms[k + 1].negated)
        throw UsageError("bad query: an excluded term cannot be part of an OR");
      joined = true;
      continue;
    }
    if (t.negated)
      query.excluded.push_back(std::move(t.phrase));
    else if (joined)
      query.groups.back().push_back(std::move(t.phrase));
    else
      query.groups.push_back({std::move(t.phrase)});
    joined = false;
  }
  if (query.groups.empty()) throw UsageError("bad query: it needs a term that is not excluded with '-'");
  return query;
}

std::string fts5_expression(const SearchQuery& query) {
  std::vector<std::string> groups;
  for (const auto& g : query.groups) {
    std::vector<std::string> alternatives;
    for (const auto& p : g) alternatives.push_back(phrase_expression(p));
    groups.push_back("(" + join(alternatives, " OR ") + ")");
  }
  std::string out = join(groups, " AND ");
  if (!query.excluded.empty()) {
    std::vector<std::string> excluded;
    for (const auto& p : query.excluded) excluded.push_back(phrase_expression(p));
    out = "(" + out + ") NOT (" + join(excluded, " OR ") + ")";
  }
  return out;
}

std::size_t typo_allowance(std::size_t letters) {
  return letters < 4 ? 0 : letters < 7 ? 1 : 2;
}

std::u32string code_points(std::string_view text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) out.push_back(next_code_point(text, i));
  return out;
}

std::size_t prefix_edits(std::u32string_view typed, std::u32string_view word, std::size_t limit) {
  // Optimal string alignment distance from `typed` to each prefix of `word`: row i
  // is the cost of the first i letters typed against word's first j letters; the
  // answer is the least of the last row. Rows are cut at a band of `limit` either
  // side of the diagonal, and a row whose least is past `limit` ends the walk.
  const std::size_t n = typed.size(), m = std::min(word.size(), n + limit), over = limit + 1;
  std::vector<std::size_t> before(m + 1, over), prev(m + 1, over), cur(m + 1, over);
  for (std::size_t j = 0; j <= m; ++j) prev[j] = std::min(j, over);
  for (std::size_t i = 1; i <= n; ++i) {
    std::fill(cur.begin(), cur.end(), over);
    cur[0] = std::min(i, over);
    std::size_t least = cur[0];
    std::size_t from = i > limit ? i - limit : 1, to = std::min(m, i + limit);
    for (std::size_t j = from; j <= to; ++j) {
      std::size_t cost = typed[i - 1] == word[j - 1] ? 0 : 1;
      std::size_t best = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && typed[i - 1] == word[j - 2] && typed[i - 2] == word[j - 1])
        best = std::min(best, before[j - 2] + 1);
      cur[j] = std::min(best, over);
      least = std::min(least, cur[j]);
    }
    if (least > limit) return over;
    before.swap(prev);
    prev.swap(cur);
  }
  return *std::min_element(prev.begin(), prev.end());
}

Snippet make_snippet(std::string_view text, const std::vector<Match>& matches, std::size_t width) {
  // The line with the most distinct matching phrases, then the most matches.
  std::string_view best;
  std::vector<std::pair<std::size_t, std::size_t>> best_hits;  // byte ranges in `best`
  std::size_t best_distinct = 0;
  std::string_view first_line;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    std::size_t b = at, e = nl;
    at = nl + 1;
    while (b < e && is_space(text[b])) ++b;
    while (e > b && is_space(text[e - 1])) --e;
    std::string_view line = text.substr(b, e - b);
    if (line.empty() || line == "---") continue;
    if (first_line.empty()) first_line = line;
    std::vector<std::pair<std::size_t, std::size_t>> hits;
    std::vector<int> phrases;
    for (const auto& m : matches)
      if (m.begin >= b && m.end <= e && m.begin < m.end) {
        hits.emplace_back(m.begin - b, m.end - b);
        if (std::find(phrases.begin(), phrases.end(), m.phrase) == phrases.end()) phrases.push_back(m.phrase);
      }
    if (phrases.size() > best_distinct || (phrases.size() == best_distinct && !phrases.empty() && hits.size() > best_hits.size())) {
      best = line;
      best_hits = std::move(hits);
      best_distinct = phrases.size();
    }
  }
  Snippet out;
  if (best_distinct == 0) {
    out.text = std::string(first_line.substr(0, std::min(first_line.size(), width)));
    while (!out.text.empty() && (static_cast<unsigned char>(out.text.back()) & 0xC0) == 0x80) out.text.pop_back();
    if (out.text.size() < first_line.size()) {
      while (!out.text.empty() && static_cast<unsigned char>(out.text.back()) >= 0x80) out.text.pop_back();
      out.text += "…";
    }
    return out;
  }
  std::sort(best_hits.begin(), best_hits.end());
  // A window of about `width` bytes that starts a little before the first match.
  std::size_t start = 0;
  if (best.size() > width && best_hits.front().first > width / 3) {
    start = best_hits.front().first - width / 3;
    while (start < best.size() && !is_space(best[start - 1]) && start < best_hits.front().first) ++start;
  }
  std::size_t end = width >= best.size() - start ? best.size() : start + width;
  if (end < best.size()) {
    std::size_t cut = end;
    while (cut > start && !is_space(best[cut])) --cut;
    if (cut > best_hits.front().second) end = cut;
    while (end < best.size() && (static_cast<unsigned char>(best[end]) & 0xC0) == 0x80) ++end;
  }
  std::string prefix = start > 0 ? "…" : "";
  out.text = prefix + std::string(best.substr(start, end - start)) + (end < best.size() ? "…" : "");
  // Merge touching ranges (the tokens of one phrase) and keep those in the window.
  std::vector<std::pair<std::size_t, std::size_t>> merged;
  for (const auto& h : best_hits) {
    if (!merged.empty() && h.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, h.second);
    else
      merged.push_back(h);
  }
  for (const auto& [b, e] : merged)
    if (b >= start && e <= end) out.highlights.emplace_back(b - start + prefix.size(), e - b);
  return out;
}

}  // namespace tracker
