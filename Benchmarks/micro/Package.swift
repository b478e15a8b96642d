// swift-tools-version:6.1
// Micro-benchmarks of PostbackCore (issue #7, item 1), with ordo-one/benchmark.
//
// A package of its own so the root package's `swift build` and `swift test` never resolve or
// build the benchmark library (and its malloc interposer). Run from the repository root:
//
//     swift package --package-path Benchmarks/micro benchmark
//
// CI only builds it: `swift build --package-path Benchmarks/micro` (see .ci/run).
import PackageDescription

let package = Package(
    name: "postbackd-micro",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, because a path dependency is otherwise known by its folder name (a checkout
        // can be called anything).
        .package(name: "postbackd", path: "../.."),
        // The MallocInterposer trait alone: the default traits add RuntimeInterposer, whose
        // package (swift-runtime-interposer) is not among the packages this machine resolves.
        // ARC counts are not needed here; malloc counts are.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The synthetic catalogs and records the benchmarks share, generated in-process.
        .target(
            name: "CatalogFixtures",
            dependencies: [.product(name: "PostbackCore", package: "postbackd")]),
        // The same hot paths as a plain program, for instruction counts under callgrind where
        // perf_events (the library's `instructions` metric) is not available.
        .executableTarget(
            name: "micro-count",
            dependencies: ["CatalogFixtures", .product(name: "PostbackCore", package: "postbackd")]),
    ]
)

// One executable per suite, as the BenchmarkPlugin expects, under Benchmarks/<Name>/.
for name in ["ResolveExpand", "RecordParse", "CatalogLoad"] {
    package.targets.append(
        .executableTarget(
            name: name,
            dependencies: [
                "CatalogFixtures",
                .product(name: "PostbackCore", package: "postbackd"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/\(name)",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
