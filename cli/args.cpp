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
      if (!o->nonpositional()) continue;
      for (const auto& l : o->get_lnames())
        if (name == "--" + l) return o;
      for (const auto& s : o->get_snames())
        if (name == "-" + s) return o;
    }
  return nullptr;
}

std::vector<std::string> option_names(const std::vector<const CLI::App*>& chain) {
  std::vector<std::string> out;
  for (const CLI::App* app : chain)
    for (const CLI::Option* o : app->get_options()) {
      for (const auto& l : o->get_lnames()) out.push_back("--" + l);
      for (const auto& s : o->get_snames()) out.push_back("-" + s);
    }
  return out;
}

std::string command_line(const std::vector<std::string>& path) {
  return path.empty() ? "tracker" : "tracker " + join(path, " ");
}

}  // namespace

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
        if (o->get_expected_max() > 0 && o->get_type_size() > 0 && !inline_value && i + 1 < args.size()) v.args.push_back(args[++i]);
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
    auto subs = const_cast<CLI::App*>(current)->get_subcommands([](CLI::App*) { return true; });
    if (!subs.empty()) {
      const CLI::App* found = nullptr;
      std::vector<std::string> names;
      for (const CLI::App* s : subs) {
        names.push_back(s->get_name());
        if (s->check_name(a)) found = s;
      }
      if (!found) {
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
  auto subs = const_cast<CLI::App*>(chain.back())->get_subcommands([](CLI::App*) { return true; });
  v.needs_command = !subs.empty();
  if (!moved.empty()) {
    v.args.push_back("--");
    v.args.insert(v.args.end(), moved.begin(), moved.end());
  }
  return v;
}

}  // namespace tracker::cli
