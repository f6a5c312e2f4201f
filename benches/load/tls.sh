#!/usr/bin/env bash
# Cache hits over TLS (issue #17): ghpool with `[tls]` against nginx with `ssl` and proxy_cache, the
# same certificate (ECDSA P-256, made here by openssl) and the same cached answer, in one run —
# over keep-alive connections, and with a new connection (a full TLS handshake) per request.
#
#   benches/load/tls.sh [2k|20k|200k]     (default 2k)
#   settings: DURATION=10 ROUNDS=3 (the best of each is kept) CONNECTIONS=64 WRK_THREADS=2
#             WORKERS=$(nproc) PORT_BASE=28400
#
# Needs wrk, nginx and openssl (scripts/deps bench); builds ghpool and the fast fake in release.
# Everything listens on 127.0.0.1; every process it starts is stopped by PID on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
size=${1:-2k}
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3} CONNECTIONS=${CONNECTIONS:-64} WRK_THREADS=${WRK_THREADS:-2}
WORKERS=${WORKERS:-$(nproc)}
base=${PORT_BASE:-28400}
fake_port=$((base + 1)) nginx_port=$((base + 2)) ghpool_port=$((base + 3))
for tool in wrk nginx openssl; do
  command -v "$tool" >/dev/null || { echo "tls.sh: needs $tool (scripts/deps bench)" >&2; exit 2; }
done
cargo build --release --quiet --bin ghpool --example fast_github
dir=$ROOT/target/bench/tls
rm -rf "$dir"
mkdir -p "$dir/nginx/tmp" "$dir/nginx/cache"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

# One CA, one server certificate for 127.0.0.1, shared by both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$dir/san.ext"
openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
  -extfile "$dir/san.ext" -out "$dir/tls.crt" 2>/dev/null

"$ROOT/target/release/examples/fast_github" --listen "127.0.0.1:$fake_port" --threads "$WORKERS" \
  --limit 1000000000000 >"$dir/fake.log" 2>&1 &
pids+=($!)

cat >"$dir/nginx/nginx.conf" <<CONF
user $(id -un);
worker_processes $WORKERS;
daemon off;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $dir/nginx/tmp/body;
  proxy_temp_path $dir/nginx/tmp/proxy;
  fastcgi_temp_path $dir/nginx/tmp/fastcgi;
  uwsgi_temp_path $dir/nginx/tmp/uwsgi;
  scgi_temp_path $dir/nginx/tmp/scgi;
  upstream github { server 127.0.0.1:$fake_port; keepalive 256; }
  proxy_cache_path $dir/nginx/cache levels=1:2 keys_zone=github:64m max_size=1g inactive=10m use_temp_path=off;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $dir/tls.crt;
    ssl_certificate_key $dir/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_ignore_headers Cache-Control Expires Vary;
    proxy_cache github;
    proxy_cache_valid 200 60s;
    location / {
      proxy_pass http://github;
      proxy_cache_key "\$request_uri|\$http_accept";
    }
  }
}
CONF
nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" >"$dir/nginx/out.log" 2>&1 &
pids+=($!)
cat >"$dir/ghpool.yaml" <<CONF
---
version: 1
threads: $WORKERS
pid_file: $dir/ghpool.pid
upgrade_sock: $dir/ghpool_upgrade.sock
grace_period_seconds: 0
graceful_shutdown_timeout_seconds: 1
upstream_keepalive_pool_size: 256
CONF
env RUST_LOG=warn GHPOOL_LISTEN="127.0.0.1:$ghpool_port" GHPOOL_UPSTREAM="http://127.0.0.1:$fake_port" \
  GHPOOL_ALLOWED_OWNERS=acme GHPOOL_PAT_POOL1=env:BENCH_POOL1 BENCH_POOL1=ghp_bench_pool1 \
  GHPOOL_TLS_CERT="file:$dir/tls.crt" GHPOOL_TLS_KEY="file:$dir/tls.key" \
  "$ROOT/target/release/ghpool" -c "$dir/ghpool.yaml" >"$dir/ghpool.log" 2>&1 &
pids+=($!)

path=/repos/acme/bench-$size/issues
for port in $nginx_port $ghpool_port; do
  ok=false
  for _ in $(seq 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$dir/ca.pem" "https://127.0.0.1:$port$path" || true)" = 200 ]; then
      ok=true
      break
    fi
    sleep 0.2
  done
  $ok || { echo "tls.sh: nothing answers https on $port; see $dir" >&2; exit 1; }
  curl -s -o /dev/null --cacert "$dir/ca.pem" "https://127.0.0.1:$port$path" # a second read: a hit
done
[ "$(curl -s -o /dev/null -D - --cacert "$dir/ca.pem" "https://127.0.0.1:$ghpool_port$path" | tr -d '\r' |
  sed -n 's/^x-ghpool-cache: //Ip')" = HIT ] || { echo "tls.sh: no cache hit from ghpool" >&2; exit 1; }

rps() { # rps PORT keep|new: cache hits per second
  local close=()
  [ "$2" = new ] && close=(-H "Connection: close")
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s -H "Authorization: token ghp_bench_agent" \
    -H "Accept: application/vnd.github+json" "${close[@]}" -s "$ROOT/benches/load/bench.lua" \
    "https://127.0.0.1:$1$path" -- hit |
    sed -n 's/^RESULT //p' |
    python3 -c 'import json,sys; r = json.load(sys.stdin); e = sum(r["errors"].values()) - r["errors"]["status"]; print(round(r["requests"] * 1e6 / r["duration_us"]) if r["requests"] else 0, e)'
}
declare -A best
for mode in keep new; do
  for server in nginx ghpool; do best[$server-$mode]=0; done
  for round in $(seq "$ROUNDS"); do
    for server in nginx ghpool; do
      port=$nginx_port
      [ "$server" = ghpool ] && port=$ghpool_port
      read -r got errors < <(rps "$port" "$mode")
      echo "round $round, $mode connections: $server $got/s ($errors socket errors)" >&2
      [ "$got" -gt "${best[$server-$mode]}" ] && best[$server-$mode]=$got
    done
  done
done
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
cat <<TABLE
| cache hits over TLS, $size bodies, $CONNECTIONS connections, $WORKERS workers | nginx ssl + proxy_cache | ghpool [tls] | ghpool / nginx |
|---|---:|---:|---:|
| keep-alive | ${best[nginx-keep]}/s | ${best[ghpool-keep]}/s | $(ratio "${best[ghpool-keep]}" "${best[nginx-keep]}") |
| a new connection (full handshake) per request | ${best[nginx-new]}/s | ${best[ghpool-new]}/s | $(ratio "${best[ghpool-new]}" "${best[nginx-new]}") |
TABLE
