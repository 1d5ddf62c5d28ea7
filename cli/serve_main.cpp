// tracker-serve: what `tracker serve` runs (see serve.hpp).
#include "help.hpp"
#include "serve.hpp"

#include <iostream>

int main(int argc, char** argv) {
  using namespace tracker;
  CLI::App app{"tracker-serve: the board in a browser, on 127.0.0.1 only (run as 'tracker serve')"};
  cli::GlobalOptions g;
  int port = 7410;
  bool open = false;
  app.add_option("-C", g.dir, "Run as if started in <dir>");
  app.add_option("--port", port, "The port (0: any free one)")->check(CLI::Range(0, 65535));
  app.add_flag("--open", open, "Open the page in the browser (xdg-open)");
  app.add_flag("--no-verify", g.no_verify, "Skip the pre-commit and commit-msg hooks");
  app.add_flag("--offline", g.offline, "Claims on this machine alone");
  cli::use_words(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return cli::run_serve(g, port, open);
  } catch (const Error& e) {
    std::cerr << "tracker: " << for_door(e.what(), Door::cli) << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "tracker: " << for_door(e.what(), Door::cli) << "\n";
    return 1;
  }
}
