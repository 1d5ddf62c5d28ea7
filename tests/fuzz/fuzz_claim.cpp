// The claim file parser. For any input: parsing never crashes; a claim that parses
// formats to a text that parses to the same claim.
#include <tracker/claims.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace tracker;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<Claim> c = parse_claim(text);
  if (!c) return 0;
  std::optional<Claim> again = parse_claim(format_claim(*c));
  if (!again || again->id != c->id || again->owner != c->owner || again->host != c->host ||
      again->created != c->created || again->expires != c->expires || again->from_stage != c->from_stage ||
      again->nonce != c->nonce || again->pid != c->pid)
    std::abort();
  return 0;
}
