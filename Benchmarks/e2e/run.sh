#!/usr/bin/env bash
# End-to-end firing throughput: postbackd run --once on a spool of COUNT records, next to the
# references of ../shared/bench measured in the same run against the same loopback nginx sink
# (libcurl-ceiling and curl's own parallel mode over the same URLs). Prints one table and a
# last line `ratio_vs_libcurl=<x> ratio_vs_curl_parallel=<y> cpu_ratio=<z>` (CPU per request, user +
# system, of the best daemon run over the best ceiling run).
#   COUNT=100000 CONCURRENCY=64 ROUNDS=3 LOG_TARGET=auto LOG_LEVEL=info PER_FILE=1000 bash Benchmarks/e2e/run.sh
# PER_FILE: records per spool file (1 = one record a file, as low-latency ingest writes them).
# Each contender runs ROUNDS times, alternating, and the best run of each is compared: on a
# shared 2-core machine a single run mostly measures the neighbours. With LOG_TARGET=stderr the
# daemon's log lines go to a file (as under a plain supervisor), not to /dev/null.
set -euo pipefail
. "$(dirname "$0")/../daemon-config.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench=${BENCH_REFERENCES:-$top/../shared/bench}
count=${COUNT:-100000}
concurrency=${CONCURRENCY:-64}
log_target=${LOG_TARGET:-auto}
log_level=${LOG_LEVEL:-info}
rounds=${ROUNDS:-3}
per_file=${PER_FILE:-1000}
work=$(mktemp -d /tmp/postbackd-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT

for tool in nginx curl cc /usr/bin/time; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light curl gcc time libcurl4-openssl-dev >/dev/null; break; }
done

# The sink: nginx answering 204 on 127.0.0.1:18080 (reused when already running).
if ! curl -s -o /dev/null "http://127.0.0.1:18080/"; then
  mkdir -p /tmp/sink-nginx
  nginx -c "$bench/sink-nginx.conf" -p /tmp/sink-nginx/
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:18080/" && break; sleep 0.1; done
fi

swift build -c release --package-path "$top" --product postbackd >/dev/null
postbackd="$(swift build -c release --package-path "$top" --show-bin-path)/postbackd"
cc -O2 -o "$work/libcurl-ceiling" "$bench/libcurl-ceiling.c" -lcurl

# The same URLs for every contender: /pb?click=c<i>&currency=EUR.
awk -v n="$count" 'BEGIN { for (i = 0; i < n; i++) printf "url = \"http://127.0.0.1:18080/pb?click=c%d&currency=EUR\"\noutput = \"/dev/null\"\n", i }' > "$work/urls.cfg"
mkdir -p "$work/records" "$work/spool/incoming"
awk -v n="$count" -v per="$per_file" -v dir="$work/records" 'BEGIN {
  for (i = 0; i < n; i++) {
    f = sprintf("%s/batch-%07d.jsonl", dir, int(i / per))
    printf "{\"kind\":\"conversion\",\"transaction_id\":\"t%d\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"c%d\",\"currency\":\"EUR\"}\n", i, i >> f
    if ((i + 1) % per == 0) close(f)
  }
}'
cat > "$work/catalog.json" <<JSON
{"postbacks": [{"id": 1, "status": "active", "type": "conversion", "level": "specific", "partner_id": 7,
  "offer_id": 3, "delivery": "postback", "url": "http://127.0.0.1:18080/pb?click={sub1}&currency={currency}"}]}
JSON
write_daemon_config "$work" "$concurrency" "$concurrency" "$log_target" "$log_level"

seconds() { local s=$1 e=$2; awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", (e - s) / 1e9 }'; }

ceiling=0 ceiling_cpu="" curl_rate=0 pb_rate=0 pb_cpu="" summary=""
for round in $(seq "$rounds"); do
  ceiling_line=$(timed "$work/t" "$work/libcurl-ceiling" 'http://127.0.0.1:18080/pb?click=' "$count" "$concurrency")
  c=$(echo "$ceiling_line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i - 1) }')
  read -r _ u sy < "$work/t"
  if [ "${c:-0}" -gt "$ceiling" ]; then ceiling=$c; ceiling_cpu=$(cpu_us "$u" "$sy" "$count"); fi

  start=$(date +%s%N)
  curl -s --no-progress-meter -Z --parallel-max "$concurrency" -K "$work/urls.cfg" 2>/dev/null
  end=$(date +%s%N)
  c=$(awk -v n="$count" -v s="$(seconds "$start" "$end")" 'BEGIN { printf "%.0f", n / s }')
  curl_rate=$(best "$curl_rate" "$c")

  rm -rf "$work/spool/done" "$work/state"
  # (find, not a glob: 100,000 one-record files are more than one command line holds)
  find "$work/records" -name '*.jsonl' -exec cp -t "$work/spool/incoming/" {} +
  s=$(timed "$work/t" "$postbackd" run --config "$work/postbackd.conf" --once 2>"$work/postbackd.log")
  read -r _ u sy < "$work/t"
  pb_seconds=$(echo "$s" | sed -E 's/.*"seconds":([0-9.]+).*/\1/')
  succeeded=$(echo "$s" | sed -E 's/.*"succeeded":([0-9]+).*/\1/')
  c=$(awk -v n="$succeeded" -v s="$pb_seconds" 'BEGIN { printf "%.0f", n / s }')
  printf 'round %s: libcurl-ceiling %s, curl -Z %s, postbackd %s req/s (%s succeeded)\n' \
    "$round" "$ceiling" "$curl_rate" "$c" "$succeeded" >&2
  if [ "$c" -gt "$pb_rate" ]; then pb_rate=$c; summary=$s; pb_cpu=$(cpu_us "$u" "$sy" "$count"); fi
done

printf '%-34s %12s %14s\n' "best of $rounds ($count requests, $concurrency concurrent, $per_file a file)" "req/s" "cpu µs/req"
printf '%-34s %12s %14s\n' "libcurl-ceiling" "$ceiling" "$ceiling_cpu"
printf '%-34s %12s\n' "curl -Z --parallel-max $concurrency" "$curl_rate"
printf '%-34s %12s %14s\n' "postbackd run --once (log: $log_target, $log_level)" "$pb_rate" "$pb_cpu"
echo "postbackd summary: $summary"
awk -v p="$pb_rate" -v c="$ceiling" -v k="$curl_rate" -v pc="$pb_cpu" -v cc="$ceiling_cpu" \
  'BEGIN { printf "ratio_vs_libcurl=%.3f ratio_vs_curl_parallel=%.3f cpu_ratio=%.2f\n", p / c, p / k, pc / cc }'
