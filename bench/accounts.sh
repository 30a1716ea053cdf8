#!/usr/bin/env bash
# Accounting costs (issue 5): generation-record writer throughput into SQLite, and the
# request path's accounting work (cached key lookup + hold + settle), from
# crates/turnout-gateway/benches/accounts.rs. Writes bench/results/accounts.md.
#
#   bench/accounts.sh                       # 100,000 records
#   BENCH_WRITER_RECORDS=500000 bench/accounts.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p bench/results
out=$(cargo bench --quiet -p turnout-gateway --bench accounts 2>/dev/null | grep '^{')
echo "$out"
python3 - "$out" <<'PY'
import json, sys, datetime, subprocess, os
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
w = next(r for r in rows if r["bench"] == "writer")
h = next(r for r in rows if r["bench"] == "auth_hold_settle")
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
load = os.getloadavg()[0]
text = f"""# Accounting benchmark — {stamp}

git `{rev}`; {os.cpu_count()} cores; load average at start {load:.2f}. Command: `bench/accounts.sh`.

| measure | result | target (issue 5) |
|---|---:|---|
| generation records (each one its request's charge) written to SQLite by the batched writer (WAL) | {w['records_per_s']:,.0f} records/s ({w['records']:,} in {w['seconds']:.2f} s) | ≥ 20,000/s |
| cached key lookup + hold + settle, one thread | {h['ns_per_request']:,.0f} ns per request | ≤ 50 µs added p50 |
"""
open("bench/results/accounts.md", "w").write(text)
print(text)
PY
