#ifndef MELTAP_VECTOR_MATH_H
#define MELTAP_VECTOR_MATH_H

/* Natural logarithm of n floats: y[i] = ln(x[i]). x and y may be the same buffer.
   On x86-64 four lanes at a time through glibc's vector maths library (libmvec,
   _ZGVbN4v_logf; the loader picks the best variant for the CPU), the rest with logf.
   Accuracy: libmvec's logf is within 4 ulp (glibc's libm-test-ulps), logf within 1.
   No allocation, locks or system calls: safe on the realtime thread. */
void meltap_log_f32(const float *x, float *y, long n);

/* The AVX2 frame kernels (this header is the module's umbrella header). */
#include "frame_kernels.h"

#endif
