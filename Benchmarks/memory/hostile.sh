#!/usr/bin/env bash
# Memory with a hostile spool (issue 14): peak RSS (VmHWM from /proc/PID/status) must stay
# within LIMIT_MB (150) however large a file or a line is, since spool files are read a chunk
# at a time and a line longer than max_line_size is read past, never held. One command:
#   bash Benchmarks/memory/hostile.sh              # the three corpora below, ~2.1 GB of files
#   SIZE_MB=200 bash Benchmarks/memory/hostile.sh  # a quick try with 200 MB files
# Env: SIZE_MB (1024: the two big files), LONG_MB (50: the long line of the first corpus),
# LIMIT_MB (150), WORK_DIR (/tmp), POSTBACKD (a binary to use instead of a release build of
# this checkout).
#
# Each corpus runs alone through `postbackd run --once` with max_file_size = 2G and
# max_line_size = 1M, log_target = stderr, and a catalog whose one postback matches none of
# the records (no partner is reached; each record is a no_match outcome in the ledger, so the
# whole file is read, parsed and accounted for):
#   long-line   normal lines with one LONG_MB line in the middle (rejected alone)
#   many-lines  SIZE_MB of normal ~1 KB lines (about SIZE_MB thousand records)
#   one-line    SIZE_MB in a single line (rejected alone)
# Prints per corpus the summary line, the wall time and VmHWM; exit 0 when every VmHWM is
# within LIMIT_MB, 1 otherwise. The work folder is removed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
size_mb=${SIZE_MB:-1024}
long_mb=${LONG_MB:-50}
limit_mb=${LIMIT_MB:-150}
work_parent=${WORK_DIR:-/tmp}
daemon_pid=
work=

cleanup() {
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
    [ -n "$work" ] && rm -rf "$work"
}
trap cleanup EXIT

need_kb=$(( (2 * size_mb + long_mb + 200) * 1024 ))
free_kb=$(df -Pk "$work_parent" | awk 'NR == 2 { print $4 }')
if [ "$free_kb" -lt "$need_kb" ]; then
    echo "$work_parent has $((free_kb / 1024)) MB free, $((need_kb / 1024)) MB needed; set WORK_DIR or SIZE_MB" >&2
    exit 1
fi
work=$(mktemp -d "$work_parent/postbackd-hostile-memory.XXXXXX")

if [ -n "${POSTBACKD:-}" ]; then
    postbackd=$POSTBACKD
else
    nice -n 10 swift build -c release --package-path "$top" --product postbackd >/dev/null
    postbackd="$(swift build -c release --package-path "$top" --show-bin-path)/postbackd"
fi

cat > "$work/catalog.json" <<JSON
{"postbacks": [{"id": 1, "status": "active", "type": "conversion", "level": "specific", "partner_id": 999,
  "offer_id": 3, "delivery": "postback", "url": "http://127.0.0.1:9/pb?click={sub1}"}]}
JSON
cat > "$work/postbackd.conf" <<CONF
spool = $work/spool
catalog = $work/catalog.json
state_directory = $work/state
allow_address = 127.0.0.0/8
max_file_size = 2G
max_line_size = 1M
log_target = stderr
CONF

# normal_lines FILE MB: ~1 KB records (a padding field the parser skips) up to MB megabytes.
normal_lines() {
    awk -v mb="$2" 'BEGIN {
        pad = sprintf("%900s", ""); gsub(/ /, "p", pad)
        n = int(mb * 1048576 / 1000)
        for (i = 0; i < n; i++)
            printf "{\"kind\":\"conversion\",\"transaction_id\":\"t%d\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"c%d\",\"pad\":\"%s\"}\n", i, i, pad
    }' >> "$1"
}
# one_line FILE MB: a record whose sub1 runs for MB megabytes, then its newline.
one_line() {
    printf '{"kind":"conversion","transaction_id":"big","partner_id":7,"offer_id":3,"sub1":"' >> "$1"
    head -c "$(( $2 * 1048576 ))" /dev/zero | tr '\0' 'x' >> "$1"
    printf '"}\n' >> "$1"
}

status=0
run_corpus() {
    local name=$1
    mkdir -p "$work/spool/incoming" "$work/spool/tmp"
    mv "$work/spool/tmp/$name.jsonl" "$work/spool/incoming/"
    local size
    size=$(du -h "$work/spool/incoming/$name.jsonl" | cut -f1)
    local start hwm=0 kb
    start=$(date +%s.%N)
    "$postbackd" run --config "$work/postbackd.conf" --once > "$work/$name.summary" 2> "$work/$name.stderr" &
    daemon_pid=$!
    while kill -0 "$daemon_pid" 2>/dev/null; do
        kb=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$daemon_pid/status" 2>/dev/null || true)
        [ -n "$kb" ] && [ "$kb" -gt "$hwm" ] && hwm=$kb
        sleep 0.05
    done
    wait "$daemon_pid" || { echo "$name: postbackd failed"; head -5 "$work/$name.stderr"; status=1; }
    daemon_pid=
    local seconds
    seconds=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
    local verdict=PASS
    [ $((hwm / 1024)) -le "$limit_mb" ] || { verdict=FAIL; status=1; }
    printf '%-10s %6s  %6s s  VmHWM %4d MB  %s  %s\n' "$name" "$size" "$seconds" $((hwm / 1024)) "$verdict" "$(tail -1 "$work/$name.summary")"
    grep -m1 -o 'rejected: longer than max_line_size ([0-9]* bytes)' "$work/$name.stderr" | sed "s/^/           /" || true
    rm -rf "$work/spool"
}

echo "postbackd run --once, max_file_size 2G, max_line_size 1M; limit $limit_mb MB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$work/spool/tmp"
normal_lines "$work/spool/tmp/long-line.jsonl" 20
one_line "$work/spool/tmp/long-line.jsonl" "$long_mb"
normal_lines "$work/spool/tmp/long-line.jsonl" 20
run_corpus long-line

mkdir -p "$work/spool/tmp"
normal_lines "$work/spool/tmp/many-lines.jsonl" "$size_mb"
run_corpus many-lines

mkdir -p "$work/spool/tmp"
one_line "$work/spool/tmp/one-line.jsonl" "$size_mb"
run_corpus one-line

echo "hostile_memory limit_mb=$limit_mb $([ "$status" = 0 ] && echo PASS || echo FAIL)"
exit "$status"
