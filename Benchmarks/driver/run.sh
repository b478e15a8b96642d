#!/usr/bin/env bash
# Firing throughput of the PostbackFiring driver next to plain libcurl multi, same machine,
# same run, same loopback nginx sink (/work/shared/bench):  bash Benchmarks/driver/run.sh
# Env: COUNT (100000), CONCURRENCY (64), ROUNDS (3; each side runs ROUNDS times alternately,
# the best run of each is compared, since a shared 2-core machine is noisy), BENCH_DIR.
# Builds only the PostbackFiring target (release) and links main.swift against its objects, so
# the main package's default build pays nothing and other modules' state does not matter.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-100000}
concurrency=${CONCURRENCY:-64}
rounds=${ROUNDS:-3}
bench=${BENCH_DIR:-/work/shared/bench}
url='http://127.0.0.1:18080/pb?click='
scratch=.build-bench-driver
out=$(mktemp -d)
sink=/tmp/sink-nginx-driver-bench
started_sink=0
cleanup() {
    if [ "$started_sink" = 1 ]; then nginx -c "$bench/sink-nginx.conf" -p "$sink/" -s quit 2>/dev/null || true; fi
    rm -rf "$out"
}
trap cleanup EXIT

# The sink: reuse one already listening on 18080 (another bench may have started it).
if ! (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null; then
    mkdir -p "$sink"
    nginx -c "$bench/sink-nginx.conf" -p "$sink/" 2>/dev/null
    started_sink=1
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break; sleep 0.1; done
fi

cc -O2 -o "$out/libcurl-ceiling" "$bench/libcurl-ceiling.c" -lcurl
swift build -c release --scratch-path "$scratch" --target PostbackFiring >/dev/null
release=$scratch/release
swiftc -O -module-name DriverBench Benchmarks/driver/main.swift \
    -I "$release/Modules" \
    -Xcc -fmodule-map-file=Sources/CCurl/module.modulemap \
    -Xcc -fmodule-map-file="$release/CCurlShim.build/module.modulemap" \
    "$release"/PostbackFiring.build/*.o "$release"/PostbackCore.build/*.o "$release"/CCurlShim.build/*.o \
    "$release"/DequeModule.build/*.o "$release"/ContainersPreview.build/*.o "$release"/InternalCollectionsUtilities.build/*.o \
    -lcurl -lssl -o "$out/driver-bench"

rate() { sed -E 's/.* ([0-9]+) req\/s.*/\1/'; }
best_ceiling=0
best_driver=0
printf '%-16s %-6s %s\n' "run" "round" "result"
for round in $(seq "$rounds"); do
    c=$("$out/libcurl-ceiling" "$url" "$count" "$concurrency")
    d=$("$out/driver-bench" "$url" "$count" "$concurrency")
    printf '%-16s %-6s %s\n' "libcurl-ceiling" "$round" "$c" "driver" "$round" "$d"
    r=$(rate <<<"$c"); [ "$r" -gt "$best_ceiling" ] && best_ceiling=$r
    r=$(rate <<<"$d"); [ "$r" -gt "$best_driver" ] && best_driver=$r
done
echo
printf '| %-22s | %12s |\n' "best of $rounds" "req/s" "libcurl-ceiling" "$best_ceiling" "PostbackFiring driver" "$best_driver"
awk -v d="$best_driver" -v c="$best_ceiling" 'BEGIN { printf "ratio_vs_libcurl=%.3f\n", d / c }'
