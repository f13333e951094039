#!/usr/bin/env bash
# Runs the deterministic simulation of raftcron (tests/simulation.rs, see docs/CHAOS.md) in a
# release build.
#
#   scripts/sim.sh --seeds N [--from S] [--fault-secs T] [--nodes 3|5] [--threads K]
#   scripts/sim.sh --seed S [--planted-bug] [--fault-secs T] [--nodes 3|5]
#
# The first form runs seeds S..S+N-1 on every core (or K threads) and prints each failing
# seed with the command that replays it, then the seeds per second. The second runs one seed
# and prints its fault log, its verdict table and a fingerprint that every replay repeats;
# RUST_LOG (for example RUST_LOG=info) adds the nodes' logs. --from defaults to 1,
# --fault-secs (simulated seconds of faults per seed) to 30 and --nodes to 3. The exit status
# is 0 when every seed passed every check.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The flags alone choose the run: variables left in the environment must not override them.
unset RAFTCRON_SIM_SEED RAFTCRON_SIM_SEEDS RAFTCRON_SIM_SEED_FROM RAFTCRON_SIM_PLANTED_BUG \
  RAFTCRON_SIM_NODES RAFTCRON_SIM_FAULT_SECS RAFTCRON_SIM_THREADS

missing_value() {
  echo "missing value for $1" >&2
  usage
}

fail() {
  echo "error: $*" >&2
  exit 2
}

# number FLAG VALUE MIN MAX: VALUE must be a whole number from MIN to MAX.
number() {
  local flag=$1 value=$2 min=$3 max=$4
  [[ "$value" =~ ^[0-9]{1,19}$ ]] || fail "invalid $flag $value: expected a whole number"
  value=$((10#$value))
  ((value >= min && value <= max)) || fail "invalid $flag $value: expected $min to $max"
}

seeds="" from="" seed="" planted=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds|--from|--seed|--fault-secs|--nodes|--threads)
      [[ $# -ge 2 && -n "$2" ]] || missing_value "$1" ;;&
    --seeds) number "$1" "$2" 1 1000000000; seeds=$2; shift 2 ;;
    --from) number "$1" "$2" 0 1000000000000000000; from=$2; shift 2 ;;
    --seed) number "$1" "$2" 0 1000000000000000000; seed=$2; shift 2 ;;
    --fault-secs) number "$1" "$2" 1 86400; export RAFTCRON_SIM_FAULT_SECS=$2; shift 2 ;;
    --nodes)
      [[ "$2" == 3 || "$2" == 5 ]] || fail "invalid --nodes $2: expected 3 or 5"
      export RAFTCRON_SIM_NODES=$2; shift 2 ;;
    --threads) number "$1" "$2" 1 1024; export RAFTCRON_SIM_THREADS=$2; shift 2 ;;
    --planted-bug) planted=1; shift ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

if [[ -n "$seed" ]]; then
  [[ -z "$seeds" && -z "$from" ]] || fail "--seed replays one seed: give it without --seeds and --from"
  export RAFTCRON_SIM_SEED=$seed
  [[ -z "$planted" ]] || export RAFTCRON_SIM_PLANTED_BUG=1
elif [[ -n "$seeds" ]]; then
  [[ -z "$planted" ]] || fail "--planted-bug runs one seed: give it with --seed S"
  export RAFTCRON_SIM_SEEDS=$seeds
  export RAFTCRON_SIM_SEED_FROM=${from:-1}
else
  usage
fi

exec cargo test --release --test simulation seeds_pass_checks -- --nocapture
