#!/usr/bin/env bash
# Runs postbackd on the example config and spool so you can watch postbacks fire:
# builds both executables, starts `postbackctl receive` on 127.0.0.1:18090 (where the
# example catalog points), drops config/records.jsonl into var/spool/incoming/ the way
# ingest does (write in tmp/, rename into incoming/), and runs the daemon.
#   scripts/demo.sh          process the spool once, print the summary and what was received
#   scripts/demo.sh --serve  keep the daemon running (Ctrl-C drains and stops it); drop more
#                            files into var/spool/incoming/ to see them fire at once
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product postbackd >/dev/null
swift build -c release --product postbackctl >/dev/null
bin=$(swift build -c release --show-bin-path)

mkdir -p var/spool/tmp var/spool/incoming var/state
received=$(mktemp)
"$bin/postbackctl" receive --listen 127.0.0.1:18090 >"$received" 2>/dev/null &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; rm -f "$received"' EXIT
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/18090) 2>/dev/null && break; sleep 0.1; done

name="example-$(date +%s%N).jsonl"
cp config/records.jsonl "var/spool/tmp/$name"
mv "var/spool/tmp/$name" "var/spool/incoming/$name"

if [ "${1:-}" = "--serve" ]; then
  echo "postbackd running on var/spool (Ctrl-C to stop); received postbacks:"
  tail -f "$received" &
  exec "$bin/postbackd" run --config config/postbackd.conf
fi

echo "summary:  $("$bin/postbackd" run --config config/postbackd.conf --once)"
sleep 0.2
echo "received by the partner (postbackctl receive):"
sed 's/^/  /' "$received"
