#!/usr/bin/env bash
# ghpool side by side with nginx and Varnish on this machine, in one run (issue #8).
#
#   benches/load/compare.sh            the full run (about 30 minutes); writes its tables into BENCHMARKS.md
#   benches/load/compare.sh --quick    a few seconds per case, 2 KB bodies only, writes target/bench/quick.md;
#                                      fails only on breakage (a server that does not start, no requests,
#                                      non-2xx answers, a cache that never hits), never on numbers
#   options: --only load|replay|memory (repeatable), --out FILE
#   settings (environment): DURATION=10 WARMUP=3 (seconds), ROUNDS=3 (runs per case, the best is kept),
#   CONNECTIONS=64, WRK_THREADS=2, WORKERS=$(nproc) (every server's worker threads/processes),
#   SIZES="2k 20k 200k", PORT_BASE=28100
#
# Installs wrk, nginx and varnish from Debian when missing (scripts/deps bench), builds ghpool and
# the fast fake GitHub (examples/fast_github) in release (quick mode: the dev build), then, for each body size:
#   cache hits:   nginx serving the body from memory (the ceiling), nginx proxy_cache and Varnish in
#                 front of the fake, ghpool;
#   cache misses: a unique query string per request (bench.lua): ghpool, nginx proxy_pass without
#                 cache, and the fake directly.
# Then the agent-fleet replay (examples/fleet_replay) and ghpool's memory under 10k/100k entries and churn.
# Everything listens on 127.0.0.1 only; every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/benches/load

quick=false
out=$ROOT/BENCHMARKS.md
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true ;;
    --out) out=$(realpath -m "$2"); shift ;;
    --only) only+=("$2"); shift ;;
    *) echo "usage: $0 [--quick] [--only load|replay|memory]... [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
BIN=$ROOT/target/release
if $quick; then
  BIN=$ROOT/target/debug
  DURATION=${DURATION:-2} WARMUP=${WARMUP:-1} SIZES=${SIZES:-2k} ROUNDS=${ROUNDS:-1}
  [ "$out" = "$ROOT/BENCHMARKS.md" ] && out=$ROOT/target/bench/quick.md
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
WORKERS=${WORKERS:-$(nproc)}
SIZES=${SIZES:-2k 20k 200k}
PORT_BASE=${PORT_BASE:-28100}
# Same length on purpose: ghpool's rewritten bodies are exactly as long as the fake's.
FAKE_PORT=$((PORT_BASE + 1)) NGINX_PORT=$((PORT_BASE + 2)) VARNISH_PORT=$((PORT_BASE + 3)) GHPOOL_PORT=$((PORT_BASE + 4))
# Every client sends a token, as agents do: GitHub then answers `Cache-Control: private` and
# `Vary: Authorization`, which nginx and Varnish must be told to ignore (ghpool ignores them by design).
AUTH="Authorization: token ghp_bench_agent"
ACCEPT="Accept: application/vnd.github+json"

wants() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }
say() { printf '%s\n' "$*" >&2; }
die() { say "compare.sh: FAILED: $*"; exit 1; }

RUN=$ROOT/target/bench/run
rm -rf "$RUN"
mkdir -p "$RUN"
RESULTS=$RUN/results.jsonl
: >"$RESULTS"

# ---- processes: started in the background, remembered by PID, stopped by PID ----------------------
pids=()
LAST_PID=
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() { # start LOG CMD... ; sets LAST_PID
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  pids+=("$LAST_PID")
}

stop() { # stop PID [SIGNAL]: ask, then insist after 5 s
  local pid=$1 sig=${2:-TERM} i
  kill -s "$sig" "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

wait_http() { # wait_http URL NAME LOG PID: until it answers 200 (10 s at most)
  local i
  for i in $(seq 100); do
    kill -0 "$4" 2>/dev/null || { tail -20 "$3" >&2 || true; die "$2 exited at start (log: $3)"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "$AUTH" "$1" || true)" = 200 ] && return 0
    sleep 0.1
  done
  tail -20 "$3" >&2 || true
  die "$2 did not answer 200 at $1 within 10 s (log: $3)"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Peak resident memory (VmHWM) of a process and its children, in KiB (nginx: master + workers +
# cache manager; Varnish: manager + child). Shared pages count once per process.
peak_rss_kib() {
  local total=0 p v
  for p in "$1" $(pgrep -P "$1" || true); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# ---- the servers ------------------------------------------------------------------------------------
start_fake() { # start_fake [LIMIT]
  start "$RUN/fake.log" "$BIN/examples/fast_github" --listen "127.0.0.1:$FAKE_PORT" \
    --threads "$WORKERS" --limit "${1:-1000000000000}"
  FAKE_PID=$LAST_PID
  wait_http "http://127.0.0.1:$FAKE_PORT/rate_limit" "fast_github" "$RUN/fake.log" "$FAKE_PID"
}

start_ghpool() { # start_ghpool [extra VAR=value...]
  cat >"$RUN/ghpool.yaml" <<EOF
---
version: 1
threads: $WORKERS
pid_file: $RUN/ghpool.pid
upgrade_sock: $RUN/ghpool_upgrade.sock
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
upstream_keepalive_pool_size: 256
EOF
  # Logs at warn: the per-request info line is off, as nginx's access_log is below.
  start "$RUN/ghpool.log" env -C "$RUN" RUST_LOG=warn \
    GHPOOL_LISTEN="127.0.0.1:$GHPOOL_PORT" GHPOOL_UPSTREAM="http://127.0.0.1:$FAKE_PORT" \
    GHPOOL_ALLOWED_OWNERS=acme GHPOOL_PAT_POOL1=env:BENCH_POOL1 GHPOOL_PAT_POOL2=env:BENCH_POOL2 \
    BENCH_POOL1=ghp_bench_pool1 BENCH_POOL2=ghp_bench_pool2 GHPOOL_CACHE_MAX_SIZE=1GiB "$@" \
    "$BIN/ghpool" -c "$RUN/ghpool.yaml"
  GHPOOL_PID=$LAST_PID
  wait_http "http://127.0.0.1:$GHPOOL_PORT/readyz" "ghpool" "$RUN/ghpool.log" "$GHPOOL_PID"
}

# Three ghpool replicas sharing one Redis (issue #15), reached through nginx as through a Service.
REPLICA_PORTS=($((PORT_BASE + 10)) $((PORT_BASE + 11)) $((PORT_BASE + 12)))
REDIS_PORT=$((PORT_BASE + 13))
start_replicas() {
  start "$RUN/redis.log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
  REDIS_PID=$LAST_PID
  REPLICA_PIDS=()
  local port
  for port in "${REPLICA_PORTS[@]}"; do
    cat >"$RUN/replica-$port.yaml" <<EOF
---
version: 1
threads: 1
pid_file: $RUN/replica-$port.pid
upgrade_sock: $RUN/replica-$port.sock
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
upstream_keepalive_pool_size: 256
EOF
    start "$RUN/replica-$port.log" env -C "$RUN" RUST_LOG=warn \
      GHPOOL_LISTEN="127.0.0.1:$port" GHPOOL_UPSTREAM="http://127.0.0.1:$FAKE_PORT" \
      GHPOOL_ALLOWED_OWNERS=acme GHPOOL_PAT_POOL1=env:BENCH_POOL1 GHPOOL_PAT_POOL2=env:BENCH_POOL2 \
      BENCH_POOL1=ghp_bench_pool1 BENCH_POOL2=ghp_bench_pool2 GHPOOL_CACHE_MAX_SIZE=1GiB \
      GHPOOL_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" GHPOOL_REDIS_TIMEOUT=200ms \
      GHPOOL_PUBLIC_URL="http://127.0.0.1:$NGINX_PORT" "$BIN/ghpool" -c "$RUN/replica-$port.yaml"
    REPLICA_PIDS+=("$LAST_PID")
    wait_http "http://127.0.0.1:$port/readyz" "ghpool replica" "$RUN/replica-$port.log" "$LAST_PID"
  done
}

stop_replicas() {
  local pid
  for pid in "${REPLICA_PIDS[@]}"; do stop "$pid" INT; done
  stop "$REDIS_PID"
}

# nginx as an operator would run it in front of GitHub: keep-alive to the upstream, access log off
# (ghpool logs at warn here too), many requests per client connection (ghpool sets no limit).
nginx_conf() { # nginx_conf MODE: static | cache | proxy
  local mode=$1 dir=$RUN/nginx-$1
  mkdir -p "$dir/tmp" "$dir/cache"
  {
    # Workers run as whoever runs this script: run as root, nginx would otherwise drop them to
    # `nobody`, who cannot read the bodies under a private checkout (CI clones into `mktemp -d`, 0700).
    # Not root: nginx ignores the line with a warning.
    cat <<EOF
user $(id -un);
worker_processes $WORKERS;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  upstream github { server 127.0.0.1:$FAKE_PORT; keepalive 256; }
EOF
    if [ "$mode" = replicas ]; then
      echo "  upstream ghpool_replicas {"
      for port in "${REPLICA_PORTS[@]}"; do echo "    server 127.0.0.1:$port;"; done
      echo "    keepalive 64;"
      echo "  }"
    fi
    if [ "$mode" = cache ]; then
      # The cache on tmpfs when there is one: nginx serves hits from files (through the page cache).
      local cache_dir=$dir/cache
      [ -d /dev/shm ] && cache_dir=$(mktemp -d /dev/shm/ghpool-bench-nginx.XXXXXX)
      echo "$cache_dir" >"$dir/cache_dir"
      cat <<EOF
  proxy_cache_path $cache_dir levels=1:2 keys_zone=github:64m max_size=1g inactive=10m use_temp_path=off;
EOF
    fi
    echo "  server {"
    echo "    listen 127.0.0.1:$NGINX_PORT;"
    case "$mode" in
      static) cat "$RUN/static-locations.conf" ;;
      replicas) cat <<EOF
    # A Service in front of three ghpool replicas: round robin, keep-alive, nothing cached here.
    location / {
      proxy_pass http://ghpool_replicas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      client_max_body_size 100m;
    }
EOF
        ;;
      proxy) cat <<EOF
    location / {
      proxy_pass http://github;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
EOF
        ;;
      cache) cat <<EOF
    # GitHub answers reads with Cache-Control: private and Vary: Authorization. A shared cache of the
    # org's reads (what ghpool is) ignores both and leaves the token out of the key.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_ignore_headers Cache-Control Expires Vary;
    proxy_cache github;
    proxy_cache_valid 200 60s;
    proxy_cache_lock on;
    proxy_cache_revalidate on;
    proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
    add_header X-Cache-Status \$upstream_cache_status always;
    location / {
      proxy_pass http://github;
      proxy_cache_key "\$request_uri|\$http_accept|\$http_x_github_api_version";
    }
    # GraphQL queries are POSTs: cached by body (mutations would be too: nginx cannot tell them apart).
    location = /graphql {
      proxy_pass http://github;
      client_body_buffer_size 64k;
      client_max_body_size 64k;
      proxy_cache_methods POST;
      proxy_cache_key "\$request_uri|\$request_body|\$http_accept|\$http_x_github_api_version";
    }
EOF
        ;;
    esac
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
  echo "$dir"
}

start_nginx() { # start_nginx MODE
  local dir
  dir=$(nginx_conf "$1")
  start "$dir/out.log" nginx -p "$dir" -c "$dir/nginx.conf"
  NGINX_PID=$LAST_PID
  wait_http "http://127.0.0.1:$NGINX_PORT/repos/acme/bench-2k/issues" "nginx ($1)" "$dir/out.log" "$NGINX_PID"
}

stop_nginx() {
  stop "$NGINX_PID"
  local dir=$RUN/nginx-cache
  if [ -f "$dir/cache_dir" ]; then
    rm -rf "$(cat "$dir/cache_dir")" "$dir/cache_dir"
  fi
}

start_varnish() {
  local dir=$RUN/varnish
  mkdir -p "$dir"
  sed -e "s/@FAKE_PORT@/$FAKE_PORT/" "$HERE/varnish.vcl" >"$dir/default.vcl"
  # Varnish runs a thread per request in progress; thread_pools is the closest match to workers.
  start "$dir/out.log" varnishd -F -j none -n "$dir/work" -a "127.0.0.1:$VARNISH_PORT" -f "$dir/default.vcl" \
    -s malloc,1G -p thread_pools="$WORKERS"
  VARNISH_PID=$LAST_PID
  wait_http "http://127.0.0.1:$VARNISH_PORT/repos/acme/bench-2k/issues" "varnish" "$dir/out.log" "$VARNISH_PID"
}

# ---- measuring ----------------------------------------------------------------------------------------
wrk_run() { # wrk_run URL hit|miss SECONDS SALT [CONNECTIONS] → prints the RESULT json
  local output conns=${5:-$CONNECTIONS} threads=$WRK_THREADS
  [ "$conns" -lt "$threads" ] && threads=$conns
  output=$(timeout $(($3 + 30)) wrk -t"$threads" -c"$conns" -d"$3s" --timeout 5s -H "$AUTH" -H "$ACCEPT" \
    -s "$HERE/bench.lua" "$1" -- "$2" "$4" 2>&1) || die "wrk failed against $1: $output"
  local result
  result=$(sed -n 's/^RESULT //p' <<<"$output")
  [ -n "$result" ] || die "wrk printed no result against $1: $output"
  echo "$result"
}

check_result() { # check_result NAME JSON: breakage only
  python3 - "$1" "$2" <<'EOF' || exit 1
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
if r["requests"] == 0:
    sys.exit(f"compare.sh: FAILED: {name}: no request completed")
if r["errors"]["status"] > 0:
    sys.exit(f"compare.sh: FAILED: {name}: {r['errors']['status']} of {r['requests']} answers were not 2xx/3xx")
other = sum(v for k, v in r["errors"].items() if k != "status")
if other > r["requests"] // 100:
    sys.exit(f"compare.sh: FAILED: {name}: {r['errors']} socket errors in {r['requests']} requests")
EOF
}

check_hit() { # check_hit NAME URL HEADER VALUE: after one request, the next is answered from the cache
  local got
  curl -s -o /dev/null -H "$AUTH" -H "$ACCEPT" "$2"
  got=$(curl -s -o /dev/null -D - -H "$AUTH" -H "$ACCEPT" "$2" | tr -d '\r' | awk -F': ' -v h="$3" 'tolower($1) == tolower(h) {print $2}')
  [ "$got" = "$4" ] || die "$1: a repeated request was not a cache hit ($3: '${got}', expected '$4')"
}

measure() { # measure SIZE CASE hit|miss|miss1 URL PID [FAKE_PID]
  local size=$1 case=$2 kind=$3 url=$4 pid=$5 fake=${6:-} warm result
  local round best='' all=()
  if [ "$kind" != miss1 ]; then
    warm=$(wrk_run "$url" "$kind" "$WARMUP" "w$RANDOM")
    check_result "$case $size (warm-up)" "$warm"
  fi
  # The best of ROUNDS runs: on a shared machine, noise only ever takes requests away.
  for round in $(seq "$ROUNDS"); do
    if [ "$kind" = miss1 ]; then
      # One connection, one request at a time: the latency a miss adds, without queueing.
      result=$(wrk_run "$url" miss "$DURATION" "s$RANDOM" 1)
    else
      result=$(wrk_run "$url" "$kind" "$DURATION" "m$RANDOM")
    fi
    check_result "$case $size" "$result"
    all+=("$result")
  done
  result=$(python3 -c 'import json,sys; rs=[json.loads(a) for a in sys.argv[1:]]; best=max(rs, key=lambda r: r["requests"] / r["duration_us"]); best["rounds_rps"]=[round(r["requests"] * 1e6 / r["duration_us"]) for r in rs]; print(json.dumps(best))' "${all[@]}")
  local rss fake_rss=0
  rss=$(peak_rss_kib "$pid")
  [ -n "$fake" ] && fake_rss=$(peak_rss_kib "$fake")
  printf '{"size":"%s","case":"%s","kind":"%s","rss_kib":%s,"fake_rss_kib":%s,"wrk":%s}\n' \
    "$size" "$case" "$kind" "$rss" "$fake_rss" "$result" >>"$RESULTS"
  python3 - "$result" "$case$([ "$kind" = miss1 ] && echo ', 1 conn.')" <<'EOF' >&2
import json, sys
r = json.loads(sys.argv[1])
print(f"  {sys.argv[2]:<32} {r['requests'] * 1e6 / r['duration_us']:>9.0f} req/s  p50 {r['p50_us'] / 1000:.2f} ms  p99 {r['p99_us'] / 1000:.2f} ms")
EOF
}

machine() {
  python3 - "$@" <<'EOF'
import json, os, platform, subprocess, sys
def run(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return r.stdout + r.stderr
    except Exception:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
commit = run("git", "rev-parse", "--short", "HEAD").strip()
dirty = " (with uncommitted changes)" if run("git", "status", "--porcelain", "--untracked-files=no").strip() else ""
print(json.dumps({
    "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "mem_mib": mem,
    "loadavg": open("/proc/loadavg").read().split()[:3],
    "nginx": run("nginx", "-v").strip().split("/")[-1], "varnish": run("varnishd", "-V").split("\n")[0].split()[1].strip("(").split("-")[-1],
    "wrk": run("wrk", "-v").split()[1] if run("wrk", "-v") else "?", "rustc": run("rustc", "--version").split()[1],
    "commit": commit + dirty,
}))
EOF
}

# ---- the run ------------------------------------------------------------------------------------------
scripts/deps bench
if $quick; then
  # Breakage only: the dev-profile binaries `cargo test --all-targets` has just built will do, and
  # save CI a second, optimised build of everything.
  say "compare.sh: building ghpool and the fake GitHub (dev profile, quick mode)"
  cargo build --quiet --bin ghpool --example fast_github --example fleet_replay
else
  say "compare.sh: building ghpool and the fake GitHub (release)"
  cargo build --release --quiet --bin ghpool --example fast_github --example fleet_replay
fi
for port in $FAKE_PORT $NGINX_PORT $VARNISH_PORT $GHPOOL_PORT "${REPLICA_PORTS[@]}" $REDIS_PORT; do
  port_free "$port" || die "port $port on 127.0.0.1 is taken: set PORT_BASE"
done
machine >"$RUN/machine.json"
cat >"$RUN/settings.json" <<EOF
{"duration": $DURATION, "warmup": $WARMUP, "rounds": $ROUNDS, "connections": $CONNECTIONS, "wrk_threads": $WRK_THREADS,
 "workers": $WORKERS, "quick": $quick, "command": "benches/load/compare.sh$($quick && echo ' --quick')"}
EOF

load() {
  # The ceiling serves the fake's own bytes and headers from nginx, so every server sends the same answer.
  start_fake
  : >"$RUN/static-locations.conf"
  local size
  for size in $SIZES; do
    local path=/repos/acme/bench-$size/issues
    curl -s -D "$RUN/headers-$size" -o "$RUN/body-$size.json" -H "$AUTH" "http://127.0.0.1:$FAKE_PORT$path"
    {
      echo "    location = $path {"
      echo "      alias $RUN/body-$size.json;"
      echo "      open_file_cache max=16 inactive=600s;"
      echo "      open_file_cache_valid 600s;"
      tr -d '\r' <"$RUN/headers-$size" | tail -n +2 | grep -viE '^(date|content-type|content-length|etag|last-modified|server|connection):' |
        grep -v '^$' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^\([^:]*\): \(.*\)$/      add_header \1 "\2";/'
      echo "    }"
    } >>"$RUN/static-locations.conf"
  done
  stop "$FAKE_PID"

  for size in $SIZES; do
    local path=/repos/acme/bench-$size/issues
    say "compare.sh: $size bodies"
    start_nginx static
    measure "$size" "nginx static (ceiling)" hit "http://127.0.0.1:$NGINX_PORT$path" "$NGINX_PID"
    stop_nginx

    start_fake
    start_nginx cache
    check_hit "nginx proxy_cache" "http://127.0.0.1:$NGINX_PORT$path" X-Cache-Status HIT
    measure "$size" "nginx proxy_cache" hit "http://127.0.0.1:$NGINX_PORT$path" "$NGINX_PID" "$FAKE_PID"
    stop_nginx
    stop "$FAKE_PID"

    start_fake
    start_varnish
    check_hit "Varnish" "http://127.0.0.1:$VARNISH_PORT$path" X-Cache HIT
    measure "$size" "Varnish" hit "http://127.0.0.1:$VARNISH_PORT$path" "$VARNISH_PID" "$FAKE_PID"
    stop "$VARNISH_PID"
    stop "$FAKE_PID"

    start_fake
    start_ghpool
    check_hit "ghpool" "http://127.0.0.1:$GHPOOL_PORT$path" X-Ghpool-Cache HIT
    measure "$size" "ghpool" hit "http://127.0.0.1:$GHPOOL_PORT$path" "$GHPOOL_PID" "$FAKE_PID"
    stop "$GHPOOL_PID" INT

    measure "$size" "direct (fake)" miss "http://127.0.0.1:$FAKE_PORT$path" "$FAKE_PID"
    measure "$size" "direct (fake)" miss1 "http://127.0.0.1:$FAKE_PORT$path" "$FAKE_PID"
    stop "$FAKE_PID"

    start_fake
    start_nginx proxy
    measure "$size" "nginx proxy_pass" miss "http://127.0.0.1:$NGINX_PORT$path" "$NGINX_PID" "$FAKE_PID"
    measure "$size" "nginx proxy_pass" miss1 "http://127.0.0.1:$NGINX_PORT$path" "$NGINX_PID" "$FAKE_PID"
    stop_nginx
    stop "$FAKE_PID"

    start_fake
    start_ghpool
    measure "$size" "ghpool miss" miss "http://127.0.0.1:$GHPOOL_PORT$path" "$GHPOOL_PID" "$FAKE_PID"
    measure "$size" "ghpool miss" miss1 "http://127.0.0.1:$GHPOOL_PORT$path" "$GHPOOL_PID" "$FAKE_PID"
    stop "$GHPOOL_PID" INT
    stop "$FAKE_PID"
  done
}

wants load && load
# The replay and memory steps are defined in replay.sh (sourced so they share the helpers above).
if [ -f "$HERE/replay.sh" ]; then
  # shellcheck source=/dev/null
  . "$HERE/replay.sh"
  wants replay && replay
  wants memory && memory
fi

mkdir -p "$(dirname "$out")"
python3 "$HERE/report.py" "$RUN" "$out"
say "compare.sh: tables written to ${out#"$ROOT"/}"
