#!/usr/bin/env bash
# The crash matrix's long mode: kill -9 postbackd at each named crash point (claim, mid-batch,
# fsync-rename, reload, drain), ROUNDS times each at a pass drawn from a seed, restart it, and
# check that no fire is lost (Tests/PostbackDaemonTests/CrashMatrixTests.swift says what else).
#
# Usage: scripts/crash-matrix.sh [ROUNDS]     (default 4: 5 points x 4 = 20 kills)
#   POSTBACKD_CRASH_MATRIX_SEED=N replays the passes of an earlier run (every round prints its seed).
#
# Crash points exist only in debug builds (POSTBACKD_CRASH_POINTS in Package.swift), so this is
# a plain debug `swift test`. CI runs the same test with one round per point. Ends with one line
# per point: rounds, kills, fires, lost, duplicates.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
export POSTBACKD_CRASH_MATRIX_ROUNDS="${1:-${POSTBACKD_CRASH_MATRIX_ROUNDS:-4}}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift test --filter CrashMatrixTests 2>&1 | tee "$log" || status=$?
echo
echo "crash matrix, ${POSTBACKD_CRASH_MATRIX_ROUNDS} round(s) per point:"
grep -E '^crash matrix: [a-z-]+: [0-9]+ rounds' "$log" || echo "(no point finished)"
exit "$status"
