// Full-text search: the query language, the tokenizer and snippets.
//
// The shadow index answers queries with SQLite's FTS5 (its `tracker` tokenizer,
// bm25 ranking). The functions here parse the query into an FTS5 expression that
// quotes every token, and cut the snippets of the hits around the matches FTS5
// reports (src/fts.hpp), so that what is highlighted is what matched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracker {

/// Consecutive tokens; `prefix` makes the last one match any token it begins.
struct SearchPhrase {
  std::vector<std::string> tokens;
  bool prefix = false;
};

/// A parsed query: every group must match (a group matches when any of its phrases
/// does), and no excluded phrase may.
struct SearchQuery {
  std::vector<std::vector<SearchPhrase>> groups;
  std::vector<SearchPhrase> excluded;

  /// Every phrase, in the order FTS5 numbers them: groups first, then exclusions.
  std::vector<SearchPhrase> phrases() const;
};

/// Parses `words "a phrase" log* -term a OR b`. A word typed bare matches any word
/// it begins (`passw` finds "password"); a quoted phrase matches as typed unless a
/// `*` follows it. Throws UsageError (exit 2) with a
/// one-line message for an empty query, an unterminated quote, a misplaced `*`, a
/// dangling OR or `-`, a term with nothing searchable in it, or a query of
/// exclusions only.
SearchQuery parse_search_query(std::string_view text);

/// The FTS5 MATCH expression for a query; every token is quoted, so nothing the
/// user typed reaches FTS5 as syntax.
std::string fts5_expression(const SearchQuery& query);

/// A word of the query that matched nothing and the indexed word searched for in
/// its place (ShadowIndex::search).
struct SearchCorrection {
  std::string typed, used;
};

/// How many edits a typed word of `letters` letters may be from the word used in
/// its place: none below four letters, one up to six, two from seven.
std::size_t typo_allowance(std::size_t letters);

/// The fewest edits (a letter inserted, deleted or replaced, or two neighbours
/// swapped) that make `typed` the start of `word`, or `limit + 1` when that is
/// more than `limit`. Both are code points.
std::size_t prefix_edits(std::u32string_view typed, std::u32string_view word, std::size_t limit);

/// The code points of UTF-8 text (a stray byte as itself).
std::u32string code_points(std::string_view text);

/// A word of a query term and where it is: a run of ASCII letters and digits, or of
/// text past ASCII, that holds a letter or a digit; ASCII folded to lower case, the
/// rest as typed. The index's `tracker` tokenizer (src/index/fts.hpp) splits and
/// folds it as it does the stories' text, so a highlight is what FTS5 matched.
struct Token {
  std::string text;
  std::size_t begin = 0, end = 0;  ///< byte offsets in the source
};
std::vector<Token> tokenize(std::string_view text);

/// Where one phrase of a query matched, as FTS5 found it: the phrase's number (the
/// order of SearchQuery::phrases()) and its byte range in the text.
struct Match {
  int phrase = 0;
  std::size_t begin = 0, end = 0;
};

/// A short excerpt of `text` around the best match, with the byte ranges (in the
/// excerpt) of the matches; the text's first line when nothing in it matched.
struct Snippet {
  std::string text;
  std::vector<std::pair<std::size_t, std::size_t>> highlights;  ///< offset, length
};
Snippet make_snippet(std::string_view text, const std::vector<Match>& matches, std::size_t width = 100);

}  // namespace tracker
