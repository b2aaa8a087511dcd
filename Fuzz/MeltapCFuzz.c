/*
 * libFuzzer harness for libmeltap's C ABI (include/meltap.h): random call sequences on the
 * streaming analyzer and meltap_analyze_samples, with options drawn from the real vocabulary
 * (meltap_presets(), the option names and words Sources/MeltapC/Options.swift and
 * FeatureOption.all accept) mixed with junk, valid and invalid sample rates, chunk sizes and
 * sample values (NaN, inf, huge, denormal, empty, NULL).
 * Built by scripts/fuzz with the toolchain's clang and linked to libmeltap.so ($MELTAP_LIB, or
 * scripts/build-lib's):
 *   clang -fsanitize=fuzzer,address -O1 -I include Fuzz/MeltapCFuzz.c -L LIBDIR -lmeltap
 * The library itself is not instrumented (it is the release build, Swift runtime linked in),
 * so libFuzzer's coverage is the harness's: each branch below is one outcome of a call (created
 * or refused, frames or none, flushed or refused …). Overruns by the library are caught by guard
 * pages: every frame buffer ends where an inaccessible page begins.
 *
 * One input is a program, read byte by byte (missing bytes read as 0): up to 48 operations,
 * each an opcode byte then its operands, on two analyzer slots. Every slot holds two analyzers
 * made from the same arguments, a primary and a twin; the twin gets the same samples split into
 * random chunks.
 *
 * Invariants (a failure aborts with the reason, and libFuzzer keeps the input):
 * - Never a crash, a trap or a sanitizer report.
 * - Every failure is a NULL or -1 with meltap_last_error() non-empty and recorded by that call
 *   (not left over: a known message is planted before each call).
 * - Calls fail exactly when the header says they must (NULL analyzer, negative count, NULL
 *   samples, a frame buffer under meltap_analyzer_max_frames, process after flush, a rate out
 *   of 1000...768000 or not finite) and succeed with known-good arguments (a preset with no
 *   options at 16000, 22050, 44100 or 48000 Hz).
 * - A call writes only whole frames, within the buffer, and nothing after the frames it returns.
 * - Chunk invariance: the twin's frames equal the primary's bit for bit, through process,
 *   flush and reset; its config JSON, frame width and analysis rate are the same.
 * - meltap_analyze_samples: a result's dimensions multiply to its count, an axis out of range has
 *   extent 0, its sidecar is JSON; the result accessors take NULL.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "meltap.h"

/* ---- Reading the input ------------------------------------------------------------------- */

typedef struct {
    const uint8_t *bytes;
    size_t left;
} Input;

static uint8_t byte(Input *in) {
    if (in->left == 0) return 0;
    in->left--;
    return *in->bytes++;
}

static uint32_t word(Input *in) {
    uint32_t value = 0;
    for (int i = 0; i < 4; i++) value |= (uint32_t)byte(in) << (8 * i);
    return value;
}

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "capi fuzz invariant broken: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* ---- The vocabulary ------------------------------------------------------------------------ */

static const char *const keys[] = {
    /* FeatureOption.all */
    "n-fft", "hop-length", "win-length", "window", "framing", "n-mels", "fmin", "fmax", "mel-scale",
    "mel-norm", "power", "output", "n-mfcc", "top-db", "db-ref", "use-energy", "fft-precision",
    /* Options.swift: both uses, then files only */
    "sample-rate", "resampler", "clamp", "layout", "channel", "all-channels", "mono",
    /* refused or unknown */
    "preset", "n_mels", "N-FFT", "",
};
#define KEY_COUNT (sizeof keys / sizeof *keys)

static const char *const words[] = {
    "hann", "hann-float32", "hamming", "povey", "rectangular",
    "center-zero", "center-reflect", "none", "kaldi-no-snip",
    "slaney", "htk",
    "power", "db", "log", "whisper", "mfcc", "pcen", "micro", "openwakeword", "spectrogram", "spectrogram-db",
    "single", "double", "max", "min", "true", "false", "yes", "no", "1", "0",
    "global", "running", "frames-first", "bands-first",
    "zita", "sinc-best", "sinc-medium", "sinc-fastest",
};
#define WORD_COUNT (sizeof words / sizeof *words)

static const char *const numbers[] = {
    "0", "1", "2", "-1", "3", "8", "16", "20", "26", "32", "40", "64", "80", "128", "160", "200", "256", "400",
    "512", "1024", "2048", "4096", "8000", "16000", "22050", "44100", "48000", "96000", "768000", "768001",
    "999", "131072", "524288", "524289", "1048576", "2018", "-400", "-8000", "0.5", "1.5", "20.0", "7600.5",
    "1e-30", "1e308", "-0", "nan", "inf", "-inf", "2147483647", "9223372036854775807",
    "99999999999999999999", "0x10", " 1", "",
};
#define NUMBER_COUNT (sizeof numbers / sizeof *numbers)

/* The presets, from meltap_presets(): "librosa,torchaudio,…". */
static char preset_text[256];
static const char *presets[16];
static int preset_count;
/* The message meltap_analyzer_frame_width(NULL) records, planted before each call that can fail. */
static char planted[512];

static void plant(void) {
    if (meltap_analyzer_frame_width(NULL) != -1) fail("frame_width(NULL) is not -1", NULL);
}

/* After a call failed: its own message must be there. */
static void expect_message(const char *call) {
    const char *message = meltap_last_error();
    if (message == NULL || message[0] == '\0') fail("a failure left meltap_last_error() empty", call);
    if (strcmp(message, planted) == 0) fail("a failure did not record its own message", call);
}

static void append(char *text, size_t capacity, const char *piece) {
    size_t used = strlen(text);
    if (used + 1 < capacity) snprintf(text + used, capacity - used, "%s", piece);
}

/* Up to 15 bytes of junk, with no NUL. */
static void append_junk(Input *in, char *text, size_t capacity) {
    char junk[16];
    int length = byte(in) % 16;
    for (int i = 0; i < length; i++) {
        uint8_t c = byte(in);
        junk[i] = (char)(c ? c : 'x');
    }
    junk[length] = '\0';
    append(text, capacity, junk);
}

/* A preset argument: a real name, NULL, "", or junk. Returns NULL or `buffer`. */
static const char *make_preset(Input *in, char *buffer, size_t capacity) {
    uint8_t choice = byte(in);
    buffer[0] = '\0';
    if (choice % 8 < 5) {
        append(buffer, capacity, presets[(choice / 8) % preset_count]);
    } else if (choice % 8 == 5) {
        return NULL;
    } else if (choice % 8 == 7) {
        if (choice & 0x80) append(buffer, capacity, "LIBROSA");
        else append_junk(in, buffer, capacity);
    }
    return buffer;
}

/* An options argument: NULL, or up to 5 comma-separated items of real keys and values or junk.
 * Sets *plain when it is NULL or "". */
static const char *make_options(Input *in, char *buffer, size_t capacity, int *plain) {
    uint8_t count = byte(in);
    buffer[0] = '\0';
    *plain = 0;
    if (count % 8 == 0) {
        *plain = 1;
        return NULL;
    }
    count = count % 8 - 1; /* 0 to 6 items; 0 gives "" */
    for (int item = 0; item < count; item++) {
        if (item > 0) append(buffer, capacity, ",");
        uint8_t kind = byte(in);
        if (kind % 8 == 7) {
            append_junk(in, buffer, capacity);
            continue;
        }
        append(buffer, capacity, keys[byte(in) % KEY_COUNT]);
        if (kind % 8 == 6) continue; /* a bare key */
        append(buffer, capacity, "=");
        uint8_t value = byte(in);
        if (kind % 8 < 3) append(buffer, capacity, numbers[value % NUMBER_COUNT]);
        else if (kind % 8 < 5) append(buffer, capacity, words[value % WORD_COUNT]);
        else append_junk(in, buffer, capacity);
    }
    if (count == 0) *plain = 1;
    return buffer;
}

/* A sample rate in Hz; *valid says whether the header's range admits it, *good whether it is one
 * every preset handles. */
static double make_rate(Input *in, int *valid, int *good) {
    static const double rates[] = {16000, 48000, 44100, 22050, 8000, 11025, 96000, 1000, 768000, 32000,
                                   999.999, 768000.5, 0, -16000, 16000.25, 1e-300, 1e300};
    uint8_t choice = byte(in);
    double rate;
    switch (choice % 24) {
    case 20: rate = NAN; break;
    case 21: rate = INFINITY; break;
    case 22: rate = -INFINITY; break;
    case 23: rate = (double)word(in) / 16.0; break;
    default: rate = rates[(choice % 24) % (sizeof rates / sizeof *rates)]; break;
    }
    *valid = isfinite(rate) && rate >= 1000 && rate <= 768000;
    *good = rate == 16000 || rate == 22050 || rate == 44100 || rate == 48000;
    return rate;
}

/* ---- Samples and frame buffers ------------------------------------------------------------- */

enum { MAX_SAMPLES = 24000 };
static float samples[MAX_SAMPLES];

/* A sample count: 0, small, up to MAX_SAMPLES, or a negative or absurd one (*wild). */
static ptrdiff_t make_count(Input *in, int *wild) {
    uint8_t choice = byte(in);
    *wild = 0;
    switch (choice % 10) {
    case 0: return 0;
    case 1: return 1;
    case 2: case 3: return 1 + byte(in);
    case 4: case 5: return (ptrdiff_t)(word(in) % 4096);
    case 6: return (ptrdiff_t)(word(in) % MAX_SAMPLES);
    case 7: *wild = 1; return -1 - (ptrdiff_t)byte(in);
    case 8: *wild = 1; return (ptrdiff_t)1 << 41; /* over the 2^40 a call takes */
    default: *wild = 1; return PTRDIFF_MIN;
    }
}

/* Fills samples[0..<count] (count within MAX_SAMPLES) with one of a few signals. */
static void fill_samples(Input *in, ptrdiff_t count) {
    uint8_t kind = byte(in);
    float frequency = 0.001f + byte(in) / 300.0f, scale = (kind >> 3) ? 1.0f : 0.01f;
    for (ptrdiff_t i = 0; i < count; i++) {
        float value;
        switch (kind % 8) {
        case 0: value = 0; break;
        case 1: value = scale * sinf(frequency * (float)i); break;
        case 2: { /* raw bytes as floats; signalling NaNs made quiet (the sentinel below is one) */
            uint32_t bits = word(in);
            memcpy(&value, &bits, sizeof value);
            if (isnan(value)) value = NAN;
            break;
        }
        case 3: value = NAN; break;
        case 4: value = (i & 1) ? INFINITY : -INFINITY; break;
        case 5: value = (i & 1) ? 3.0e38f : -3.0e38f; break;
        case 6: value = 1e-42f * (float)(i % 7); break; /* denormal */
        default: value = (i == (ptrdiff_t)(frequency * 1000)) ? NAN : sinf(frequency * (float)i); break;
        }
        samples[i] = value;
    }
}

/* A signalling NaN with a payload no arithmetic produces (arithmetic makes NaNs quiet): frame
 * buffers start filled with it, so a value left unwritten shows. */
static const uint32_t sentinel_bits = 0xFFB1E5EDu;

typedef struct {
    float *frames;     /* NULL, or `capacity` frames ending where an inaccessible page begins */
    void *mapping;
    size_t mapping_length;
} Buffer;

static Buffer guarded_buffer(ptrdiff_t frames, ptrdiff_t width) {
    Buffer buffer = {0};
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = (size_t)frames * (size_t)width * sizeof(float);
    size_t pages = (bytes + page - 1) / page;
    buffer.mapping_length = (pages + 1) * page;
    buffer.mapping = mmap(NULL, buffer.mapping_length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer.mapping == MAP_FAILED) fail("mmap failed", NULL);
    uint8_t *guard = (uint8_t *)buffer.mapping + pages * page;
    if (mprotect(guard, page, PROT_NONE) != 0) fail("mprotect failed", NULL);
    buffer.frames = (float *)(guard - bytes);
    for (size_t i = 0; i < bytes / sizeof(float); i++) memcpy(&buffer.frames[i], &sentinel_bits, sizeof(float));
    return buffer;
}

static void release(Buffer *buffer) {
    if (buffer->mapping) munmap(buffer->mapping, buffer->mapping_length);
    buffer->mapping = NULL;
}

/* The first `written` frames are all written; the rest of `capacity` untouched. */
static void check_written(const float *frames, ptrdiff_t written, ptrdiff_t capacity, ptrdiff_t width,
                          const char *call) {
    for (ptrdiff_t i = 0; i < capacity * width; i++) {
        int untouched = memcmp(&frames[i], &sentinel_bits, sizeof(float)) == 0;
        if (i < written * width && untouched) fail("a returned frame has a value left unwritten", call);
        if (i >= written * width && !untouched) fail("a value was written after the returned frames", call);
    }
}

/* ---- Analyzer slots -------------------------------------------------------------------------- */

typedef struct {
    meltap_analyzer *primary, *twin;
    ptrdiff_t width;
    int flushed;
} Slot;

static Slot slots[2];

static void destroy(Slot *slot) {
    meltap_analyzer_destroy(slot->primary);
    meltap_analyzer_destroy(slot->twin);
    memset(slot, 0, sizeof *slot);
}

static void op_create(Input *in, Slot *slot) {
    char preset_buffer[64], options_buffer[512];
    const char *preset = make_preset(in, preset_buffer, sizeof preset_buffer);
    int plain, valid, good;
    const char *options = make_options(in, options_buffer, sizeof options_buffer, &plain);
    double rate = make_rate(in, &valid, &good);
    int known_preset = preset == NULL || preset[0] == '\0';
    for (int i = 0; i < preset_count && !known_preset; i++) known_preset = strcmp(preset, presets[i]) == 0;
    destroy(slot);
    plant();
    meltap_analyzer *primary = meltap_analyzer_create(preset, options, rate);
    if (primary == NULL) {
        expect_message("meltap_analyzer_create");
        if (known_preset && plain && good) fail("a preset with no options at a common rate was refused", meltap_last_error());
        return;
    }
    if (!valid) fail("an analyzer was created at a rate out of range", NULL);
    meltap_analyzer *twin = meltap_analyzer_create(preset, options, rate);
    if (twin == NULL) fail("the same arguments failed the second time", meltap_last_error());
    slot->primary = primary;
    slot->twin = twin;
    slot->width = meltap_analyzer_frame_width(primary);
    if (slot->width <= 0 || slot->width != meltap_analyzer_frame_width(twin)) fail("bad frame width", NULL);
    double analysis = meltap_analyzer_analysis_rate(primary);
    if (!(analysis >= 1000 && analysis <= 768000) || analysis != meltap_analyzer_analysis_rate(twin))
        fail("bad analysis rate", NULL);
}

/* The capacity a call gets: what max_frames asks (usually), one frame less, or none at all. */
static ptrdiff_t make_capacity(Input *in, ptrdiff_t needed, int *null_buffer) {
    uint8_t choice = byte(in) % 8;
    *null_buffer = choice == 7;
    if (choice == 6 && needed > 0) return needed - 1;
    if (choice == 5) return needed + 3;
    return *null_buffer ? 0 : needed;
}

/* Frames of the twin for the same samples, fed in random chunks, each into a buffer of its own
 * max_frames; copied into `out` (`out_capacity` frames). Returns the frame count. */
static ptrdiff_t twin_process(Input *in, Slot *slot, ptrdiff_t count, float *out, ptrdiff_t out_capacity) {
    ptrdiff_t offset = 0, written = 0;
    while (offset < count) {
        uint8_t split = byte(in);
        ptrdiff_t chunk = split == 0 ? count - offset : 1 + (ptrdiff_t)split * (split % 4 == 0 ? 37 : 1);
        if (chunk > count - offset) chunk = count - offset;
        ptrdiff_t needed = meltap_analyzer_max_frames(slot->twin, chunk);
        Buffer buffer = guarded_buffer(needed, slot->width);
        plant();
        ptrdiff_t got = meltap_analyzer_process(slot->twin, samples + offset, chunk, buffer.frames, needed);
        if (got < 0 || got > needed) fail("twin: process of a chunk failed", meltap_last_error());
        check_written(buffer.frames, got, needed, slot->width, "meltap_analyzer_process (twin)");
        if (written + got > out_capacity) fail("chunk invariance: more frames in chunks than max_frames of the whole", NULL);
        memcpy(out + written * slot->width, buffer.frames, (size_t)(got * slot->width) * sizeof(float));
        release(&buffer);
        written += got;
        offset += chunk;
    }
    return written;
}

static void compare_frames(const float *a, ptrdiff_t a_count, const float *b, ptrdiff_t b_count, ptrdiff_t width,
                           const char *call) {
    if (a_count != b_count) {
        char detail[128];
        snprintf(detail, sizeof detail, "%s: %td frames whole, %td in chunks", call, a_count, b_count);
        fail("chunk invariance: frame counts differ", detail);
    }
    if (a_count > 0 && memcmp(a, b, (size_t)(a_count * width) * sizeof(float)) != 0)
        fail("chunk invariance: frames differ", call);
}

static void op_process(Input *in, Slot *slot) {
    int wild, null_buffer;
    ptrdiff_t count = make_count(in, &wild);
    int null_samples = byte(in) % 16 == 0;
    if (!wild && !null_samples) fill_samples(in, count);
    const float *input = null_samples ? NULL : samples;
    if (slot->primary == NULL) {
        plant();
        if (meltap_analyzer_process(NULL, input, count, NULL, 0) != -1) fail("process(NULL) is not -1", NULL);
        expect_message("meltap_analyzer_process(NULL)");
        return;
    }
    ptrdiff_t needed = meltap_analyzer_max_frames(slot->primary, count);
    if (needed < 2) fail("max_frames is under 2", NULL);
    if (wild && count > 0) needed = 4; /* the call refuses before touching the buffer */
    ptrdiff_t capacity = make_capacity(in, needed, &null_buffer);
    Buffer buffer = guarded_buffer(capacity, slot->width);
    plant();
    ptrdiff_t got = meltap_analyzer_process(slot->primary, input, count, null_buffer ? NULL : buffer.frames, capacity);
    int must_fail = count < 0 || (count > 0 && (null_samples || wild || slot->flushed || null_buffer ||
                                                capacity < needed));
    if (got < -1) fail("process returned below -1", NULL);
    if (got == -1) {
        expect_message("meltap_analyzer_process");
        if (!must_fail) fail("process failed with good arguments", meltap_last_error());
    } else {
        if (must_fail) fail("process succeeded with bad arguments", NULL);
        if (count == 0 && got != 0) fail("process of 0 samples gave frames", NULL);
        if (got > capacity) fail("process wrote more frames than the buffer holds", NULL);
        if (!null_buffer) check_written(buffer.frames, got, capacity, slot->width, "meltap_analyzer_process");
        if (count > 0) {
            float *chunked = malloc((size_t)(needed * slot->width) * sizeof(float));
            ptrdiff_t twin_got = twin_process(in, slot, count, chunked, needed);
            compare_frames(buffer.frames, got, chunked, twin_got, slot->width, "process");
            free(chunked);
        }
    }
    release(&buffer);
}

static void op_flush(Input *in, Slot *slot) {
    int null_buffer;
    if (slot->primary == NULL) {
        plant();
        if (meltap_analyzer_flush(NULL, NULL, 0) != -1) fail("flush(NULL) is not -1", NULL);
        expect_message("meltap_analyzer_flush(NULL)");
        return;
    }
    ptrdiff_t needed = meltap_analyzer_max_frames(slot->primary, 0);
    ptrdiff_t capacity = make_capacity(in, needed, &null_buffer);
    Buffer buffer = guarded_buffer(capacity, slot->width), twin = guarded_buffer(needed, slot->width);
    plant();
    ptrdiff_t got = meltap_analyzer_flush(slot->primary, null_buffer ? NULL : buffer.frames, capacity);
    if (got < -1 || got > capacity) fail("flush returned a bad count", NULL);
    if (slot->flushed) {
        if (got != 0) fail("a second flush did not return 0", NULL);
    } else if (got == -1) {
        expect_message("meltap_analyzer_flush");
        /* A small buffer must fail; a good one may (too short for reflect padding), and then the
         * twin, fed the same samples, fails too. */
        if (!null_buffer && capacity >= needed) {
            plant();
            if (meltap_analyzer_flush(slot->twin, twin.frames, needed) != -1)
                fail("chunk invariance: flush failed whole but not in chunks", NULL);
            expect_message("meltap_analyzer_flush (twin)");
        }
    } else {
        if (null_buffer || capacity < needed) fail("flush succeeded with a small buffer", NULL);
        check_written(buffer.frames, got, capacity, slot->width, "meltap_analyzer_flush");
        ptrdiff_t twin_got = meltap_analyzer_flush(slot->twin, twin.frames, needed);
        if (twin_got < 0) fail("chunk invariance: flush failed in chunks only", meltap_last_error());
        compare_frames(buffer.frames, got, twin.frames, twin_got, slot->width, "flush");
        slot->flushed = 1;
    }
    release(&buffer);
    release(&twin);
}

static void op_reset(Slot *slot) {
    meltap_analyzer_reset(slot->primary); /* NULL: nothing */
    meltap_analyzer_reset(slot->twin);
    slot->flushed = 0;
}

static void op_inspect(Input *in, Slot *slot) {
    plant();
    const char *json = meltap_analyzer_config_json(slot->primary);
    if (slot->primary == NULL) {
        if (json != NULL) fail("config_json(NULL) is not NULL", NULL);
        expect_message("meltap_analyzer_config_json(NULL)");
        if (meltap_analyzer_max_frames(NULL, 1) != -1) fail("max_frames(NULL) is not -1", NULL);
        if (meltap_analyzer_analysis_rate(NULL) != 0) fail("analysis_rate(NULL) is not 0", NULL);
        return;
    }
    size_t length = json ? strlen(json) : 0;
    if (length < 2 || json[0] != '{' || json[length - 1] != '}') fail("config_json is not a JSON object", json);
    if (strcmp(json, meltap_analyzer_config_json(slot->twin)) != 0) fail("the twins' config_json differ", NULL);
    int wild;
    ptrdiff_t count = make_count(in, &wild);
    ptrdiff_t frames = meltap_analyzer_max_frames(slot->primary, count);
    if (frames < 2) fail("max_frames is under 2", NULL);
    if (count > 0 && frames < meltap_analyzer_max_frames(slot->primary, 0)) fail("max_frames shrinks with the count", NULL);
}

/* meltap_analyze_samples: `meltap file` on samples in memory, with the file options too. */
static void op_analyze(Input *in) {
    char preset_buffer[64], options_buffer[512];
    const char *preset = make_preset(in, preset_buffer, sizeof preset_buffer);
    int plain, valid, good, wild;
    const char *options = make_options(in, options_buffer, sizeof options_buffer, &plain);
    double rate = make_rate(in, &valid, &good);
    ptrdiff_t count = make_count(in, &wild);
    if (count > 6000) count %= 6000;
    int null_samples = byte(in) % 16 == 0;
    if (!wild && !null_samples) fill_samples(in, count);
    plant();
    meltap_file_result *result = meltap_analyze_samples(null_samples ? NULL : samples, count, rate, preset, options);
    if (result == NULL) {
        expect_message("meltap_analyze_samples");
        if (meltap_file_result_ndim(NULL) != 0 || meltap_file_result_dim(NULL, 0) != 0 ||
            meltap_file_result_count(NULL) != 0 || meltap_file_result_data(NULL) != NULL ||
            meltap_file_result_sidecar(NULL) != NULL)
            fail("a file-result accessor of NULL gave something", NULL);
        meltap_file_result_destroy(NULL);
        return;
    }
    if (!valid) fail("meltap_analyze_samples accepted a rate out of range", NULL);
    if (count <= 0 || null_samples) fail("meltap_analyze_samples accepted no samples", NULL);
    ptrdiff_t rank = meltap_file_result_ndim(result), product = 1;
    if (rank != 2 && rank != 3) fail("result rank is not 2 or 3", NULL);
    for (ptrdiff_t axis = 0; axis < rank; axis++) {
        ptrdiff_t extent = meltap_file_result_dim(result, axis);
        if (extent < 0) fail("a negative extent", NULL);
        product *= extent;
    }
    if (product != meltap_file_result_count(result)) fail("the extents do not multiply to the count", NULL);
    if (meltap_file_result_dim(result, -1) != 0 || meltap_file_result_dim(result, rank) != 0 ||
        meltap_file_result_dim(result, PTRDIFF_MAX) != 0)
        fail("an axis out of range has an extent", NULL);
    const float *data = meltap_file_result_data(result);
    if (product > 0 && data == NULL) fail("no data", NULL);
    volatile float touch = 0;
    for (ptrdiff_t i = 0; i < product; i++) touch += data[i];
    (void)touch;
    const char *sidecar = meltap_file_result_sidecar(result);
    if (sidecar == NULL || sidecar[0] != '{') fail("the sidecar is not JSON", sidecar);
    meltap_file_result_destroy(result);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(preset_text, sizeof preset_text, "%s", meltap_presets());
    for (char *name = strtok(preset_text, ","); name && preset_count < 16; name = strtok(NULL, ","))
        presets[preset_count++] = name;
    if (preset_count == 0) fail("meltap_presets() is empty", NULL);
    plant();
    snprintf(planted, sizeof planted, "%s", meltap_last_error());
    if (planted[0] == '\0') fail("frame_width(NULL) recorded no message", NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size};
    for (int step = 0; step < 48 && in.left > 0; step++) {
        uint8_t op = byte(&in);
        Slot *slot = &slots[(op >> 7) & 1];
        switch (op % 16) {
        case 0: case 1: case 2: op_create(&in, slot); break;
        case 3: case 4: case 5: case 6: case 7: op_process(&in, slot); break;
        case 8: case 9: op_flush(&in, slot); break;
        case 10: op_reset(slot); break;
        case 11: case 12: op_inspect(&in, slot); break;
        case 13: destroy(slot); break;
        default: op_analyze(&in); break;
        }
    }
    destroy(&slots[0]);
    destroy(&slots[1]);
    return 0;
}
