# Sourced by the harnesses under Benchmarks/: the postbackd.conf every one of them runs with,
# and the helpers the throughput harnesses share to time their contenders.
# write_daemon_config DIR MAX_CONCURRENT PER_HOST LOG_TARGET [LOG_LEVEL]
# writes DIR/postbackd.conf for a spool, catalog and state directory under DIR, loopback
# allow-listed (the sinks are on 127.0.0.0/8).
write_daemon_config() {
    local dir=$1 max_concurrent=$2 per_host=$3 log_target=$4 log_level=${5:-info}
    cat > "$dir/postbackd.conf" <<CONF
spool = $dir/spool
catalog = $dir/catalog.json
state_directory = $dir/state
allow_address = 127.0.0.0/8
max_concurrent = $max_concurrent
per_host = $per_host
log_target = $log_target
log_level = $log_level
CONF
}

# best A B: the larger of two rates.
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }
# timed OUT CMD...: runs CMD, writes "wall user sys" (seconds) to OUT.
timed() { local out=$1; shift; /usr/bin/time -o "$out" -f '%e %U %S' "$@"; }
# cpu_us USER SYS N: CPU (user + system) per request, in µs.
cpu_us() { awk -v u="$1" -v s="$2" -v n="$3" 'BEGIN { printf "%.1f", (u + s) * 1e6 / n }'; }
