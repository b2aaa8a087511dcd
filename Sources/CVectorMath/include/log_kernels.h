#ifndef MELTAP_LOG_KERNELS_H
#define MELTAP_LOG_KERNELS_H

/* An eight-lane AVX2 natural logarithm with the same bits as glibc's four-lane libmvec logf
   (_ZGVbN4v_logf, its SSE4 variant, which the loader picks on every CPU with AVX2), and the
   Whisper and Kaldi output stages built on it (Sources/MelDSP/Output/OutputStage.swift).

   The SSE4 logf of glibc 2.35+ (Intel's SVML port) is one exponent/mantissa split and a
   degree-8 polynomial in plain SSE adds and multiplies, no FMA; the same sequence of IEEE
   single-precision operations eight lanes wide gives the same bits. Lanes outside its fast
   range (zero, negative, subnormal, infinite, NaN) go to the scalar logf, as libmvec's own
   fallback does. Because another glibc could change the algorithm, the kernels are used only
   when meltap_log_avx2_matches_libmvec() agrees with the running libmvec on a fixed set of
   inputs; scripts/check-log-kernel compares all 2^32 floats.

   This file is compiled with FP_CONTRACT off and never uses FMA. No allocation, locks or system
   calls: safe on the realtime thread. */

/* 1 when this CPU has AVX2 and the eight-lane log equals libmvec's _ZGVbN4v_logf on the check
   inputs (every exponent and sign, mantissa patterns, the special values); 0 otherwise. Call
   at configuration time (about 0.1 ms), never on the realtime thread. */
int meltap_log_avx2_matches_libmvec(void);

/* y[i] = ln(x[i]) for i < n, same bits as meltap_log_f32 (vector_math.h). x and y may be the
   same buffer. */
void meltap_log_f32_avx2(const float *x, float *y, long n);

/* Whisper's log step, as OutputStage's .whisper case: out[i] = ln(max(bands[i], floor)) ·
   factor (Swift's max: floor when floor >= bands[i], else bands[i], so NaN stays NaN), and
   returns the largest out[i] (−∞ for n = 0; NaN values skipped; either zero when +0 and −0
   tie). bands and out may be the same buffer. */
float meltap_whisper_log10_f32_avx2(const float *bands, float *out, long n, float floor, float factor);

/* Whisper's running clamp and scale: x[i] = (max(x[i], floor) + 4) / 4 (Swift's max, as above). */
void meltap_whisper_clamp_scale_f32_avx2(float *x, long n, float floor);

#endif
