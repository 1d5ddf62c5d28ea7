#!/bin/sh
# ctest mcp:sdk-client: tracker mcp driven by the official TypeScript SDK's client.
# Exits 77 (ctest: skipped) where node or the SDK is not installed; `make test`
# installs the SDK (npm ci here) whenever npm is present, and CI always has npm.
# Usage: run.sh <tracker binary>
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tracker=$1
if ! command -v node >/dev/null 2>&1; then
  echo "skipped: node is not installed (apt-get install nodejs npm, then make test)"
  exit 77
fi
if [ ! -d "$here/node_modules/@modelcontextprotocol/sdk" ]; then
  echo "skipped: the MCP SDK is not installed (make test runs npm ci in tests/mcp when npm is present)"
  exit 77
fi
board=$(mktemp -d)
trap 'rm -rf "$board"' EXIT
export GIT_CONFIG_NOSYSTEM=1 HOME="$board"
git -C "$board" init -q -b main
# In the repository's config: the SDK starts the server with a short list of
# environment variables (HOME, PATH, ...), not GIT_AUTHOR_*.
git -C "$board" config user.name test
git -C "$board" config user.email test@example.com
(cd "$board" && "$tracker" init > /dev/null)
node "$here/client.mjs" "$tracker" "$board"
