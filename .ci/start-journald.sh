#!/usr/bin/env bash
# Starts a standalone systemd-journald when no journald answers on the native socket.
#
# Why: CI machines and containers do not run systemd as PID 1, so nothing listens on
# /run/systemd/journal/socket and the journald tests (PostbackSystemdTests) would have no
# journal to write to and read back. systemd-journald runs fine on its own as root: it binds
# the sockets under /run/systemd/journal and writes the volatile journal to /run/log/journal,
# which a plain `journalctl -o json` reads. Idempotent: does nothing when a journald answers.
#
# Usage: bash .ci/start-journald.sh   (as root; exits non-zero if journald cannot be started)
set -euo pipefail

socket_dir=/run/systemd/journal
socket=$socket_dir/socket
journald=/lib/systemd/systemd-journald
pidfile=/run/postbackd-ci-journald.pid
logfile=${TMPDIR:-/tmp}/postbackd-ci-journald.log
wait_seconds=10

# A socket file alone proves nothing: a killed journald leaves its socket files behind.
# systemd-cat connects to the stream socket beside it and fails if nobody accepts.
answers() {
    [ -S "$socket" ] && echo "start-journald: probe" | systemd-cat -t start-journald 2>/dev/null
}

if answers; then
    echo "start-journald: journald already answers on $socket"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "start-journald: journald is not running and starting it needs root" >&2
    exit 1
fi
if [ ! -x "$journald" ]; then
    echo "start-journald: $journald not found (apt-get install systemd)" >&2
    exit 1
fi

# journald refuses to start without a machine ID; fresh containers often have none.
if [ ! -s /etc/machine-id ]; then
    systemd-machine-id-setup >/dev/null
fi

mkdir -p "$socket_dir" /run/log/journal
# setsid and closed fds: the daemon must outlive this script and must not hold the
# caller's stdout pipe open (a CI runner would wait on it forever).
setsid "$journald" </dev/null >"$logfile" 2>&1 &
echo $! >"$pidfile"

for _ in $(seq 1 $((wait_seconds * 10))); do
    if answers; then
        echo "start-journald: started $journald (pid $(cat "$pidfile")), journal in /run/log/journal"
        exit 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        echo "start-journald: journald exited during start-up; its output:" >&2
        cat "$logfile" >&2 || true
        exit 1
    fi
    sleep 0.1
done

echo "start-journald: $socket did not answer within ${wait_seconds}s; journald output:" >&2
cat "$logfile" >&2 || true
exit 1
