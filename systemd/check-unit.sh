#!/usr/bin/env bash
# Checks systemd/postbackd.service: `systemd-analyze verify` must print nothing, and the
# offline security exposure must be at most 1.2 (DESIGN.md: the unit is hardened and scored).
# Also applies postbackd.sysusers and postbackd.tmpfiles to a scratch root.
#
# Runs without systemd as PID 1 (CI, containers): both checks read unit files only. verify
# insists that ExecStart's binary exists, and postbackd is not installed where this runs, so
# it checks a copy whose ExecStart points at a stand-in binary; nothing else is changed.
#
# Usage: bash systemd/check-unit.sh     Needs: systemd-analyze (Debian package systemd).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
unit=$here/postbackd.service
daemon=/usr/bin/postbackd
max_exposure=1.2   # systemd-analyze's --threshold counts in tenths: 12

if ! command -v systemd-analyze >/dev/null; then
    echo "check-unit: systemd-analyze not found (apt-get install systemd)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stand_in=$(command -v true)
grep -q "^ExecStart=$daemon " "$unit" || { echo "check-unit: ExecStart is not $daemon" >&2; exit 1; }
# One entry per fire outcome: journald's rate limit would drop them.
grep -q "^LogRateLimitIntervalSec=0$" "$unit" || { echo "check-unit: LogRateLimitIntervalSec=0 missing" >&2; exit 1; }
sed "s#^ExecStart=$daemon #ExecStart=$stand_in #" "$unit" >"$work/postbackd.service"
# ExecReload must not need procps' /bin/kill, which a minimal Debian lacks (the unit's comment).
if grep -q '^ExecReload=.*/bin/kill' "$unit"; then
    echo "check-unit: ExecReload uses /bin/kill (package procps, absent on minimal systems)" >&2
    exit 1
fi

failed=0

verify_output=$(systemd-analyze verify "$work/postbackd.service" 2>&1) || failed=1
if [ -n "$verify_output" ] || [ "$failed" -ne 0 ]; then
    echo "check-unit: systemd-analyze verify complained:" >&2
    echo "$verify_output" >&2
    failed=1
else
    echo "check-unit: verify clean"
fi

threshold=$(awk -v x="$max_exposure" 'BEGIN { printf "%d", x * 10 + 0.5 }')
security_status=0
security_output=$(systemd-analyze security --offline=true --threshold="$threshold" "$unit" 2>&1) ||
    security_status=$?
overall=$(grep -o 'Overall exposure level for postbackd.service: [0-9.]*' <<<"$security_output" || true)
if [ -z "$overall" ]; then
    echo "check-unit: no exposure level in systemd-analyze security output:" >&2
    echo "$security_output" >&2
    failed=1
elif [ "$security_status" -ne 0 ]; then
    echo "check-unit: $overall, above $max_exposure; findings:" >&2
    grep '✗' <<<"$security_output" >&2 || true
    failed=1
else
    echo "check-unit: $overall (at most $max_exposure)"
fi

# The install files: create the user and directories in a scratch root; any complaint fails.
root=$work/root
mkdir -p "$root/etc" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d"
cp "$here/postbackd.sysusers" "$root/usr/lib/sysusers.d/postbackd.conf"
cp "$here/postbackd.tmpfiles" "$root/usr/lib/tmpfiles.d/postbackd.conf"
install_status=0
install_output=$({ systemd-sysusers --root="$root" && systemd-tmpfiles --root="$root" --create; } 2>&1) ||
    install_status=$?
complaints=$(grep -v '^Creating ' <<<"$install_output" || true)
if [ "$install_status" -ne 0 ] || [ -n "$complaints" ] || [ ! -d "$root/var/lib/postbackd/spool/incoming" ]; then
    echo "check-unit: postbackd.sysusers/postbackd.tmpfiles do not apply cleanly:" >&2
    echo "$install_output" >&2
    failed=1
else
    echo "check-unit: sysusers and tmpfiles apply cleanly"
fi

exit "$failed"
