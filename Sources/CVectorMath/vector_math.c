#include "vector_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
/* glibc's libmvec, vector ABI "b" (SSE, 4 lanes); see glibc sysdeps/x86_64/fpu/bits/math-vector.h. */
__m128 _ZGVbN4v_logf(__m128 x);
#endif

void meltap_log_f32(const float *x, float *y, long n) {
    long i = 0;
#if defined(__x86_64__)
    for (; i + 4 <= n; i += 4) {
        _mm_storeu_ps(y + i, _ZGVbN4v_logf(_mm_loadu_ps(x + i)));
    }
#endif
    for (; i < n; i++) {
        y[i] = logf(x[i]);
    }
}

long meltap_first_nonfinite_f32(const float *x, long n) {
    const uint32_t exponent = 0x7f800000u;
    long start = 0;
    for (; start < n; start += 64) {
        long end = start + 64 < n ? start + 64 : n;
        uint32_t any = 0;
        for (long i = start; i < end; i++) {
            uint32_t bits;
            memcpy(&bits, x + i, sizeof bits);
            any |= (uint32_t)((bits & exponent) == exponent);
        }
        if (any) {
            for (long i = start; i < end; i++) {
                uint32_t bits;
                memcpy(&bits, x + i, sizeof bits);
                if ((bits & exponent) == exponent) return i;
            }
        }
    }
    return -1;
}
