#!/usr/bin/env bash
# The price of sharing on a cache hit (issue #15): one ghpool without Redis and one with
# `[shared] redis_url` (a local redis-server), the same cached answer, measured alternately in one run.
# With Redis a hit also checks its tags' write generations (against the replica's leased copy, fed by
# the bumps Redis publishes) to stay read-your-writes across replicas.
#
#   benches/load/shared.sh [2k|20k|200k]     (default 2k)
#   settings: DURATION=10 ROUNDS=3 (the best of each is kept) CONNECTIONS=64 WRK_THREADS=2 PORT_BASE=28300
#
# Needs wrk and redis-server (scripts/deps bench, scripts/deps test); builds ghpool and the fast fake
# in release. Everything listens on 127.0.0.1; every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
size=${1:-2k}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3} CONNECTIONS=${CONNECTIONS:-64} WRK_THREADS=${WRK_THREADS:-2}
base=${PORT_BASE:-28300}
fake_port=$((base + 1)) redis_port=$((base + 2)) alone_port=$((base + 3)) shared_port=$((base + 4))
for tool in wrk redis-server; do
  command -v "$tool" >/dev/null || { echo "shared.sh: needs $tool (scripts/deps bench, scripts/deps test)" >&2; exit 2; }
done
cargo build --release --quiet --bin ghpool --example fast_github
dir=$ROOT/target/bench/shared
mkdir -p "$dir"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

"$ROOT/target/release/examples/fast_github" --listen "127.0.0.1:$fake_port" --limit 1000000000000 >"$dir/fake.log" 2>&1 &
pids+=($!)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$dir/redis.log" 2>&1 &
pids+=($!)
start() { # start PORT [VAR=value...]
  local port=$1
  shift
  env RUST_LOG=warn GHPOOL_LISTEN="127.0.0.1:$port" GHPOOL_UPSTREAM="http://127.0.0.1:$fake_port" \
    GHPOOL_ALLOWED_OWNERS=acme GHPOOL_PAT_POOL1=env:BENCH_POOL1 BENCH_POOL1=ghp_bench_pool1 \
    GHPOOL_PUBLIC_URL=http://ghpool.bench "$@" "$ROOT/target/release/ghpool" >"$dir/ghpool-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" || true)" = 200 ] && return
    sleep 0.2
  done
  echo "shared.sh: ghpool on $port did not become ready; see $dir/ghpool-$port.log" >&2
  exit 1
}
start "$alone_port"
start "$shared_port" GHPOOL_REDIS_URL="redis://127.0.0.1:$redis_port/0"
path=/repos/acme/bench-$size/issues
rps() { # rps PORT: requests per second of cache hits
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: token ghp_bench_agent" \
    -H "Accept: application/vnd.github+json" -s "$ROOT/benches/load/bench.lua" "http://127.0.0.1:$1$path" -- hit |
    sed -n 's/^RESULT //p' | python3 -c 'import json,sys; r = json.load(sys.stdin); print(round(r["requests"] * 1e6 / r["duration_us"]))'
}
for port in $alone_port $shared_port; do
  curl -s -o /dev/null "http://127.0.0.1:$port$path" # fill
  [ "$(curl -s -o /dev/null -D - "http://127.0.0.1:$port$path" | tr -d '\r' | sed -n 's/^x-ghpool-cache: //Ip')" = HIT ] ||
    { echo "shared.sh: no cache hit on $port" >&2; exit 1; }
done
best_alone=0 best_shared=0
for round in $(seq "$ROUNDS"); do
  a=$(rps "$alone_port") s=$(rps "$shared_port")
  echo "round $round: without Redis $a/s, with Redis $s/s"
  [ "$a" -gt "$best_alone" ] && best_alone=$a
  [ "$s" -gt "$best_shared" ] && best_shared=$s
done
# How the hits with Redis checked their generations: the leased copy, or a round trip.
sharing=$(curl -s "http://127.0.0.1:$shared_port/stats" | python3 -c 'import json,sys; s = json.load(sys.stdin)["sharing"]; print("leased %s, checked locally %s, asked Redis %s" % (s["leased"], s["generations_local"], s["generations_asked"]))')
echo "shared.sh: with Redis: $sharing"
python3 - "$best_alone" "$best_shared" "$size" <<'PY'
import sys
alone, shared, size = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
print(f"shared.sh: {size} cache hits, best of each: without Redis {alone}/s, with Redis {shared}/s "
      f"({shared / alone:.2f}x, {100 * (1 - shared / alone):.0f}% fewer)")
PY
