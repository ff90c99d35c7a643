# Shared helpers for the project's scripts: paths, logging, tool lookup.
# Sourced, never run. Everything installed by the scripts lives in the clone
# (.tools/) or comes from the machine's package managers.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH:/usr/lib/postgresql/15/bin"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# wasm-opt for the browser bundle: npm's binaryen, inside the clone
# (scripts/setup installs it, scripts/build-site runs it). Never Debian's
# binaryen: its wasm-opt 108 produced bundles that failed to hydrate.
BINARYEN_VERSION=132.0.0
# wasm-split-cli (leptos's wasm_split_cli_support): cuts the browser bundle
# into a chunk per page (scripts/build-site).
WASM_SPLIT_VERSION=0.2.4
WASM_OPT="$TOOLS/binaryen/node_modules/.bin/wasm-opt"

# The version of a package as Cargo.lock pins it.
locked_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
