// Full-text search: the query language, the tokenizer and snippets.
//
// The shadow index answers queries with SQLite's FTS5 (the `unicode61` tokenizer,
// bm25 ranking). The functions here parse the query into an FTS5 expression that quotes
// every token, and cut the snippets of the hits, tokenizing as FTS5 does so that
// what is highlighted is what matched.
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

/// Parses `words "a phrase" log* -term a OR b`. Throws UsageError (exit 2) with a
/// one-line message for an empty query, an unterminated quote, a misplaced `*`, a
/// dangling OR or `-`, a term with nothing searchable in it, or a query of
/// exclusions only.
SearchQuery parse_search_query(std::string_view text);

/// The FTS5 MATCH expression for a query; every token is quoted, so nothing the
/// user typed reaches FTS5 as syntax.
std::string fts5_expression(const SearchQuery& query);

/// A token of text and where it is, as the index's tokenizer (FTS5's unicode61 on
/// spread_spaceless text) sees it: runs of letters and digits folded to lower case
/// (fold_case), split at punctuation; each Han or kana letter a token of its own.
struct Token {
  std::string text;
  std::size_t begin = 0, end = 0;  ///< byte offsets in the source
};
std::vector<Token> tokenize(std::string_view text);

/// Where each occurrence of `phrase` starts, as token positions.
std::vector<std::size_t> phrase_positions(const SearchPhrase& phrase, const std::vector<Token>& tokens);

/// A short excerpt of `body` around the best match, with the byte ranges (in the
/// excerpt) of the matched tokens; the body's first line when nothing in it matches.
struct Snippet {
  std::string text;
  std::vector<std::pair<std::size_t, std::size_t>> highlights;  ///< offset, length
};
Snippet make_snippet(const SearchQuery& query, std::string_view text, std::size_t width = 100);

}  // namespace tracker
