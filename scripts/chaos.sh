#!/usr/bin/env bash
# Runs a bounded chaos test of raftcron on 127.0.0.1 (see docs/CHAOS.md).
#
#   scripts/chaos.sh --duration 60s --seed 1 [--nodes 3|5] [--faults N]
#                    [--planted-bug dispatch-before-commit] [--clients N] [--keep-data]
#
# Arguments go to `raftcron chaos` unchanged. Builds the release binary first if it is missing
# (set RAFTCRON_BIN to use another binary). The last line printed is the verdict. The exit
# status is 0 when every check passed, 1 on a violation and 2 when the run itself failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${RAFTCRON_BIN:-"$root/target/release/raftcron"}

if [[ ! -x "$bin" ]]; then
  echo "building release binary (the first build takes a few minutes)" >&2
  (cd "$root" && cargo build --release --quiet)
fi

exec "$bin" chaos "$@"
