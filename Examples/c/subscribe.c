/*
 * subscribe.c: frames of a running `meltap run`, from C with libmeltap (include/meltap.h).
 *
 *   subscribe [SOCKET [FRAMES]]
 *
 * Connects to the socket `meltap run` prints (without SOCKET, meltap.sock in the default socket
 * directory, meltap_default_socket_path), prints the stream header, then one line per frame
 * (sequence, channel, frame time, flags, the first values) until FRAMES frames (default: until
 * the stream ends). Waits at most 5 s for each frame.
 * Build:  make lib
 *         cc -Wall -Werror -o subscribe Examples/c/subscribe.c \
 *            $(PKG_CONFIG_PATH=.build/meltap-lib/lib/pkgconfig pkg-config --cflags --libs meltap)
 */
#include <meltap.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc > 3) {
        fprintf(stderr, "usage: subscribe [SOCKET [FRAMES]]\n");
        return 2;
    }
    long wanted = argc == 3 ? atol(argv[2]) : -1;
    char default_path[4096];
    const char *path = argv[1];
    if (argc < 2) {
        if (meltap_default_socket_path(NULL, NULL, default_path, sizeof default_path) >= (ptrdiff_t)sizeof default_path) {
            fprintf(stderr, "subscribe: the default socket path is too long; give SOCKET\n");
            return 2;
        }
        path = default_path;
    }
    meltap_subscriber *subscriber = meltap_subscriber_connect(path, NULL, 0, 5000);
    if (!subscriber) {
        fprintf(stderr, "subscribe: %s\n", meltap_last_error());
        return 1;
    }
    ptrdiff_t bands = meltap_subscriber_band_count(subscriber);
    printf("header: %ld bands, %ld channels, %g Hz, %g frames/s, hop %ld, n_fft %ld, clamp %s\n", (long)bands,
           (long)meltap_subscriber_channel_count(subscriber), meltap_subscriber_sample_rate(subscriber),
           meltap_subscriber_frame_rate(subscriber), (long)meltap_subscriber_hop_length(subscriber),
           (long)meltap_subscriber_fft_length(subscriber), meltap_subscriber_clamp_rule(subscriber));
    float *values = malloc(sizeof(float) * (size_t)(bands > 0 ? bands : 1));
    int status = 0;
    for (long received = 0; wanted < 0 || received < wanted; received++) {
        uint64_t sequence;
        uint32_t channel, flags;
        int64_t frame_time;
        int got = meltap_subscriber_next(subscriber, 5000, values, bands, &sequence, &channel, &frame_time, &flags);
        if (got == MELTAP_END_OF_STREAM) break;
        if (got == MELTAP_NO_FRAME) {
            fprintf(stderr, "subscribe: no frame within 5 s\n");
            status = 1;
            break;
        }
        if (got == MELTAP_ERROR) {
            fprintf(stderr, "subscribe: %s\n", meltap_last_error());
            status = 1;
            break;
        }
        printf("frame %" PRIu64 " channel %" PRIu32 " time %" PRId64 " flags %" PRIu32 " values %.9g %.9g\n", sequence,
               channel, frame_time, flags, values[0], bands > 1 ? values[1] : 0.0);
    }
    free(values);
    meltap_subscriber_close(subscriber);
    return status;
}
