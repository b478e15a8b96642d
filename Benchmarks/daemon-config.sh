# Sourced by the harnesses under Benchmarks/: the postbackd.conf every one of them runs with.
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
