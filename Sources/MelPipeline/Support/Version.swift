/// meltap's version, written into every sidecar (`meltapVersion`) and printed by `--version`.
public let meltapVersion = "0.1.0"
