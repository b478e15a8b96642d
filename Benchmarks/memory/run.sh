#!/usr/bin/env bash
# Memory while a large backlog waits (issue #7, item 4): RSS must stay flat, at most 200 MB,
# while COUNT records wait in the spool and the daemon fires them as fast as it can. One command:
#   bash Benchmarks/memory/run.sh                 # COUNT=10000000, ~1.1 GB of spool files
#   COUNT=200000 DURATION=20 bash Benchmarks/memory/run.sh      # a quick try
# Env: COUNT (10000000 records), PER_FILE (1000 records a file), DURATION (60 s of sampling),
# LIMIT_MB (200), WORK_DIR (/tmp; needs ~120 bytes a record free), MAX_CONCURRENT and PER_HOST
# (64, 64), LOG_TARGET (auto = journald), BENCH_DIR (../shared/bench, for the nginx sink),
# POSTBACKD (a postbackd binary to use instead of building this checkout's).
#
# Writes the records as files into spool/tmp/, renames them all into incoming/, starts
# `postbackd run` (service mode) against the loopback nginx sink of sink-nginx.conf (reused if
# one answers on 127.0.0.1:18080), samples VmRSS and VmHWM from /proc/PID/status every second,
# prints the series every 5 s and a summary, stops the daemon with SIGTERM, and removes the
# spool. Exit status 0 when the peak (VmHWM) is within LIMIT_MB, 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/../daemon-config.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
count=${COUNT:-10000000}
per_file=${PER_FILE:-1000}
duration=${DURATION:-60}
limit_mb=${LIMIT_MB:-200}
work_parent=${WORK_DIR:-/tmp}
max_concurrent=${MAX_CONCURRENT:-64}
per_host=${PER_HOST:-64}
log_target=${LOG_TARGET:-auto}
bench=${BENCH_DIR:-$top/../shared/bench}
sink=/tmp/sink-nginx-memory-bench
started_sink=0
daemon_pid=
work=

cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
    [ -n "$work" ] && rm -rf "$work"
    if [ "$started_sink" = 1 ]; then nginx -c "$bench/sink-nginx.conf" -p "$sink/" -s quit 2>/dev/null || true; fi
}
trap cleanup EXIT

# Room for the spool: ~115 bytes a record, plus a fifth for ledgers and slack.
need_kb=$(( count / 1000 * 140 + 10240 ))
free_kb=$(df -Pk "$work_parent" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt "$need_kb" ]; then
    echo "$work_parent has $((free_kb / 1024)) MB free, $((need_kb / 1024)) MB needed for $count records; set WORK_DIR" >&2
    exit 1
fi
work=$(mktemp -d "$work_parent/postbackd-memory.XXXXXX")

# The sink: reuse one already listening on 18080 (another bench may have started it).
if ! (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null; then
    mkdir -p "$sink"
    nginx -c "$bench/sink-nginx.conf" -p "$sink/" 2>/dev/null
    started_sink=1
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break; sleep 0.1; done
fi

if [ -n "${POSTBACKD:-}" ]; then
    postbackd=$POSTBACKD  # a binary to compare, e.g. one built from another commit
else
    swift build -c release --package-path "$top" --product postbackd >/dev/null
    postbackd="$(swift build -c release --package-path "$top" --show-bin-path)/postbackd"
fi

mkdir -p "$work/spool/tmp" "$work/spool/incoming" "$work/state"
start=$(date +%s.%N)
awk -v n="$count" -v per="$per_file" -v dir="$work/spool/tmp" 'BEGIN {
    f = ""
    for (i = 0; i < n; i++) {
        if (i % per == 0) {
            if (f != "") close(f)
            f = sprintf("%s/backlog-%08d.jsonl", dir, i / per)
        }
        printf "{\"kind\":\"conversion\",\"transaction_id\":\"t%d\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"c%d\",\"currency\":\"EUR\"}\n", i, i > f
    }
    close(f)
}'
sync -f "$work/spool/tmp"
find "$work/spool/tmp" -name 'backlog-*' -exec mv -t "$work/spool/incoming/" {} +
files=$(find "$work/spool/incoming" -type f | wc -l)
printf 'spool: %d records in %d files, %s on disk, written in %.1f s\n' "$count" "$files" \
    "$(du -sh "$work/spool/incoming" | cut -f1)" "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')"

cat > "$work/catalog.json" <<JSON
{"postbacks": [{"id": 1, "status": "active", "type": "conversion", "level": "specific", "partner_id": 7,
  "offer_id": 3, "delivery": "postback", "url": "http://127.0.0.1:18080/pb?click={sub1}&currency={currency}"}]}
JSON
write_daemon_config "$work" "$max_concurrent" "$per_host" "$log_target"

echo "postbackd run (log_target=$log_target, max_concurrent=$max_concurrent, per_host=$per_host); load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$postbackd" run --config "$work/postbackd.conf" 2> "$work/daemon.stderr" &
daemon_pid=$!

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null || echo 0; }
# incoming: not yet claimed; active: claimed, not all outcomes recorded (a growing count means
# outcomes are recorded slower than fires finish); done: records of files finished and removed.
printf '%6s %9s %9s %10s %8s %14s\n' "t (s)" "RSS MB" "HWM MB" "incoming" "active" "records done"
samples="$work/samples"
: > "$samples"
for t in $(seq 1 "$duration"); do
    sleep 1
    if ! kill -0 "$daemon_pid" 2>/dev/null; then cat "$work/daemon.stderr"; echo "postbackd stopped early" >&2; exit 1; fi
    rss=$(status_kb VmRSS); hwm=$(status_kb VmHWM)
    echo "$t $rss $hwm" >> "$samples"
    if [ $((t % 5)) = 0 ] || [ "$t" = 1 ]; then
        incoming=$(find "$work/spool/incoming" -maxdepth 1 -type f | wc -l)
        active=$(find "$work/spool/active" -maxdepth 1 -type f ! -name '*.ledger' | wc -l)
        printf '%6d %9.1f %9.1f %10d %8d %14d\n' "$t" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
            "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$incoming" "$active" "$(( (files - incoming - active) * per_file ))"
    fi
done
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$daemon_pid/stat")
kill -TERM "$daemon_pid"
for _ in $(seq 400); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
if [ -s "$work/daemon.stderr" ]; then echo "postbackd stderr:"; head -5 "$work/daemon.stderr"; fi

# Summary: the whole series, and the part after the first 5 s (start-up, first claims).
awk -v limit="$limit_mb" -v cpu="$cpu" -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
    { t[NR] = $1; r[NR] = $2 / 1024; h = $3 / 1024
      if (NR == 1 || r[NR] < min) min = r[NR]; if (r[NR] > max) max = r[NR]
      if ($1 > 5) { if (!seen || r[NR] < wmin) wmin = r[NR]; if (r[NR] > wmax) wmax = r[NR]; seen = 1 } }
    END {
      half = int(NR / 2)
      printf "RSS MB: min %.1f, max %.1f, last %.1f; after 5 s: min %.1f, max %.1f (spread %.1f); VmHWM %.1f MB; postbackd CPU %s s; load average %s\n",
          min, max, r[NR], wmin, wmax, wmax - wmin, h, cpu, load
      if (NR > 10) printf "RSS trend over the second half: %+.2f MB/min\n", (r[NR] - r[half]) / ((t[NR] - t[half]) / 60)
      verdict = (h <= limit) ? "PASS" : "FAIL"
      printf "memory_peak_mb=%.1f limit_mb=%d %s\n", h, limit, verdict
      exit (h <= limit) ? 0 : 1
    }' "$samples"
