#!/usr/bin/env bash
# Builds and runs the libFuzzer targets over PostbackCore, each for a bounded time.
#
#   Tests/Fuzz/run.sh [SECONDS] [TARGET...]     # default 20 s each, targets: record catalog template address body
#
# Why a script and not a SwiftPM target: libFuzzer needs -sanitize=fuzzer on every file it
# instruments, and the package's `swift build` / `swift test` must stay plain. So each target
# is PostbackCore's sources + Tests/PostbackCoreTests/FuzzEntries.swift (the entry logic,
# shared with FuzzCorpusTests) + Tests/Fuzz/<target>.swift (the C entry point), in one module.
#
# Seeds come from Tests/Fuzz/corpus/<target>/ (read only); what the fuzzer discovers goes to
# $FUZZ_BUILD_DIR/corpus/<target>/ and is reused by the next run, so long runs accumulate.
# A crash (or a broken invariant, or a hang over 10 s, or RSS over 2 GB) is kept as
# Tests/Fuzz/crashes/<target>-crash-<sha1> (gitignored), and the script exits 1 after running
# every target. Minimise one with: $FUZZ_BUILD_DIR/<target> -minimize_crash=1 -runs=10000 FILE
#
# Environment: FUZZ_BUILD_DIR (default .build-libfuzzer), FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail

cd "$(dirname "$0")/../.."
seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(record catalog template address body)
build="${FUZZ_BUILD_DIR:-.build-libfuzzer}"
crashes="Tests/Fuzz/crashes"
mkdir -p "$build" "$crashes"

# Swift's own crash reporter fights ASan over the crashed process; libFuzzer reports instead.
export SWIFT_BACKTRACE=enable=no

max_len() {
    case "$1" in
        record) echo 4096 ;;     # several spool lines
        catalog) echo 8192 ;;    # a few postbacks
        template) echo 1024 ;;   # one URL
        address) echo 128 ;;     # one host or CIDR
        body) echo 2048 ;;       # one POST body template
    esac
}

failed=()
for target in "${targets[@]}"; do
    entry="Tests/Fuzz/$target.swift"
    [ -f "$entry" ] || { echo "run.sh: no target $target ($entry)" >&2; exit 64; }
    binary="$build/$target"
    sources=(Sources/PostbackCore/*.swift Tests/PostbackCoreTests/FuzzEntries.swift "$entry")
    # Rebuild only when a source is newer than the binary: the build is most of a short run.
    if [ ! -x "$binary" ] || [ -n "$(find "${sources[@]}" -newer "$binary" 2>/dev/null | head -1)" ]; then
        echo "== building $target"
        swiftc -sanitize=fuzzer,address -parse-as-library -O -D POSTBACK_FUZZ \
            -module-name PostbackCore -use-ld=lld "${sources[@]}" -o "$binary"
    fi
    work="$build/corpus/$target"
    mkdir -p "$work"
    dict=()
    [ -f "Tests/Fuzz/$target.dict" ] && dict=("-dict=Tests/Fuzz/$target.dict")
    echo "== fuzzing $target for ${seconds}s"
    log="$build/$target.log"
    # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
    if "$binary" "$work" "Tests/Fuzz/corpus/$target" "${dict[@]}" \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$crashes/$target-" -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^Done' "$log" | tr '\n' ' '; echo
    else
        echo "!! $target FAILED; log: $log" >&2
        grep -aE 'ERROR: libFuzzer|SUMMARY|Fatal error|invariant broken|Test unit written' "$log" | head -20 >&2 || true
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (inputs in $crashes/)" >&2
    exit 1
fi
echo "fuzz: no crash in ${targets[*]} (${seconds}s each)"
