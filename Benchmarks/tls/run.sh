#!/usr/bin/env bash
# Firing throughput over TLS, the way partners are really reached: `postbackd run --once` on
# COUNT records against the loopback nginx TLS sink of ../shared/bench/sink-nginx-tls.conf, next
# to libcurl-ceiling (@URL_FILE, CEILING_CA_FILE) and `curl -Z --cacert` over the very same
# URLs in the same run. Three modes:
#   h2     one host, TLS, HTTP/2 offered by ALPN            (127.0.0.1:18443)
#   h1     one host, TLS, HTTP/1.1 only                      (127.0.0.1:18444)
#   hosts  HOSTS partner names (p0.partners.test ...), TLS + HTTP/2, inside a network namespace
#          the harness creates: its hosts file points every name at the namespace's own
#          loopback, where the sink listens (*:18445); nothing leaves the machine.
#   MODES="h2 h1 hosts" COUNT=100000 CONCURRENCY=64 HOSTS=1000 ROUNDS=2 LOG_TARGET=stderr \
#     PER_FILE=1000 bash Benchmarks/tls/run.sh
# PER_FILE: records per spool file (1 = one record a file, as low-latency ingest writes them).
# Each contender runs ROUNDS times, alternating, best run compared. CPU per fire is user+system
# seconds of the process over the fires it made (the best run's). The daemon runs with
# max_concurrent = per_host = CONCURRENCY for one host (as the ceiling, which has no per-host
# cap), and per_host 16 for many hosts. Prints a table per mode and a last line per mode:
#   mode=h2 ratio_vs_libcurl=<x> ratio_vs_curl=<y> cpu_ratio=<z> deferred=<n>
set -euo pipefail
. "$(dirname "$0")/../daemon-config.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench=${BENCH_REFERENCES:-$top/../shared/bench}
count=${COUNT:-100000}
concurrency=${CONCURRENCY:-64}
hosts=${HOSTS:-1000}
rounds=${ROUNDS:-2}
modes=${MODES:-h2 h1 hosts}
per_file=${PER_FILE:-1000}
log_target=${LOG_TARGET:-stderr}
log_level=${LOG_LEVEL:-info}
work=$(mktemp -d /tmp/postbackd-tls.XXXXXX)
netns=pbd-tls-$$
cleanup() {
  for prefix in "$work/sink" "$work/sink-ns"; do
    [ -f "$prefix/nginx.pid" ] && kill "$(cat "$prefix/nginx.pid")" 2>/dev/null || true
  done
  ip netns del "$netns" 2>/dev/null || true
  rm -rf "/etc/netns/$netns" "$work"
}
trap cleanup EXIT

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v cc >/dev/null || need+=(gcc)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" libcurl4-openssl-dev >/dev/null; fi

swift build -c release --package-path "$top" --product postbackd >/dev/null
postbackd="$(swift build -c release --package-path "$top" --show-bin-path)/postbackd"
cc -O2 -o "$work/libcurl-ceiling" "$bench/libcurl-ceiling.c" -lcurl

# A throw-away CA and a wildcard certificate for the partner names, and the sink beside them.
bash "$bench/make-test-ca.sh" "$work/pki" '*.partners.test' partners.test localhost >/dev/null
ca="$work/pki/ca.crt"
start_sink() {  # start_sink PREFIX [COMMAND PREFIX...]
  local prefix=$1; shift
  mkdir -p "$prefix/tmp"
  cp "$bench/sink-nginx-tls.conf" "$prefix/"
  ln -sfn "$work/pki" "$prefix/pki"
  "$@" nginx -c "$prefix/sink-nginx-tls.conf" -p "$prefix/"
}
start_sink "$work/sink"

# run_mode NAME BASE_URLS_AWK IN_NETNS PER_HOST
# The URLs: record i fires https://<host(i)>/pb?click=c<i>&currency=EUR.
url_of() {  # awk expression for record i's URL
  case $1 in
    h2) echo '"https://127.0.0.1:18443/pb?click=c" i "&currency=EUR"' ;;
    h1) echo '"https://127.0.0.1:18444/pb?click=c" i "&currency=EUR"' ;;
    hosts) echo '"https://p" (i % hosts) ".partners.test:18445/pb?click=c" i "&currency=EUR"' ;;
  esac
}

prepare() {  # prepare MODE: URL lists, records and catalog under $work/$mode
  local mode=$1 dir="$work/$1"
  mkdir -p "$dir/records"
  awk -v n="$count" -v hosts="$hosts" "BEGIN { for (i = 0; i < n; i++) print $(url_of "$mode") }" > "$dir/urls.txt"
  awk '{ printf "url = \"%s\"\noutput = \"/dev/null\"\n", $0 }' "$dir/urls.txt" > "$dir/urls.cfg"
  local partners=1
  [ "$mode" = hosts ] && partners=$hosts
  awk -v n="$count" -v p="$partners" -v per="$per_file" -v dir="$dir/records" 'BEGIN {
    for (i = 0; i < n; i++) {
      f = sprintf("%s/batch-%07d.jsonl", dir, int(i / per))
      printf "{\"kind\":\"conversion\",\"transaction_id\":\"t%d\",\"partner_id\":%d,\"offer_id\":3,\"sub1\":\"c%d\",\"currency\":\"EUR\"}\n", i, i % p, i >> f
      if ((i + 1) % per == 0) close(f)
    }
  }'
  # One global postback per partner, each at its own host (one partner for h2 and h1).
  awk -v p="$partners" -v mode="$mode" 'BEGIN {
    printf "{\"postbacks\": ["
    for (i = 0; i < p; i++) {
      if (mode == "h2") url = "https://127.0.0.1:18443/pb?click={sub1}&currency={currency}"
      else if (mode == "h1") url = "https://127.0.0.1:18444/pb?click={sub1}&currency={currency}"
      else url = "https://p" i ".partners.test:18445/pb?click={sub1}&currency={currency}"
      printf "%s{\"id\": %d, \"type\": \"conversion\", \"level\": \"global\", \"partner_id\": %d, \"url\": \"%s\"}", (i ? "," : ""), i + 1, i, url
    }
    print "]}"
  }' > "$dir/catalog.json"
  local per_host=$concurrency
  [ "$mode" = hosts ] && per_host=16
  write_daemon_config "$dir" "$concurrency" "$per_host" "$log_target" "$log_level"
  echo "ca_file = $ca" >> "$dir/postbackd.conf"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

run_mode() {
  local mode=$1 dir="$work/$1" inside=()
  prepare "$mode"
  if [ "$mode" = hosts ]; then
    mkdir -p "/etc/netns/$netns"
    { echo "127.0.0.1 localhost"; awk -v h="$hosts" 'BEGIN { for (i = 0; i < h; i++) print "127.0.0.1 p" i ".partners.test" }'; } > "/etc/netns/$netns/hosts"
    echo "nameserver 127.0.0.1" > "/etc/netns/$netns/resolv.conf"
    ip netns add "$netns"
    ip netns exec "$netns" ip link set lo up
    inside=(ip netns exec "$netns")
    start_sink "$work/sink-ns" "${inside[@]}"
    sleep 0.3
  fi
  local ceiling=0 ceiling_cpu="" curl_rate=0 pb_rate=0 pb_cpu="" summary="" deferred=""
  for round in $(seq "$rounds"); do
    local line c t
    line=$(CEILING_CA_FILE=$ca timed "$dir/t" "${inside[@]}" "$work/libcurl-ceiling" "@$dir/urls.txt" "$count" "$concurrency" || true)
    c=$(echo "$line" | awk '{ for (i = 1; i <= NF; i++) if ($i == "req/s,") print $(i - 1) }')
    read -r _ u s < "$dir/t"
    if [ "${c:-0}" -gt "$ceiling" ]; then ceiling=$c; ceiling_cpu=$(cpu_us "$u" "$s" "$count"); fi

    timed "$dir/t" "${inside[@]}" curl -s --no-progress-meter -Z --parallel-max "$concurrency" --cacert "$ca" -K "$dir/urls.cfg" 2>/dev/null || true
    read -r wall _ _ < "$dir/t"
    curl_rate=$(best "$curl_rate" "$(rate "$count" "$wall")")

    rm -rf "$dir/spool" "$dir/state"
    mkdir -p "$dir/spool/incoming"
    # (find, not a glob: 100,000 one-record files are more than one command line holds)
    find "$dir/records" -name '*.jsonl' -exec cp -t "$dir/spool/incoming/" {} +
    local s_line
    s_line=$(timed "$dir/t" "${inside[@]}" "$postbackd" run --config "$dir/postbackd.conf" --once 2>"$dir/postbackd.log")
    read -r _ u s < "$dir/t"
    local secs ok def
    secs=$(echo "$s_line" | sed -E 's/.*"seconds":([0-9.]+).*/\1/')
    ok=$(echo "$s_line" | sed -E 's/.*"succeeded":([0-9]+).*/\1/')
    def=$(echo "$s_line" | sed -E 's/.*"deferred":([0-9]+).*/\1/')
    c=$(rate "$ok" "$secs")
    printf '%s round %s: libcurl-ceiling %s, curl -Z %s, postbackd %s req/s (%s succeeded, %s deferred)\n' \
      "$mode" "$round" "$ceiling" "$curl_rate" "$c" "$ok" "$def" >&2
    if [ "$c" -gt "$pb_rate" ]; then pb_rate=$c; summary=$s_line; pb_cpu=$(cpu_us "$u" "$s" "$count"); deferred=$def; fi
  done
  printf '\n%-44s %10s %14s\n' "$mode: best of $rounds ($count requests, $concurrency concurrent, $per_file a file)" "req/s" "CPU µs/fire"
  printf '%-44s %10s %14s\n' "libcurl-ceiling" "$ceiling" "$ceiling_cpu"
  printf '%-44s %10s %14s\n' "curl -Z --parallel-max $concurrency --cacert" "$curl_rate" "-"
  printf '%-44s %10s %14s\n' "postbackd run --once (log: $log_target)" "$pb_rate" "$pb_cpu"
  echo "postbackd summary: $summary"
  awk -v m="$mode" -v p="$pb_rate" -v c="$ceiling" -v k="$curl_rate" -v pc="$pb_cpu" -v cc="$ceiling_cpu" -v d="$deferred" \
    'BEGIN { printf "mode=%s ratio_vs_libcurl=%.3f ratio_vs_curl=%.3f cpu_ratio=%.2f deferred=%s\n", m, p / c, p / k, pc / cc, d }'
}

for mode in $modes; do run_mode "$mode"; done
