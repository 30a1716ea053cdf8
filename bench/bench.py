#!/usr/bin/env python3
"""Helpers for bench/run.sh (python3.11, stdlib only).

  free-ports N                       print N free TCP ports on 127.0.0.1
  dead-port                          print a port below the ephemeral range that refuses connections
  gw-metrics --url U                 the gateway's upstream attempts and breaker states, as JSON
  spawn-ready --url U --log F -- CMD  start CMD detached (stdout+stderr to F), poll U until 200;
                                      print "PID MILLISECONDS" (spawn -> first 200)
  check --url U --body B [--stream]  one request; verify status 200 and a well-formed answer
  summarize --raw DIR --out FILE     tables, DESIGN.md §6 targets, PASS/FAIL; writes FILE (a
                                     section this run did not measure keeps its block from FILE)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

# ----------------------------------------------------------------------------- small commands


def free_ports(n: int) -> None:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    print(" ".join(map(str, ports)))


def dead_port() -> int:
    """A port that refuses connections, below the ephemeral range: an outgoing connection can
    never pick it as its source port and connect to itself (TCP simultaneous open)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(10000, max(10001, low - 1))
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        c = socket.socket()
        c.settimeout(1)
        try:
            c.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            print(port)
            return 0
        except OSError:
            continue
        finally:
            c.close()
    print("no free port below the ephemeral range", file=sys.stderr)
    return 1


_METRIC = re.compile(r'^(turnout_upstream_attempts_total|turnout_breaker_state)\{([^}]*)\}\s+(\S+)')


def gw_metrics(url: str) -> int:
    """{"attempts": {"provider|model|outcome": n}, "breaker": {"provider|model": 0|1|2}}."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    try:
        conn.request("GET", u.path)
        text = conn.getresponse().read().decode("utf-8", "replace")
    finally:
        conn.close()
    out: dict[str, dict[str, float]] = {"attempts": {}, "breaker": {}}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        value = float(m.group(3))
        if m.group(1) == "turnout_upstream_attempts_total":
            key = f"{labels.get('provider')}|{labels.get('model')}|{labels.get('outcome')}"
            out["attempts"][key] = int(value)
        else:
            out["breaker"][f"{labels.get('provider')}|{labels.get('model')}"] = int(value)
    print(json.dumps(out, separators=(",", ":")))
    return 0


def _get_status(url: str, timeout: float) -> int:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("GET", u.path or "/")
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def spawn_ready(url: str, log: str, timeout: float, cmd: list[str]) -> int:
    logf = open(log, "ab")
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"process exited with {proc.returncode}", file=sys.stderr)
            return 1
        try:
            if _get_status(url, 0.5) == 200:
                ms = (time.perf_counter_ns() - t0) / 1e6
                print(f"{proc.pid} {ms:.1f}")
                return 0
        except OSError:
            pass
        time.sleep(0.001)
    proc.kill()
    print("timed out waiting for readiness", file=sys.stderr)
    return 1


def check(url: str, body: str, stream: bool) -> int:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("POST", u.path, body=body.encode(), headers={"content-type": "application/json"})
    resp = conn.getresponse()
    data = resp.read().decode("utf-8", "replace")
    conn.close()
    where = f"{url} ({'stream' if stream else 'json'})"
    if resp.status != 200:
        print(f"check {where}: status {resp.status}: {data[:300]}", file=sys.stderr)
        return 1
    if stream:
        events = [line[6:] for line in data.splitlines() if line.startswith("data: ")]
        if not events or events[-1].strip() != "[DONE]":
            print(f"check {where}: stream does not end with [DONE]: {data[-300:]}", file=sys.stderr)
            return 1
        chunks = [json.loads(e) for e in events[:-1]]
        if any("error" in c for c in chunks):
            print(f"check {where}: error chunk in stream", file=sys.stderr)
            return 1
        text = "".join(
            (ch.get("delta") or {}).get("content") or "" for c in chunks for ch in c.get("choices", [])
        )
        print(f"check {where}: ok, {len(chunks)} chunks, {len(text)} chars", file=sys.stderr)
    else:
        doc = json.loads(data)
        content = doc["choices"][0]["message"]["content"]
        print(f"check {where}: ok, {len(data)} bytes, reply {content[:40]!r}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- summarize


def read_meta(path: Path) -> dict[str, str]:
    meta = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k] = v
    return meta


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Run:
    """One oha run plus the harness's measurements around it."""

    def __init__(self, rec: dict, raw: Path, clk_tck: int):
        self.rec = rec
        self.phase, self.target, self.conc = rec["phase"], rec["target"], rec["conc"]
        doc = json.loads((raw / rec["oha_json"]).read_text() or "{}")
        s = doc.get("summary", {})
        lp = doc.get("latencyPercentiles", {})
        codes = {int(k): v for k, v in (doc.get("statusCodeDistribution") or {}).items()}
        self.ok = codes.get(200, 0)
        self.non200 = sum(v for k, v in codes.items() if k != 200)
        self.errors = doc.get("errorDistribution") or {}
        self.n_err = sum(self.errors.values()) + self.non200
        self.total = self.ok + self.n_err
        total_s = s.get("total") or rec["duration_s"]
        # req/s of successful responses over the wall time of the run.
        self.rps = self.ok / total_s if total_s else 0.0
        ms = lambda k: (lp.get(k) * 1000.0) if lp.get(k) is not None else None  # noqa: E731
        self.p50, self.p99, self.p999 = ms("p50"), ms("p99"), ms("p99.9")
        self.cpu_s = rec["proxy_ticks"] / clk_tck
        self.mock_cpu_s = rec["mock_ticks"] / clk_tck
        self.cpu_us_per_req = (self.cpu_s * 1e6 / self.ok) if self.ok and self.target != "direct" else None
        self.mock_cpu_us_per_req = self.mock_cpu_s * 1e6 / self.ok if self.ok else None
        self.rss_max_kb = rec.get("proxy_rss_max_kb") or 0
        mb, ma = rec.get("mock_before") or {}, rec.get("mock_after") or {}
        self.mock_hits = (ma.get("requests", 0) - mb.get("requests", 0)) if ma and mb else None
        self.mock_cancelled = (ma.get("cancelled", 0) - mb.get("cancelled", 0)) if ma and mb else None
        fb, fa = rec.get("flaky_before") or {}, rec.get("flaky_after") or {}
        self.flaky_hits = (fa.get("requests", 0) - fb.get("requests", 0)) if fa and fb else None
        self.slowest = (s["slowest"] * 1000.0) if s.get("slowest") is not None else None
        # Upstream attempts the gateway made during the run, by provider and outcome (/metrics).
        gb = (rec.get("gw_metrics_before") or {}).get("attempts") or {}
        ga = (rec.get("gw_metrics_after") or {}).get("attempts") or {}
        self.attempts: dict[str, int] = {}
        for key in ga:
            provider, _model, outcome = key.split("|", 2)
            d = ga[key] - gb.get(key, 0)
            if d:
                k = f"{provider}|{outcome}"
                self.attempts[k] = self.attempts.get(k, 0) + d
        self.breaker_after = (rec.get("gw_metrics_after") or {}).get("breaker") or {}
        self.gw_warn, self.gw_error = rec.get("gw_log_warn", 0), rec.get("gw_log_error", 0)
        # CPU outside the benchmark (other users of the machine), in cores, and the load
        # generator's own CPU (oha + the harness's short-lived helpers).
        wall = total_s or rec["duration_s"]
        lg = rec.get("loadgen_ticks", 0)
        self.loadgen_cores = lg / clk_tck / wall if wall else None
        if "system_ticks" in rec and wall:
            bg = rec["system_ticks"] - rec.get("servers_ticks", 0) - lg
            self.bg_cores = max(0.0, bg / clk_tck / wall)
        else:
            self.bg_cores = None


class Agg:
    """Medians over rounds of one (phase, target, conc)."""

    def __init__(self, runs: list[Run]):
        self.runs = runs
        self.rps = med([r.rps for r in runs])
        self.p50 = med([r.p50 for r in runs])
        self.p99 = med([r.p99 for r in runs])
        self.p999 = med([r.p999 for r in runs])
        ok = sum(r.ok for r in runs)
        self.ok = ok
        self.n_err = sum(r.n_err for r in runs)
        self.errors: dict[str, int] = {}
        for r in runs:
            for k, v in r.errors.items():
                self.errors[k] = self.errors.get(k, 0) + v
            if r.non200:
                self.errors["non-200 status"] = self.errors.get("non-200 status", 0) + r.non200
        cpu = sum(r.cpu_s for r in runs)
        self.cpu_us = cpu * 1e6 / ok if ok and runs[0].target != "direct" else None
        mcpu = sum(r.mock_cpu_s for r in runs)
        self.mock_cpu_us = mcpu * 1e6 / ok if ok else None
        self.rss_max_kb = max(r.rss_max_kb for r in runs)
        hits = [r.mock_hits for r in runs]
        self.mock_hits = sum(hits) if all(h is not None for h in hits) else None
        canc = [r.mock_cancelled for r in runs]
        self.mock_cancelled = sum(canc) if all(c is not None for c in canc) else None
        self.gw_warn = sum(r.gw_warn for r in runs)
        self.gw_error = sum(r.gw_error for r in runs)
        self.total = ok + self.n_err
        self.success = ok / self.total if self.total else None
        self.slowest = max((r.slowest for r in runs if r.slowest is not None), default=None)
        fh = [r.flaky_hits for r in runs]
        self.flaky_hits = sum(fh) if fh and all(h is not None for h in fh) else None
        self.attempts: dict[str, int] = {}
        for r in runs:
            for k, v in r.attempts.items():
                self.attempts[k] = self.attempts.get(k, 0) + v
        self.breaker_after = runs[-1].breaker_after
        self.bg_cores = max((r.bg_cores for r in runs if r.bg_cores is not None), default=None)
        self.loadgen_cores = med([r.loadgen_cores for r in runs])


def f(x, fmt="{:.2f}", none="–"):
    return none if x is None else fmt.format(x)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def render_main(agg: dict[tuple, "Agg"], meta: dict[str, str]) -> str:
    """The direct / nginx / gateway section (phases chat and stream)."""
    targets = ["direct", "nginx", "gateway"]
    concs = sorted({k[2] for k in agg if k[0] == "chat"})
    sconcs = sorted({k[2] for k in agg if k[0] == "stream"})

    out_lines: list[str] = []
    emit = out_lines.append
    emit(f"# Turnout benchmark — {meta.get('stamp')}\n")
    emit(
        f"git `{meta.get('git_rev')}` ({meta.get('git_dirty_files')} uncommitted files), "
        f"binary built {meta.get('turnout_bin_mtime')}; {meta.get('cores')} cores "
        f"({meta.get('cpu_model')}), kernel {meta.get('kernel')}; {meta.get('oha_version')}; "
        f"nginx {meta.get('nginx_version')} with worker_processes {meta.get('nginx_workers')} "
        f"({meta.get('nginx_processes')} processes incl. master); "
        f"{meta.get('duration_s')} s per non-streaming run, {meta.get('stream_duration_s')} s per "
        f"streaming run, {meta.get('rounds')} round(s) (medians), {meta.get('warmup_s')} s warm-up; "
        f"load generator, mock, nginx and gateway share the machine. Gateway log filter: "
        f"{meta.get('gateway_log_filter', 'default (info)')}, to a file ({meta.get('gw_log_lines')} lines).\n"
    )

    # -- non-streaming
    emit("## Non-streaming chat completions\n")
    rows = []
    for c in concs:
        d = agg.get(("chat", "direct", c))
        for t in targets:
            a = agg.get(("chat", t, c))
            if not a:
                continue
            added = (a.p50 - d.p50) if (d and t != "direct" and a.p50 is not None and d.p50 is not None) else None
            ratio = (a.rps / d.rps) if (d and d.rps and t != "direct") else None
            rows.append(
                [
                    str(c),
                    t,
                    f(a.rps, "{:.0f}"),
                    f(a.p50, "{:.3f}"),
                    f(a.p99, "{:.3f}"),
                    f(a.p999, "{:.3f}"),
                    f(added, "{:+.3f}"),
                    f(ratio, "{:.3f}"),
                    f(a.cpu_us, "{:.1f}"),
                    f(a.mock_cpu_us, "{:.1f}"),
                    f(a.loadgen_cores, "{:.2f}"),
                    f(a.bg_cores, "{:.2f}"),
                    str(a.n_err),
                ]
            )
    emit(
        table(
            [
                "c",
                "target",
                "req/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "added p50 ms",
                "× direct",
                "proxy CPU µs/req",
                "mock CPU µs/req",
                "oha cores",
                "bg cores",
                "errors",
            ],
            rows,
        )
    )
    emit("")
    rows = []
    for c in concs:
        g, n = agg.get(("chat", "gateway", c)), agg.get(("chat", "nginx", c))
        if g and n:
            rows.append(
                [
                    str(c),
                    f(g.rps / n.rps if n.rps else None, "{:.3f}"),
                    f(g.cpu_us / n.cpu_us if g.cpu_us and n.cpu_us else None, "{:.2f}"),
                    f(g.rss_max_kb / 1024, "{:.1f}"),
                    f(n.rss_max_kb / 1024, "{:.1f}"),
                ]
            )
    if rows:
        emit(
            table(
                ["c", "gateway/nginx req/s", "gateway/nginx CPU per req", "gateway max RSS MB", "nginx max RSS MB"],
                rows,
            )
        )
        emit("")

    # -- streaming
    emit(
        f"## Streaming ({meta.get('stream_chunks')} chunks × {meta.get('stream_chunk_delay_ms')} ms "
        "from the mock)\n"
    )
    rows = []
    for c in sconcs:
        d = agg.get(("stream", "direct", c))
        for t in targets:
            a = agg.get(("stream", t, c))
            if not a:
                continue
            ratio = (a.rps / d.rps) if (d and d.rps and t != "direct") else None
            rows.append(
                [
                    str(c),
                    t,
                    f(a.rps, "{:.0f}"),
                    f(ratio, "{:.3f}"),
                    f(a.p50, "{:.1f}"),
                    f(a.p99, "{:.1f}"),
                    f(a.p999, "{:.1f}"),
                    str(a.n_err),
                    f(a.mock_cancelled, "{:d}"),
                    f(a.cpu_us, "{:.0f}"),
                    f(a.rss_max_kb / 1024 if t != "direct" else None, "{:.1f}"),
                    f(a.bg_cores, "{:.2f}"),
                ]
            )
    emit(
        table(
            [
                "streams",
                "target",
                "streams/s",
                "× direct",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "errors",
                "mock cancelled",
                "proxy CPU µs/stream",
                "max RSS MB",
                "bg cores",
            ],
            rows,
        )
    )
    emit("")

    # -- gateway process
    ready = [float(x) for x in meta.get("gw_ready_ms", "").split()]
    ready_med = med(ready)
    idle_mb = int(meta.get("gw_idle_rss_kb", "0") or 0) / 1024
    hwm_mb = int(meta.get("gw_hwm_final_kb", "0") or 0) / 1024
    hwm_chat_mb = int(meta.get("gw_hwm_after_chat_kb", "0") or 0) / 1024
    emit("## Gateway process\n")
    emit(
        f"- time to ready (spawn → `/ready` 200): median {f(ready_med, '{:.1f}')} ms "
        f"(tries: {', '.join(f'{x:.1f}' for x in ready)})"
    )
    emit(f"- idle RSS 1 s after ready: {idle_mb:.1f} MB")
    emit(f"- peak RSS (VmHWM) after the non-streaming runs: {hwm_chat_mb:.1f} MB; at the end: {hwm_mb:.1f} MB")
    warn = sum(a.gw_warn for k, a in agg.items() if k[1] == "gateway")
    err = sum(a.gw_error for k, a in agg.items() if k[1] == "gateway")
    emit(f"- gateway log lines at WARN during measured runs: {warn}, at ERROR: {err}")
    emit(f"- gateway still alive at the end: {'yes' if meta.get('gw_alive') == '1' else 'NO'}")
    emit("")
    bgs = [(a.bg_cores, k) for k, a in agg.items() if a.bg_cores is not None]
    worst = max(bgs, default=None)
    pre = meta.get("preflight_busy_cores")
    if (worst and worst[0] > 0.15) or (pre and float(pre) > 0.2):
        emit(
            f"**WARNING: other processes used the CPU during this benchmark** (before it: {pre} "
            f"cores busy; worst run: {worst[0]:.2f} cores during {worst[1][0]} {worst[1][1]} "
            f"c={worst[1][2]}). On 2 cores this skews every figure; rerun on a quiet machine.\n"
        )
    elif worst:
        emit(f"Background CPU (processes outside the benchmark): at most {worst[0]:.2f} cores in any run.\n")

    # -- mock hit accounting (catches retries/fallbacks hidden behind a 200)
    rows = []
    for (ph, t, c), a in sorted(agg.items(), key=lambda kv: (kv[0][0], kv[0][2], targets.index(kv[0][1]))):
        if a.mock_hits is None:
            continue
        rows.append([ph, str(c), t, str(a.ok), str(a.mock_hits), str(a.mock_hits - a.ok), str(a.mock_cancelled)])
    if rows:
        emit("<details><summary>Mock hits vs client successes (incl. in-flight at the deadline)</summary>\n")
        emit(table(["phase", "c", "target", "client 200s", "mock requests", "difference", "mock cancelled"], rows))
        emit("\n</details>\n")

    # -- error details
    details = [
        f"- {ph} {t} c={c}: " + ", ".join(f"{k}: {v}" for k, v in a.errors.items())
        for (ph, t, c), a in agg.items()
        if a.errors
    ]
    if details:
        emit("### Errors seen by the load generator\n")
        out_lines.extend(details)
        emit("")

    # -- targets
    emit("## DESIGN.md §6 targets\n")
    checks = []

    def add(name, value, limit, ok):
        checks.append([name, value, limit, "n/a" if ok is None else ("PASS" if ok else "FAIL")])

    cpu_c = 64 if 64 in concs else (concs[-1] if concs else None)
    g = agg.get(("chat", "gateway", cpu_c))
    n = agg.get(("chat", "nginx", cpu_c))
    # CPU per request: pooled over all non-streaming concurrency levels.
    g_all = [agg[k] for k in agg if k[0] == "chat" and k[1] == "gateway"]
    n_all = [agg[k] for k in agg if k[0] == "chat" and k[1] == "nginx"]
    gcpu = sum(a.cpu_us * a.ok for a in g_all if a.cpu_us) / max(1, sum(a.ok for a in g_all))
    ncpu = sum(a.cpu_us * a.ok for a in n_all if a.cpu_us) / max(1, sum(a.ok for a in n_all))
    add(
        "CPU per non-streaming request ≤ 2× nginx's (all c pooled)",
        f"gateway {gcpu:.1f} µs, nginx {ncpu:.1f} µs ({gcpu / ncpu:.2f}×)" if ncpu else "–",
        f"≤ {2 * ncpu:.1f} µs" if ncpu else "–",
        (gcpu <= 2 * ncpu) if ncpu and gcpu else None,
    )
    if g and n:
        r = g.rps / n.rps if n.rps else 0
        add(
            f"throughput at c={cpu_c} ≥ 0.9× nginx's",
            f"gateway {g.rps:.0f} req/s, nginx {n.rps:.0f} req/s ({r:.3f}×)",
            f"≥ {0.9 * n.rps:.0f} req/s",
            r >= 0.9,
        )
    d16, n16, g16 = (agg.get(("chat", t, 16)) for t in ("direct", "nginx", "gateway"))
    if d16 and g16 and n16:
        ga, na = g16.p50 - d16.p50, n16.p50 - d16.p50
        add(
            "added p50 at c=16 ≤ nginx's + 0.1 ms",
            f"gateway {ga:+.3f} ms, nginx {na:+.3f} ms",
            f"≤ {na + 0.1:+.3f} ms",
            ga <= na + 0.1,
        )
    smax = 1000 if 1000 in sconcs else (sconcs[-1] if sconcs else None)
    gs, ds = agg.get(("stream", "gateway", smax)), agg.get(("stream", "direct", smax))
    if gs and ds:
        add(
            f"{smax} concurrent streams: zero errors",
            f"{gs.n_err} errors" + (f", {gs.mock_cancelled} cancelled at the mock" if gs.mock_cancelled else ""),
            "0",
            gs.n_err == 0,
        )
        r = gs.rps / ds.rps if ds.rps else 0
        add(
            f"{smax} concurrent streams: ≥ 0.7× direct throughput",
            f"{gs.rps:.0f} vs {ds.rps:.0f} streams/s ({r:.3f}×)",
            "≥ 0.7×",
            r >= 0.7,
        )
        add(
            f"RSS with {smax} open streams ≤ 100 MB",
            f"{gs.rss_max_kb / 1024:.1f} MB (max sampled VmRSS)",
            "≤ 100 MB",
            gs.rss_max_kb / 1024 <= 100,
        )
    add("idle RSS ≤ 30 MB", f"{idle_mb:.1f} MB", "≤ 30 MB", idle_mb <= 30 if idle_mb else None)
    add("ready ≤ 200 ms", f"{f(ready_med, '{:.1f}')} ms (median)", "≤ 200 ms", ready_med <= 200 if ready_med else None)
    emit(table(["target", "measured", "budget", "verdict"], checks))
    emit("")
    emit(
        "Notes: req/s counts 200 responses over the run's wall time; added p50 = p50 through the "
        "proxy − p50 direct at the same concurrency in the same run; proxy CPU = utime+stime of "
        "the proxy's processes (nginx: master + workers) across the run ÷ 200 responses "
        "(/proc clock ticks, 10 ms resolution); max RSS is sampled every 100 ms during the run "
        "(nginx: summed over its processes). 'oha cores' = the load generator's CPU over the "
        "run; 'bg cores' = CPU used by processes outside the benchmark during the run "
        "(machine-wide user+system from /proc/stat minus mock, nginx, gateway and oha; includes "
        "a little unattributed kernel time): anything well above 0.1 means the run was disturbed. "
        "Streaming errors count transport errors and non-200 "
        "statuses from oha; 'mock cancelled' counts upstream streams dropped before their end."
    )
    return "\n".join(out_lines) + "\n"


FO_LABEL = {
    "direct": "direct (mock)",
    "gateway": "gateway, single endpoint (bench/chat)",
    "failover-cold": "failover, first run on a fresh breaker",
    "failover": "failover (breaker as configured)",
    "failover-nobreaker": "failover, breaker disabled",
    "flapping": "flapping, default routing",
    "flapping-forced": "flapping, order flaky first, breaker disabled",
}
BREAKER_STATE = {0: "closed", 1: "half-open", 2: "open"}
P99_TARGET_MS = 2.0


def render_failover(agg: dict[tuple, "Agg"], meta: dict[str, str]) -> str:
    """The failover section (phase failover): a dead primary and a flapping one (issue 3)."""
    fo = {(k[1], k[2]): a for k, a in agg.items() if k[0] == "failover"}
    lines: list[str] = []
    emit = lines.append
    emit(f"## Failover — {meta.get('stamp')}\n")
    emit(
        f"git `{meta.get('git_rev')}` ({meta.get('git_dirty_files')} uncommitted files), binary built "
        f"{meta.get('turnout_bin_mtime')}; {meta.get('cores')} cores ({meta.get('cpu_model')}); "
        f"{meta.get('oha_version')}; {meta.get('fo_duration_s')} s per run, {meta.get('rounds')} "
        f"round(s) (medians; counts are summed over rounds), {meta.get('warmup_s')} s warm-up; "
        f"gateway log filter {meta.get('gateway_log_filter', 'default (info)')}, to a file. Providers: "
        f"`dead` = 127.0.0.1:{meta.get('dead_port')} (nothing listens: connection refused), "
        f"`healthy` = the mock, `flaky` = a second mock with `--fail-rate "
        f"{meta.get('flaky_fail_rate')}` (503). Model `bench/failover` = [dead, healthy], requested "
        f'with `"provider": {{"order": ["dead", "healthy"]}}`; `bench/flapping` = [flaky, healthy], '
        f"same prices. \"breaker disabled\" = a second gateway process whose `[routing.breaker]` "
        f"thresholds are out of reach, so every request tries the failing provider first.\n"
    )

    def added(a, ref, attr="p99"):
        x, y = getattr(a, attr) if a else None, getattr(ref, attr) if ref else None
        return (x - y) if x is not None and y is not None else None

    def pct(x):
        return f(x * 100 if x is not None else None, "{:.3f}%")

    fo_concs = sorted({c for (t, c) in fo if t in ("failover", "failover-nobreaker")})
    flap_concs = sorted({c for (t, c) in fo if t.startswith("flapping")})
    checks = []

    # -- dead primary
    rows = []
    cold = fo.get(("failover-cold", 16)) or next((a for (t, _), a in fo.items() if t == "failover-cold"), None)
    for c in fo_concs:
        d, g = fo.get(("direct", c)), fo.get(("gateway", c))
        for t in ("direct", "gateway", "failover", "failover-nobreaker"):
            a = fo.get((t, c))
            if not a:
                continue
            dead = sum(v for k, v in a.attempts.items() if k.startswith("dead|"))
            rows.append(
                [
                    str(c),
                    FO_LABEL[t],
                    f(a.rps, "{:.0f}"),
                    pct(a.success),
                    f(a.p50, "{:.3f}"),
                    f(a.p99, "{:.3f}"),
                    f(a.p999, "{:.3f}"),
                    f(a.slowest, "{:.2f}"),
                    f(added(a, g) if t.startswith("failover") else None, "{:+.3f}"),
                    f(added(a, d) if t != "direct" else None, "{:+.3f}"),
                    str(dead) if t.startswith("failover") else "–",
                    f(a.cpu_us, "{:.1f}"),
                    str(a.gw_warn) if t != "direct" else "–",
                    f(a.bg_cores, "{:.2f}"),
                ]
            )
            if t.startswith("failover") and d and a.p99 is not None and d.p99 is not None:
                over = a.p99 - d.p99
                checks.append(
                    [
                        f"{FO_LABEL[t]}, c={c}: p99 ≤ direct p99 + {P99_TARGET_MS:g} ms",
                        f"{a.p99:.3f} ms vs direct {d.p99:.3f} ms ({over:+.3f} ms; "
                        f"vs gateway single {added(a, g):+.3f} ms)"
                        if g
                        else f"{a.p99:.3f} ms vs {d.p99:.3f} ms ({over:+.3f} ms)",
                        f"≤ {d.p99 + P99_TARGET_MS:.3f} ms",
                        "PASS" if over <= P99_TARGET_MS else "FAIL",
                    ]
                )
            if t.startswith("failover"):
                checks.append(
                    [
                        f"{FO_LABEL[t]}, c={c}: every request succeeds",
                        f"{a.ok} of {a.total} ({pct(a.success)})",
                        "100%",
                        "PASS" if a.n_err == 0 and a.ok else "FAIL",
                    ]
                )
    if cold:
        dead = sum(v for k, v in cold.attempts.items() if k.startswith("dead|"))
        rows.append(
            [
                str(cold.runs[0].conc),
                FO_LABEL["failover-cold"] + f" ({cold.runs[0].rec['duration_s']} s)",
                f(cold.rps, "{:.0f}"),
                pct(cold.success),
                f(cold.p50, "{:.3f}"),
                f(cold.p99, "{:.3f}"),
                f(cold.p999, "{:.3f}"),
                f(cold.slowest, "{:.2f}"),
                "–",
                "–",
                str(dead),
                f(cold.cpu_us, "{:.1f}"),
                str(cold.gw_warn),
                f(cold.bg_cores, "{:.2f}"),
            ]
        )
        checks.append(
            [
                f"{FO_LABEL['failover-cold']}: every request succeeds",
                f"{cold.ok} of {cold.total} ({pct(cold.success)})",
                "100%",
                "PASS" if cold.n_err == 0 and cold.ok else "FAIL",
            ]
        )
    if rows:
        emit('### Dead primary: connection refused, `order: ["dead", "healthy"]`\n')
        emit(
            table(
                [
                    "c",
                    "target",
                    "req/s",
                    "success",
                    "p50 ms",
                    "p99 ms",
                    "p99.9 ms",
                    "max ms",
                    "added p99 vs gateway single ms",
                    "added p99 vs direct ms",
                    "attempts on dead",
                    "gateway CPU µs/req",
                    "gateway WARN lines",
                    "bg cores",
                ],
                rows,
            )
        )
        emit("")
        try:
            final = json.loads(meta.get("gw_metrics_final") or "{}").get("breaker") or {}
        except json.JSONDecodeError:
            final = {}
        state = final.get("dead|bench/failover")
        steady_dead = sum(
            v for (t, _c), a in fo.items() if t == "failover" for k, v in a.attempts.items() if k.startswith("dead|")
        )
        steady_total = sum(a.total for (t, _c), a in fo.items() if t == "failover")
        emit(
            f"Steady state with the breaker: after {meta.get('cold_duration_s')} s on a fresh breaker "
            f"({cold.total if cold else '–'} requests, "
            f"{sum(v for k, v in cold.attempts.items() if k.startswith('dead|')) if cold else '–'} of "
            f"them tried `dead` first), `dead`'s breaker is open and the plan leaves it out; during "
            f"the measured breaker runs {steady_dead} of {steady_total} requests tried `dead` "
            f"(half-open trials after each cool-down). `dead`'s breaker at the end of the section: "
            f"{BREAKER_STATE.get(state, '–') if state is not None else '–'}. With the breaker "
            f"disabled every request pays the refused connection (attempts on dead ≈ requests) and "
            f"logs one WARN line for it."
        )
        emit("")

    # -- flapping
    rows = []
    for c in flap_concs:
        d, g = fo.get(("direct", c)), fo.get(("gateway", c))
        for t in ("direct", "gateway", "flapping", "flapping-forced"):
            a = fo.get((t, c))
            if not a:
                continue
            flaky_ok = a.attempts.get("flaky|ok", 0)
            flaky_failed = sum(v for k, v in a.attempts.items() if k.startswith("flaky|") and not k.endswith("|ok"))
            is_flap = t.startswith("flapping")
            rows.append(
                [
                    str(c),
                    FO_LABEL[t],
                    f(a.rps, "{:.0f}"),
                    pct(a.success),
                    f(a.p50, "{:.3f}"),
                    f(a.p99, "{:.3f}"),
                    f(a.p999, "{:.3f}"),
                    f(added(a, g) if is_flap else None, "{:+.3f}"),
                    f(added(a, d) if t != "direct" else None, "{:+.3f}"),
                    str(a.total),
                    f(a.flaky_hits if is_flap else None, "{:d}"),
                    f(a.flaky_hits / a.total if is_flap and a.flaky_hits is not None and a.total else None, "{:.4f}"),
                    f"{flaky_ok} / {flaky_failed}" if is_flap else "–",
                    f(a.mock_hits, "{:d}"),
                    f(a.cpu_us, "{:.1f}"),
                ]
            )
            if is_flap:
                checks.append(
                    [
                        f"{FO_LABEL[t]}, c={c}: every request succeeds",
                        f"{a.ok} of {a.total} ({pct(a.success)})",
                        "100%",
                        "PASS" if a.n_err == 0 and a.ok else "FAIL",
                    ]
                )
    if rows:
        emit(f"### Flapping primary: `flaky` answers 503 with probability {meta.get('flaky_fail_rate')}\n")
        emit(
            table(
                [
                    "c",
                    "target",
                    "req/s",
                    "success",
                    "p50 ms",
                    "p99 ms",
                    "p99.9 ms",
                    "added p99 vs gateway single ms",
                    "added p99 vs direct ms",
                    "client requests",
                    "flaky mock requests",
                    "flaky requests per client request",
                    "flaky ok / failed (gateway)",
                    "healthy mock requests",
                    "gateway CPU µs/req",
                ],
                rows,
            )
        )
        emit("")

    # -- errors
    details = [
        f"- {FO_LABEL.get(t, t)} c={c}: " + ", ".join(f"{k}: {v}" for k, v in a.errors.items())
        for (t, c), a in fo.items()
        if a.errors
    ]
    if details:
        emit("Errors seen by the load generator:\n")
        lines.extend(details)
        emit("")
    bgs = [(a.bg_cores, k) for k, a in fo.items() if a.bg_cores is not None]
    worst = max(bgs, default=None)
    if worst and worst[0] > 0.15:
        emit(
            f"**WARNING: other processes used the CPU during this section** (worst run: "
            f"{worst[0]:.2f} cores during {worst[1][0]} c={worst[1][1]}); rerun on a quiet machine.\n"
        )
    if checks:
        emit("### Failover targets (issue 3)\n")
        emit(table(["target", "measured", "budget", "verdict"], checks))
        emit("")
    emit(
        "Notes: success = 200 responses ÷ all responses and transport errors; \"added p99 vs "
        "gateway single\" = p99 of the row − p99 of `bench/chat` (one healthy endpoint) through "
        "the same gateway at the same concurrency, i.e. the price of the failover path itself; "
        "\"vs direct\" adds the gateway hop (the issue's target: ≤ 2 ms over a direct call to the "
        "healthy provider). Attempts are the gateway's `turnout_upstream_attempts_total` deltas over "
        "the run; mock requests are the mocks' `/_mock/stats` deltas (incl. requests in flight at "
        "the deadline, which oha awaits). p99 at c=16 is dominated by scheduling on 2 shared "
        "cores (the direct p99 is itself in milliseconds there)."
    )
    return "\n".join(lines) + "\n"


TR_LABEL = {
    "openai-route": "OpenAI route (passed through)",
    "anthropic-route": "Anthropic route (translated)",
}


def render_translation(agg: dict[tuple, "Agg"], meta: dict[str, str]) -> str:
    """The translation section (phase translation): the same streams through the gateway to
    the mock's OpenAI route and to its Anthropic route (issue 4)."""
    tr = {(k[1], k[2]): a for k, a in agg.items() if k[0] == "translation"}
    lines: list[str] = []
    emit = lines.append
    emit(f"# Translation overhead — {meta.get('stamp')}\n")
    emit(
        f"git `{meta.get('git_rev')}` ({meta.get('git_dirty_files')} uncommitted files); "
        f"{meta.get('tr_duration_s')} s per run, {meta.get('rounds')} round(s) (medians), targets "
        "interleaved and rotated per round. One gateway, one stream mock "
        f"({meta.get('stream_chunks')} chunks × {meta.get('stream_chunk_delay_ms')} ms): model "
        "`bench/stream` reaches it as an OpenAI-compatible provider (chunks re-labelled and passed "
        "on), `bench/stream-anthropic` as `kind = \"anthropic\"` (the request translated to "
        "Messages, every event translated back into chunks). Gateway CPU per stream is the "
        "price of the route; latency is the whole stream as the client sees it.\n"
    )
    rows = []
    ratio_rows = []
    for c in sorted({c for (_t, c) in tr}):
        o, a = tr.get(("openai-route", c)), tr.get(("anthropic-route", c))
        for t, x in (("openai-route", o), ("anthropic-route", a)):
            if not x:
                continue
            rows.append(
                [
                    str(c),
                    TR_LABEL[t],
                    f(x.rps, "{:.0f}"),
                    f(x.p50, "{:.1f}"),
                    f(x.p99, "{:.1f}"),
                    f(x.cpu_us, "{:.0f}"),
                    f(x.mock_cpu_us, "{:.0f}"),
                    str(x.n_err),
                    f(x.mock_cancelled, "{:d}"),
                    f(x.rss_max_kb / 1024, "{:.1f}"),
                    f(x.bg_cores, "{:.2f}"),
                ]
            )
        if o and a:
            div = lambda n, d: (n / d) if (n is not None and d) else None  # noqa: E731
            sub = lambda n, d: (n - d) if (n is not None and d is not None) else None  # noqa: E731
            ratio_rows.append(
                [
                    str(c),
                    f(div(a.cpu_us, o.cpu_us), "{:.2f}"),
                    f(sub(a.cpu_us, o.cpu_us), "{:+.0f}"),
                    f(div(a.p50, o.p50), "{:.3f}"),
                    f(sub(a.p50, o.p50), "{:+.2f}"),
                    f(div(a.p99, o.p99), "{:.3f}"),
                    f(sub(a.p99, o.p99), "{:+.2f}"),
                    f(div(a.rps, o.rps), "{:.3f}"),
                ]
            )
    emit(
        table(
            [
                "streams",
                "route",
                "streams/s",
                "p50 ms",
                "p99 ms",
                "gateway CPU µs/stream",
                "mock CPU µs/stream",
                "errors",
                "mock cancelled",
                "gateway max RSS MB",
                "bg cores",
            ],
            rows,
        )
    )
    emit("")
    if ratio_rows:
        emit("Anthropic route ÷ OpenAI route (and the difference):\n")
        emit(
            table(
                [
                    "streams",
                    "CPU/stream ×",
                    "CPU µs added",
                    "p50 ×",
                    "p50 ms added",
                    "p99 ×",
                    "p99 ms added",
                    "streams/s ×",
                ],
                ratio_rows,
            )
        )
        emit("")
    bg = max((x.bg_cores for x in tr.values() if x.bg_cores is not None), default=None)
    if bg is not None and bg > 0.15:
        emit(f"WARNING: other processes used up to {bg:.2f} cores during these runs; the figures are skewed.\n")
    emit(
        "The mock's Anthropic route reads requests as a JSON tree (it serves tests first), so its "
        "own CPU per stream is higher; only the gateway's CPU is the translation's price."
    )
    return "\n".join(lines) + "\n"


BLOCKS = ("main", "failover", "translation")


def _blocks_of(text: str) -> dict[str, str]:
    """The marked blocks of an earlier summary (a file without markers is one main block)."""
    out = {}
    for name in BLOCKS:
        m = re.search(rf"<!-- bench:{name} -->\n(.*?)<!-- /bench:{name} -->\n", text, re.S)
        if m:
            out[name] = m.group(1)
    if not out and text.startswith("# Turnout benchmark"):
        out["main"] = text
    return out


def summarize(raw: Path, out: Path) -> int:
    meta = read_meta(raw / "meta.env")
    clk = int(meta.get("clk_tck", "100"))
    recs = [json.loads(line) for line in (raw / "runs.jsonl").read_text().splitlines() if line.strip()]
    runs = [Run(r, raw, clk) for r in recs]
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        groups.setdefault((r.phase, r.target, r.conc), []).append(r)
    agg = {k: Agg(v) for k, v in groups.items()}
    fresh: dict[str, str] = {}
    main_agg = {k: a for k, a in agg.items() if k[0] in ("chat", "stream")}
    if main_agg:
        fresh["main"] = render_main(main_agg, meta)
    if any(k[0] == "failover" for k in agg):
        fresh["failover"] = render_failover(agg, meta)
    if any(k[0] == "translation" for k in agg):
        fresh["translation"] = render_translation(agg, meta)

    def document(blocks: dict[str, str]) -> str:
        parts = []
        if "main" not in blocks:
            parts.append("# Turnout benchmark\n\n(The main section was not run: `BENCH_SCENARIOS`.)\n\n")
        for name in BLOCKS:
            if name in blocks:
                parts.append(f"<!-- bench:{name} -->\n{blocks[name].rstrip()}\n<!-- /bench:{name} -->\n")
        return "\n".join(parts)

    (raw / "summary.md").write_text(document(fresh))
    # latest.md: this run's sections, and the other sections as an earlier run left them.
    merged = _blocks_of(out.read_text()) if out.exists() else {}
    merged.update(fresh)
    text = document(merged)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(document(fresh))
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("free-ports")
    a.add_argument("n", type=int)
    sub.add_parser("dead-port")
    a = sub.add_parser("gw-metrics")
    a.add_argument("--url", required=True)
    a = sub.add_parser("spawn-ready")
    a.add_argument("--url", required=True)
    a.add_argument("--log", required=True)
    a.add_argument("--timeout", type=float, default=20)
    a.add_argument("cmd", nargs=argparse.REMAINDER)
    a = sub.add_parser("check")
    a.add_argument("--url", required=True)
    a.add_argument("--body", required=True)
    a.add_argument("--stream", action="store_true")
    a = sub.add_parser("summarize")
    a.add_argument("--raw", required=True, type=Path)
    a.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    if args.command == "dead-port":
        return dead_port()
    if args.command == "gw-metrics":
        return gw_metrics(args.url)
    if args.command == "free-ports":
        free_ports(args.n)
        return 0
    if args.command == "spawn-ready":
        cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
        return spawn_ready(args.url, args.log, args.timeout, cmd)
    if args.command == "check":
        return check(args.url, args.body, args.stream)
    return summarize(args.raw, args.out)


if __name__ == "__main__":
    sys.exit(main())
