#!/usr/bin/env bash
# Runs a bounded chaos test of raftcron on 127.0.0.1 (see docs/CHAOS.md).
#
#   scripts/chaos.sh --duration 60s --seed 1 [--nodes 3|5] [--faults N]
#                    [--planted-bug dispatch-before-commit] [--clients N] [--keep-data]
#
# Arguments go to `raftcron chaos` unchanged. Builds the release binary first (a no-op when it
# is up to date), under CARGO_TARGET_DIR when that is set. RAFTCRON_BIN runs another binary
# without a build. The last line printed is the verdict. The exit status is 0 when every
# check passed, 1 on a violation, 2 on bad arguments and 3 when the run itself failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-target}
[[ "$target" = /* ]] || target="$root/$target"
bin=${RAFTCRON_BIN:-}

if [[ -n "$bin" && ! ( -f "$bin" && -x "$bin" ) ]]; then
  echo "error: RAFTCRON_BIN=$bin is not an executable file" >&2
  exit 2
elif [[ -z "$bin" ]]; then
  bin="$target/release/raftcron"
  [[ -x "$bin" ]] || echo "building the release binary (the first build takes minutes)" >&2
  (cd "$root" && cargo build --release --quiet)
fi

exec "$bin" chaos "$@"
