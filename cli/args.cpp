#include "args.hpp"

#include <tracker/util.hpp>

namespace tracker::cli {

namespace {

bool is_number(const std::string& a) {
  std::size_t i = a.starts_with('-') ? 1 : 0;
  return i < a.size() && std::all_of(a.begin() + static_cast<std::ptrdiff_t>(i), a.end(),
                                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

/// The option of `app` (or of an app it falls through to) called `name` ("--json", "-C").
const CLI::Option* find_option(const std::vector<const CLI::App*>& chain, const std::string& name) {
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (const CLI::Option* o : (*it)->get_options()) {
      auto spellings = option_spellings(*o);
      if (std::find(spellings.begin(), spellings.end(), name) != spellings.end()) return o;
    }
  return nullptr;
}

std::vector<std::string> option_names(const std::vector<const CLI::App*>& chain) {
  std::vector<std::string> out;
  for (const CLI::App* app : chain)
    for (const CLI::Option* o : app->get_options())
      for (auto& spelling : option_spellings(*o)) out.push_back(std::move(spelling));
  return out;
}

std::string command_line(const std::vector<std::string>& path) {
  return path.empty() ? "tracker" : "tracker " + join(path, " ");
}

}  // namespace

std::vector<const CLI::App*> subcommands(const CLI::App& app) {
  auto all = const_cast<CLI::App&>(app).get_subcommands([](CLI::App*) { return true; });
  return {all.begin(), all.end()};
}

const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* s : subcommands(app))
    if (s->check_name(name)) return s;
  return nullptr;
}

std::vector<std::string> option_spellings(const CLI::Option& option) {
  std::vector<std::string> out;
  for (const auto& s : option.get_snames()) out.push_back("-" + s);
  for (const auto& l : option.get_lnames()) out.push_back("--" + l);
  return out;
}

Vetted vet_arguments(const CLI::App& app, const std::vector<std::string>& args,
                     const std::set<std::string>& free_words) {
  Vetted v;
  std::vector<const CLI::App*> chain = {&app};
  std::vector<std::string> moved;  // a free-word command's words, in order, for after `--`
  bool free = false, rest = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (rest) {
      (free ? moved : v.args).push_back(a);
      continue;
    }
    if (a == "--") {
      rest = true;
      if (!free) v.args.push_back(a);
      continue;
    }
    if (a.size() > 1 && a.starts_with('-') && !is_number(a)) {
      // --name=value, -Cdir and -C dir
      std::string name = a.starts_with("--") ? a.substr(0, a.find('=')) : a.substr(0, 2);
      bool inline_value = name.size() < a.size();
      if (const CLI::Option* o = find_option(chain, name)) {
        v.args.push_back(a);
        if (o->get_expected_max() > 0 && o->get_type_size() > 0 && !inline_value) {
          if (i + 1 == args.size()) {
            v.error = "option '" + name + "' needs a value; see '" + command_line(v.path) + " --help'";
            return v;
          }
          v.args.push_back(args[++i]);
        }
        continue;
      }
      if (free) {
        moved.push_back(a);
        continue;
      }
      v.error = "unknown option '" + name + "'" + (chain.size() > 1 ? " for '" + command_line(v.path) + "'" : "") +
                did_you_mean(name, option_names(chain)) + "; see '" + command_line(v.path) + " --help'";
      return v;
    }
    const CLI::App* current = chain.back();
    auto subs = subcommands(*current);
    if (!subs.empty()) {
      const CLI::App* found = find_subcommand(*current, a);
      if (!found) {
        std::vector<std::string> names;
        for (const CLI::App* s : subs) names.push_back(s->get_name());
        std::vector<std::string> path = v.path;
        path.push_back(a);
        v.error = "unknown command '" + join(path, " ") + "'" + did_you_mean(a, names) + "; see '" +
                  command_line(v.path) + " --help'";
        return v;
      }
      chain.push_back(found);
      v.path.push_back(found->get_name());
      v.args.push_back(a);
      free = free_words.count(found->get_name()) > 0;
      continue;
    }
    (free ? moved : v.args).push_back(a);
  }
  v.needs_command = !subcommands(*chain.back()).empty();
  if (!moved.empty()) {
    v.args.push_back("--");
    v.args.insert(v.args.end(), moved.begin(), moved.end());
  }
  return v;
}

}  // namespace tracker::cli
