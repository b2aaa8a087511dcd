/*
 * features.c: mel features from C with libmeltap (include/meltap.h).
 *
 *   features stream PRESET OPTIONS RATE CHUNK < samples.f32 > frames.f32
 *       Streams raw mono float32 samples at RATE Hz from standard input through a
 *       meltap_analyzer, CHUNK samples per call (0: random sizes from 1 to 8192, as a callback
 *       with changing periods would), and writes every frame as raw float32 to standard output:
 *       the frames `meltap file --clamp running` computes for the same samples.
 *   features file PATH PRESET OPTIONS > frames.f32
 *       Analyses an audio file as `meltap file` does and writes its array as raw float32; the
 *       shape goes to standard error.
 *
 * OPTIONS is "" or key=value pairs, e.g. "n-mels=80,sample-rate=16000" (see meltap.h).
 * Build:  make lib
 *         cc -Wall -Werror -o features Examples/c/features.c \
 *            $(PKG_CONFIG_PATH=.build/meltap-lib/lib/pkgconfig pkg-config --cflags --libs meltap)
 */
#include <meltap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "features: %s: %s\n", what, meltap_last_error());
    return 1;
}

static int stream(const char *preset, const char *options, double rate, long chunk) {
    meltap_analyzer *analyzer = meltap_analyzer_create(preset, options, rate);
    if (!analyzer) return fail("cannot create the analyzer");
    const ptrdiff_t width = meltap_analyzer_frame_width(analyzer);
    const ptrdiff_t largest = chunk > 0 ? chunk : 8192;
    const ptrdiff_t capacity = meltap_analyzer_max_frames(analyzer, largest);
    float *samples = malloc(sizeof(float) * (size_t)largest);
    float *frames = malloc(sizeof(float) * (size_t)(capacity * width));
    if (!samples || !frames) {
        fprintf(stderr, "features: out of memory\n");
        return 1;
    }
    unsigned seed = 12345;
    long total = 0;
    for (;;) {
        ptrdiff_t want = chunk > 0 ? chunk : 1 + (ptrdiff_t)((seed = seed * 1103515245u + 12345u) >> 8) % largest;
        size_t got = fread(samples, sizeof(float), (size_t)want, stdin);
        if (got == 0) break;
        ptrdiff_t n = meltap_analyzer_process(analyzer, samples, (ptrdiff_t)got, frames, capacity);
        if (n < 0) return fail("process");
        fwrite(frames, sizeof(float), (size_t)(n * width), stdout);
        total += (long)n;
    }
    ptrdiff_t n = meltap_analyzer_flush(analyzer, frames, capacity);
    if (n < 0) return fail("flush");
    fwrite(frames, sizeof(float), (size_t)(n * width), stdout);
    total += (long)n;
    fprintf(stderr, "features: %ld frames of %ld values at %g Hz\n", total, (long)width,
            meltap_analyzer_analysis_rate(analyzer));
    free(samples);
    free(frames);
    meltap_analyzer_destroy(analyzer);
    return 0;
}

static int file(const char *path, const char *preset, const char *options) {
    meltap_file_result *result = meltap_file_analyze(path, preset, options);
    if (!result) return fail("cannot analyse the file");
    fprintf(stderr, "features: shape (");
    for (ptrdiff_t axis = 0; axis < meltap_file_result_ndim(result); axis++)
        fprintf(stderr, "%s%ld", axis ? ", " : "", (long)meltap_file_result_dim(result, axis));
    fprintf(stderr, ")\n");
    fwrite(meltap_file_result_data(result), sizeof(float), (size_t)meltap_file_result_count(result), stdout);
    meltap_file_result_destroy(result);
    return 0;
}

int main(int argc, char **argv) {
    if (meltap_version() / 10000 != MELTAP_VERSION_MAJOR) {
        fprintf(stderr, "features: libmeltap %s does not match meltap.h %d.%d; rebuild against it\n",
                meltap_version_string(), MELTAP_VERSION_MAJOR, MELTAP_VERSION_MINOR);
        return 1;
    }
    if (argc == 6 && strcmp(argv[1], "stream") == 0)
        return stream(argv[2], argv[3], atof(argv[4]), atol(argv[5]));
    if (argc == 5 && strcmp(argv[1], "file") == 0)
        return file(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: features stream PRESET OPTIONS RATE CHUNK < samples.f32 > frames.f32\n"
                    "       features file PATH PRESET OPTIONS > frames.f32\n");
    return 2;
}
