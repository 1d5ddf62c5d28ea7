#include "completion.hpp"

#include "args.hpp"
#include "catalogue.hpp"
#include "output.hpp"

#include <tracker/util.hpp>

#include <algorithm>
#include <set>

namespace tracker::cli {

namespace {

// Global options that take a value.
const std::set<std::string> kGlobalWithValue = {"-C", "--color"};

std::string bash_script() {
  return R"SH(# bash completion for tracker: eval "$(tracker completion bash)"
_tracker() {
  local IFS=$'\n' line
  COMPREPLY=()
  while IFS= read -r line; do
    COMPREPLY+=("${line%%$'\t'*}")
  done < <(tracker __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  # A key to set (`priority=`) waits for its value: no space after it.
  if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then compopt -o nospace 2>/dev/null; fi
}
complete -o default -F _tracker tracker
)SH";
}

std::string zsh_script() {
  return R"SH(#compdef tracker
# zsh completion for tracker: eval "$(tracker completion zsh)", or save as _tracker on $fpath
_tracker() {
  local -a lines values
  local line
  lines=("${(@f)$(tracker __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for line in "${lines[@]}"; do
    [[ -z $line ]] && continue
    values+=("${line%%$'\t'*}:${${line#*$'\t'}//:/\\:}")
  done
  _describe 'tracker' values
}
if (( $+functions[compdef] )); then compdef _tracker tracker; fi
)SH";
}

std::string fish_script() {
  return R"SH(# fish completion for tracker: tracker completion fish | source
function __tracker_complete
    set -l words (commandline -opc)
    set -e words[1]
    tracker __complete $words (commandline -ct) 2>/dev/null
end
complete -c tracker -f -a '(__tracker_complete)'
)SH";
}

/// Long spellings first: what a user completes to.
std::vector<std::string> spellings_of(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app.get_options()) {
    auto names = option_spellings(*o);
    for (auto it = names.rbegin(); it != names.rend(); ++it) out.push_back(*it);
  }
  return out;
}

bool takes_value(const CLI::App& app, const std::string& word) {
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_type_size() == 0) continue;  // a flag
    for (const auto& name : option_spellings(*o))
      if (name == word) return true;
  }
  return false;
}

/// The positional option of `app` that the word after `count` positional words fills
/// (the last one takes the rest when it takes several).
const CLI::Option* positional(const CLI::App& app, std::size_t count) {
  std::vector<const CLI::Option*> all;
  for (const CLI::Option* o : app.get_options())
    if (!o->nonpositional()) all.push_back(o);
  if (all.empty()) return nullptr;
  for (const CLI::Option* o : all) {
    if (count == 0 || o->get_items_expected_max() > 1) return o;
    --count;
  }
  return nullptr;
}

}  // namespace

std::string completion_script(const std::string& shell) {
  if (shell == "bash") return bash_script();
  if (shell == "zsh") return zsh_script();
  if (shell == "fish") return fish_script();
  throw UsageError("no completion for '" + shell + "': choose bash, zsh or fish");
}

std::string complete(const CLI::App& app, const std::vector<std::string>& words) {
  std::string current = words.empty() ? "" : words.back();
  std::vector<std::string> before(words.begin(), words.empty() ? words.end() : words.end() - 1);

  // Find the command (and a subcommand of it), skipping global options and values.
  const CLI::App* command = nullptr;
  std::string dir;
  std::vector<std::string> positionals;
  std::string previous;
  for (std::size_t i = 0; i < before.size(); ++i) {
    const std::string& w = before[i];
    if (kGlobalWithValue.count(w)) {
      if (i + 1 < before.size()) {
        if (w == "-C") dir = before[i + 1];
        ++i;
      }
      previous = i < before.size() ? before[i] : w;
      continue;
    }
    if (!command && !w.starts_with("-")) {
      command = find_subcommand(app, w);
      if (!command) return "";
      previous = w;
      continue;
    }
    if (command && !w.starts_with("-")) {
      if (!positionals.empty() || !takes_value(*command, previous)) {
        if (const CLI::App* sub = find_subcommand(*command, w); sub && positionals.empty()) {
          command = sub;
          previous = w;
          continue;
        }
      }
      if (!takes_value(*command, previous)) positionals.push_back(w);
    }
    previous = w;
  }
  if (!before.empty() && kGlobalWithValue.count(before.back())) return "";  // a directory, a colour

  std::vector<std::string> out;
  auto add = [&](const std::string& candidate) {
    if (candidate.starts_with(current)) out.push_back(candidate);
  };
  if (!command) {
    if (current.starts_with("-")) {
      for (const auto& s : spellings_of(app)) add(s);
    } else {
      for (const CLI::App* sub : subcommands(app)) add(sub->get_name());
    }
    return join(out, "\n") + (out.empty() ? "" : "\n");
  }
  if (current.starts_with("-")) {
    for (const auto& s : spellings_of(*command)) add(s);
    // The global options go with any command (tracker's own --help and --version do not).
    for (const auto& s : spellings_of(app))
      if (s != "--help" && s != "-h" && s != "--version" && std::find(out.begin(), out.end(), s) == out.end()) add(s);
    return join(out, "\n") + (out.empty() ? "" : "\n");
  }
  std::string name = command->get_name();
  if (name == "help") {
    for (const CLI::App* sub : subcommands(app)) add(sub->get_name());
    return join(out, "\n") + (out.empty() ? "" : "\n");
  }
  if (name == "completion") {
    for (const char* shell : {"bash", "zsh", "fish"}) add(shell);
    return join(out, "\n") + (out.empty() ? "" : "\n");
  }
  bool subcommands_first = !subcommands(*command).empty() && positionals.empty();
  if (subcommands_first) {
    for (const CLI::App* sub : subcommands(*command)) add(sub->get_name());
    return join(out, "\n") + (out.empty() ? "" : "\n");
  }

  // The board's values: stage names, types, labels, ids with names.
  try {
    GlobalOptions g;
    g.dir = dir;
    auto tracker = open_tracker(g);
    const Config& config = tracker->workspace().config();
    auto stages = [&] {
      for (const auto& s : config.stages) add(s.name);
    };
    auto board_labels = [&] {
      std::set<std::string> labels;
      ListQuery all;
      tracker->list_each(all, [&](Story&& s) { labels.insert(s.labels.begin(), s.labels.end()); });
      return labels;
    };
    auto ids = [&] {
      ListQuery all;
      all.summary_only = true;
      all.sort = SortKey::id;
      tracker->list_each(all, [&](Story&& s) {
        std::string id = std::to_string(s.id);
        if (id.starts_with(current)) out.push_back(id + "\t" + s.name);
      });
    };
    auto owners = [&] {
      std::set<std::string> names;
      for (const auto& [id, claim] : tracker->live_claims()) names.insert(claim.owner);
      ListQuery all;
      tracker->list_each(all, [&](Story&& s) {
        if (!s.agent.empty()) names.insert(s.agent);
      });
      for (const auto& n : names) add(n);
    };
    // What the value is: the catalogue says, for every command but unlink (link's
    // `remove`, whose positionals are ids) and index's subcommands (which take none).
    using catalogue::Completes;
    Completes what = Completes::nothing;
    std::string spelling;
    const catalogue::Param* param = nullptr;
    if (takes_value(*command, previous)) {
      spelling = previous;
    } else if (const CLI::Option* p = positional(*command, positionals.size())) {
      spelling = p->get_name();
      if (!catalogue::find(name) && (spelling == "id" || spelling.ends_with("-id"))) what = Completes::id;
    }
    if (!spelling.empty() && (param = catalogue::cli_param(name, spelling))) what = param->completes;
    if (what == Completes::key && name == "set" && spelling != "id") what = Completes::nothing, spelling = "keys";
    if (name == "unset" && !positionals.empty()) spelling = "keys";
    if (spelling == "keys") {
      // After the id, front matter keys: `set 5 prio` -> `priority=`, `unset 5 ag` -> `agent`.
      // bash splits `type=b` into `type`, `=`, `b`; zsh and fish give `type=b` whole.
      std::string key, prefix;
      if (before.size() >= 2 && before.back() == "=") {
        key = before[before.size() - 2];
      } else if (auto eq = current.find('='); eq != std::string::npos && name == "set") {
        key = current.substr(0, eq);
        prefix = key + "=";
      }
      if (!key.empty()) {
        std::set<std::string> values;
        if (key == "blocked") values = {"true", "false"};
        if (key == "labels") values = board_labels();
        if (key == "type") values = std::set<std::string>(config.types.begin(), config.types.end());
        for (const auto& v : values)
          if ((prefix + v).starts_with(current)) out.push_back(prefix + v);
      } else {
        // set's own keys, the reason `block` keeps, and the board's custom keys.
        std::set<std::string> keys(known_keys().begin(), known_keys().end());
        keys.insert("blocked_reason");
        ListQuery all;
        tracker->list_each(all, [&](Story&& s) {
          for (const auto& f : s.fields) keys.insert(f.key);
        });
        for (const auto& k : keys) add(name == "set" ? k + "=" : k);
      }
    } else if (name == "move" && spelling == "args") {
      if (!positionals.empty()) stages();  // <id>... <stage>
      ids();
    } else {
      switch (what) {
        case Completes::id: ids(); break;
        case Completes::stage: stages(); break;
        case Completes::type:
          for (const auto& t : config.types) add(t);
          break;
        case Completes::label:
          for (const auto& l : board_labels()) add(l);
          break;
        case Completes::owner: owners(); break;
        case Completes::choices:
          for (const auto& c : param->choices) add(c);
          break;
        case Completes::key: {
          std::set<std::string> keys(known_keys().begin(), known_keys().end());
          for (const auto& k : keys) add(name == "list" ? k + "=" : k);  // list --where key=value
          break;
        }
        case Completes::nothing: break;  // a duration, a number, free text
      }
    }
  } catch (const std::exception&) {
    // No board here: nothing to offer but what the command line knows.
  }
  return join(out, "\n") + (out.empty() ? "" : "\n");
}

}  // namespace tracker::cli
