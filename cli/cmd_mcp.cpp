#include "mcp.hpp"
#include "catalogue.hpp"
#include "output.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace tracker::cli {

namespace {

struct McpOptions {
  bool print_config = false;
};

/// This binary's absolute path, for a client configuration that works from anywhere.
std::string own_binary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("tracker") : self.string();
}

int run_mcp(const McpOptions& opts, const GlobalOptions& g) {
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (opts.print_config) {
    // The board the server would serve, as an absolute path (-C, else the one here).
    fs::path start = g.dir.empty() ? cwd : fs::absolute(g.dir, ec);
    std::string board;
    try {
      board = Workspace::discover(start).root().string();
    } catch (const Error&) {
      if (!g.dir.empty()) throw;  // -C names no board: say so
    }
    print_json(mcp::client_config(own_binary(), board));
    return 0;
  }
  if (::isatty(STDIN_FILENO))
    std::cerr << "tracker mcp: an MCP server on stdin/stdout, for an MCP client to start (see 'tracker mcp "
                 "--print-config'); Ctrl-D ends it\n";
  mcp::ServerOptions options;
  if (!g.dir.empty()) options.dir = fs::absolute(g.dir, ec).lexically_normal().string();
  if (const char* env = std::getenv("TRACKER_DIR"); env && *env)
    options.env_dir = fs::absolute(env, ec).lexically_normal().string();
  options.cwd = cwd;
  options.pid = static_cast<long>(::getpid());
  options.global = g;
  options.global.json = false;
  return mcp::serve(options);
}

}  // namespace

Command register_mcp(CLI::App& app, GlobalOptions& g) {
  auto opts = std::make_shared<McpOptions>();
  const auto& op = catalogue::operation("mcp");
  CLI::App* sub = app.add_subcommand(op.name, op.summary);
  catalogue::add_param(sub, op, "owner", g.owner);
  catalogue::add_param(sub, op, "print_config", opts->print_config);
  return {sub, [opts, &g] { return run_mcp(*opts, g); }};
}

}  // namespace tracker::cli
