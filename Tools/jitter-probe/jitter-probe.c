/* The machine's own timing noise, for reading realtime percentiles (scripts/scale-curve).
 *
 *   jitter-probe WORK_US PERIOD_US SECONDS
 *
 * Repeats a fixed piece of arithmetic (a dependent chain of float64 multiply-adds, no memory
 * traffic, calibrated at start to take about WORK_US) once per PERIOD_US, under SCHED_FIFO
 * priority 60 when the kernel allows it, as a JACK callback would run, and prints one line:
 *
 *   jitter-probe: work 500 us, 5600 runs, median 498 us, p99 610 us, p99.9 1210 us, max 3050 us, fifo 1
 *
 * The work is identical every time, so every spread in its duration is the machine's: other
 * processes, interrupts, and on a virtual machine the host taking the CPU away (steal time) or
 * slowing it down. A realtime callback whose own cost is constant cannot have a p99.9 below
 * this probe's at the same duration. Durations are CLOCK_MONOTONIC. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static volatile double sink = 1.0, factor = 0.999999999, term = 1e-9;

/* `steps` dependent multiply-adds: the same instructions every call (the constants are read
   from volatiles so that the compiler cannot fold the chain). */
static void work(long steps) {
    double x = sink, a = factor, b = term;
    for (long i = 0; i < steps; i++) x = x * a + b;
    sink = x;
}

static int by_value(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: jitter-probe WORK_US PERIOD_US SECONDS\n");
        return 2;
    }
    double work_us = atof(argv[1]), period_us = atof(argv[2]), seconds = atof(argv[3]);
    if (!(work_us > 0 && period_us > work_us && seconds > 0)) {
        fprintf(stderr, "jitter-probe: give WORK_US > 0, PERIOD_US > WORK_US and SECONDS > 0\n");
        return 2;
    }
    struct sched_param priority = {.sched_priority = 60};
    int fifo = sched_setscheduler(0, SCHED_FIFO, &priority) == 0;

    /* Calibrate: the median of 51 timed runs of 100 000 steps. */
    long steps = 100000, samples[51];
    for (int i = 0; i < 51; i++) {
        long start = now_ns();
        work(steps);
        samples[i] = now_ns() - start;
    }
    qsort(samples, 51, sizeof(long), by_value);
    steps = (long)(steps * work_us * 1000.0 / (double)samples[25]);
    if (steps < 1) steps = 1;

    long runs = (long)(seconds * 1e6 / period_us);
    long *durations = malloc(sizeof(long) * (size_t)(runs > 0 ? runs : 1));
    if (!durations) return 1;
    long next = now_ns();
    for (long r = 0; r < runs; r++) {
        long start = now_ns();
        work(steps);
        durations[r] = now_ns() - start;
        next += (long)(period_us * 1000.0);
        struct timespec until = {next / 1000000000L, next % 1000000000L};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    }
    qsort(durations, (size_t)runs, sizeof(long), by_value);
    printf("jitter-probe: work %.0f us, %ld runs, median %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us, fifo %d\n",
           work_us, runs, durations[runs / 2] / 1e3, durations[(runs * 99) / 100] / 1e3,
           durations[(runs * 999) / 1000] / 1e3, durations[runs - 1] / 1e3, fifo);
    free(durations);
    return 0;
}
