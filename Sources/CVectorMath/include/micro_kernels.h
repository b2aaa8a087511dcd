#ifndef MELTAP_MICRO_KERNELS_H
#define MELTAP_MICRO_KERNELS_H

#include <stdint.h>

/* AVX2 variants of the micro preset's integer stages (Sources/MelDSP/Micro/): the window and
   block-floating shift (MicroFrontend), kissfft's 16-bit fixed-point real FFT (MicroFFT), and the
   energy, filterbank and rounded square root (MicroFilterbank). Chosen at configuration time when
   meltap_avx2_kernels_available() says so (frame_kernels.h; MELTAP_KERNELS=baseline forces the
   Swift loops).

   Integer arithmetic, so every output is bit for bit the Swift loop's: the same products, the
   same rounding shifts, the same int16 wrap, sixteen int16 or eight int32 lanes at a time.
   The instructions that make it exact:
   - pmulhrsw(v, k) = ((v·k >> 14) + 1) >> 1, which is (v·k + 2^14) >> 15 (kissfft's DIVSCALAR);
   - pmaddwd of (a, b) with (c, −d) and (d, c) = a·c − b·d and a·d + b·c in int32 with wrap
     (kissfft's C_MUL before sround), twiddles being in [−32767, 32767];
   - int16 adds and subtracts wrap, as kissfft's int16 stores do.
   Tests/MelDSPTests/MicroKernelTests.swift compares every kernel with the Swift path.

   Complex values are int16 pairs in one uint32: the real part in the low half, the imaginary
   part in the high half (the layout of kissfft's kiss_fft_cpx in memory).
   No allocation, locks or system calls: safe on the realtime thread. */

/* 1 when this CPU runs AVX2 code, whatever MELTAP_KERNELS says (for checks that a caller asking
   for the kernels may have them); 0 otherwise. */
int meltap_micro_cpu_has_avx2(void);

/* Twiddles of the 256-point complex FFT, rearranged for pmaddwd: for each product x·t with
   t = (c, d), `a` holds the pair (c, −d) and `b` the pair (d, c). */
typedef struct {
    /* The leaf level (m = 1): every product uses twiddle 0. */
    uint32_t leaf_a, leaf_b;
    /* Levels m = 4, 16, 64 (index 0, 1, 2), butterfly input q = 1…3, k < m:
       twiddle q·k·(64/m). */
    uint32_t level_a[3][3][64], level_b[3][3][64];
    /* kiss_fftr's super twiddles, 128. */
    uint32_t super_a[128], super_b[128];
} meltap_micro_fft_plan;

/* Fills `plan` from kissfft's twiddles (256, Q15) and super twiddles (128, Q15). */
void meltap_micro_fft_plan_make(const int16_t *twiddle_re, const int16_t *twiddle_im,
                                const int16_t *super_re, const int16_t *super_im,
                                meltap_micro_fft_plan *plan);

/* The frontend's int16 samples, as MicroParameters.int16Sample: y[i] = x[i]·32768 clamped to
   [−32768, 32767] and rounded to nearest, ties to even (the current rounding mode, as the
   Swift's magic-number addition uses); NaN gives 0. n is a multiple of 16. */
void meltap_micro_int16_avx2(const float *x, int16_t *y, long n);

/* WindowProcessSamples and FftCompute's shift, as MicroFrontend.computeInt16: for i < n,
   y[i] = int16((x[i] · w[i]) >> 12), then every y[i] shifted left as uint16 by
   shift = 15 − (16 − clz16(max |y|)) (|−32768| counted as −32768, so never the maximum).
   Returns shift (0…15). n is a multiple of 16. */
int meltap_micro_window_avx2(const int16_t *x, const int16_t *w, int16_t *y, long n);

/* kiss_fftr of 512 int16 samples (`input`) into 257 complex bins (`bins`, int16 pairs), through
   `work` (256 pairs, scratch), as MicroFFT.forward. */
void meltap_micro_fft_avx2(const int16_t *input, const meltap_micro_fft_plan *plan,
                           uint32_t *work, uint32_t *bins);

/* Energy, filterbank and square root, as MicroFilterbank.apply:
   - energy[k] = re² + im² (uint32) of bins[k] for start ≤ k < end; energy's other entries are
     left as they are (the caller keeps them 0);
   - accumulator c < channels (uint64, in work[c]) = Σ weights[weight_start[c] + j] · energy[first[c] + j]
     + the same sum with unweights over channel c − 1's bins; widths are multiples of 4;
   - signal[j] = rounded_sqrt(work[j + 1]) >> shift for j < channels − 1, the rounded square root
     as MicroFilterbank.roundedSquareRoot. Every accumulator must be below 2^52 (the caller
     checks the tables: Σ (weight + unweight) · 2^31 < 2^52), so a double holds it exactly. */
void meltap_micro_filterbank_avx2(const uint32_t *bins, uint32_t *energy, long start, long end,
                                  const long *first, const long *weight_start, const long *width,
                                  const uint32_t *weights, const uint32_t *unweights, long channels,
                                  uint64_t *work, int shift, uint32_t *signal);

/* Noise reduction and PCAN, as MicroNoiseReduction.apply, on n channels (n a multiple of 8):
   signal[i] (uint32) replaced by its noise-reduced, gain-normalised value; estimate[i] (Q10)
   updated; gain_table: the 125 PCAN gains widened to int32. Smoothing 409 (even channels) and
   983 (odd), min_signal_remaining 819, all Q14; snr shift 6; PcanShrink with 12 snr and 6
   output bits: the constants of MicroParameters. */
void meltap_micro_noise_pcan_avx2(uint32_t *signal, uint32_t *estimate, const int32_t *gain_table, long n);

/* The log stage and the float output, as MicroLogScale.apply followed by × scale:
   out[i] = (float)min(64·ln(signal[i] << 3) in fixed point, 65535) · scale, 0 where
   signal[i] << 3 ≤ 1; lut: kLogLut as int32 (130). n a multiple of 8. */
void meltap_micro_log_avx2(const uint32_t *signal, const int32_t *lut, float scale, float *out, long n);

/* The rounded square root alone, for count values below 2^52 (count a multiple of 4):
   out[i] = rounded_sqrt(n[i]) >> shift. */
void meltap_micro_sqrt_avx2(const uint64_t *n, uint32_t *out, long count, int shift);

#endif
