import MelBuildInfo

/// meltap's version, written into every sidecar (`meltapVersion`) and printed by `--version`.
public let meltapVersion = "0.1.0"

/// The git commit meltap was built from (`BuildInfo.commit`), printed by `--version`.
public let meltapCommit = BuildInfo.commit
