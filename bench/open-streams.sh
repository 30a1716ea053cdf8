#!/usr/bin/env bash
# How many open streams the gateway holds (DESIGN.md §6: 10,000 without errors), and the
# memory they take. Opens N concurrent streams through the gateway to a mock whose streams
# last about 10 s (100 chunks × 100 ms), so all N are open at once; counts non-200 answers and
# transport errors; samples the gateway's RSS every 200 ms. Each stream holds two sockets in the
# gateway (client and upstream), so N is capped at (file descriptor limit − 200) / 2.
#
#   bench/open-streams.sh [N]      (default 10000, capped as above)
#
# Environment: TURNOUT_BIN (default target/release/turnout; built if missing).
# Writes bench/results/open-streams.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
export PATH="$HOME/.cargo/bin:$PATH"
PY=$(command -v python3.11 || command -v python3)
BIN=${TURNOUT_BIN:-$ROOT/target/release/turnout}
WANT=${1:-10000}
command -v oha >/dev/null || { echo "oha is missing: run bench/run.sh once (it installs it)" >&2; exit 1; }
[[ -x "$BIN" ]] || (cd "$ROOT" && cargo build --release -p turnout)

HARD=$(ulimit -Hn)
if [[ "$HARD" == unlimited || "$HARD" -gt 65536 ]]; then HARD=65536; fi
ulimit -n "$HARD" || true
NOFILE=$(ulimit -n)
N=$(( WANT < (NOFILE - 200) / 2 ? WANT : (NOFILE - 200) / 2 ))

TMP=$(mktemp -d /tmp/turnout-open.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

read -r MOCK_PORT GW_PORT < <("$PY" "$HERE/bench.py" free-ports 2)
RUST_LOG=warn "$BIN" mock --listen "127.0.0.1:$MOCK_PORT" --chunks 100 --chunk-delay-ms 100 \
    >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
one_mock_config "$GW_PORT" "$MOCK_PORT" bench/stream >"$TMP/turnout.toml"
(cd "$TMP" && exec "$BIN" serve --config "$TMP/turnout.toml" >"$TMP/gateway.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$GW_PORT/ready" 2>/dev/null && break
    sleep 0.1
done
GW_PID=$(pgrep -f "serve --config $TMP/turnout.toml" | head -1)
IDLE_KB=$(awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status")

(while kill -0 "$GW_PID" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$GW_PID/status" 2>/dev/null
    sleep 0.2
done >"$TMP/rss.txt") &
SAMPLER=$!

BODY='{"model":"bench/stream","stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":256}'
START=$(date +%s.%N)
oha --no-tui --output-format json -n "$N" -c "$N" -t 120s -m POST -H 'content-type: application/json' \
    -d "$BODY" "http://127.0.0.1:$GW_PORT/api/v1/chat/completions" >"$TMP/oha.json" 2>"$TMP/oha.err" || true
END=$(date +%s.%N)
kill "$SAMPLER" 2>/dev/null || true
ALIVE=$(kill -0 "$GW_PID" 2>/dev/null && echo yes || echo no)
WARNS=$(grep -cE ' (WARN|ERROR) ' "$TMP/gateway.log" || true)

"$PY" - "$TMP" "$N" "$WANT" "$NOFILE" "$IDLE_KB" "$START" "$END" "$ALIVE" "$WARNS" \
    "$(git -C "$ROOT" rev-parse --short HEAD)" "$HERE/results/open-streams.md" <<'PY'
import json, sys, datetime, os
tmp, n, want, nofile, idle_kb, start, end, alive, warns, rev, out = sys.argv[1:]
n, want, nofile = int(n), int(want), int(nofile)
try:
    data = json.load(open(f"{tmp}/oha.json"))
except Exception as e:
    sys.exit(f"oha gave no result: {e}; {open(f'{tmp}/oha.err').read()[-500:]}")
codes = {int(k): v for k, v in (data.get("statusCodeDistribution") or {}).items()}
errors = sum((data.get("errorDistribution") or {}).values())
ok = codes.get(200, 0)
rss = [int(x) for x in open(f"{tmp}/rss.txt").read().split() if x.strip().isdigit()]
peak = max(rss) / 1024 if rss else float("nan")
per_stream_kb = (max(rss) - int(idle_kb)) / n if rss else float("nan")
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
capped = "" if n == want else f" (asked for {want}; capped by the file descriptor limit {nofile})"
text = f"""# Open streams — {stamp}

git `{rev}`; {os.cpu_count()} cores; command: `bench/open-streams.sh {want}`. {n} concurrent streams{capped}
through one gateway to a mock streaming 100 chunks × 100 ms (each stream ~10 s, so all are
open at once).

| streams | 200 answers | other statuses | transport errors | wall s | gateway idle RSS MB | peak RSS MB | KB per open stream | gateway alive | WARN/ERROR lines |
|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|
| {n} | {ok} | {sum(v for k, v in codes.items() if k != 200)} | {errors} | {float(end) - float(start):.1f} | {int(idle_kb) / 1024:.1f} | {peak:.1f} | {per_stream_kb:.1f} | {alive} | {warns} |
"""
open(out, "w").write(text)
print(text)
sys.exit(0 if ok == n and errors == 0 and alive == "yes" else 1)
PY
