// Dataset mode's heap setting: many files in a row, each allocating the same few buffers.

/// How the dataset driver's process keeps its heap.
public enum HeapRetention {
    /// Every file allocates and frees the same few buffers (some above glibc's 128 KiB mmap
    /// threshold): keep freed memory in the heap instead of returning it to the kernel, so the
    /// next file does not fault its pages in again (−30 % system time on 10 s files). The heap
    /// stays at what `--jobs` files in flight need. Process-wide: call once, from the program
    /// (`meltap file DIR -o OUTDIR`), before the first file.
    public static func keepFreedMemory() {
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 64 << 20)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 256 << 20)
    }
}

/// glibc's `int mallopt(int param, int value)` (malloc.h, which the Glibc module does not include).
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
