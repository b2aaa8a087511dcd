#ifndef MELTAP_FRAME_KERNELS_H
#define MELTAP_FRAME_KERNELS_H

/* AVX2 variants of FloatFrameComputer's per-frame loops (Sources/MelDSP/FloatFrameComputer.swift),
   chosen at configuration time when the CPU has AVX2 (meltap_avx2_kernels_available).
   Each gives the same bits as the Swift loop it stands in for: every output is the same sequence
   of IEEE single-precision operations in the same order (products rounded before they are added:
   this file is compiled with FP_CONTRACT off and never uses FMA), only eight lanes at a time
   instead of four. Tests/MelDSPTests/FrameKernelTests.swift checks them against the Swift loops
   bit for bit.
   No allocation, locks or system calls: safe on the realtime thread. */

/* 1 when this CPU runs the AVX2 kernels and the environment variable MELTAP_KERNELS is not
   "baseline" (which forces the Swift loops, to compare the two); 0 otherwise. Reads the
   environment: call at configuration time, never on the realtime thread. */
int meltap_avx2_kernels_available(void);

/* out[i] = x[i] * w[i] for i < n. */
void meltap_multiply_f32_avx2(const float *x, const float *w, float *out, long n);

/* out[k] = re * re + im * im with (re, im) = (bins[2k], bins[2k + 1]), for k < n. */
void meltap_power_spectrum_f32_avx2(const float *bins, float *out, long n);

/* The sparse mel bank, as FloatFrameComputer.applyMelBank: for each band b < bands,
   out[b] = the weights[offset_b + j] * spectrum[first[b] + j] for j < span[b], summed in eight
   interleaved partial sums s0…s7 (s_k takes j ≡ k mod 8; a last step of four when span % 8 == 4)
   and reduced as ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)); offset_b is the sum of the
   earlier spans. Every span is a multiple of 4. */
void meltap_mel_bank_f32_avx2(const float *spectrum, const long *first, const long *span,
                              const float *weights, float *out, long bands);

/* Kaldi's frame preparation, as FloatFrameComputer.prepareKaldiFrame, in place of the Swift loops:
   input[i] = samples[i] * scale for i < n, summed in four interleaved partial sums (s_k takes
   i ≡ k mod 4 for i < n rounded down to 4, the rest go to s0); with remove_dc, input[i] −= mean,
   mean = ((s0 + s1) + (s2 + s3)) / n; with use_energy, the energy Σ input[i]² in the same four
   partial sums, returned as ((e0 + e1) + (e2 + e3)) (0 without use_energy); then pre-emphasis
   and the window from the end down: input[i] = (input[i] − c · input[i − 1]) · window[i] for
   i ≥ 1 and input[0] = (input[0] − c · input[0]) · window[0]. */
float meltap_kaldi_prepare_f32_avx2(const float *samples, float *input, long n, float scale,
                                    int remove_dc, int use_energy, float preemphasis,
                                    const float *window);

#endif
