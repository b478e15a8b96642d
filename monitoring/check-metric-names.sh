#!/usr/bin/env bash
# Every metric that monitoring/postbackd-alerts.yml and monitoring/postbackd-dashboard.json
# name must be on a running daemon's /metrics: a renamed metric would otherwise leave an alert
# that never fires and a panel that stays empty. Names are the postbackd_* words outside
# comments; node_* words (node_exporter's filesystem metrics, for the disk-full alert) are
# another exporter's and only listed.
#
# Usage: bash monitoring/check-metric-names.sh METRICS_FILE   (a scrape of /metrics; the boot
# test, scripts/systemd-boot-test.sh, passes one from the daemon it runs under systemd)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
metrics=${1:?usage: check-metric-names.sh METRICS_FILE}
files=("$here/postbackd-alerts.yml" "$here/postbackd-dashboard.json")

names() { grep -hv '^[[:space:]]*#' "${files[@]}" | grep -oE "\\b$1[a-z0-9_]*" | sort -u; }
exported=$(grep -v '^#' "$metrics" | sed 's/[{ ].*//' | sort -u)

missing=0
count=0
for name in $(names postbackd_); do
    count=$((count + 1))
    grep -qxF "$name" <<<"$exported" || { echo "check-metric-names: $name is not on /metrics" >&2; missing=1; }
done
[ "$count" -gt 0 ] || { echo "check-metric-names: no postbackd_ metric named in ${files[*]}" >&2; exit 1; }
external=$(names node_ | tr '\n' ' ')
[ "$missing" -eq 0 ] && echo "check-metric-names: all $count postbackd metrics named by the alerts and the dashboard are exported${external:+ (from other exporters: $external)}"
exit "$missing"
