# Sourced by compare.sh (it uses its helpers and settings): the agent-fleet replay and ghpool's memory.
# shellcheck shell=bash

REPLAY_AGENTS=${REPLAY_AGENTS:-50}
REPLAY_OPS=${REPLAY_OPS:-5000}
# About 75 s per run at 50 agents: longer than the 60 s TTL, so entries expire and are revalidated.
REPLAY_THINK_MS=${REPLAY_THINK_MS:-750}
if $quick; then
  REPLAY_AGENTS=${REPLAY_AGENTS_QUICK:-10} REPLAY_OPS=${REPLAY_OPS_QUICK:-300} REPLAY_THINK_MS=0
fi
REPLAY=$BIN/examples/fleet_replay

replay_run() { # replay_run NAME TARGET_URL [THINK_MS]
  local result
  result=$("$REPLAY" replay --name "$1" --target "$2" --fake "http://127.0.0.1:$FAKE_PORT" \
    --agents "$REPLAY_AGENTS" --ops "$REPLAY_OPS" --think-ms "${3:-$REPLAY_THINK_MS}") || die "replay $1 did not finish"
  python3 - "$1" "$result" <<'EOF' || exit 1
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
if r["errors"]:
    sys.exit(f"compare.sh: FAILED: replay {name}: {r['errors']} failed requests (first: {r['first_error']})")
if r["client_reads"] == 0:
    sys.exit(f"compare.sh: FAILED: replay {name}: no reads")
if name.startswith("ghpool") and r["stale_after_write"]:
    # Not a number but a broken promise: a write's author must read what it wrote.
    sys.exit(f"compare.sh: FAILED: replay {name}: {r['stale_after_write']} stale reads after own write")
print(f"  {name:<24} {r['upstream_requests']:>6} upstream requests, {r['read_points']:>6} read points "
      f"(minimum {r['minimum_points']}), {r['not_modified']} 304s, herd {r['herd']['clients']} → {r['herd']['upstream']}, "
      f"{r['stale_after_write']} stale after own write, {r['seconds']:.0f} s", file=sys.stderr)
EOF
  echo "$result" >>"$RUN/replay.jsonl"
}

replay() {
  say "compare.sh: agent-fleet replay ($REPLAY_AGENTS agents, $REPLAY_OPS operations)"
  : >"$RUN/replay.jsonl"
  # GitHub's default budget per login; every agent has its own token.
  start_fake 5000
  replay_run "direct" "http://127.0.0.1:$FAKE_PORT"
  stop "$FAKE_PID"

  start_fake 5000
  start_nginx cache
  replay_run "nginx proxy_cache (60 s)" "http://127.0.0.1:$NGINX_PORT"
  stop_nginx
  stop "$FAKE_PID"

  start_fake 5000
  start_ghpool
  replay_run "ghpool" "http://127.0.0.1:$GHPOOL_PORT"
  stop "$GHPOOL_PID" INT
  stop "$FAKE_PID"

  if command -v redis-server >/dev/null; then
    # The same fleet through three replicas behind a round robin, sharing one Redis (issue #15).
    start_fake 5000
    start_replicas
    start_nginx replicas
    replay_run "ghpool ×3 replicas + Redis" "http://127.0.0.1:$NGINX_PORT"
    stop_nginx
    stop_replicas
    stop "$FAKE_PID"
  fi

  if [ "$REPLAY_THINK_MS" != 0 ]; then
    # The same operations without pauses: every agent's requests back to back, writes racing reads.
    start_fake 5000
    start_ghpool
    replay_run "ghpool, no pauses" "http://127.0.0.1:$GHPOOL_PORT" 0
    stop "$GHPOOL_PID" INT
    stop "$FAKE_PID"
  fi

  python3 - "$RUN/replay.jsonl" "$RUN/replay.json" <<'EOF'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
config = dict(runs[0]["config"], ttl=60)
summary = {
    "config": config,
    "minimum_points": max(r["minimum_points"] for r in runs),
    "writes": runs[0]["writes"],
    "runs": runs,
    "notes": [
        "Rate-limit points count reads only (REST and GraphQL, one point each; 304s are free); "
        "the writes cost the same on every path and are left out. Minimum: distinct resource versions "
        "the agents read (the most of the three runs; they differ by a few with the interleaving). "
        "Coalesced: of the herd of agents asking for one uncached resource at the same moment, how many "
        "did not reach GitHub. Stale: answers without the agent's own comment, read right after writing it "
        "(REST and GraphQL; the GraphQL ones in parentheses). 'no pauses': the same operations with no "
        "think time between them.",
        "Upstream requests include ghpool's `GET /user` with each writer's token (the audit log's login, "
        "cached 10 min): " + ", ".join(f"{r['name']}: {r['upstream_meta']}" for r in runs) + ".",
    ],
}
json.dump(summary, open(sys.argv[2], "w"))
EOF
}

# RSS now (not the peak), in KiB.
rss_now_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

cache_stats() { curl -s "http://127.0.0.1:$GHPOOL_PORT/stats" | python3 -c 'import json,sys; c=json.load(sys.stdin)["cache"]; print(c["entries"], c["bytes"], c["evictions"])'; }

fill() { # fill COUNT PATH
  "$REPLAY" fill --target "http://127.0.0.1:$GHPOOL_PORT" --count "$1" --path "$2" --concurrency 32 >/dev/null ||
    die "filling ghpool's cache failed"
}

memory() {
  local small=10000 large=100000 churn_mib=64
  if $quick; then small=1000 large=3000 churn_mib=8; fi
  say "compare.sh: ghpool's memory ($small and $large entries, churn through $churn_mib MiB)"
  local rows=$RUN/memory-rows.jsonl
  : >"$rows"
  start_fake
  start_ghpool GHPOOL_CACHE_MAX_SIZE=512MiB
  local entries bytes evictions
  read -r entries bytes evictions <<<"$(cache_stats)"
  printf '{"name":"started, empty","entries":%s,"bytes":%s,"rss_kib":%s}\n' "$entries" "$bytes" "$(rss_now_kib "$GHPOOL_PID")" >>"$rows"
  fill "$small" /repos/acme/bench-2k/issues
  read -r entries bytes evictions <<<"$(cache_stats)"
  [ "$entries" -gt 0 ] || die "ghpool cached nothing while filling"
  printf '{"name":"%s × 2 KB","entries":%s,"bytes":%s,"rss_kib":%s}\n' "$small" "$entries" "$bytes" "$(rss_now_kib "$GHPOOL_PID")" >>"$rows"
  fill $((large - small)) /repos/acme/bench-2k/issues
  read -r entries bytes evictions <<<"$(cache_stats)"
  printf '{"name":"%s × 2 KB","entries":%s,"bytes":%s,"rss_kib":%s}\n' "$large" "$entries" "$bytes" "$(rss_now_kib "$GHPOOL_PID")" >>"$rows"
  stop "$GHPOOL_PID" INT

  # Churn: unique 20 KB answers through a small cache, ten times its size; RSS sampled every tenth.
  start_ghpool GHPOOL_CACHE_MAX_SIZE="${churn_mib}MiB"
  local per_tenth=$((churn_mib * 1024 / 20)) samples=() i
  for i in $(seq 10); do
    fill "$per_tenth" /repos/acme/bench-20k/issues
    samples+=("$(rss_now_kib "$GHPOOL_PID")")
  done
  read -r entries bytes evictions <<<"$(cache_stats)"
  stop "$GHPOOL_PID" INT
  stop "$FAKE_PID"
  python3 - "$rows" "$RUN/memory.json" "$churn_mib" "$((per_tenth * 10))" "$bytes" "$evictions" "${samples[@]}" <<'EOF'
import json, sys
rows_file, out, churn_mib, requests, end_bytes, evictions, *samples = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_file) if l.strip()]
churn = {"max_size_mib": int(churn_mib), "written_mib": int(requests) * 20 / 1024, "end_bytes": int(end_bytes),
         "evictions": int(evictions), "rss_kib": [int(s) for s in samples]}
json.dump({"rows": rows, "churn": churn}, open(out, "w"))
EOF
  python3 - "$RUN/memory.json" <<'EOF' >&2
import json, sys
m = json.load(open(sys.argv[1]))
rows = ", ".join(f"{r['name']}: {r['rss_kib'] / 1024:.0f}" for r in m["rows"])
churn = m["churn"]["rss_kib"]
print(f"  RSS MiB: {rows}; churn: {churn[0] / 1024:.0f} → {churn[-1] / 1024:.0f}")
EOF
}
