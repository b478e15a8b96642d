#!/usr/bin/env bash
# The Redis Streams source's throughput: fires/s with 1, 2 and 3 daemons sharing one stream on
# one Redis (append-only, appendfsync always, as the durability promise assumes), against the
# same records through the spool (files of one record and of 1,000) in the same run, all firing
# at the same loopback nginx sink. Each contender runs ROUNDS times; the best run is shown.
#   COUNT=100000 ROUNDS=2 CONCURRENCY=64 LOG_TARGET=stderr bash Benchmarks/redis/run.sh
# A Redis run starts the daemons in service mode on a stream already holding COUNT entries and
# ends when the group has read every entry and none is pending (XINFO GROUPS, polled every
# 20 ms); its time runs from the first daemon's start. The spool runs are `run --once`.
set -euo pipefail
. "$(dirname "$0")/../daemon-config.sh"
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
bench=${BENCH_REFERENCES:-$top/../shared/bench}
count=${COUNT:-100000}
rounds=${ROUNDS:-2}
concurrency=${CONCURRENCY:-64}
log_target=${LOG_TARGET:-stderr}
work=$(mktemp -d /tmp/postbackd-redis-bench.XXXXXX)
port=${REDIS_PORT:-16399}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in nginx curl redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "redis bench: $tool missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
if ! curl -s -o /dev/null "http://127.0.0.1:18080/"; then
  mkdir -p /tmp/sink-nginx/logs
  nginx -c "$bench/sink-nginx.conf" -p /tmp/sink-nginx/
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:18080/" && break; sleep 0.1; done
fi
swift build -c release --package-path "$top" --product postbackd >/dev/null
postbackd=${POSTBACKD_BIN:-"$(swift build -c release --package-path "$top" --show-bin-path)/postbackd"}

cat > "$work/catalog.json" <<JSON
{"postbacks": [{"id": 1, "status": "active", "type": "conversion", "level": "specific", "partner_id": 7,
  "offer_id": 3, "delivery": "postback", "url": "http://127.0.0.1:18080/pb?click={sub1}&currency={currency}"}]}
JSON
record() { printf '{"kind":"conversion","transaction_id":"t%d","partner_id":7,"offer_id":3,"sub1":"c%d","currency":"EUR"}' "$1" "$1"; }

# The records as XADD commands in Redis's protocol, for redis-cli --pipe.
awk -v n="$count" 'BEGIN {
  for (i = 0; i < n; i++) {
    r = sprintf("{\"kind\":\"conversion\",\"transaction_id\":\"t%d\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"c%d\",\"currency\":\"EUR\"}", i, i)
    printf "*5\r\n$4\r\nXADD\r\n$17\r\npostbackd:records\r\n$1\r\n*\r\n$6\r\nrecord\r\n$%d\r\n%s\r\n", length(r), r
  }
}' > "$work/xadd.resp"
# The same records as spool files of 1 and of 1,000.
for per in 1 1000; do
  mkdir -p "$work/records-$per"
  awk -v n="$count" -v per="$per" -v dir="$work/records-$per" 'BEGIN {
    for (i = 0; i < n; i++) {
      f = sprintf("%s/batch-%07d.jsonl", dir, int(i / per))
      printf "{\"kind\":\"conversion\",\"transaction_id\":\"t%d\",\"partner_id\":7,\"offer_id\":3,\"sub1\":\"c%d\",\"currency\":\"EUR\"}\n", i, i >> f
      if ((i + 1) % per == 0) close(f)
    }
  }'
done

redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly yes --appendfsync always \
  --daemonize yes --logfile "$work/redis.log"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

now_ns() { date +%s%N; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }  # user + system, in clock ticks
hz=$(getconf CLK_TCK)
group_done() {  # true when the group read all COUNT entries and none is pending
  redis-cli -p "$port" xinfo groups postbackd:records 2>/dev/null | awk -v n="$count" '
    prev == "pending" { pending = $0 } prev == "entries-read" { read = $0 } { prev = $0 }
    END { exit !(pending == 0 && read == n) }'
}

spool_run() {  # files of $1: fires/s of run --once
  local per=$1 dir="$work/spool-$per"
  rm -rf "$dir"; mkdir -p "$dir/spool/incoming"; cp "$work/catalog.json" "$dir/"
  write_daemon_config "$dir" "$concurrency" "$concurrency" "$log_target"
  find "$work/records-$per" -name '*.jsonl' -exec cp -t "$dir/spool/incoming/" {} +
  local s; s=$("$postbackd" run --config "$dir/postbackd.conf" --once 2>"$dir/log")
  echo "$s" | sed -E 's/.*"succeeded":([0-9]+).*"seconds":([0-9.]+).*/\1 \2/' | awk '{ printf "%.0f", $1 / $2 }'
}

redis_run() {  # $1 daemons: fires/s until the group is done
  local n=$1
  redis-cli -p "$port" flushall >/dev/null
  redis-cli -p "$port" --pipe < "$work/xadd.resp" >/dev/null
  pids=()
  local redis_pid; redis_pid=$(redis-cli -p "$port" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
  local redis_before; redis_before=$(cpu_ticks "$redis_pid")
  local start; start=$(now_ns)
  for d in $(seq "$n"); do
    local dir="$work/redis-$d"
    rm -rf "$dir"; mkdir -p "$dir"; cp "$work/catalog.json" "$dir/"
    write_daemon_config "$dir" "$concurrency" "$concurrency" "$log_target"
    printf 'source = redis\nredis_url = redis://127.0.0.1:%s\nredis_consumer = bench-%s\n' "$port" "$d" >> "$dir/postbackd.conf"
    "$postbackd" run --config "$dir/postbackd.conf" 2>"$dir/log" &
    pids+=($!)
  done
  local deadline=$(( $(date +%s) + 600 ))
  until group_done; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "redis bench: $n daemons did not finish in 600 s" >&2; exit 1; }
    sleep 0.02
  done
  local end; end=$(now_ns)
  local daemon_ticks=0
  for p in "${pids[@]}"; do daemon_ticks=$(( daemon_ticks + $(cpu_ticks "$p") )); done
  local redis_ticks=$(( $(cpu_ticks "$redis_pid") - redis_before ))
  echo "redis-$n: CPU per fire: daemons $(awk -v t="$daemon_ticks" -v h="$hz" -v n="$count" 'BEGIN { printf "%.1f", t / h * 1e6 / n }') µs, redis-server $(awk -v t="$redis_ticks" -v h="$hz" -v n="$count" 'BEGIN { printf "%.1f", t / h * 1e6 / n }') µs" >&2
  for p in "${pids[@]}"; do kill -TERM "$p"; done
  for p in "${pids[@]}"; do wait "$p" || true; done
  pids=()
  local fired; fired=$(cat "$work"/redis-*/log | grep -c 'OUTCOME=succeeded' || true)
  [ "$fired" -ge "$count" ] || { echo "redis bench: $n daemons fired $fired of $count" >&2; exit 1; }
  awk -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / ((e - s) / 1e9) }'
}

declare -A bestrate
for round in $(seq "$rounds"); do
  line="round $round:"
  for contender in spool-1 spool-1000 redis-1 redis-2 redis-3; do
    case $contender in
      spool-*) r=$(spool_run "${contender#spool-}") ;;
      redis-*) r=$(redis_run "${contender#redis-}") ;;
    esac
    bestrate[$contender]=$(best "${bestrate[$contender]:-0}" "$r")
    line="$line $contender $r"
  done
  echo "$line" >&2
done

printf '%-52s %10s\n' "best of $rounds ($count records, $concurrency concurrent per daemon)" "fires/s"
printf '%-52s %10s\n' "spool, files of 1 record, run --once" "${bestrate[spool-1]}"
printf '%-52s %10s\n' "spool, files of 1,000 records, run --once" "${bestrate[spool-1000]}"
for n in 1 2 3; do
  printf '%-52s %10s\n' "redis, $n daemon(s) on one stream (AOF always)" "${bestrate[redis-$n]}"
done
awk -v a="${bestrate[redis-1]}" -v b="${bestrate[redis-2]}" -v c="${bestrate[redis-3]}" -v s="${bestrate[spool-1]}" \
  'BEGIN { printf "redis_1_vs_spool_1=%.2f redis_2_vs_1=%.2f redis_3_vs_1=%.2f\n", a / s, b / a, c / a }'
