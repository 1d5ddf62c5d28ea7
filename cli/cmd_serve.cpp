#include "catalogue.hpp"
#include "output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tracker::cli {

namespace {

struct ServeOptions {
  int port = 7410;
  bool open = false;
};

/// tracker-serve beside this binary (as installed, and in the build directory).
fs::path serve_binary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return (ec ? fs::path("tracker") : self).parent_path() / "tracker-serve";
}

}  // namespace

Command register_serve(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<ServeOptions>();
  const auto& op = catalogue::operation("serve");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "port", opts->port);
  catalogue::add_param(sub, op, "open", opts->open);
  return {sub, [opts, &g]() -> int {
            fs::path binary = serve_binary();
            std::vector<std::string> args = {binary.string(), "--port", std::to_string(opts->port)};
            if (opts->open) args.push_back("--open");
            if (!g.dir.empty()) args.insert(args.end(), {"-C", g.dir});
            if (g.no_verify) args.push_back("--no-verify");
            if (g.offline) args.push_back("--offline");
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            std::fflush(stdout);
            ::execv(binary.c_str(), argv.data());
            throw Error(ExitCode::error, "cannot start " + binary.string() + ": " + std::strerror(errno) +
                                             " (it is built and installed with tracker)");
          }};
}

}  // namespace tracker::cli
