#!/usr/bin/env bash
# Measures journal logging throughput in release mode: bash Benchmarks/journal/run.sh [ENTRIES]
# Needs a journald (bash .ci/start-journald.sh). Builds only the PostbackSystemd target and links
# this file against its objects, so other modules' state does not matter. Entries land in the
# journal under SYSLOG_IDENTIFIER=postbackd-bench (journald may rate-limit storing them; the
# sender's cost is what is measured).
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=.build-bench-journal
swift build -c release --scratch-path "$scratch" --target PostbackSystemd >/dev/null
release=$scratch/release
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
swiftc -O -module-name JournalBench Benchmarks/journal/main.swift \
    -I "$release/Modules" -Xcc -fmodule-map-file=Sources/CSystemd/module.modulemap \
    "$release"/PostbackSystemd.build/*.o "$release"/Logging.build/*.o \
    -lsystemd -o "$out/journal-bench"
"$out/journal-bench" "${1:-100000}"
