#!/usr/bin/env bash
# Supply-chain check, fully offline: `cargo audit` over the workspace's Cargo.lock against the
# RustSec advisory-db snapshot beside the clone (../shared/advisory-db, a plain directory, not a
# git repository). Fails on any vulnerability; unmaintained/unsound/yanked warnings are printed
# but do not fail. Ignores, if any, live in .cargo/audit.toml (read from the repo root).
#
# Environment:
#   REMEDY_ADVISORY_DB    advisory database directory (default ../shared/advisory-db; a relative
#                         path is taken from the repository root)
#   REMEDY_TOOLS_ROOT     cargo install root reused between runs (default /var/tmp/remedy-tools)
#   REMEDY_CARGO_AUDIT    cargo-audit version to install when missing (default 0.22.2)
# Extra arguments are passed to `cargo audit` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_ROOT="${REMEDY_TOOLS_ROOT:-/var/tmp/remedy-tools}"
AUDIT_VERSION="${REMEDY_CARGO_AUDIT:-0.22.2}"
DB="${REMEDY_ADVISORY_DB:-../shared/advisory-db}"
export PATH="$TOOLS_ROOT/bin:$PATH"

log() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }

installed() { cargo-audit audit --version 2>/dev/null | grep -q " $AUDIT_VERSION\$"; }

log "cargo-audit $AUDIT_VERSION"
if ! installed; then
  # Cold machine: compile it from crates.io (about 8-10 minutes on 2 cores). The lock keeps two
  # concurrent runs from compiling it twice; the binary under $TOOLS_ROOT is reused afterwards.
  mkdir -p "$TOOLS_ROOT"
  exec 9>"$TOOLS_ROOT/.install.lock"
  flock 9
  if ! installed; then
    # Build in cargo's own temporary directory, not in the project's CARGO_TARGET_DIR.
    env -u CARGO_TARGET_DIR cargo install --locked --root "$TOOLS_ROOT" \
      --version "=$AUDIT_VERSION" cargo-audit
  fi
  flock -u 9
  exec 9>&-
fi
cargo audit --version

log "cargo audit (offline)"
if [[ ! -d "$DB/crates" ]]; then
  echo "advisory database not found at '$DB' (set REMEDY_ADVISORY_DB)" >&2
  exit 1
fi
if [[ -f "$DB/SNAPSHOT.txt" ]]; then head -n 1 "$DB/SNAPSHOT.txt"; fi
# --no-fetch: use the directory as is (no git, no network; also skips the crates.io yanked check).
cargo audit --no-fetch --db "$DB" --file Cargo.lock "$@"

log "audit passed"
