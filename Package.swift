// swift-tools-version:6.1
// meltap: a real-time mel-spectrogram frontend for JACK.
// Data flow, one folder per stage:
//   audio in (MelFiles, MelJack) -> resample (MelResample) -> STFT -> mel -> output stage (MelDSP)
//   -> ring (MelTransport) -> consumer and sinks (MelPipeline) -> socket (MelServer, MeltapClient)
//   / file (MelFiles). Offline, files and datasets take MelOffline instead of the JACK half. The
//   CLI (meltap) parses options and wires these.
import PackageDescription


let package = Package(
    name: "meltap",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meltap", targets: ["meltap"]),
        .library(name: "MelDSP", targets: ["MelDSP"]),
        .library(name: "MeltapClient", targets: ["MeltapClient"]),
        // The offline and live drivers a program can embed (FileAnalyzer, LiveSession).
        .library(name: "MelPipeline", targets: ["MelPipeline"]),
        // libmeltap: the C ABI (include/meltap.h). `make lib` builds it with the Swift stdlib
        // linked statically, as .build/meltap-lib/lib/libmeltap.so with pkgconfig/meltap.pc beside it.
        .library(name: "MeltapC", type: .dynamic, targets: ["MeltapC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: [
        // C libraries, behind system library targets and nothing else.
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CJack", pkgConfig: "jack", providers: [.apt(["libjack-jackd2-dev"])]),
        .systemLibrary(name: "CSampleRate", pkgConfig: "samplerate", providers: [.apt(["libsamplerate0-dev"])]),

        // glibc's vector maths (libmvec) behind one C function: the log of a frame's bands.
        .target(name: "CVectorMath", linkerSettings: [.linkedLibrary("mvec"), .linkedLibrary("m")]),

        // Thin typed wrappers over system calls (swift-system style): the one EINTR retry, whole
        // writes, the atomic file, file kinds, deadlines and the monotonic clock, Unix socket
        // addresses, SplitMix64, finding programs. Off the realtime path, but for
        // monotonicNanoseconds() (annotated @_noAllocation @_noLocks), which the JACK callback reads.
        .target(name: "MelSystem"),
        // Pure DSP: configuration, windows, FFT plan, streaming STFT, mel bank, output stages.
        .target(name: "MelDSP", dependencies: ["CFFTW", "CVectorMath", "MelSystem"]),
        // zita-resampler (C++, Debian libzita-resampler-dev, GPL-3) behind a small extern "C" shim.
        .target(name: "CZitaResampler", linkerSettings: [.linkedLibrary("zita-resampler")]),
        // Sample-rate conversion to the analysis rate (zita-resampler, libsamplerate), realtime safe once built.
        .target(name: "MelResample", dependencies: ["CSampleRate", "CZitaResampler"]),
        // Audio files in (libsndfile), feature files out (.npy + sidecar JSON).
        .target(name: "MelFiles", dependencies: ["CSndFile", "MelSystem"]),
        // SPSC frame ring and the wire-format codec: pure bytes, no sockets.
        .target(name: "MelTransport", dependencies: ["MelSystem"]),
        // The Unix-socket publisher (SwiftNIO).
        .target(name: "MelServer", dependencies: [
            "MelTransport", "MelSystem",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Client library for subscribers (other Swift packages depend on this).
        .target(name: "MeltapClient", dependencies: ["MelTransport", "MelSystem"]),
        // The realtime engine: the process path without JACK (blocks in, flagged frames into rings,
        // the server's events), driven by MelJack's callbacks and, in tests, by MelRealtimeEmbedded.
        .target(name: "MelRealtime", dependencies: ["MelDSP", "MelResample", "MelTransport"]),
        // The JACK client: ports, callbacks (which pass JACK's buffers to MelRealtime), supervisor.
        .target(name: "MelJack", dependencies: ["MelDSP", "MelResample", "MelTransport", "MelRealtime", "CJack",
                                              "MelSystem"]),
        // The git commit for `meltap --version`, written before each build by Plugins/GitCommit.
        .target(name: "MelBuildInfo", plugins: ["GitCommit"]),
        .plugin(name: "GitCommit", capability: .buildTool()),
        // The offline side, with no JACK, sockets or HTTP: `meltap file` (File/), the dataset
        // driver of `meltap file DIR -o OUTDIR` (Dataset/: discovery, jobs, resume, shards,
        // manifest) and the feature-option table every front end shares. libmeltap links this,
        // not MelPipeline, so it carries no libjack.
        .target(name: "MelOffline", dependencies: ["MelBuildInfo", "MelDSP", "MelResample", "MelFiles", "MelSystem",
                                                   "CSndFile"]),
        // The live pipeline a program can embed (re-exports MelOffline): ring consumer fanning
        // out to per-stream publishers and frame dumps, the recorder, a private jackd, status,
        // metrics and the web view.
        .target(name: "MelPipeline", dependencies: [
            "MelOffline", "MelBuildInfo", "MelDSP", "MelResample", "MelFiles", "MelTransport", "MelServer", "MeltapClient", "MelJack",
            "MelSystem", "CSndFile",
            // `meltap run --config FILE` (Config/).
            .product(name: "TOMLKit", package: "TOMLKit"),
            // `meltap run --metrics`: Prometheus text over SwiftNIO's HTTP/1 server (Live/MetricsServer.swift).
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            // `meltap run --http`: the web view's WebSocket (Live/WebView/).
            .product(name: "NIOWebSocket", package: "swift-nio"),
        ]),
        // The C ABI (`@c` functions, declared by the hand-written include/meltap.h): the streaming
        // analyzer, the offline driver and the subscriber, for C and ctypes callers.
        .target(name: "MeltapC", dependencies: ["MelDSP", "MelResample", "MelFiles", "MelOffline", "MeltapClient"],
                exclude: ["exports.map"]),
        // The CLI: parse, configure, wire the pieces. No JACK and no C target: the live run is
        // reached through MelPipeline (LiveSessionOptions(configuration:), LiveSession).
        .executableTarget(name: "meltap", dependencies: [
            "MelDSP", "MelResample", "MelFiles", "MelTransport", "MelServer", "MeltapClient",
            "MelPipeline", "MelSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // A JACK client for tests and the demo: plays a file into ports, logs what it sent.
        .executableTarget(name: "meltap-testsource", dependencies: ["CJack", "MelFiles", "MelRealtime"],
                          path: "Tools/meltap-testsource"),
        // Benchmark: ns per hop, times real time, allocations per hop (release build).
        .executableTarget(name: "meltap-bench", dependencies: ["MelDSP", "MelResample"], path: "Benchmarks/meltap-bench"),
        // A small Swift subscriber, built with the package.
        .executableTarget(name: "swift-subscriber", dependencies: ["MeltapClient"],
                          path: "Examples/swift-subscriber"),

        // What the live and socket suites share: a child process, a private jackd (its command line
        // from PrivateJackServer), binary and Python locators, `eventually`, meltap-testsource's
        // record format, the live-against-offline comparator, socket helpers.
        .target(name: "MeltapTestSupport", dependencies: ["MelDSP", "MelTransport", "MelServer", "MeltapClient",
                                                          "MelPipeline", "MelSystem"],
                path: "Tests/MeltapTestSupport"),
        // Drives the realtime engine block by block with no JACK: xruns, stalls, period and rate
        // changes, restarts on demand (as NIOEmbedded drives swift-nio pipelines).
        .target(name: "MelRealtimeEmbedded", dependencies: ["MelRealtime", "MelDSP", "MelResample", "MelTransport",
                                                       "MelSystem"],
                path: "Tests/MelRealtimeEmbedded"),
        .testTarget(name: "MelRealtimeTests", dependencies: ["MelRealtimeEmbedded", "MelRealtime", "MelDSP",
                                                             "MelResample", "MelTransport", "MelSystem"]),
        .testTarget(name: "MelDSPTests", dependencies: ["MelDSP", "MelFiles", "MelResample", "MelSystem"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "MelSystemTests", dependencies: ["MelSystem"]),
        // The C ABI through the C examples built with cc against `make lib`'s libmeltap.so.
        .testTarget(name: "MeltapCTests", dependencies: ["MeltapC", "MeltapClient", "MelFiles", "MelServer", "MelTransport", "MelSystem",
                                                       "MeltapTestSupport"],
                    exclude: ["Support"]),
        .testTarget(name: "MelFilesTests", dependencies: ["MelFiles", "MeltapTestSupport"]),
        .testTarget(name: "MelResampleTests", dependencies: ["MelResample", "MelDSP"]),
        .testTarget(name: "MelTransportTests", dependencies: ["MelTransport"]),
        .testTarget(name: "MelServerTests", dependencies: ["MelServer", "MelTransport", "MeltapClient", "MelSystem",
                                                         "MeltapTestSupport"]),
        .testTarget(name: "MeltapClientTests", dependencies: ["MeltapClient", "MelServer", "MelTransport",
                                                            "MeltapTestSupport", "MelSystem"]),
        .testTarget(name: "MelJackTests", dependencies: ["MelJack", "MelDSP", "MelResample", "MelFiles", "MelSystem",
                                                        "MeltapTestSupport"],
                    exclude: ["Support"]),
        .testTarget(name: "MelPipelineTests", dependencies: ["MelPipeline", "MelJack", "MelDSP", "MelFiles", "MelServer",
                                                           "MeltapClient", "MelTransport", "CJack"]),
        .testTarget(name: "MeltapCLITests", dependencies: ["MelDSP", "MelFiles", "MelServer", "MeltapClient", "CJack", "MelSystem",
                                                          "MeltapTestSupport", "MelPipeline", "CSndFile"],
                    exclude: ["Support"]),
    ]
)
