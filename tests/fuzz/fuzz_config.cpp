// The config loader. For any input: parsing never crashes; a config that parses
// renders to a text that parses to the same board.
#include <tracker/config.hpp>
#include <tracker/error.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace tracker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Config c;
  try {
    c = Config::parse(text, "config.yml");
  } catch (const Error&) {
    return 0;
  }
  Config again = Config::parse(c.render(), "rendered.yml");  // throws (and so fails) if render is wrong
  if (again.stories_dir != c.stories_dir || again.stage_names() != c.stage_names() ||
      again.ready_stages != c.ready_stages || again.done_stages != c.done_stages || again.types != c.types ||
      again.claim_ttl_seconds != c.claim_ttl_seconds || again.claim_move_to != c.claim_move_to ||
      again.commit != c.commit || again.commit_verify != c.commit_verify || again.watch != c.watch ||
      again.story_limits.max_bytes != c.story_limits.max_bytes || again.remote != c.remote)
    std::abort();
  for (std::size_t i = 0; i < c.stages.size(); ++i)
    if (again.stages[i].dir != c.stages[i].dir) std::abort();
  return 0;
}
