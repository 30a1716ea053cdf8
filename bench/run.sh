#!/usr/bin/env bash
# Turnout performance benchmark (DESIGN.md §6).
#
# Runs `oha` against (a) the mock upstream directly, (b) the mock through nginx (a plain proxy
# hop: proxy_pass + upstream keepalive + proxy_buffering off) and (c) the mock through the
# Turnout gateway, interleaved in one run, all on 127.0.0.1. Writes raw oha JSON and per-run
# measurements to bench/results/raw/<stamp>/ and the table to bench/results/latest.md.
#
# With BENCH_SCENARIOS including "failover" (the default runs everything) it then measures the
# failover path: a gateway model whose first provider refuses connections (clients send
# provider.order = [dead, healthy]) and a "flapping" model whose first provider answers 503 half
# the time, against the mock directly and the gateway's single-endpoint model, interleaved.
# With "translation", the price of translating: the same streams through the gateway to the
# stream mock spoken to as OpenAI (passed through) and as Anthropic (translated both ways).
#
# Environment (all optional):
#   BENCH_SCENARIOS="main failover translation"  sections to run: main (direct/nginx/gateway,
#                                 streaming), failover (failover + flapping), translation
#                                 (streams to the OpenAI vs the Anthropic route; see bench/README.md)
#   BENCH_QUICK=1                 short runs (3 s, 1 s warm-up, 1 round, one time-to-ready try)
#   BENCH_DURATION=10             seconds per non-streaming run
#   BENCH_STREAM_DURATION=10      seconds per streaming run
#   BENCH_WARMUP=2                seconds of unrecorded warm-up per target before measuring
#   BENCH_CONCURRENCY="1 16 64"   non-streaming concurrency levels
#   BENCH_STREAM_CONCURRENCY="100 1000"   concurrent streams
#   BENCH_ROUNDS=2 (quick: 1)     repeat the whole interleaved matrix (medians are reported)
#   BENCH_READY_TRIES=3           gateway spawns timed for time-to-ready (median reported)
#   BENCH_NGINX_WORKERS=auto      nginx worker_processes (auto = one per core)
#   BENCH_GATEWAY_LOG=warn        diagnostic only: RUST_LOG for the gateway (default: its own, info)
#   BENCH_NO_BUILD=1              do not run `cargo build --release -p turnout` first
#   BENCH_KEEP_TMP=1              keep the temp dir (configs, full logs) and print its path
#   TURNOUT_BIN=path              gateway binary (default target/release/turnout)
#   BENCH_FO_CONCURRENCY="1 16"   failover section: concurrency levels for the failover rows
#   BENCH_FLAP_CONCURRENCY=16     failover section: concurrency levels for the flapping rows
#   BENCH_FO_DURATION             failover section: seconds per run (default BENCH_DURATION)
#   BENCH_COLD_DURATION=1         failover section: the first run on a fresh breaker (c=16)
#   BENCH_FLAKY_FAIL_RATE=0.5     failover section: --fail-rate of the flapping provider's mock
#   BENCH_TR_CONCURRENCY="100"    translation section: concurrent streams
#   BENCH_TR_DURATION             translation section: seconds per run (default BENCH_STREAM_DURATION)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=$(command -v python3.11 || command -v python3)
BENCHPY="$HERE/bench.py"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    DEF_DUR=3 DEF_WARM=1 DEF_TRIES=1 DEF_ROUNDS=1
else
    DEF_DUR=10 DEF_WARM=2 DEF_TRIES=3 DEF_ROUNDS=2
fi
DURATION=${BENCH_DURATION:-$DEF_DUR}
STREAM_DURATION=${BENCH_STREAM_DURATION:-$DURATION}
WARMUP=${BENCH_WARMUP:-$DEF_WARM}
CONCS=${BENCH_CONCURRENCY:-"1 16 64"}
STREAM_CONCS=${BENCH_STREAM_CONCURRENCY:-"100 1000"}
ROUNDS=${BENCH_ROUNDS:-$DEF_ROUNDS}
READY_TRIES=${BENCH_READY_TRIES:-$DEF_TRIES}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
TURNOUT=${TURNOUT_BIN:-$ROOT/target/release/turnout}
STREAM_CHUNKS=20
STREAM_CHUNK_DELAY_MS=5

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

SCENARIOS=${BENCH_SCENARIOS:-"main failover translation"}
for s in $SCENARIOS; do
    case $s in main | failover | translation) ;;
        *) die "BENCH_SCENARIOS: unknown section '$s' (main, failover, translation)" ;;
    esac
done
has() { [[ " $SCENARIOS " == *" $1 "* ]]; }
FO_CONCS=${BENCH_FO_CONCURRENCY:-"1 16"}
FLAP_CONCS=${BENCH_FLAP_CONCURRENCY:-"16"}
FO_DURATION=${BENCH_FO_DURATION:-$DURATION}
COLD_DURATION=${BENCH_COLD_DURATION:-1}
FLAKY_FAIL_RATE=${BENCH_FLAKY_FAIL_RATE:-0.5}
TR_CONCS=${BENCH_TR_CONCURRENCY:-"100"}
TR_DURATION=${BENCH_TR_DURATION:-$STREAM_DURATION}

# ---------------------------------------------------------------- tools
ensure_tools() {
    export PATH="$HOME/.cargo/bin:$PATH"
    if ! command -v oha >/dev/null; then
        # oha 1.16 does not build without a TLS feature; native-tls links the system OpenSSL
        # (faster to build than rustls' aws-lc). Plain http is all we use.
        if ! pkg-config --exists openssl 2>/dev/null; then
            apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive \
                apt-get install -y -qq pkg-config libssl-dev >&2 || die "cannot install libssl-dev"
        fi
        log "installing oha (cargo install oha --locked --features native-tls; ~4 min on 2 cores)"
        cargo install oha --version 1.16.0 --locked --no-default-features --features native-tls >&2 \
            || die "cannot install oha"
    fi
    if has main && ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
        log "installing nginx (apt-get)"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2 \
            || die "cannot install nginx"
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    has main || NGINX=""
    command -v curl >/dev/null || die "curl is required"
    if [[ "${BENCH_NO_BUILD:-0}" != 1 ]]; then
        log "cargo build --release -p turnout"
        (cd "$ROOT" && cargo build --release -p turnout >&2) || die "release build failed"
    fi
    [[ -x "$TURNOUT" ]] || die "no gateway binary at $TURNOUT"
}

# ---------------------------------------------------------------- processes
PIDS=()          # every long-lived process we started (killed on exit)
OHA_PID=""
TMP=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n "$OHA_PID" ]] && kill -TERM "$OHA_PID" 2>/dev/null || true
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 30); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if [[ "${BENCH_KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime+stime of one process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the fields
# are counted after the parenthesised command name, which may contain spaces).
ticks_of() {
    local s
    s=$(<"/proc/$1/stat") || { echo 0; return; }
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${12} + ${13}))
}
ticks_sum() { local t=0 p; for p in "$@"; do t=$((t + $(ticks_of "$p"))); done; echo $t; }
# cutime+cstime of this shell: CPU of the children it has reaped (oha, curl, ...).
child_ticks() {
    local s
    s=$(<"/proc/$$/stat")
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    echo $((${14} + ${15}))
}
# user+nice+system ticks of the whole machine (all cores), from /proc/stat.
sys_ticks() {
    local cpu user nice system _
    read -r cpu user nice system _ </proc/stat
    echo $((user + nice + system))
}
status_kb() { # status_kb PID FIELD  -> kB value of VmRSS/VmHWM (no fork: sampled often)
    local k v _
    while read -r k v _; do
        [[ $k == "$2:" ]] && { echo "$v"; return; }
    done <"/proc/$1/status" 2>/dev/null
    echo 0
}
rss_sum() { local t=0 p v; for p in "$@"; do v=$(status_kb "$p" VmRSS); t=$((t + ${v:-0})); done; echo $t; }
NGINX_MASTER=""
nginx_pids() { [[ -n "$NGINX_MASTER" ]] && echo "$NGINX_MASTER" $(pgrep -P "$NGINX_MASTER" || true); return 0; }

wait_http() { # wait_http URL [tries]  (GET until 200)
    local i
    for i in $(seq 1 "${2:-200}"); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- setup
ensure_tools
HARD=$(ulimit -Hn)
if [[ "$HARD" == unlimited || "$HARD" -gt 65536 ]]; then HARD=65536; fi
ulimit -n "$HARD" || true
NOFILE=$(ulimit -n)

# Pre-flight: the machine should be quiet (2 cores shared by generator, mock, proxy, gateway).
# Other processes' CPU is also measured during every run and reported as "background".
t0=$(sys_ticks); sleep 2; t1=$(sys_ticks)
BG_CORES=$(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", d / hz / 2 }')
if awk -v b="$BG_CORES" 'BEGIN { exit !(b > 0.2) }'; then
    log "WARNING: the machine is busy before the benchmark (${BG_CORES} cores in use); results will be skewed"
    ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -6 >&2
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW="$HERE/results/raw/$STAMP"
mkdir -p "$RAW"
TMP=$(mktemp -d /tmp/turnout-bench.XXXXXX)
RUNS="$RAW/runs.jsonl"
META="$RAW/meta.env"
: >"$RUNS"

read -r MOCK_PORT MOCKS_PORT NGINX_PORT NGINXS_PORT GW_PORT GW2_PORT FLAKY_PORT < <("$PY" "$BENCHPY" free-ports 7)
# The failover section's dead provider: a port below the ephemeral range with nothing
# listening (bound, then closed), so no outgoing connection can take it as its own source port
# and connect to itself.
DEAD_PORT=$("$PY" "$BENCHPY" dead-port)
log "sections: $SCENARIOS; ports: mock=$MOCK_PORT mock-stream=$MOCKS_PORT nginx=$NGINX_PORT/$NGINXS_PORT gateway=$GW_PORT/$GW2_PORT flaky=$FLAKY_PORT dead=$DEAD_PORT; nofile=$NOFILE"

# Mocks log at warn: they are the reference upstream, not under test.
SERVER_PIDS=()   # every server whose CPU is not "background"
RUST_LOG=warn "$TURNOUT" mock --listen "127.0.0.1:$MOCK_PORT" --name bench-fast \
    >"$TMP/mock.log" 2>&1 &
MOCK_PID=$!; PIDS+=("$MOCK_PID"); SERVER_PIDS+=("$MOCK_PID")
wait_http "http://127.0.0.1:$MOCK_PORT/v1/models" || die "mock did not start ($(tail -3 "$TMP/mock.log"))"
MOCKS_PID=""
if has main || has translation; then
    RUST_LOG=warn "$TURNOUT" mock --listen "127.0.0.1:$MOCKS_PORT" --name bench-stream \
        --chunks "$STREAM_CHUNKS" --chunk-delay-ms "$STREAM_CHUNK_DELAY_MS" \
        >"$TMP/mock-stream.log" 2>&1 &
    MOCKS_PID=$!; PIDS+=("$MOCKS_PID"); SERVER_PIDS+=("$MOCKS_PID")
    wait_http "http://127.0.0.1:$MOCKS_PORT/v1/models" || die "stream mock did not start"
fi
FLAKY_PID=""
if has failover; then
    RUST_LOG=warn "$TURNOUT" mock --listen "127.0.0.1:$FLAKY_PORT" --name bench-flaky \
        --fail-rate "$FLAKY_FAIL_RATE" >"$TMP/mock-flaky.log" 2>&1 &
    FLAKY_PID=$!; PIDS+=("$FLAKY_PID"); SERVER_PIDS+=("$FLAKY_PID")
    wait_http "http://127.0.0.1:$FLAKY_PORT/v1/models" || die "flaky mock did not start"
    # The dead provider must refuse connections (curl exit 7), not time out or answer.
    rc=0; curl -sS -o /dev/null --max-time 2 "http://127.0.0.1:$DEAD_PORT/" 2>/dev/null || rc=$?
    [[ $rc == 7 ]] || die "127.0.0.1:$DEAD_PORT does not refuse connections (curl exit $rc)"
fi

# nginx: foreground, own prefix/config/pid/logs/temp paths; the system config is untouched.
NGINX_NPROC=0
if has main; then
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
NGINX_USER=""
[[ $(id -u) == 0 ]] && id www-data >/dev/null 2>&1 && NGINX_USER="user www-data;"
[[ $(id -u) == 0 ]] && chmod 755 "$TMP"
cat >"$TMP/nginx/nginx.conf" <<NGINXEOF
$NGINX_USER
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile $NOFILE;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream mock_fast   { server 127.0.0.1:$MOCK_PORT;  keepalive 256;  keepalive_requests 1000000; }
    upstream mock_stream { server 127.0.0.1:$MOCKS_PORT; keepalive 1024; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=8192;
        location / {
            proxy_pass http://mock_fast;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
    server {
        listen 127.0.0.1:$NGINXS_PORT backlog=8192;
        location / {
            proxy_pass http://mock_stream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGINXEOF
"$NGINX" -t -q -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" \
    || die "nginx config invalid"
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx/logs/stdout.log" 2>&1 &
NGINX_MASTER=$!; PIDS+=("$NGINX_MASTER")
wait_http "http://127.0.0.1:$NGINX_PORT/v1/models" || die "nginx did not start ($(tail -3 "$TMP/nginx/logs/error.log"))"
sleep 0.3
NGINX_NPROC=$(nginx_pids | wc -w)
fi

# The gateway: default (info) logging to a file, as in production.
endpoint() { # endpoint PROVIDER  (same prices everywhere: the default order picks 50/50)
    printf '  [[models.endpoints]]\n  provider = "%s"\n  upstream_model = "mock-model"\n' "$1"
    printf '  prompt_price = "0.00000015"\n  completion_price = "0.0000006"\n'
}
gateway_config() { # gateway_config PORT  -> the config on stdout
    gateway_head "$1" "$MOCK_PORT"
    if has main || has translation; then
        printf '\n[[providers]]\nslug = "mockstream"\nname = "Bench Stream Mock"\nkind = "openai"\n'
        printf 'base_url = "http://127.0.0.1:%s/v1"\n' "$MOCKS_PORT"
    fi
    if has translation; then
        # The same stream mock in Anthropic's dialect: every request and event is translated.
        printf '\n[[providers]]\nslug = "mockstream-anthropic"\nname = "Bench Stream Mock (Anthropic)"\n'
        printf 'kind = "anthropic"\nbase_url = "http://127.0.0.1:%s/v1"\napi_key = "bench"\n' "$MOCKS_PORT"
    fi
    if has failover; then
        # healthy = the same mock as "mock", as its own provider (own pool, own breaker).
        printf '\n[[providers]]\nslug = "healthy"\nkind = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\n' "$MOCK_PORT"
        printf '\n[[providers]]\nslug = "dead"\nkind = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\n' "$DEAD_PORT"
        printf '\n[[providers]]\nslug = "flaky"\nkind = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\n' "$FLAKY_PORT"
    fi
    printf '\n[[models]]\nid = "bench/chat"\nname = "Bench: chat"\n'
    endpoint mock
    if has main || has translation; then
        printf '\n[[models]]\nid = "bench/stream"\nname = "Bench: stream"\n'
        endpoint mockstream
    fi
    if has translation; then
        printf '\n[[models]]\nid = "bench/stream-anthropic"\nname = "Bench: stream, Anthropic route"\n'
        endpoint mockstream-anthropic
    fi
    if has failover; then
        printf '\n[[models]]\nid = "bench/failover"\nname = "Bench: dead primary"\n'
        endpoint dead; endpoint healthy
        printf '\n[[models]]\nid = "bench/flapping"\nname = "Bench: flapping primary"\n'
        endpoint flaky; endpoint healthy
    fi
}
gateway_config "$GW_PORT" >"$TMP/turnout.toml"
"$TURNOUT" config check "$TMP/turnout.toml" >&2 || die "gateway config rejected"

GW_LOG="$TMP/gateway.log"
READY_LIST=()
for try in $(seq 1 "$READY_TRIES"); do
    rm -f "$TMP"/*.db "$TMP"/*.db-*
    # RUST_LOG only when BENCH_GATEWAY_LOG is set (a diagnostic; the budget is for info).
    read -r GW_PID READY_MS < <(cd "$TMP" && env -u RUST_LOG ${BENCH_GATEWAY_LOG:+RUST_LOG=$BENCH_GATEWAY_LOG} \
        "$PY" "$BENCHPY" spawn-ready \
        --url "http://127.0.0.1:$GW_PORT/ready" --log "$GW_LOG" --timeout 20 -- \
        "$TURNOUT" serve --config "$TMP/turnout.toml") || die "gateway did not become ready ($(tail -5 "$GW_LOG"))"
    PIDS+=("$GW_PID")
    READY_LIST+=("$READY_MS")
    log "gateway ready in ${READY_MS} ms (try $try/$READY_TRIES, pid $GW_PID)"
    if [[ $try -lt $READY_TRIES ]]; then
        kill -TERM "$GW_PID"
        for _ in $(seq 1 50); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$GW_PID" 2>/dev/null || true
        sleep 0.2
    fi
done
SERVER_PIDS+=("$GW_PID")
sleep 1
GW_IDLE_RSS=$(status_kb "$GW_PID" VmRSS)
log "gateway idle RSS ${GW_IDLE_RSS} kB"

# A second gateway for the failover section whose breakers never open (thresholds out of
# reach): every request pays the refused connection / the 503 before falling over.
GW2_PID="" GW2_LOG="$TMP/gateway-nobreaker.log"
: >"$GW2_LOG"
if has failover; then
    mkdir -p "$TMP/nobreaker"
    {
        gateway_config "$GW2_PORT"
        printf '\n[routing.breaker]\nconsecutive = 1000000000000\nmin_requests = 1000000000000\n'
    } >"$TMP/turnout-nobreaker.toml"
    "$TURNOUT" config check "$TMP/turnout-nobreaker.toml" >&2 || die "no-breaker gateway config rejected"
    read -r GW2_PID _ < <(cd "$TMP/nobreaker" && env -u RUST_LOG ${BENCH_GATEWAY_LOG:+RUST_LOG=$BENCH_GATEWAY_LOG} \
        "$PY" "$BENCHPY" spawn-ready \
        --url "http://127.0.0.1:$GW2_PORT/ready" --log "$GW2_LOG" --timeout 20 -- \
        "$TURNOUT" serve --config "$TMP/turnout-nobreaker.toml") || die "no-breaker gateway did not become ready ($(tail -5 "$GW2_LOG"))"
    PIDS+=("$GW2_PID"); SERVER_PIDS+=("$GW2_PID")
    log "no-breaker gateway ready (pid $GW2_PID)"
fi

MSG='"messages":[{"role":"user","content":"Say hello to the benchmark."}],"max_tokens":32'
BODY_CHAT="{\"model\":\"bench/chat\",$MSG}"
BODY_STREAM="{\"model\":\"bench/stream\",\"stream\":true,$MSG}"
BODY_STREAM_ANTHROPIC="{\"model\":\"bench/stream-anthropic\",\"stream\":true,$MSG}"
BODY_FAILOVER="{\"model\":\"bench/failover\",\"provider\":{\"order\":[\"dead\",\"healthy\"]},$MSG}"
BODY_FLAP="{\"model\":\"bench/flapping\",$MSG}"
BODY_FLAP_FORCED="{\"model\":\"bench/flapping\",\"provider\":{\"order\":[\"flaky\",\"healthy\"]},$MSG}"

# Targets: direct, nginx, gateway (bench/chat, single endpoint) in every section; in the
# failover section also failover-cold (the first run on a fresh breaker), failover (order dead
# first), flapping (default routing), and on the no-breaker gateway failover-nobreaker and
# flapping-forced (order flaky first).
url_for() { # url_for TARGET PHASE
    case "$1/$2" in
        direct/stream) echo "http://127.0.0.1:$MOCKS_PORT/v1/chat/completions" ;;
        direct/*) echo "http://127.0.0.1:$MOCK_PORT/v1/chat/completions" ;;
        nginx/chat) echo "http://127.0.0.1:$NGINX_PORT/v1/chat/completions" ;;
        nginx/stream) echo "http://127.0.0.1:$NGINXS_PORT/v1/chat/completions" ;;
        failover-nobreaker/* | flapping-forced/*) echo "http://127.0.0.1:$GW2_PORT/api/v1/chat/completions" ;;
        *) echo "http://127.0.0.1:$GW_PORT/api/v1/chat/completions" ;;
    esac
}
body_for() { # body_for TARGET PHASE
    case "$1/$2" in
        */stream | openai-route/translation) echo "$BODY_STREAM" ;;
        anthropic-route/translation) echo "$BODY_STREAM_ANTHROPIC" ;;
        failover*/failover) echo "$BODY_FAILOVER" ;;
        flapping/failover) echo "$BODY_FLAP" ;;
        flapping-forced/failover) echo "$BODY_FLAP_FORCED" ;;
        *) echo "$BODY_CHAT" ;;
    esac
}
proxy_pids() { # the processes whose CPU is charged to TARGET
    case "$1" in
        direct) echo "" ;;
        nginx) nginx_pids ;;
        failover-nobreaker | flapping-forced) echo "$GW2_PID" ;;
        *) echo "$GW_PID" ;;
    esac
}
log_for() { # the gateway log TARGET writes to ("" for direct and nginx)
    case "$1" in
        direct | nginx) echo "" ;;
        failover-nobreaker | flapping-forced) echo "$GW2_LOG" ;;
        *) echo "$GW_LOG" ;;
    esac
}
metrics_for() { # the gateway /metrics of TARGET
    case "$1" in
        direct | nginx) echo "" ;;
        failover-nobreaker | flapping-forced) echo "http://127.0.0.1:$GW2_PORT/metrics" ;;
        *) echo "http://127.0.0.1:$GW_PORT/metrics" ;;
    esac
}

# Sanity: every path answers 200 with a well-formed body before anything is measured. (Not
# bench/failover on the main gateway: its first requests are measured as failover-cold.)
if has main; then
    for t in direct nginx gateway; do
        "$PY" "$BENCHPY" check --url "$(url_for $t chat)" --body "$BODY_CHAT" >&2 \
            || die "$t: non-streaming request failed"
        "$PY" "$BENCHPY" check --stream --url "$(url_for $t stream)" --body "$BODY_STREAM" >&2 \
            || die "$t: streaming request failed"
    done
fi
if has failover; then
    for t in direct gateway failover-nobreaker flapping-forced; do
        "$PY" "$BENCHPY" check --url "$(url_for $t failover)" --body "$(body_for $t failover)" >&2 \
            || die "$t: non-streaming request failed"
    done
fi
if has translation; then
    for t in openai-route anthropic-route; do
        "$PY" "$BENCHPY" check --stream --url "$(url_for $t translation)" --body "$(body_for $t translation)" >&2 \
            || die "$t: streaming request failed"
    done
fi

oha_version=$(oha --version 2>/dev/null | head -1)
{
    echo "stamp=$STAMP"
    echo "scenarios=$SCENARIOS"
    echo "git_rev=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "git_dirty_files=$(cd "$ROOT" && git status --porcelain 2>/dev/null | wc -l)"
    echo "turnout_bin=$TURNOUT"
    echo "turnout_bin_mtime=$(date -u -r "$TURNOUT" +%Y-%m-%dT%H:%M:%SZ)"
    echo "oha_version=$oha_version"
    echo "nginx_version=$([[ -n "$NGINX" ]] && "$NGINX" -v 2>&1 | sed 's/.*: //')"
    echo "gateway_log_filter=${BENCH_GATEWAY_LOG:-default (info)}"
    echo "nginx_workers=$NGINX_WORKERS"
    echo "nginx_processes=$NGINX_NPROC"
    echo "cores=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "clk_tck=$(getconf CLK_TCK)"
    echo "nofile=$NOFILE"
    echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)"
    echo "duration_s=$DURATION"
    echo "stream_duration_s=$STREAM_DURATION"
    echo "warmup_s=$WARMUP"
    echo "rounds=$ROUNDS"
    echo "concurrency=$CONCS"
    echo "stream_concurrency=$STREAM_CONCS"
    echo "stream_chunks=$STREAM_CHUNKS"
    echo "stream_chunk_delay_ms=$STREAM_CHUNK_DELAY_MS"
    echo "fo_duration_s=$FO_DURATION"
    echo "fo_concurrency=$FO_CONCS"
    echo "flap_concurrency=$FLAP_CONCS"
    echo "cold_duration_s=$COLD_DURATION"
    echo "flaky_fail_rate=$FLAKY_FAIL_RATE"
    echo "tr_concurrency=$TR_CONCS"
    echo "tr_duration_s=$TR_DURATION"
    echo "dead_port=$DEAD_PORT"
    echo "ephemeral_ports=$(tr '\t' ' ' </proc/sys/net/ipv4/ip_local_port_range)"
    echo "preflight_busy_cores=$BG_CORES"
    echo "gw_ready_ms=${READY_LIST[*]}"
    echo "gw_idle_rss_kb=$GW_IDLE_RSS"
} >"$META"

mock_stats() { curl -fsS --max-time 5 "http://127.0.0.1:$1/_mock/stats" 2>/dev/null | tr -d '\n' || echo '{}'; }
gw_metrics() { # gw_metrics URL -> {"attempts": {...}, "breaker": {...}} ({} without a URL)
    if [[ -n "$1" ]]; then "$PY" "$BENCHPY" gw-metrics --url "$1" 2>/dev/null || echo '{}'; else echo '{}'; fi
}
count_log() { # count_log FILE FROM_BYTE LEVEL -> lines at LEVEL appended since FROM_BYTE
    [[ -n "$1" ]] || { echo 0; return; }
    tail -c +"$(($2 + 1))" "$1" 2>/dev/null | grep -c " $3 " || true
}

# run_oha PHASE TARGET CONC DURATION RECORD(0|1) ROUND
run_oha() {
    local phase=$1 target=$2 conc=$3 dur=$4 record=$5 round=$6
    local url body mport mpid glog gmetrics
    url=$(url_for "$target" "$phase")
    body=$(body_for "$target" "$phase")
    if [[ $phase == stream || $phase == translation ]]; then mport=$MOCKS_PORT mpid=$MOCKS_PID
    else mport=$MOCK_PORT mpid=$MOCK_PID; fi
    glog=$(log_for "$target")
    gmetrics=""
    [[ $phase == failover ]] && gmetrics=$(metrics_for "$target")
    local name="${phase}-${target}-c${conc}-r${round}"
    local out="$RAW/$name.json"
    [[ $record == 1 ]] || out="$TMP/warmup.json"
    # shellcheck disable=SC2207
    local pp=($(proxy_pids "$target"))
    local ms_before ms_after t0_proxy t0_mock t1_proxy t1_mock log0=0 rss_max=0 rss
    local fl_before='{}' fl_after='{}' gm_before gm_after
    ms_before=$(mock_stats "$mport")
    [[ $phase == failover && -n "$FLAKY_PID" ]] && fl_before=$(mock_stats "$FLAKY_PORT")
    gm_before=$(gw_metrics "$gmetrics")
    [[ -n "$glog" ]] && log0=$(stat -c %s "$glog")
    local t0_sys t1_sys t0_child t1_child t0_mocks t1_mocks
    t0_child=$(child_ticks)
    t0_sys=$(sys_ticks)
    t0_mocks=$(ticks_sum "${SERVER_PIDS[@]}" $(nginx_pids))
    t0_proxy=$(ticks_sum "${pp[@]}")
    t0_mock=$(ticks_of "$mpid")
    oha --no-tui --output-format json -z "${dur}s" -w -c "$conc" -m POST \
        -H 'content-type: application/json' -d "$body" "$url" >"$out" 2>"$TMP/oha.err" &
    OHA_PID=$!
    local snap=$((SECONDS + dur / 2))
    while kill -0 "$OHA_PID" 2>/dev/null; do
        if [[ $record == 1 && $SECONDS -ge $snap && $snap -gt 0 ]]; then
            # What else is running mid-run (evidence when 'bg cores' is high).
            top -b -n 1 -d 0.2 -w 120 2>/dev/null | sed -n '7,14p' >"$RAW/$name.top" || true
            snap=0
        fi
        if [[ ${#pp[@]} -gt 0 ]]; then
            rss=$(rss_sum "${pp[@]}")
            ((rss > rss_max)) && rss_max=$rss
        fi
        sleep 0.1
    done
    local rc=0
    wait "$OHA_PID" || rc=$?
    OHA_PID=""
    t1_proxy=$(ticks_sum "${pp[@]}")
    t1_mock=$(ticks_of "$mpid")
    t1_mocks=$(ticks_sum "${SERVER_PIDS[@]}" $(nginx_pids))
    t1_sys=$(sys_ticks)
    t1_child=$(child_ticks)
    ms_after=$(mock_stats "$mport")
    [[ $phase == failover && -n "$FLAKY_PID" ]] && fl_after=$(mock_stats "$FLAKY_PORT")
    gm_after=$(gw_metrics "$gmetrics")
    [[ $rc == 0 ]] || { log "oha failed (rc $rc) for $name: $(head -c 400 "$TMP/oha.err")"; }
    [[ $record == 1 ]] || return 0
    local warns=0 errors=0 hwm=0
    if [[ -n "$glog" ]]; then
        warns=$(count_log "$glog" "$log0" WARN); errors=$(count_log "$glog" "$log0" ERROR)
        hwm=$(status_kb "${pp[0]}" VmHWM)
    fi
    printf '{"name":"%s","phase":"%s","target":"%s","conc":%s,"round":%s,"duration_s":%s,"oha_rc":%s,"oha_json":"%s","proxy_ticks":%s,"mock_ticks":%s,"proxy_rss_max_kb":%s,"gw_hwm_kb":%s,"gw_log_warn":%s,"gw_log_error":%s,"loadgen_ticks":%s,"system_ticks":%s,"servers_ticks":%s,"mock_before":%s,"mock_after":%s,"flaky_before":%s,"flaky_after":%s,"gw_metrics_before":%s,"gw_metrics_after":%s}\n' \
        "$name" "$phase" "$target" "$conc" "$round" "$dur" "$rc" "$(basename "$out")" \
        "$((t1_proxy - t0_proxy))" "$((t1_mock - t0_mock))" "$rss_max" "$hwm" "$warns" "$errors" \
        "$((t1_child - t0_child))" "$((t1_sys - t0_sys))" "$((t1_mocks - t0_mocks))" \
        "${ms_before:-{\}}" "${ms_after:-{\}}" "${fl_before:-{\}}" "${fl_after:-{\}}" \
        "${gm_before:-{\}}" "${gm_after:-{\}}" >>"$RUNS"
    log "$name done"
}

rotate() { # rotate ROUND ITEM...  -> the items rotated by ROUND-1 (spreads drift evenly)
    local r=$1; shift
    local items=("$@") i n=$#
    for ((i = 0; i < n; i++)); do printf '%s ' "${items[$(((i + r - 1) % n))]}"; done
}

# ---------------------------------------------------------------- main section
if has main; then
    # Unrecorded warm-up: connections, pools, allocator arenas, page cache.
    for t in direct nginx gateway; do run_oha chat "$t" 16 "$WARMUP" 0 0; done
    for t in direct nginx gateway; do run_oha stream "$t" 100 "$WARMUP" 0 0; done

    TARGETS=(direct nginx gateway)
    for round in $(seq 1 "$ROUNDS"); do
        for c in $CONCS; do
            for t in $(rotate "$round" "${TARGETS[@]}"); do run_oha chat "$t" "$c" "$DURATION" 1 "$round"; done
        done
    done
    echo "gw_hwm_after_chat_kb=$(status_kb "$GW_PID" VmHWM)" >>"$META"
    for round in $(seq 1 "$ROUNDS"); do
        for c in $STREAM_CONCS; do
            for t in $(rotate "$round" "${TARGETS[@]}"); do run_oha stream "$t" "$c" "$STREAM_DURATION" 1 "$round"; done
        done
    done
    {
        echo "gw_hwm_final_kb=$(status_kb "$GW_PID" VmHWM)"
        echo "gw_rss_final_kb=$(status_kb "$GW_PID" VmRSS)"
    } >>"$META"
fi

# ---------------------------------------------------------------- failover section
if has failover; then
    # First, on a fresh breaker: the only time `dead` is tried before its breaker opens.
    run_oha failover failover-cold 16 "$COLD_DURATION" 1 1
    for t in direct gateway failover failover-nobreaker flapping flapping-forced; do
        run_oha failover "$t" 16 "$WARMUP" 0 0
    done
    FO_ALL_CONCS=$(printf '%s\n' $FO_CONCS $FLAP_CONCS | sort -n -u | tr '\n' ' ')
    for round in $(seq 1 "$ROUNDS"); do
        for c in $FO_ALL_CONCS; do
            targets=(direct gateway)
            [[ " $FO_CONCS " == *" $c "* ]] && targets+=(failover failover-nobreaker)
            [[ " $FLAP_CONCS " == *" $c "* ]] && targets+=(flapping flapping-forced)
            for t in $(rotate "$round" "${targets[@]}"); do run_oha failover "$t" "$c" "$FO_DURATION" 1 "$round"; done
        done
    done
    echo "gw_metrics_final=$(gw_metrics "http://127.0.0.1:$GW_PORT/metrics")" >>"$META"
    { grep -E ' (WARN|ERROR) ' "$GW2_LOG" | head -50 || true; } >"$RAW/gateway-nobreaker-warn-error.log"
    cp "$TMP/turnout-nobreaker.toml" "$RAW/"
    echo "gw2_log_lines=$(wc -l <"$GW2_LOG")" >>"$META"
    echo "gw2_alive=$(kill -0 "$GW2_PID" 2>/dev/null && echo 1 || echo 0)" >>"$META"
fi
# ---------------------------------------------------------------- translation section
if has translation; then
    # The same streams (20 chunks × 5 ms) through the same gateway, to the same mock, spoken to
    # as OpenAI (chunks re-labelled and passed on) and as Anthropic (request translated, every
    # event translated back): the gateway's CPU per stream is the translation's price.
    for t in openai-route anthropic-route; do run_oha translation "$t" "${TR_CONCS%% *}" "$WARMUP" 0 0; done
    for round in $(seq 1 "$ROUNDS"); do
        for c in $TR_CONCS; do
            for t in $(rotate "$round" openai-route anthropic-route); do
                run_oha translation "$t" "$c" "$TR_DURATION" 1 "$round"
            done
        done
    done
fi
{
    echo "gw_log_lines=$(wc -l <"$GW_LOG")"
    echo "gw_log_bytes=$(stat -c %s "$GW_LOG")"
    echo "gw_alive=$(kill -0 "$GW_PID" 2>/dev/null && echo 1 || echo 0)"
} >>"$META"

# Keep the gateway's warnings/errors and the log's head as evidence (the full log can be large).
{ grep -E ' (WARN|ERROR) ' "$GW_LOG" | head -200 || true; } >"$RAW/gateway-warn-error.log"
head -50 "$GW_LOG" >"$RAW/gateway-log-head.log"
cp "$TMP/turnout.toml" "$RAW/"
if has main; then
    cp "$TMP/nginx/nginx.conf" "$RAW/"
    cp "$TMP/nginx/logs/error.log" "$RAW/nginx-error.log" 2>/dev/null || true
fi

# latest.md keeps the other section's block from an earlier run when only one section ran.
"$PY" "$BENCHPY" summarize --raw "$RAW" --out "$HERE/results/latest.md"
log "raw results: $RAW"
