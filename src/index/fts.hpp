// The shadow index's full-text extensions (src/fts.cpp).
//
// `tracker` is FTS5's unicode61 tokenizer (case folded for all of Unicode,
// diacritics kept) with each Han or kana letter a token of its own, so that text
// written without spaces is found from any of its letters. `tracker_matches`
// gives where FTS5 matched the query's phrases in a column, so that search
// highlights what FTS5 matched, in every script, without a tokenizer of our own.
#pragma once

#include <tracker/search.hpp>

#include <sqlite3.h>

#include <string_view>
#include <vector>

namespace tracker::fts {

/// Registers the tokenizer and the functions (tracker_matches, tracker_in_column) on `db`; an SQLite result code.
int register_extensions(sqlite3* db);

/// The matches tracker_matches() wrote ("phrase begin end;..."); what does not read
/// as one is left out.
std::vector<Match> parse_matches(std::string_view text);

}  // namespace tracker::fts
