#include "vector_math.h"

#include <math.h>

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
