// The catalogue of operations: each operation a door offers, declared once with its
// parameters, who it acts as and the shape of its result. The doors are built from
// it: the CLI's options and --help text (add_param), the MCP tools' input and output
// schemas, the web API's request validation, shell completion (what a parameter's
// value is) and `tracker help --json`. tests/test_catalogue.cpp walks it and checks
// every door against it.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tracker/error.hpp>

namespace tracker::cli::catalogue {

using Json = nlohmann::ordered_json;

/// The doors an operation or a parameter is offered at (a bit set).
enum DoorSet : unsigned { cli = 1, mcp = 2, web = 4, all = cli | mcp | web };

/// What a parameter's value is.
enum class Kind {
  id,         ///< a story id: an integer from 1
  ids,        ///< one or more story ids
  integer,    ///< a whole number (minimum and maximum when set)
  text,       ///< a string (non-empty when `required` or `nonempty`)
  duration,   ///< a string such as 90s, 15m, 2h
  flag,       ///< true or false
  texts,      ///< a list of strings (repeatable at the CLI)
  integers,   ///< a list of whole numbers
  fields,     ///< an object of front matter keys (key=value words at the CLI)
  choice,     ///< one of `choices`
};

/// What completes a parameter's value in a shell.
enum class Completes { nothing, id, stage, key, label, owner, type, choices };

struct Param {
  std::string name;                       ///< the JSON name: "depends_on"
  Kind kind = Kind::text;
  std::string meaning;                    ///< one line; "{identity}" is the door's default identity
  unsigned doors = all;
  std::string cli;                        ///< the CLI's spelling: "--depends-on", or a positional's name
  std::string word;                       ///< what --help says it takes: NAME, DURATION (options only)
  bool required = false;
  bool nonempty = false;                  ///< a text that may not be ""
  std::optional<std::int64_t> minimum, maximum;
  std::vector<std::string> choices;
  Completes completes = Completes::nothing;
  bool in_path = false;                   ///< at the web door, in the route (/api/story/<id>)
  std::string cli_default;                ///< the value when it is not given, at the CLI
  std::string tool_default;               ///< the same at the MCP and web doors (a smaller limit: tokens)
};

struct Operation {
  std::string name;                       ///< "claim": the CLI command and the MCP tool
  std::string summary;                    ///< one line, the same at every door
  unsigned doors = cli | mcp;             ///< and web when it has a `route`; the CLI's own: cli
  std::vector<Param> params;
  std::string acts_as;                    ///< the identity rule: who the operation acts as, who may do it
  /// Makes the JSON Schema of the result (MCP's outputSchema, the CLI's --json); null
  /// for the CLI's own operations. Built when asked: a command does not pay for it.
  Json (*result)() = nullptr;
  std::string route;                      ///< the web API's route: "POST /api/story/<id>/move"
};

/// Every operation, in the order tools/list and `help --json` give them.
const std::vector<Operation>& operations();

/// The declarations operations() keeps (cli/operations.cpp), made afresh.
std::vector<Operation> declared();

/// JSON Schema pieces: a value of type `name`; an array of `items`.
Json type(const char* name);
Json array_of(Json items);

/// The operation called `name`; throws std::out_of_range for an unknown one (a
/// programming error: every caller names an operation of the catalogue).
const Operation& operation(std::string_view name);

/// Its parameter called `name` (the JSON name); throws std::out_of_range.
const Param& param(const Operation& op, std::string_view name);

/// `meaning` with {identity} spelled for `door`, and the door's default after it.
std::string meaning_at(const Param& p, Door door);

/// The JSON Schema of the parameters `op` takes at `door` (mcp or web; at the web
/// door, without those in the route): an object with no other properties.
Json input_schema(const Operation& op, Door door);

/// The arguments of a GET at the web door, from its query string (`query`: name and
/// value, in order, transport names such as the token left out): each by the kind
/// the catalogue gives it (an integer that does not read as one stays text, for
/// schema_violation to name); a text left empty is no argument; a name `op` does not
/// take is kept, for schema_violation to refuse.
Json query_arguments(const Operation& op, const std::vector<std::pair<std::string, std::string>>& query);

/// Checks `value` against the subset of JSON Schema the catalogue's schemas use (type,
/// properties, required, additionalProperties, items, minimum, maximum, minItems,
/// minLength, enum): what is wrong, or nothing. `where` names the value ("'id'").
std::optional<std::string> schema_violation(const Json& schema, const Json& value, const std::string& where);

/// The JSON Schema of `op`'s result; null when it declares none.
Json result_schema(const Operation& op);

/// The whole catalogue as `tracker help --json` prints it.
Json to_json();

/// Adds `param` of `op` to the CLI command `sub`, bound to `target`: its spelling,
/// its meaning as the description, required when it is, its value word, and the
/// checks its kind needs (ids, ranges, choices).
template <typename T>
CLI::Option* add_param(CLI::App* sub, const Operation& op, std::string_view param, T& target);

/// The value word of a CLI option declared through add_param (NAME, DURATION), if any.
std::optional<std::string> word_of(const CLI::Option& option);

/// The operation called `name`, or null: a command that is none (help, completion).
const Operation* find(std::string_view name);

/// The parameter that CLI `spelling` ("--stage", "id") of command `command` sets, or
/// null (an option of a command that is no operation, a global option).
const Param* cli_param(std::string_view command, std::string_view spelling);

namespace detail {
CLI::Option* finish(CLI::Option* option, const Operation& op, const Param& p);
}

template <typename T>
CLI::Option* add_param(CLI::App* sub, const Operation& op, std::string_view name, T& target) {
  const Param& p = param(op, name);
  if (!(p.doors & cli) || p.cli.empty())
    throw std::logic_error("catalogue: " + op.name + "'s " + p.name + " is not offered at the CLI");
  CLI::Option* option = p.kind == Kind::flag ? sub->add_flag(p.cli, target, meaning_at(p, Door::cli))
                                             : sub->add_option(p.cli, target, meaning_at(p, Door::cli));
  return detail::finish(option, op, p);
}

}  // namespace tracker::cli::catalogue
