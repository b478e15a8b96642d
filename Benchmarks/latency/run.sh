#!/usr/bin/env bash
# Fire latency and slow-partner isolation of a running postbackd (issue #7, item 3), one command:
#   bash Benchmarks/latency/run.sh
# Env: RATE (5000 fast records/s), DURATION (20 s; not SECONDS, which bash owns), PER_FILE (5
# records a file), SLOW_EVERY (100: in the second scenario one extra record for a slow partner
# after every 100 fast ones), SLOW_DELAY_MS (5000), MAX_CONCURRENT (64), PER_HOST (16),
# LOG_TARGET (auto = journald), PORT (18190), SCENARIOS ("latency slow"), DRAIN (30 s).
# RATE=0 COUNT=N: a burst, N fast records (N/PER_FILE files) renamed into incoming/ at once;
# its throughput is arrivals over the time to the last one.
#
# Scenario `latency`: only fast fires (one partner on 127.0.0.1, answering 204 at once); prints
# rename -> arrival p50/p90/p99/max and the fast throughput, which is the baseline.
# Scenario `slow`: the same fast records plus the slow partner's (127.0.0.2, /slow, answers
# after 5 s: another host key, so its per-host cap applies); prints the fast fires' latency
# and throughput again and `fast_throughput_ratio` against the baseline (target >= 0.90).
# Each scenario gets a new spool and a new `postbackd run` (service mode: inotify), stopped
# with SIGTERM at the end. Also prints the CPU the daemon, the harness and everything else on
# the machine used during each scenario, since a shared machine moves these figures.
set -euo pipefail
. "$(dirname "$0")/../daemon-config.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
rate=${RATE:-5000}
duration=${DURATION:-20}
count=${COUNT:-}
per_file=${PER_FILE:-5}
slow_every=${SLOW_EVERY:-100}
slow_delay_ms=${SLOW_DELAY_MS:-5000}
max_concurrent=${MAX_CONCURRENT:-64}
per_host=${PER_HOST:-16}
log_target=${LOG_TARGET:-auto}
port=${PORT:-18190}
scenarios=${SCENARIOS:-latency slow}
drain=${DRAIN:-30}
work=$(mktemp -d /tmp/postbackd-latency.XXXXXX)
daemon_pid=
tool_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
    [ -n "$tool_pid" ] && kill -KILL "$tool_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "building postbackd (release) and the harness ..."
# POSTBACKD_BIN: another build to measure (A/B runs); default this tree's release build.
if [ -n "${POSTBACKD_BIN:-}" ]; then
    postbackd=$POSTBACKD_BIN
else
    swift build -c release --package-path "$top" --product postbackd >/dev/null
    postbackd="$(swift build -c release --package-path "$top" --show-bin-path)/postbackd"
fi
swift build -c release --package-path "$here" --product LatencyBench >/dev/null
bench="$(swift build -c release --package-path "$here" --show-bin-path)/LatencyBench"

# CPU seconds (user + system) of a process, from /proc/PID/stat.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Busy CPU seconds of the whole machine so far, from /proc/stat.
busy_now() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }

# run_scenario NAME SLOW_EVERY: prints the harness's report; leaves its RESULT line in $work/NAME.result.
run_scenario() {
    local name=$1 slow=$2 dir="$work/$1"
    mkdir -p "$dir/spool/tmp" "$dir/spool/incoming" "$dir/state"
    cat > "$dir/catalog.json" <<JSON
{"postbacks": [
  {"id": 1, "status": "active", "type": "conversion", "level": "specific", "partner_id": 7, "offer_id": 3,
   "delivery": "postback", "description": "fast partner", "url": "http://127.0.0.1:$port/pb?id={sub1}"},
  {"id": 2, "status": "active", "type": "conversion", "level": "specific", "partner_id": 8, "offer_id": 3,
   "delivery": "postback", "description": "slow partner", "url": "http://127.0.0.2:$port/slow?id={sub1}"}]}
JSON
    write_daemon_config "$dir" "$max_concurrent" "$per_host" "$log_target"
    "$bench" --spool "$dir/spool" --port "$port" --rate "$rate" --seconds "$duration" ${count:+--count "$count"} --per-file "$per_file" \
        --slow-every "$slow" --slow-delay-ms "$slow_delay_ms" --drain "$drain" --label "$name" \
        --ready-file "$dir/ready" --done-file "$dir/done" > "$dir/report" 2>&1 &
    tool_pid=$!
    for _ in $(seq 600); do [ -e "$dir/ready" ] || ! kill -0 "$tool_pid" 2>/dev/null && break; sleep 0.1; done
    if [ ! -e "$dir/ready" ]; then cat "$dir/report"; echo "the harness did not start" >&2; exit 1; fi

    # With LOG_TARGET=stderr every fire is a line there: dropped, like Benchmarks/e2e does.
    local stderr_file="$dir/daemon.stderr"
    [ "$log_target" = stderr ] && stderr_file=/dev/null
    "$postbackd" run --config "$dir/postbackd.conf" 2> "$stderr_file" &
    daemon_pid=$!
    local busy0 tool_cpu0 daemon_cpu tool_cpu busy1 t0 t1
    busy0=$(busy_now)
    # The harness staged its files before this point: count only what it uses from here.
    tool_cpu0=$(cpu_of "$tool_pid")
    t0=$(date +%s.%N)
    while [ ! -e "$dir/done" ]; do
        if ! kill -0 "$tool_pid" 2>/dev/null; then cat "$dir/report"; echo "the harness stopped early" >&2; exit 1; fi
        if ! kill -0 "$daemon_pid" 2>/dev/null; then cat "$dir/report" "$dir/daemon.stderr" 2>/dev/null; echo "postbackd stopped early" >&2; exit 1; fi
        sleep 0.2
    done
    daemon_cpu=$(cpu_of "$daemon_pid"); busy1=$(busy_now); t1=$(date +%s.%N)
    tool_cpu=$(awk -v a="$tool_cpu0" -v z="$(cpu_of "$tool_pid")" 'BEGIN { printf "%.2f", z - a }')
    # SIGTERM: a drain (no new claims, fires in flight finish; the daemon's stop timeout is 25 s).
    local term_at drained pid=$daemon_pid
    term_at=$(date +%s.%N)
    kill -TERM "$daemon_pid"
    for _ in $(seq 900); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$daemon_pid" 2>/dev/null; then
        drained="still draining after 90 s, killed (the unit's TimeoutStopSec is 30 s)"
        kill -KILL "$daemon_pid"
    else
        drained=$(awk -v a="$term_at" -v z="$(date +%s.%N)" 'BEGIN {
            printf "exited %.1f s after SIGTERM%s", z - a, (z - a > 30 ? " (over the unit'"'"'s TimeoutStopSec=30s: systemd would SIGKILL it)" : "") }')
    fi
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=
    kill -TERM "$tool_pid" 2>/dev/null || true
    wait "$tool_pid" 2>/dev/null || true
    tool_pid=
    cat "$dir/report" | grep -v '^RESULT'
    # The daemon's CPU includes its start (the spool scan, the warm-up): a little high.
    awk -v b="$busy0" -v e="$busy1" -v d="$daemon_cpu" -v t="$tool_cpu" -v w="$(awk -v a="$t0" -v z="$t1" 'BEGIN { print z - a }')" \
        -v n="$(nproc)" -v name="$name" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
        printf "[%s] CPU over %.0f s, in cores: machine %.2f of %d, postbackd %.2f, harness %.2f, everything else %.2f; load average %s\n",
            name, w, (e - b) / w, n, d / w, t / w, (e - b - d - t) / w, load }'
    echo "[$name] postbackd $drained"
    # Errors the daemon logged (journald target), grouped with file names and numbers masked.
    if [ "$log_target" != stderr ]; then
        journalctl --sync 2>/dev/null || true
        journalctl _PID="$pid" -p err -o cat --no-pager 2>/dev/null | sed -E 's/[0-9]+/N/g; s|/tmp/[^ ]*/spool|SPOOL|g' \
            | sort | uniq -c | sort -rn | head -3 | sed "s/^/[$name] postbackd error: /"
    fi
    if [ -s "$dir/daemon.stderr" ]; then echo "[$name] postbackd stderr:"; head -5 "$dir/daemon.stderr"; fi
    grep '^RESULT' "$dir/report" > "$work/$name.result"
    echo
}

field() { sed -E "s/.* $2=([^ ]+).*/\\1/" "$work/$1.result"; }

echo "postbackd run, log_target=$log_target, max_concurrent=$max_concurrent, per_host=$per_host;" \
    "$rate fast records/s for $duration s, $per_file a file; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
for s in $scenarios; do
    case $s in
        latency) run_scenario latency 0 ;;
        slow) run_scenario slow "$slow_every" ;;
        *) echo "unknown scenario $s" >&2; exit 64 ;;
    esac
done

printf '| %-40s | %8s | %8s | %8s | %8s | %9s | %7s | %10s |\n' scenario p50_ms p90_ms p99_ms max_ms arrived missing "fast/s *"
for s in $scenarios; do
    label="$s"
    [ "$s" = slow ] && label="slow partner 1/$slow_every, ${slow_delay_ms} ms answers"
    [ "$s" = latency ] && label="fast only, $rate/s"
    [ "$s" = latency ] && [ "$rate" = 0 ] && label="fast only, burst of ${count:-?}"
    printf '| %-40s | %8s | %8s | %8s | %8s | %9s | %7s | %10s |\n' "$label" "$(field "$s" p50_ms)" "$(field "$s" p90_ms)" \
        "$(field "$s" p99_ms)" "$(field "$s" max_ms)" "$(field "$s" arrived)" "$(field "$s" missing)" "$(field "$s" fast_per_s)"
done
echo "* fast fires/s while offered: fast fires arrived by 1 s after the last rename, over the offer's span (records / RATE)"
if [ -e "$work/latency.result" ]; then
    awk -v p50="$(field latency p50_ms)" -v p99="$(field latency p99_ms)" 'BEGIN {
        printf "latency targets (p50 <= 1 ms, p99 <= 5 ms): p50 %s, p99 %s\n", (p50 <= 1 ? "met" : "MISSED"), (p99 <= 5 ? "met" : "MISSED") }'
fi
if [ -e "$work/slow.result" ]; then
    awk -v p99="$(field slow p99_ms)" 'BEGIN {
        printf "beside the slow partner, fast fires p99 <= 5 ms: %s\n", (p99 <= 5 ? "met" : "MISSED") }'
fi
if [ -e "$work/latency.result" ] && [ -e "$work/slow.result" ]; then
    awk -v b="$(field latency fast_per_s)" -v s="$(field slow fast_per_s)" 'BEGIN {
        r = (b > 0) ? s / b : 0
        printf "fast_throughput_ratio=%.3f (slow partner present / baseline; target >= 0.95: %s)\n", r, (r >= 0.95 ? "met" : "MISSED") }'
fi
