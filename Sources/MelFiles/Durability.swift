// When finished feature files reach the disk: each one at once (the default), or all at the end
// of a dataset run.

import Synchronization

/// Whether each finished file is fsynced before it is moved into place.
///
/// By default (`syncsEachFile == true`) `NpyWriter.finish()` and `Sidecar.write` fsync the file
/// and its directory, so a finished output survives a power cut the moment it has its name.
/// A dataset run of thousands of short files turns that off (the kernel writes the page cache
/// back within about 30 s): a process killed at any moment still leaves only whole files (the
/// rename is atomic either way); after a power cut, a file may have its name but not all its
/// bytes, which the dataset run's resume check detects (the `.npy` size must match its sidecar)
/// and redoes.
public enum Durability {
    private static let eachFile = Atomic<Bool>(true)

    /// Read on every finish; set before writers start (relaxed: a plain flag, no data hang on it).
    public static var syncsEachFile: Bool {
        get { eachFile.load(ordering: .relaxed) }
        set { eachFile.store(newValue, ordering: .relaxed) }
    }
}
