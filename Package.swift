// swift-tools-version:6.1
// postbackd: a partner-postback firing daemon. See README.md and DESIGN.md.
// It builds and runs on Linux only (libcurl, libsystemd, inotify, Glibc), so it claims no
// other platform; swift-subprocess needs none declared to build there.
import PackageDescription

/// `CrashPoint.reached(...)` hooks (Sources/PostbackSpool/CrashPoint.swift) for the crash
/// matrix tests: compiled into debug builds only, so a release binary carries no trace of them.
let crashPoints: [SwiftSetting] = [.define("POSTBACKD_CRASH_POINTS", .when(configuration: .debug))]

let package = Package(
    name: "postbackd",
    products: [
        .executable(name: "postbackd", targets: ["postbackd"]),
        .executable(name: "postbackctl", targets: ["postbackctl"]),
        .library(name: "PostbackCore", targets: ["PostbackCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // HMAC-SHA256 for Standard Webhooks signatures and SHA-256 for fire ids (PostbackFiring).
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries from Debian, reached through pkg-config.
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, a flag SwiftPM refuses (with
        // a warning on every build); the header is in /usr/include/hiredis either way.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // Typed wrappers for libcurl's variadic setopt/getinfo, which Swift cannot call.
        // It also reads the TLS version of a connection through OpenSSL (libssl-dev), the
        // library Debian's libcurl4-openssl-dev is built on.
        .target(name: "CCurlShim", dependencies: ["CCurl"], linkerSettings: [.linkedLibrary("ssl")]),
        // renameat2(RENAME_NOREPLACE) for the claim, which glibc hides behind _GNU_SOURCE.
        .target(name: "CSpoolShim"),

        // Pure rules: catalog, validation, index, precedence, macros, records. No I/O.
        .target(name: "PostbackCore"),
        // The spool's durable file protocol: claim by rename, ledgers, deferred, dead letters.
        .target(name: "PostbackSpool", dependencies: ["CSpoolShim", "PostbackCore"], swiftSettings: crashPoints),
        // The libcurl multi driver, address rules at connect time, outcome classification, and
        // building a postback's request (body, headers, Standard Webhooks signature). The
        // signature lives here, not in PostbackCore, because the fuzz targets compile
        // PostbackCore's sources alone with swiftc (Tests/Fuzz/run.sh), without packages.
        .target(
            name: "PostbackFiring",
            dependencies: [
                "CCurl", "CCurlShim", "PostbackCore",
                // Deque: the waiting fires of the admission and the driver, popped from the front.
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // A Redis connection through hiredis (commands, pipelines, reconnects), knowing
        // nothing of postbackd: the Redis Streams source is built on it in PostbackDaemon.
        // PostbackCore (pure, no I/O) only for `RedisAddress`, so the one reading of
        // `redis_url` opens the nodes for the daemon and postbackctl alike.
        .target(name: "PostbackRedis", dependencies: ["CHiredis", "PostbackCore"]),
        // sd_notify and the journald log handler.
        .target(
            name: "PostbackSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")]),

        // Prometheus metrics: every metric name and label in one place, the swift-metrics
        // bootstrap, and the `GET /metrics` endpoint (NIO) that `metrics_listen` turns on.
        .target(
            name: "PostbackMetrics",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),

        // The daemon: the firing loop, outcome recording, reload and drain.
        .target(
            name: "PostbackDaemon",
            dependencies: [
                "PostbackCore", "PostbackFiring", "PostbackSpool", "PostbackSystemd",
                // PostbackRedis: `source = redis`, the Redis Streams source.
                "PostbackRedis",
                // PostbackMetrics: outcomes and latency are counted where they are recorded.
                "PostbackMetrics",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["README.md"],  // the stages and their threads, for readers
            swiftSettings: crashPoints),

        .executableTarget(
            name: "postbackd",
            dependencies: [
                "PostbackCore", "PostbackDaemon", "PostbackSystemd",
                // PostbackSpool: `Settings.load`, the settings loader shared with postbackctl.
                "PostbackSpool",
                // PostbackMetrics: the metrics bootstrap and endpoint, only when `metrics_listen` is set.
                "PostbackMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "postbackctl",
            dependencies: [
                // PostbackSpool: `spool`, `dead-letters` and `fires` read and requeue through the
                // spool's own protocol rather than a second copy of it.
                "PostbackCore", "PostbackFiring", "PostbackSpool",
                // PostbackRedis: `spool`, `dead-letters` and the auto-pauses of `resume`/`list`
                // with `source = redis`, on the keys `RedisKeys` names for the daemon too.
                "PostbackRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // `fires` reads the journal through journalctl, `add`/`edit`/... fall back to
                // `systemctl reload`: both run as child processes through swift-subprocess.
                .product(name: "Subprocess", package: "swift-subprocess"),
                // `postbackctl receive`: a loopback receiver for trying the daemon end to end.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),

        // Shared by the test targets: a loopback HTTP server that answers as told and records
        // what it got, a notify-socket stand-in, and a runner for the built executables.
        .target(
            name: "PostbackTestSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/PostbackTestSupport",
            // The listener NetworkNamespace.swift runs inside a test's network namespace.
            exclude: ["netns-listener.py"]),
        .testTarget(name: "PostbackCoreTests", dependencies: ["PostbackCore"]),
        .testTarget(
            name: "PostbackMetricsTests",
            dependencies: ["PostbackMetrics", .product(name: "CoreMetrics", package: "swift-metrics")]),
        .testTarget(name: "PostbackSpoolTests", dependencies: ["PostbackSpool", "PostbackCore"]),
        .testTarget(
            name: "PostbackFiringTests",
            dependencies: [
                "PostbackFiring", "PostbackCore", "PostbackTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "PostbackSystemdTests",
            dependencies: ["PostbackSystemd", "PostbackTestSupport", .product(name: "Logging", package: "swift-log")]),
        // These drive the built executables as an operator would; depending on them makes them built first.
        .testTarget(name: "PostbackCLITests", dependencies: ["PostbackCore", "PostbackRedis", "PostbackSpool", "PostbackTestSupport", "postbackctl", "postbackd"]),
        .testTarget(
            name: "PostbackDaemonTests",
            dependencies: ["PostbackCore", "PostbackDaemon", "PostbackFiring", "PostbackRedis", "PostbackSpool", "PostbackTestSupport", "postbackctl", "postbackd"]),
    ]
)
