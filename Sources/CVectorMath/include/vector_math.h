#ifndef MELTAP_VECTOR_MATH_H
#define MELTAP_VECTOR_MATH_H

/* Natural logarithm of n floats: y[i] = ln(x[i]). x and y may be the same buffer.
   On x86-64 four lanes at a time through glibc's vector maths library (libmvec,
   _ZGVbN4v_logf; the loader picks the best variant for the CPU), the rest with logf.
   Accuracy: libmvec's logf is within 4 ulp (glibc's libm-test-ulps), logf within 1.
   No allocation, locks or system calls: safe on the realtime thread. */
void meltap_log_f32(const float *x, float *y, long n);

/* The index of the first NaN or infinity among n floats, or -1 when all are finite.
   Reads the exponent bits (all ones: NaN or ±inf) 64 floats at a time, a loop the compiler
   vectorises for baseline x86-64, and looks inside a block only when the block has one.
   meltap_analyze_samples rejects such input with it, block by block just before the block is
   analysed, so the check reads samples the analysis is about to read anyway. */
long meltap_first_nonfinite_f32(const float *x, long n);

/* The AVX2 frame kernels (this header is the module's umbrella header). */
#include "frame_kernels.h"

#endif
