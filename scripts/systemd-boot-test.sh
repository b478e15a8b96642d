#!/usr/bin/env bash
# The Debian package under a real systemd: a minimal Debian 12 root (debootstrap) booted with
# systemd-nspawn, the .deb installed there with apt, and the service driven with systemctl as an
# operator would. Works on a host whose PID 1 is not systemd (CI, containers).
#
# Checks, in order: install; a start with a broken catalog fails and never reaches active (active
# only comes from READY=1); a good start; STATUS= counters in `systemctl status`; a record dropped
# into the spool fires at a receiver, and `journalctl -u postbackd TRANSACTION_ID=...` shows
# that fire with its fields; the metrics that monitoring/ names are all on /metrics; `systemctl
# reload` goes RELOADING=1 -> READY=1 (systemd's own debug log), a refused catalog keeps the
# old one serving; SIGSTOP -> watchdog kill and restart; `systemctl stop` drains inside
# TimeoutStopSec; `systemd-analyze security` on the running unit <= 1.2; purge leaves nothing.
#
# The test's drop-in (the only change to the shipped unit): IPAddressAllow=127.0.0.1 so the
# daemon may reach the loopback receiver and be scraped, and WatchdogSec=10s so a frozen daemon
# is found in 10 s rather than 30 s (the daemon pings at half of whatever the unit sets).
#
# The debootstrapped root is cached under $CACHE (default /var/cache/postbackd-boot-test),
# keyed by a hash of the debootstrap arguments; each run boots a fresh copy of it.
#
# Usage: bash scripts/systemd-boot-test.sh [DEB]    Without DEB, scripts/package.sh builds one
#        first. Needs: debootstrap, systemd-container, curl (scripts/setup.sh --packaging).
# Environment: KEEP=1 keeps the booted copy and its journal; CACHE, MIRROR as below.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
t0=$SECONDS
say() { printf 'boot-test [%3ds]: %s\n' $((SECONDS - t0)) "$*"; }
fail() {
    say "FAIL: $*" >&2
    if [ -n "${leader:-}" ]; then   # the container's journal, for the reader
        inside journalctl --no-pager -o short-monotonic >"$work/journal.txt" 2>&1 || true
        echo "boot-test: the container's journal is in $work/journal.txt (KEEP=1 keeps it); its end:" >&2
        grep -E 'postbackd|boot-test' "$work/journal.txt" | grep -vE 'Sent message|Got message type' | tail -25 >&2 || true
    fi
    exit 1
}

eventually() {   # eventually SECONDS COMMAND...: true once COMMAND succeeds, polled every 0.1 s
    local tries=$(($1 * 10)) _
    shift
    for _ in $(seq 1 "$tries"); do "$@" && return 0; sleep 0.1; done
    return 1
}

for tool in debootstrap systemd-nspawn nsenter curl; do
    command -v "$tool" >/dev/null || fail "$tool not found (scripts/setup.sh --packaging)"
done

# --- The root: debootstrap once, then a fresh copy per run ---------------------------------
suite=bookworm
mirror=${MIRROR:-http://deb.debian.org/debian}
bootstrap_args=(--variant=minbase --include=systemd,systemd-sysv,dbus "$suite")
cache=${CACHE:-/var/cache/postbackd-boot-test}
key=$(printf '%s\n' "${bootstrap_args[@]}" "$mirror" "$(dpkg --print-architecture)" | sha256sum | cut -c1-16)
base=$cache/root-$key
bootstrap_job=
if [ ! -f "$base/.complete" ]; then
    # In the background: it waits on the mirror and dpkg while the package build below uses the CPU.
    say "debootstrap $suite into $base (once; later runs reuse it), log in $cache/debootstrap-$key.log"
    rm -rf "$base"
    mkdir -p "$cache"
    { nice -n 10 debootstrap "${bootstrap_args[@]}" "$base" "$mirror" >"$cache/debootstrap-$key.log" 2>&1 &&
        touch "$base/.complete"; } &
    bootstrap_job=$!
fi

# --- The package: built now unless one is named ----------------------------------------------
deb=${1:-}
if [ -z "$deb" ]; then
    bash scripts/package.sh
    deb=$(ls -t dist/postbackd_*.deb | head -1)
fi
[ -f "$deb" ] || fail "no such package: $deb"
say "package $deb"
if [ -n "$bootstrap_job" ]; then
    wait "$bootstrap_job" || { tail -20 "$cache/debootstrap-$key.log" >&2; fail "debootstrap failed"; }
    say "debootstrap done"
fi

work=$(mktemp -d /var/tmp/postbackd-boot-test.XXXXXX)
root=$work/root
nspawn_pid=
cleanup() {
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        kill -TERM "$nspawn_pid" 2>/dev/null || true   # nspawn asks the container's systemd to halt
        for _ in $(seq 1 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "boot-test: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
say "copying the root to $root"
cp -a "$base" "$root"
rm -f "$root/.complete"
cp "$deb" "$root/root/postbackd.deb"

# --- Boot --------------------------------------------------------------------------------
# --register=no and --keep-unit: no machined, no scope from the host's systemd (there may be
# none). The host's network is shared, so 127.0.0.1 inside is the host's loopback.
systemd-nspawn --register=no --keep-unit --quiet --console=read-only -D "$root" --boot \
    >"$work/console.log" 2>&1 &
nspawn_pid=$!
leader=
for _ in $(seq 1 100); do
    for child in $(pgrep -P "$nspawn_pid" || true); do
        [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && leader=$child
    done
    [ -n "$leader" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || { cat "$work/console.log" >&2; fail "systemd-nspawn exited"; }
    sleep 0.1
done
[ -n "$leader" ] || fail "no systemd inside the container"
# Run a command inside the container, as root, in all of its namespaces.
inside() { nsenter --target "$leader" --all env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= "$@"; }
eventually 30 inside test -S /run/systemd/private 2>/dev/null || fail "no systemd manager socket in the container"
state=$(inside timeout 60 systemctl is-system-running --wait 2>&1 || true)
case "$state" in
    running) ;;
    degraded) say "booted degraded; failed units: $(inside systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
    *) fail "the container did not boot: $state" ;;
esac
say "booted to $(inside systemctl get-default) ($state), systemd $(inside systemctl --version | awk 'NR==1 {print $2}')"

# --- Install -------------------------------------------------------------------------------
say "apt install ./postbackd.deb"
inside sh -c 'cd /root && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./postbackd.deb' \
    >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; fail "apt install failed"; }
inside test ! -x /usr/bin/swift || fail "the root has a Swift toolchain; the test proves nothing"
inside test ! -e /bin/kill || fail "/bin/kill (procps) is in the root; the reload check would not show that ExecReload needs none"
inside getent passwd postbackd >/dev/null || fail "postinst did not create the postbackd user"
[ "$(inside stat -c '%a %U:%G' /var/lib/postbackd/spool/incoming)" = "2770 postbackd:postbackd" ] ||
    fail "postinst did not create spool/incoming as tmpfiles.d says"
inside systemctl is-enabled postbackd >/dev/null 2>&1 && fail "a fresh install must not enable the service"
inside man -w postbackd >/dev/null 2>&1 || inside test -f /usr/share/man/man8/postbackd.8.gz || fail "no postbackd(8)"

# Ports on the shared loopback: free ones, picked at random.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        ss -Hltn "sport = :$port" | grep >/dev/null . || { echo "$port"; return; }
    done
}
receiver_port=$(free_port)
metrics_port=$(free_port)
[ "$receiver_port" != "$metrics_port" ] || metrics_port=$((receiver_port + 1))

# The settings: the packaged file plus loopback allowed and the metrics endpoint on.
inside sh -c "sed -i 's/^#allow_address = .*/allow_address = 127.0.0.0\/8/; s/^metrics_listen = .*/metrics_listen = 127.0.0.1:$metrics_port/' /etc/postbackd/postbackd.conf"
inside grep -q '^allow_address = 127.0.0.0/8$' /etc/postbackd/postbackd.conf || fail "could not set allow_address"
inside mkdir -p /etc/systemd/system/postbackd.service.d
printf '[Service]\nIPAddressAllow=127.0.0.1\nWatchdogSec=10s\n' >"$root/etc/systemd/system/postbackd.service.d/boot-test.conf"
inside systemctl daemon-reload
# systemd's debug log shows each notify message it gets (READY=1, RELOADING=1).
inside systemctl log-level debug

catalog() {   # catalog ID...: one conversion postback per ID, all firing at the receiver
    local sep="" id
    printf '{"postbacks": ['
    for id in "$@"; do
        printf '%s\n  {"id": %d, "type": "conversion", "level": "global", "partner_id": 7, "url": "http://127.0.0.1:%d/p%d?click={sub1}&txn={transaction_id}"}' \
            "$sep" "$id" "$receiver_port" "$id"
        sep=,
    done
    printf '\n]}\n'
}
put_catalog() { cat >"$root/etc/postbackd/catalog.json.new"; mv "$root/etc/postbackd/catalog.json.new" "$root/etc/postbackd/catalog.json"; }

# --- Start: only READY=1 makes it active ------------------------------------------------------
say "start with a broken catalog: must fail, never active"
echo '{"postbacks": [{"id": 1}]}' | put_catalog
inside systemctl start postbackd 2>/dev/null && fail "systemctl start succeeded with a broken catalog"
[ "$(inside systemctl show -P ActiveEnterTimestampMonotonic postbackd)" = 0 ] ||
    fail "the unit was active once although the daemon never sent READY=1"
inside systemctl stop postbackd
inside systemctl reset-failed postbackd 2>/dev/null || true

catalog 1 | put_catalog
# Its output goes to a file: journald may file a transient unit's stdout under init.scope when
# the container runs on a host whose cgroups systemd does not own.
inside systemd-run --quiet --unit=boot-test-receiver -p StandardOutput=file:/root/boot-test-receiver.log \
    /usr/bin/postbackctl receive --listen "127.0.0.1:$receiver_port" --json
listening() { ss -Hltn "sport = :$1" | grep >/dev/null .; }
eventually 5 listening "$receiver_port" || fail "the receiver does not listen on $receiver_port"
start_begin=$SECONDS
inside systemctl start postbackd || { inside journalctl -u postbackd --no-pager | tail -20 >&2; fail "systemctl start failed"; }
say "start: active after $((SECONDS - start_begin)) s"
[ "$(inside systemctl is-active postbackd)" = active ] || fail "not active after start"
inside journalctl -u postbackd -o cat --no-pager | grep >/dev/null 'postbackd ready:' || fail "no 'ready' line from the daemon"
# systemd's own order of events: the READY=1 datagram, then start -> running.
first_of() { inside journalctl _PID=1 -o cat --no-pager | grep -n "$1" | head -1 | cut -d: -f1; }
ready_line=$(first_of 'postbackd.service: Got notification message from PID .*READY=1')
running_line=$(first_of 'postbackd.service: Changed start -> running')
[ -n "$ready_line" ] || fail "systemd logged no READY=1 from the daemon"
[ -n "$running_line" ] && [ "$ready_line" -lt "$running_line" ] || fail "start -> running did not follow READY=1"

# --- STATUS= ---------------------------------------------------------------------------------
status_counters() { status_text=$(inside systemctl show -P StatusText postbackd); [[ "$status_text" == *"succeeded "* ]]; }
eventually 10 status_counters || true
[[ "$status_text" == *"in flight"*"succeeded"*"deferred"*"failed"* ]] || fail "no STATUS= counters: '$status_text'"
inside systemctl status --no-pager postbackd | grep >/dev/null "Status: \"$status_text" ||
    inside systemctl status --no-pager postbackd | grep >/dev/null 'Status: "fires/s' || fail "systemctl status shows no STATUS="
say "systemctl status: Status: \"$status_text\""

# --- A record fires ------------------------------------------------------------------------------
# Dropped as ingest does: written in spool/tmp, renamed into spool/incoming.
drop_record() {   # drop_record TRANSACTION_ID
    local spool=$root/var/lib/postbackd/spool
    printf '{"kind":"conversion","transaction_id":"%s","partner_id":7,"offer_id":3,"sub1":"click-%s","payout":"1.50","currency":"EUR"}\n' "$1" "$1" >"$spool/tmp/$1.jsonl"
    mv "$spool/tmp/$1.jsonl" "$spool/incoming/$1.jsonl"
}
received() {   # received PATH TXN: the receiver got that request
    grep -F >/dev/null "\"path\":\"/$1\",\"query\":{\"click\":\"click-$2\",\"txn\":\"$2\"}" "$root/root/boot-test-receiver.log" 2>/dev/null
}
wait_fired() {   # wait_fired PATH TXN
    eventually 10 received "$1" "$2" || fail "the receiver never got /$1 for $2"
}
txn=boot-$RANDOM$RANDOM
drop_record "$txn"
wait_fired p1 "$txn"
counted() { status_text=$(inside systemctl show -P StatusText postbackd); [[ "$status_text" == *"succeeded 1,"* ]]; }
eventually 10 counted || fail "STATUS= does not count the fire: '$status_text'"
say "record $txn fired to the receiver; STATUS= \"$status_text\""
fire_logged() { fields=$(inside journalctl -u postbackd "TRANSACTION_ID=$txn" -o export --no-pager); grep -q '^OUTCOME=' <<<"$fields"; }
eventually 5 fire_logged || true
for field in "TRANSACTION_ID=$txn" POSTBACK_ID=1 PARTNER_ID=7 OFFER_ID=3 HTTP_STATUS=204 ATTEMPT=1 OUTCOME=succeeded LATENCY_US=; do
    grep -q "^$field" <<<"$fields" || fail "journalctl -u postbackd TRANSACTION_ID=$txn: no $field"
done
say "journalctl -u postbackd TRANSACTION_ID=$txn: $(grep -E '^(OUTCOME|HTTP_STATUS|LATENCY_US)=' <<<"$fields" | tr '\n' ' ')"

# --- Metrics: everything monitoring/ names is exported -------------------------------------------
curl -fsS "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || fail "no /metrics on 127.0.0.1:$metrics_port"
bash monitoring/check-metric-names.sh "$work/metrics.txt" || fail "monitoring/ names metrics the daemon does not export"

# --- Reload ------------------------------------------------------------------------------------
logged_since() { inside journalctl -u postbackd --since "$since" -o cat --no-pager | grep >/dev/null "$1"; }
reload_expecting() {   # reload_expecting PATTERN: systemctl reload, then the daemon logs PATTERN
    since=$(inside date '+%Y-%m-%d %H:%M:%S')
    sleep 1   # journalctl --since has whole seconds
    inside systemctl reload postbackd || fail "systemctl reload failed"
    eventually 5 logged_since "$1" || fail "after systemctl reload the daemon logged no '$1'"
}
pid_before=$(inside systemctl show -P MainPID postbackd)
catalog 1 2 | put_catalog
reload_expecting 'catalog reloaded from .*: 2 postbacks'
notify=$(inside journalctl _PID=1 --since "$since" -o cat --no-pager | grep 'postbackd.service: Got notification message' || true)
grep -q 'RELOADING=1' <<<"$notify" || fail "systemd got no RELOADING=1"
grep -A100 'RELOADING=1' <<<"$notify" | grep >/dev/null 'READY=1' || fail "systemd got no READY=1 after RELOADING=1"
[ "$(inside systemctl show -P MainPID postbackd)" = "$pid_before" ] || fail "reload restarted the daemon"
[ "$(inside systemctl is-active postbackd)" = active ] || fail "not active after reload"
txn2=boot-$RANDOM$RANDOM
drop_record "$txn2"
wait_fired p2 "$txn2"
say "systemctl reload: RELOADING=1 then READY=1, same pid, the new postback 2 fires"

echo '{"postbacks": [{"id": 1, "type": "conversion"}]}' | put_catalog
reload_expecting 'refused, the previous catalog keeps serving'
curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep >/dev/null '^postbackd_catalog_last_reload_success 0' ||
    fail "postbackd_catalog_last_reload_success is not 0 after a refused reload"
txn3=boot-$RANDOM$RANDOM
drop_record "$txn3"
wait_fired p2 "$txn3"
[ "$(inside systemctl is-active postbackd)" = active ] || fail "not active after a refused reload"
say "refused catalog: logged, metric 0, the previous catalog keeps firing"
catalog 1 2 | put_catalog

# --- Watchdog -----------------------------------------------------------------------------------
restarts=$(inside systemctl show -P NRestarts postbackd)
frozen=$(inside systemctl show -P MainPID postbackd)
inside sh -c "kill -STOP $frozen"   # dash's builtin: the root has no /bin/kill
stopped_at=$SECONDS
replaced() {   # a new main process, active again
    new_pid=$(inside systemctl show -P MainPID postbackd)
    [ "$new_pid" != "$frozen" ] && [ "$new_pid" != 0 ] && [ "$(inside systemctl is-active postbackd)" = active ]
}
eventually 30 replaced || fail "the watchdog did not restart a daemon stopped with SIGSTOP"
inside journalctl -u postbackd -o cat --no-pager | grep >/dev/null 'Watchdog timeout' || fail "no 'Watchdog timeout' in the journal"
[ "$(inside systemctl show -P NRestarts postbackd)" -gt "$restarts" ] || fail "NRestarts did not go up"
say "watchdog: SIGSTOPped pid $frozen killed and replaced by $new_pid after $((SECONDS - stopped_at)) s"

# --- Security score on the running unit ---------------------------------------------------------
exposure=$(inside systemd-analyze security postbackd --no-pager 2>&1 | sed -n 's/.*Overall exposure level for postbackd.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure level from systemd-analyze security"
awk -v x="$exposure" 'BEGIN { exit !(x <= 1.2) }' || fail "exposure $exposure is above 1.2"
say "systemd-analyze security postbackd: $exposure"

# --- Stop: a drain inside TimeoutStopSec ---------------------------------------------------------
timeout_stop=$(inside systemctl show -P TimeoutStopUSec postbackd)
# A record dropped just before the stop: its fire is done or left for the next start, never lost.
txn4=boot-$RANDOM$RANDOM
drop_record "$txn4"
stop_begin=$SECONDS
inside systemctl stop postbackd
stop_took=$((SECONDS - stop_begin))
[ "$(inside systemctl show -P Result postbackd)" = success ] || fail "stop result: $(inside systemctl show -P Result postbackd)"
inside journalctl -u postbackd -o cat --no-pager | grep >/dev/null "postbackd stopped" || fail "no 'postbackd stopped' line: the drain did not finish"
inside journalctl -u postbackd -o cat --no-pager | grep >/dev/null 'timed out. Killing' && fail "systemd had to kill the daemon on stop"
if received p2 "$txn4"; then last="its fire went out before the daemon stopped"
else
    [ -n "$(find "$root/var/lib/postbackd/spool" -name "$txn4*" -print -quit)" ] ||
        fail "the record dropped before the stop neither fired nor stayed in the spool"
    last="the record dropped just before it stays in the spool for the next start"
fi
say "systemctl stop: drained in ${stop_took} s (TimeoutStopSec $timeout_stop); $last"

# --- The README's route, then purge --------------------------------------------------------------
inside systemctl enable --now postbackd >/dev/null 2>&1 || fail "systemctl enable --now failed"
[ "$(inside systemctl is-active postbackd)" = active ] || fail "not active after enable --now"
inside systemctl stop boot-test-receiver
inside sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq postbackd' >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log" >&2; fail "apt purge failed"; }
inside dpkg-query -W -f='${Status}' postbackd 2>/dev/null | grep >/dev/null 'installed' && fail "still installed after purge"
inside systemctl is-active --quiet postbackd && fail "still running after purge"
leftovers=$(inside find / -xdev \( -path /proc -o -path /sys -o -path /var/log/journal -o -path /root/postbackd.deb \) -prune -o -name '*postbackd*' -print)
[ -z "$leftovers" ] || fail "purge left: $leftovers"
say "apt purge: nothing named postbackd is left (the postbackd system user stays, as Debian leaves users)"

say "PASS in $((SECONDS - t0)) s"
