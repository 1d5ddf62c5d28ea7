// `tracker serve`: the web board. It lives in its own executable, tracker-serve,
// so that the HTTP library (and what it loads: OpenSSL, zlib, brotli) costs
// nothing to every other command; `tracker serve` starts it.
#pragma once

#include "output.hpp"

namespace tracker::cli {

/// Serves the board of `g.dir` (or the working directory) on 127.0.0.1:`port`
/// (0: any free port) until the process is stopped; `open` opens the page.
int run_serve(const GlobalOptions& g, int port, bool open);

}  // namespace tracker::cli
