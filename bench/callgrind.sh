#!/usr/bin/env bash
# Instructions per proxied request, measured with callgrind (deterministic, unlike wall-clock
# figures on a shared 2-core machine). Runs the gateway under callgrind twice against the mock
# — once with a few requests, once with N more — and divides the difference by N, so startup
# and shutdown cancel out.
#
#   bench/callgrind.sh [chat|stream] [N]      (defaults: chat 2000)
#
# Environment: TURNOUT_BIN (default target/profiling/turnout; build it with
# `cargo build --profile profiling -p turnout`), CG_KEEP=DIR (keep callgrind.out files there).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
KIND=${1:-chat}
N=${2:-2000}
BASE=${CG_BASE:-50}
BIN=${TURNOUT_BIN:-$ROOT/target/profiling/turnout}
export PATH="$HOME/.cargo/bin:$PATH"
PY=$(command -v python3)
TMP=$(mktemp -d /tmp/turnout-cg.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

read -r MOCK_PORT GW_PORT < <("$PY" "$HERE/bench.py" free-ports 2)
RUST_LOG=warn "$BIN" mock --listen "127.0.0.1:$MOCK_PORT" --chunks 20 >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
one_mock_config "$GW_PORT" "$MOCK_PORT" bench/chat >"$TMP/turnout.toml"
MSG='"messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":32'
case $KIND in
    chat) BODY="{\"model\":\"bench/chat\",$MSG}" ;;
    stream) BODY="{\"model\":\"bench/chat\",\"stream\":true,$MSG}" ;;
    *) echo "kind: chat or stream" >&2; exit 2 ;;
esac

wait_ready() {
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$GW_PORT/ready" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "gateway not ready" >&2; return 1
}

run() { # run REQUESTS -> total instructions
    local n=$1 out="$TMP/cg.$1"
    (cd "$TMP" && env -u RUST_LOG valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$BIN" serve --config "$TMP/turnout.toml" >"$TMP/gw.$n.log" 2>&1) &
    local vpid=$!
    wait_ready
    oha --no-tui -n "$n" -c 4 -m POST -H 'content-type: application/json' -d "$BODY" \
        "http://127.0.0.1:$GW_PORT/api/v1/chat/completions" >"$TMP/oha.$n.txt"
    grep -Eq 'Success rate:[[:space:]]+100' "$TMP/oha.$n.txt" || { cat "$TMP/oha.$n.txt" >&2; return 1; }
    local gpid
    gpid=$(pgrep -P "$vpid" -f "serve --config" || true)
    [[ -z "$gpid" ]] && gpid=$(pgrep -f "callgrind-out-file=$out" | head -1)
    kill -TERM "$gpid"
    wait "$vpid" || true
    if [[ -n "${CG_KEEP:-}" ]]; then cp "$out" "$CG_KEEP/callgrind.$KIND.$n"; fi
    callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }'
}
A=$(run "$BASE")
B=$(run $((BASE + N)))
echo "$KIND: base($BASE)=$A total($((BASE + N)))=$B per-request=$(( (B - A) / N ))"
