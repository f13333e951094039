#!/usr/bin/env bash
# Runs a local three-node raftcron cluster on 127.0.0.1 for trying it out.
#
#   scripts/dev-cluster.sh up        build (release), start nodes 1-3, a receiver and a sample job
#   scripts/dev-cluster.sh down      stop everything this script started
#   scripts/dev-cluster.sh status    show processes and the cluster as node 1..3 sees it
#   scripts/dev-cluster.sh kill N    SIGKILL node N
#   scripts/dev-cluster.sh start N   restart node N with its data
#
# Node N serves clients on 127.0.0.1:700N and peers on 127.0.0.1:710N. The HTTP receiver
# listens on 127.0.0.1:7200 and logs every request to data/dev-cluster/receiver.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/data/dev-cluster"
target=${CARGO_TARGET_DIR:-target}
[[ "$target" = /* ]] || target="$root/$target"
bin="$target/release/raftcron"
receiver_addr=127.0.0.1:7200
nodes=(1 2 3)

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_config() {
  local n=$1
  cat >"$dir/node$n.toml" <<TOML
node_id = $n
data_dir = "$dir/node$n"

[[members]]
id = 1
peer_addr = "127.0.0.1:7101"
client_addr = "127.0.0.1:7001"

[[members]]
id = 2
peer_addr = "127.0.0.1:7102"
client_addr = "127.0.0.1:7002"

[[members]]
id = 3
peer_addr = "127.0.0.1:7103"
client_addr = "127.0.0.1:7003"
TOML
}

start_node() {
  local n=$1
  [[ "$n" =~ ^[123]$ ]] || die "node must be 1, 2 or 3, got '$n'"
  if pid_alive "$dir/node$n.pid"; then
    log "node $n is already running (pid $(cat "$dir/node$n.pid"))"
    return
  fi
  [[ -x "$bin" ]] || die "$bin is missing: run 'scripts/dev-cluster.sh up' first"
  [[ -f "$dir/node$n.toml" ]] || write_config "$n"
  RUST_LOG=${RUST_LOG:-info} nohup "$bin" serve --config "$dir/node$n.toml" \
    >>"$dir/node$n.log" 2>&1 </dev/null &
  echo $! >"$dir/node$n.pid"
  log "node $n started (pid $!), log $dir/node$n.log"
}

start_receiver() {
  if pid_alive "$dir/receiver.pid"; then
    return
  fi
  nohup "$bin" receiver --listen "$receiver_addr" >>"$dir/receiver.log" 2>&1 </dev/null &
  echo $! >"$dir/receiver.pid"
}

stop_pid_file() {
  local file=$1 signal=${2:-TERM}
  if pid_alive "$file"; then
    kill "-$signal" "$(cat "$file")" 2>/dev/null || true
  fi
  rm -f "$file"
}

wait_for_leader() {
  local deadline=$((SECONDS + 60)) status
  while ((SECONDS < deadline)); do
    for n in "${nodes[@]}"; do
      # Capture the output first, because under pipefail a pipe into grep -q fails when grep
      # exits before the client has written everything.
      status=$("$bin" cluster status --endpoint "127.0.0.1:700$n" --output json 2>/dev/null) ||
        continue
      if [[ "$status" =~ \"leaderId\":\ *[0-9] ]]; then
        return 0
      fi
    done
    sleep 0.5
  done
  die "no leader elected within 60 s; see $dir/node*.log"
}

create_sample_job() {
  cat >"$dir/sample-job.json" <<JSON
{
  "name": "dev-cluster sample",
  "description": "Posts to the local receiver every 5 seconds",
  "schedule": "*/5 * * * * *",
  "timeZone": "UTC",
  "triggerType": "REST",
  "triggerConfig": {
    "url": "http://$receiver_addr/hook",
    "method": "POST",
    "headers": {"Content-Type": "application/json"},
    "body": {"hello": "from raftcron"},
    "timeout": 5000
  },
  "retryStrategy": {"attempts": 3, "backoff": "exponential", "interval": 1000},
  "tags": ["sample"]
}
JSON
  local jobs
  jobs=$("$bin" job list --endpoint 127.0.0.1:7001 --tags sample --output json) ||
    die "listing jobs failed; see $dir/node*.log"
  if [[ "$jobs" =~ \"total\":\ *[1-9] ]]; then
    log "sample job exists already"
    return
  fi
  "$bin" job create --endpoint 127.0.0.1:7001 -f "$dir/sample-job.json"
}

cmd_up() {
  log "building release binary (the first build takes a few minutes)"
  (cd "$root" && cargo build --release --quiet)
  mkdir -p "$dir"
  for n in "${nodes[@]}"; do start_node "$n"; done
  start_receiver
  wait_for_leader
  create_sample_job
  cat <<TEXT

raftcron dev cluster is up.
  clients:   127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 (gRPC and REST)
  peers:     127.0.0.1:7101 127.0.0.1:7102 127.0.0.1:7103
  receiver:  http://$receiver_addr (requests logged to $dir/receiver.log)
  data/logs: $dir
Try:
  $bin cluster status
  curl -s 127.0.0.1:7002/api/jobs
  tail -f $dir/receiver.log
  scripts/dev-cluster.sh kill <leader id>
TEXT
}

cmd_down() {
  for n in "${nodes[@]}"; do stop_pid_file "$dir/node$n.pid"; done
  stop_pid_file "$dir/receiver.pid"
  log "stopped; data kept in $dir (remove it for a fresh cluster)"
}

cmd_status() {
  for n in "${nodes[@]}"; do
    if pid_alive "$dir/node$n.pid"; then
      log "node $n: running (pid $(cat "$dir/node$n.pid"))"
    else
      log "node $n: stopped"
    fi
  done
  for n in "${nodes[@]}"; do
    if "$bin" cluster status --endpoint "127.0.0.1:700$n" 2>/dev/null; then
      return 0
    fi
  done
  log "no node answered"
}

cmd_kill() {
  local n=${1:-}
  [[ "$n" =~ ^[123]$ ]] || die "usage: scripts/dev-cluster.sh kill N (N is 1, 2 or 3)"
  pid_alive "$dir/node$n.pid" || die "node $n is not running"
  kill -KILL "$(cat "$dir/node$n.pid")"
  rm -f "$dir/node$n.pid"
  log "node $n killed with SIGKILL"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kill) cmd_kill "${2:-}" ;;
  start) start_node "${2:-}" ;;
  *) die "usage: scripts/dev-cluster.sh up|down|status|kill N|start N" ;;
esac
