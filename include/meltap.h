/*
 * meltap.h: the C ABI of libmeltap, meltap's DSP core for C, C++ and ctypes callers.
 *
 * One core, many drivers: the analyzer below feeds the same resampler and the same streaming
 * mel analyzer as `meltap run`'s JACK callback and `meltap file`, so its frames equal theirs bit
 * for bit for the same samples and options. The file functions run `meltap file`'s own driver.
 *
 * Conventions
 *  - Handles are opaque. Every create/connect has its destroy/close, which takes NULL.
 *  - A call that fails returns NULL or a negative number and records a message on the calling
 *    thread; meltap_last_error() returns it ("" when no call has failed on this thread). The
 *    message says what went wrong and what to do. The pointer stays valid until the next call
 *    that fails on the same thread.
 *  - One handle is used by one thread at a time; different handles may be used on different
 *    threads at once.
 *  - Strings are UTF-8 and NUL-terminated. Strings returned are owned by the library (or the
 *    handle they came from): never free them.
 *  - Samples and frame values are 32-bit floats. A frame is meltap_analyzer_frame_width() floats.
 *
 * Options
 *  preset is one of librosa (the default, for NULL or ""), torchaudio, kaldi, whisper, micro, openwakeword,
 *  as `meltap file --preset`. options is NULL, "" or comma-separated key=value pairs with
 *  `meltap file`'s long option names without the dashes, as `meltap run --stream` takes them:
 *      "n-mels=80,fmax=-400,framing=kaldi-no-snip"      "output=db,top-db=none"
 *  A bare flag (use-energy) means true. Besides the feature options (n-fft, hop-length,
 *  win-length, window, framing, n-mels, fmin, fmax, mel-scale, mel-norm, power, output, n-mfcc,
 *  top-db, db-ref, use-energy, fft-precision; see `meltap file --help`):
 *      sample-rate=HZ   the analysis rate; the input is resampled to it (whisper and micro:
 *                       16000 by default, the others: the input's rate)
 *      resampler=NAME   zita (the default), sinc-best, sinc-medium, sinc-fastest
 *      clamp=global|running   files only (an analyzer always uses running, the live rule)
 *      layout=frames-first|bands-first, channel=N, all-channels, mono   files only
 *
 * Build and link:  make lib, then
 *      cc prog.c $(PKG_CONFIG_PATH=.build/meltap-lib/lib/pkgconfig pkg-config --cflags --libs meltap)
 */
#ifndef MELTAP_H
#define MELTAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the header: major * 10000 + minor * 100 + patch. The major number changes only
 * when the ABI breaks; compare with meltap_version() at run time. */
#define MELTAP_VERSION_MAJOR 0
#define MELTAP_VERSION_MINOR 1
#define MELTAP_VERSION_PATCH 0
#define MELTAP_VERSION (MELTAP_VERSION_MAJOR * 10000 + MELTAP_VERSION_MINOR * 100 + MELTAP_VERSION_PATCH)

/* The library's version, in MELTAP_VERSION's form. */
int meltap_version(void);
/* meltap's version as text ("0.1.0"), as `meltap --version` and every sidecar give it. */
const char *meltap_version_string(void);
/* The preset names, comma-separated: "librosa,torchaudio,kaldi,whisper,micro,openwakeword". */
const char *meltap_presets(void);
/* Where `meltap run --name CLIENT` serves by default: CLIENT.sock (CLIENT.STREAM.sock for a
 * --stream; stream NULL or "" for none) in the default socket directory, the first of
 * $XDG_RUNTIME_DIR/meltap (when that variable names a directory), /run/user/UID/meltap (when
 * /run/user/UID exists) and /tmp/meltap-UID. client NULL means "meltap". Writes the path and a
 * NUL into buffer when capacity allows, and returns the path's length in bytes (without the
 * NUL): a result >= capacity means the buffer was too small and nothing was written. */
ptrdiff_t meltap_default_socket_path(const char *client, const char *stream, char *buffer, ptrdiff_t capacity);
/* The message of the last call that failed on this thread, or "". */
const char *meltap_last_error(void);

/* ---- Streaming analyzer: one channel of samples in, frames out ------------------------------ */

typedef struct meltap_analyzer meltap_analyzer;

/* Creates an analyzer for samples at input_rate Hz (1000 to 768000). Resolves the options at the
 * analysis rate, plans the FFT and allocates every buffer; process and flush never allocate.
 * Frames use the running clamp (top_db, Whisper's max - 8 at the maximum so far), so they equal
 * `meltap run`'s and `meltap file --clamp running`'s. NULL on failure (unknown preset or option,
 * a bad value, a rate out of range, a ratio the resampler cannot do). */
meltap_analyzer *meltap_analyzer_create(const char *preset, const char *options, double input_rate);
void meltap_analyzer_destroy(meltap_analyzer *analyzer);

/* Floats per frame: n_mels, n_mfcc, n_fft/2 + 1 for spectrograms, + 1 with use-energy. */
ptrdiff_t meltap_analyzer_frame_width(const meltap_analyzer *analyzer);
/* The rate in Hz the analysis runs at (after resampling). */
double meltap_analyzer_analysis_rate(const meltap_analyzer *analyzer);
/* The resolved configuration (every DSP parameter) as JSON; owned by the analyzer. */
const char *meltap_analyzer_config_json(const meltap_analyzer *analyzer);
/* The most frames meltap_analyzer_process can write for `count` samples, and
 * meltap_analyzer_flush for any count: size the frame buffer with it. */
ptrdiff_t meltap_analyzer_max_frames(const meltap_analyzer *analyzer, ptrdiff_t count);

/* Feeds `count` samples (any count, any split of the stream: the frames do not depend on it)
 * and writes the frames they complete to `frames`, one after another, frame_width floats each.
 * `frame_capacity` is in frames and must be at least meltap_analyzer_max_frames(count).
 * Returns the frames written (0 or more), or -1 (NULL analyzer, NULL samples with count > 0,
 * a small buffer, after a flush); on -1 nothing was consumed.
 * Real-time safe on success: no allocation, locks or system calls. */
ptrdiff_t meltap_analyzer_process(meltap_analyzer *analyzer, const float *samples, ptrdiff_t count,
                                  float *frames, ptrdiff_t frame_capacity);

/* Ends the stream: the resampler's tail and the last frames (right padding, as the reference
 * libraries pad the end of a signal). Returns the frames written, or -1 (a small buffer; an input
 * too short for reflect padding). Later flushes return 0; process refuses until reset. */
ptrdiff_t meltap_analyzer_flush(meltap_analyzer *analyzer, float *frames, ptrdiff_t frame_capacity);

/* Forgets all input: the next sample starts a new stream. Keeps the FFT plan and buffers. */
void meltap_analyzer_reset(meltap_analyzer *analyzer);

/* ---- File analysis: `meltap file` on one audio file --------------------------------------- */

typedef struct meltap_file_result meltap_file_result;

/* Analyses the audio file at `path` (WAV, FLAC, Ogg Vorbis …) exactly as `meltap file` does
 * (by default the whole-file clamp, clamp=global) and returns the array and its sidecar JSON.
 * NULL on failure (a missing or unreadable file, bad options, an empty file). */
meltap_file_result *meltap_file_analyze(const char *path, const char *preset, const char *options);
/* The array's rank (2, or 3 with all-channels) and its extent along `axis`, in its layout:
 * (frames, bands), (frames, channels, bands), or bands first with layout=bands-first. */
ptrdiff_t meltap_file_result_ndim(const meltap_file_result *result);
ptrdiff_t meltap_file_result_dim(const meltap_file_result *result, ptrdiff_t axis);
/* The number of floats, and the floats in C order; owned by the result. */
ptrdiff_t meltap_file_result_count(const meltap_file_result *result);
const float *meltap_file_result_data(const meltap_file_result *result);
/* The sidecar JSON `meltap file` writes beside the .npy (configuration, stream, input). */
const char *meltap_file_result_sidecar(const meltap_file_result *result);
void meltap_file_result_destroy(meltap_file_result *result);

/* Analyses `count` mono samples at `sample_rate` Hz (1000 to 768000) in memory exactly as
 * `meltap file` analyses a float WAV holding them: the same driver, resampling and whole-file
 * clamp, the same bits, with no file written. The samples are read during the call only. The
 * result's sidecar is the resolved configuration JSON (no file, so no file fields).
 * NULL on failure (no samples, a NaN or infinite sample, a rate out of range, bad options);
 * the samples are checked block by block as the analysis reaches them. Thread-safe: calls on
 * different threads run at once. The library keeps the parsed options, FFT plans and mel banks
 * of up to 32 preset and options texts between calls, so short clips cost little more than
 * their frames. */
meltap_file_result *meltap_analyze_samples(const float *samples, ptrdiff_t count, double sample_rate,
                                           const char *preset, const char *options);

/* `meltap file INPUT -o OUTPUT`: writes OUTPUT (.npy) and its .json sidecar. An existing output
 * is replaced only when `replace` is non-zero. 0 on success, -1 on failure. */
int meltap_file_write(const char *path, const char *output_npy, const char *preset, const char *options,
                      int replace);

/* ---- Subscriber: frames of a running `meltap run` ----------------------------------------- */

typedef struct meltap_subscriber meltap_subscriber;

/* What meltap_subscriber_next returns. */
#define MELTAP_NO_FRAME 0      /* nothing arrived within the timeout */
#define MELTAP_FRAME 1         /* a frame was written */
#define MELTAP_END_OF_STREAM 2 /* the server closed the stream */
#define MELTAP_ERROR (-1)      /* see meltap_last_error() */

/* Frame flags (docs/wire-format.md). */
#define MELTAP_FLAG_GAP (1u << 0)
#define MELTAP_FLAG_XRUN (1u << 1)
#define MELTAP_FLAG_RECONFIGURED (1u << 2)
#define MELTAP_FLAG_SERVER_RESTART (1u << 3)
#define MELTAP_FLAG_DISCONTINUITY (1u << 4)

/* Connects to the Unix socket `meltap run` prints, subscribes to `channels` (0 is the first
 * input; NULL or count 0 for all) and waits up to timeout_ms (negative: forever) for the stream
 * header. NULL on failure: no socket, nobody serving, refused, timed out. */
meltap_subscriber *meltap_subscriber_connect(const char *socket_path, const int32_t *channels,
                                             ptrdiff_t channel_count, int32_t timeout_ms);
/* Closes the connection and frees the subscriber. */
void meltap_subscriber_close(meltap_subscriber *subscriber);

/* The current stream header (updated when the server reconfigures). */
ptrdiff_t meltap_subscriber_band_count(const meltap_subscriber *subscriber);    /* floats per frame */
ptrdiff_t meltap_subscriber_channel_count(const meltap_subscriber *subscriber);
double meltap_subscriber_sample_rate(const meltap_subscriber *subscriber);      /* Hz */
double meltap_subscriber_frame_rate(const meltap_subscriber *subscriber);       /* frames/s per channel */
ptrdiff_t meltap_subscriber_hop_length(const meltap_subscriber *subscriber);    /* samples */
ptrdiff_t meltap_subscriber_fft_length(const meltap_subscriber *subscriber);    /* samples */
ptrdiff_t meltap_subscriber_latency_samples(const meltap_subscriber *subscriber);
const char *meltap_subscriber_config_json(const meltap_subscriber *subscriber);
const char *meltap_subscriber_clamp_rule(const meltap_subscriber *subscriber);

/* Waits up to timeout_ms (0: do not wait; negative: forever) for the next frame of a subscribed
 * channel and writes its values (band_count floats; `capacity` floats fit) and, where the
 * pointers are not NULL, its sequence (per channel; a jump shows lost frames), channel, frame
 * time (JACK's frame time, in samples, of the frame's first sample) and flags (MELTAP_FLAG_*). Returns
 * MELTAP_FRAME, MELTAP_NO_FRAME, MELTAP_END_OF_STREAM or MELTAP_ERROR (a protocol error, a
 * refusal, a buffer too small: the frame is lost). */
int meltap_subscriber_next(meltap_subscriber *subscriber, int32_t timeout_ms, float *values, ptrdiff_t capacity,
                           uint64_t *sequence, uint32_t *channel, int64_t *frame_time, uint32_t *flags);

#ifdef __cplusplus
}
#endif

#endif /* MELTAP_H */
