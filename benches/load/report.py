#!/usr/bin/env python3
"""Turn a compare.sh run (target/bench/run) into Markdown tables, print them, and put them into the
output file between `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers (one pair per section:
machine, load, replay, memory), leaving everything else in the file, the analysis included, as it is.
A section the run did not produce keeps its old contents."""

import json
import os
import re
import sys

HIT_PEERS = ["nginx static (ceiling)", "nginx proxy_cache", "Varnish"]
MISS_PEERS = ["direct (fake)", "nginx proxy_pass"]


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def rps(row):
    return row["wrk"]["requests"] * 1e6 / row["wrk"]["duration_us"]


def ms(us):
    return f"{us / 1000:.2f}"


def mib(kib):
    return f"{kib / 1024:.0f}" if kib else "—"


def machine_section(machine, settings):
    m, s = machine, settings
    return "\n".join([
        f"Command: `{s['command']}` — commit {m['commit']}.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem_mib']} MiB, Linux {m['kernel']}; load average "
        f"{' '.join(m['loadavg'])} at the start. nginx {m['nginx']}, Varnish {m['varnish']}, wrk {m['wrk']}, "
        f"rustc {m['rustc']}.",
        "",
        f"Every case: `wrk -t{s['wrk_threads']} -c{s['connections']} -d{s['duration']}s` after a "
        f"{s['warmup']} s warm-up, the best of {s.get('rounds', 1)} runs (requests/s of every run in "
        "`target/bench/run/results.jsonl`), on the same machine as the servers; every server gets "
        f"{s['workers']} worker "
        "threads or processes (Varnish: thread pools; it runs a thread per request in progress).",
    ])


def load_section(rows):
    sizes = []
    for r in rows:
        if r["size"] not in sizes:
            sizes.append(r["size"])
    out = []
    for size in sizes:
        by_case = {r["case"]: r for r in rows if r["size"] == size and r["kind"] != "miss1"}
        single = {r["case"]: r for r in rows if r["size"] == size and r["kind"] == "miss1"}
        out += [f"#### {size} bodies", "",
                "| | case | requests/s | p50 ms | p99 ms | peak RSS MiB | ghpool ÷ this (requests/s) |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for label, cases, peers, ours in (("hits", by_case, HIT_PEERS, "ghpool"),
                                          ("misses", by_case, MISS_PEERS, "ghpool miss"),
                                          ("misses, 1 connection", single, MISS_PEERS, "ghpool miss")):
            mine = cases.get(ours)
            for case in peers + [ours]:
                r = cases.get(case)
                if r is None:
                    continue
                ratio = f"{rps(mine) / rps(r):.2f}" if mine and case != ours else ""
                out.append(f"| {label} | {case} | {rps(r):,.0f} | {ms(r['wrk']['p50_us'])} | {ms(r['wrk']['p99_us'])} "
                           f"| {mib(r['rss_kib'])} | {ratio} |")
        direct, miss = single.get("direct (fake)"), single.get("ghpool miss")
        if direct and miss:
            out += ["", f"Latency a miss through ghpool adds to going direct, one request at a time: p50 "
                    f"{(miss['wrk']['p50_us'] - direct['wrk']['p50_us']) / 1000:+.2f} ms, p99 "
                    f"{(miss['wrk']['p99_us'] - direct['wrk']['p99_us']) / 1000:+.2f} ms."]
        out.append("")
    out += targets(rows, sizes)
    return "\n".join(out).rstrip()


def targets(rows, sizes):
    """Issue #8's targets, per body size: met or not, with the number."""
    out = ["| target (issue #8) | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]

    def cell(size, f):
        by_case = {r["case"]: r for r in rows if r["size"] == size and r["kind"] != "miss1"}
        by_case.update({f"{r['case']} (1)": r for r in rows if r["size"] == size and r["kind"] == "miss1"})
        try:
            value, ok = f(by_case)
        except (KeyError, ZeroDivisionError):
            return "—"
        return f"{value} {'✅' if ok else '❌'}"

    checks = [
        ("hits ≥ 1.1× nginx proxy_cache", lambda c: ratio(c, "nginx proxy_cache", 1.1)),
        ("hits ≥ 1.0× Varnish", lambda c: ratio(c, "Varnish", 1.0)),
        ("hits ≥ 0.95× the nginx ceiling", lambda c: ratio(c, "nginx static (ceiling)", 0.95)),
        ("hit p99 no worse than nginx proxy_cache", lambda c: p99(c, "nginx proxy_cache")),
        ("hit p99 no worse than Varnish", lambda c: p99(c, "Varnish")),
        ("miss overhead ≤ 0.5 ms at p50 (1 connection)", lambda c: overhead(c)),
    ]
    for name, f in checks:
        out.append(f"| {name} | " + " | ".join(cell(s, f) for s in sizes) + " |")
    return out


def ratio(c, peer, goal):
    x = rps(c["ghpool"]) / rps(c[peer])
    return f"{x:.2f}×", x >= goal


def p99(c, peer):
    a, b = c["ghpool"]["wrk"]["p99_us"], c[peer]["wrk"]["p99_us"]
    return f"{ms(a)} vs {ms(b)} ms", a <= b


def overhead(c):
    d = (c["ghpool miss (1)"]["wrk"]["p50_us"] - c["direct (fake) (1)"]["wrk"]["p50_us"]) / 1000
    return f"{d:+.2f} ms", d <= 0.5


def replay_section(replay):
    """The fleet replay: one row per way of reaching the fake."""
    if not replay:
        return None
    cfg = replay["config"]
    out = [f"{cfg['agents']} agents over {cfg['repos']} repositories × {cfg['pulls']} pull requests, "
           f"{cfg['operations']} operations (list PRs, view a PR, its comments and files, GraphQL PR view and "
           f"issue list as gh sends them, {cfg['write_percent']}% comment writes each followed by a read of the "
           f"same thread), cache TTL {cfg['ttl']} s. Minimum possible rate-limit points for the reads: "
           f"**{replay['minimum_points']}** (distinct resource versions read); writes cost "
           f"{replay['writes']} points whatever the path.", "",
           "| path | client requests | upstream requests | rate-limit points (reads) | 304s | coalesced | "
           "stale reads after own write | seconds |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for run in replay["runs"]:
        out.append(f"| {run['name']} | {run['client_requests']} | {run['upstream_requests']} | "
                   f"{run['read_points']} ({run['read_points'] / max(replay['minimum_points'], 1):.2f}× min) | "
                   f"{run['not_modified']} | {run['coalesced']} | {run['stale_after_write']} "
                   f"({run.get('stale_graphql', 0)}) | {run['seconds']:.1f} |")
    notes = replay.get("notes")
    if notes:
        out += [""] + notes
    return "\n".join(out)


def memory_section(memory):
    if not memory:
        return None
    out = ["| state | cache entries | cached bytes MiB | RSS MiB | limit (1.3 × cached + 40 MiB) |",
           "|---|---:|---:|---:|---:|"]
    for row in memory["rows"]:
        cached = row["bytes"] / 2**20
        limit = 1.3 * cached + 40
        rss = row["rss_kib"] / 1024
        out.append(f"| {row['name']} | {row['entries']:,} | {cached:.1f} | {rss:.0f} | {limit:.0f} "
                   f"{'✅' if rss <= limit else '❌'} |")
    churn = memory.get("churn")
    if churn:
        samples = ", ".join(f"{s / 1024:.0f}" for s in churn["rss_kib"])
        out += ["", f"Churn: `max_size` {churn['max_size_mib']} MiB, {churn['written_mib']:.0f} MiB written through "
                f"unique keys ({churn['written_mib'] / churn['max_size_mib']:.1f}× `max_size`); RSS MiB after each "
                f"tenth: {samples}; cache bytes at the end {churn['end_bytes'] / 2**20:.1f} MiB, "
                f"evictions {churn['evictions']:,}."]
    return "\n".join(out)


def splice(text, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text)
    return text.rstrip("\n") + f"\n\n{block}\n"


def main():
    run, out = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(os.path.join(run, "results.jsonl")) if line.strip()]
    sections = [("machine", machine_section(load_json(os.path.join(run, "machine.json")),
                                            load_json(os.path.join(run, "settings.json"))))]
    if rows:
        sections.append(("load", load_section(rows)))
    sections.append(("replay", replay_section(load_json(os.path.join(run, "replay.json")))))
    sections.append(("memory", memory_section(load_json(os.path.join(run, "memory.json")))))
    text = open(out).read() if os.path.exists(out) else "# ghpool benchmarks\n"
    for name, body in sections:
        if body is not None:
            print(body + "\n")
            text = splice(text, name, body)
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
