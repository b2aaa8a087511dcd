// What the build knows about itself: the git commit, from GitCommit.swift, which
// Plugins/GitCommit generates before every build.

/// Facts fixed when meltap was built.
public enum BuildInfo {
    /// The git commit meltap was built from: 12 hex digits, with "-dirty" when tracked files
    /// differed from it; MELTAP_COMMIT's value when that was set at build time; "unknown" when
    /// built outside a git checkout.
    public static let commit = gitCommit
}
