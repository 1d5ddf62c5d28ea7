// The ready queue as a query of the index: what `ready`, `claim` and `stats` read.
#pragma once

#include <tracker/index.hpp>

#include <cstdint>
#include <optional>
#include <vector>

namespace tracker {

/// The ready queue, most urgent first, without the stories in `claimed`.
inline ListQuery ready_query(std::vector<std::int64_t> claimed, std::optional<std::int64_t> limit) {
  ListQuery q;
  q.ready_only = true;
  q.sort = SortKey::priority;
  q.limit = limit;
  q.exclude_ids = std::move(claimed);
  return q;
}

}  // namespace tracker
