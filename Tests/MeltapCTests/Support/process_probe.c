/*
 * process_probe.c: heap calls per meltap_analyzer_process call, counted by rtguard
 * (Tools/rtguard, preloaded). Built and run by MeltapCTests.
 *
 *   LD_PRELOAD=librtguard.so process_probe PRESET OPTIONS RATE CALLS
 *
 * Creates an analyzer, warms it up with one second of noise (the first frames, the reflect
 * prelude, the resampler's first outputs), then brackets each of CALLS process calls of varied
 * lengths (1 to 2048 samples) with rtguard_enter/rtguard_leave. Prints
 * "calls N regions R allocs A frees F locks L syscalls S frames M".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <meltap.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: process_probe PRESET OPTIONS RATE CALLS\n");
        return 2;
    }
    void (*enter)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "rtguard_enter");
    void (*leave)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "rtguard_leave");
    long (*allocs)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "rtguard_allocs");
    long (*frees)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "rtguard_frees");
    long (*regions)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "rtguard_regions");
    long (*locks)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "rtguard_locks");
    long (*syscalls)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "rtguard_syscalls");
    if (!enter || !leave || !allocs || !frees || !regions || !locks || !syscalls) {
        fprintf(stderr, "process_probe: rtguard is not preloaded (LD_PRELOAD=librtguard.so)\n");
        return 2;
    }
    double rate = atof(argv[3]);
    long calls = atol(argv[4]);
    meltap_analyzer *analyzer = meltap_analyzer_create(argv[1], argv[2], rate);
    if (!analyzer) {
        fprintf(stderr, "process_probe: %s\n", meltap_last_error());
        return 1;
    }
    ptrdiff_t width = meltap_analyzer_frame_width(analyzer);
    ptrdiff_t capacity = meltap_analyzer_max_frames(analyzer, 2048);
    size_t warm = (size_t)rate;
    float *samples = malloc(sizeof(float) * (warm > 2048 ? warm : 2048));
    float *frames = malloc(sizeof(float) * (size_t)(meltap_analyzer_max_frames(analyzer, (ptrdiff_t)warm) * width));
    unsigned seed = 1;
    for (size_t i = 0; i < warm; i++) samples[i] = (float)((seed = seed * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    if (meltap_analyzer_process(analyzer, samples, (ptrdiff_t)warm, frames,
                                meltap_analyzer_max_frames(analyzer, (ptrdiff_t)warm)) < 0) {
        fprintf(stderr, "process_probe: %s\n", meltap_last_error());
        return 1;
    }
    long produced = 0;
    for (long call = 0; call < calls; call++) {
        ptrdiff_t count = 1 + (ptrdiff_t)((seed = seed * 1103515245u + 12345u) >> 8) % 2048;
        enter();
        ptrdiff_t n = meltap_analyzer_process(analyzer, samples, count, frames, capacity);
        leave();
        if (n < 0) {
            fprintf(stderr, "process_probe: %s\n", meltap_last_error());
            return 1;
        }
        produced += (long)n;
    }
    printf("calls %ld regions %ld allocs %ld frees %ld locks %ld syscalls %ld frames %ld\n", calls, regions(), allocs(),
           frees(), locks(), syscalls(), produced);
    meltap_analyzer_destroy(analyzer);
    free(samples);
    free(frames);
    return 0;
}
