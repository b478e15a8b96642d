// swift-tools-version:6.1
// The fire-latency harness for postbackd (issue #7, item 3): a package of its own, so the root
// package's `swift build` and `swift test` pay nothing for it. Run it through run.sh.
import PackageDescription

let package = Package(
    name: "postbackd-latency-bench",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "LatencyBench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
    ]
)
