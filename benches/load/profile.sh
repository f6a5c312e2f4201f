#!/usr/bin/env bash
# Where ghpool's time goes, per request: ghpool (one worker thread) under callgrind while wrk sends
# cache hits or misses (BENCHMARKS.md, "Where the time goes"). callgrind, not perf: it counts
# instructions, which this machine's perf cannot (`perf stat -e instructions` is "not supported" in
# its VM), and the counts do not depend on what else runs on the machine.
#
#   benches/load/profile.sh [hit|miss] [2k|20k|200k]     (default: hit 2k)
#
# Needs valgrind and wrk; builds ghpool and the fast fake in release. Prints the top of
# callgrind_annotate (inclusive) and the instructions per request; keeps the profile in
# target/bench/profile/ for kcachegrind or callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
mode=${1:-hit}
size=${2:-2k}
command -v valgrind >/dev/null || { echo "profile.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet --bin ghpool --example fast_github
dir=$ROOT/target/bench/profile
mkdir -p "$dir"
port_base=${PORT_BASE:-28200}
fake_port=$((port_base + 1)) ghpool_port=$((port_base + 4))
auth="Authorization: token ghp_bench_agent"
path=/repos/acme/bench-$size/issues

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

"$ROOT/target/release/examples/fast_github" --listen "127.0.0.1:$fake_port" --threads 1 --limit 1000000000000 \
  >"$dir/fake.log" 2>&1 &
pids+=($!)
cat >"$dir/ghpool.yaml" <<EOF
---
version: 1
threads: 1
pid_file: $dir/ghpool.pid
upgrade_sock: $dir/ghpool_upgrade.sock
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
EOF
out=$dir/$mode-$size.callgrind
rm -f "$out"*
env RUST_LOG=warn GHPOOL_LISTEN="127.0.0.1:$ghpool_port" GHPOOL_UPSTREAM="http://127.0.0.1:$fake_port" \
  GHPOOL_ALLOWED_OWNERS=acme GHPOOL_PAT_POOL1=env:BENCH_POOL1 BENCH_POOL1=ghp_bench_pool1 GHPOOL_CACHE_MAX_SIZE=1GiB \
  valgrind --tool=callgrind --callgrind-out-file="$out" "$ROOT/target/release/ghpool" -c "$dir/ghpool.yaml" \
  >"$dir/ghpool.log" 2>&1 &
ghpool=$!
pids+=("$ghpool")
for _ in $(seq 120); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$ghpool_port/readyz" || true)" = 200 ] && break
  sleep 0.5
done
load() { # load SECONDS SALT
  wrk -t1 -c4 -d"$1s" -H "$auth" -H "Accept: application/vnd.github+json" -s "$ROOT/benches/load/bench.lua" \
    "http://127.0.0.1:$ghpool_port$path" -- "$mode" "$2" | sed -n 's/^RESULT //p'
}
load 5 warm >/dev/null # primes the cache (hits) and the code paths
callgrind_control -z "$ghpool" >/dev/null 2>&1
result=$(load 20 measured)
callgrind_control -d "$ghpool" >/dev/null 2>&1
sleep 2
kill -INT "$ghpool"
wait "$ghpool" 2>/dev/null || true
profile=$(ls -t "$out".* | head -1)
requests=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["requests"])' "$result")
total=$(sed -n 's/^summary: //p' "$profile")
echo "profile.sh: $mode $size: $requests requests, $((total / requests)) instructions per request ($profile)"
callgrind_annotate --inclusive=yes "$profile" 2>/dev/null | grep -E '^ *[0-9,]+ \(' |
  grep -vE 'tokio::|core::ops::function|std::sys|clone\.S|pthread_create' | head -60 | cut -c1-200
