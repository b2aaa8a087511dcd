#include "log_kernels.h"

#include <math.h>

/* Every product rounded before it is added, as in libmvec's SSE code (no FMA there). */
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

/* glibc's libmvec, vector ABI "b" (SSE, 4 lanes): the reference the kernel must equal. */
__m128 _ZGVbN4v_logf(__m128 x);

/* The constants of glibc's svml_s_logf4_core_sse4.S (the table __svml_slog_data_internal):
   the polynomial coefficients c0…c6, then the split of x into 2^k · m with m in [2/3, 4/3). */
#define LOG_POLY_0 0xbf000000u   /* -0.5 */
#define LOG_POLY_1 0x3eaaaee7u
#define LOG_POLY_2 0xbe80061du
#define LOG_POLY_3 0x3e4afb81u
#define LOG_POLY_4 0xbe289358u
#define LOG_POLY_5 0x3e2db86bu
#define LOG_POLY_6 0xbe1b6a22u
#define LOG_MIN_NORM 0x00800000u /* added: finite positive normals stay at or above 2^24 */
#define LOG_RANGE 0x01000000u
#define LOG_TWO_THIRDS 0x3f2aaaabu
#define LOG_MANTISSA 0x007fffffu
#define LOG_ONE 0x3f800000u
#define LOG_LN2 0x3f317218u

static inline __attribute__((target("avx2"), always_inline)) __m256 splat(unsigned bits) {
    return _mm256_castsi256_ps(_mm256_set1_epi32((int)bits));
}

/* ln of eight lanes; *special gets the lanes (bit k for lane k) that need the scalar logf. */
static inline __attribute__((target("avx2"), always_inline)) __m256 log8(__m256 x, int *special) {
    __m256i ix = _mm256_castps_si256(x);
    __m256i shifted = _mm256_add_epi32(ix, _mm256_set1_epi32((int)LOG_MIN_NORM));
    __m256i outside = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)LOG_RANGE), shifted);
    __m256i twoThirds = _mm256_set1_epi32((int)LOG_TWO_THIRDS);
    __m256i offset = _mm256_sub_epi32(ix, twoThirds);
    __m256i mantissa = _mm256_add_epi32(_mm256_and_si256(offset, _mm256_set1_epi32((int)LOG_MANTISSA)), twoThirds);
    __m256 exponent = _mm256_cvtepi32_ps(_mm256_srai_epi32(offset, 23));
    __m256 r = _mm256_sub_ps(_mm256_castsi256_ps(mantissa), splat(LOG_ONE));
    exponent = _mm256_mul_ps(exponent, splat(LOG_LN2));
    __m256 p = _mm256_mul_ps(splat(LOG_POLY_6), r);
    p = _mm256_mul_ps(_mm256_add_ps(p, splat(LOG_POLY_5)), r);
    p = _mm256_mul_ps(_mm256_add_ps(p, splat(LOG_POLY_4)), r);
    p = _mm256_mul_ps(_mm256_add_ps(p, splat(LOG_POLY_3)), r);
    p = _mm256_mul_ps(_mm256_add_ps(p, splat(LOG_POLY_2)), r);
    p = _mm256_mul_ps(_mm256_add_ps(p, splat(LOG_POLY_1)), r);
    p = _mm256_mul_ps(_mm256_add_ps(p, splat(LOG_POLY_0)), r);
    p = _mm256_mul_ps(p, r);
    *special = _mm256_movemask_ps(_mm256_castsi256_ps(outside));
    return _mm256_add_ps(_mm256_add_ps(r, p), exponent);
}

/* ln of eight floats at x into y, libmvec's scalar fallback for the lanes outside its range. */
static inline __attribute__((target("avx2"), always_inline)) void log8_store(const float *x, float *y) {
    int special;
    __m256 v = _mm256_loadu_ps(x);
    __m256 result = log8(v, &special);
    if (__builtin_expect(special != 0, 0)) {
        float in[8], out[8];
        _mm256_storeu_ps(in, v);
        _mm256_storeu_ps(out, result);
        for (int k = 0; k < 8; k++) {
            if (special & (1 << k)) out[k] = logf(in[k]);
        }
        result = _mm256_loadu_ps(out);
    }
    _mm256_storeu_ps(y, result);
}

__attribute__((target("avx2")))
void meltap_log_f32_avx2(const float *x, float *y, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        log8_store(x + i, y + i);
    }
    /* The rest as meltap_log_f32 does it: four lanes through libmvec, then logf. */
    for (; i + 4 <= n; i += 4) {
        _mm_storeu_ps(y + i, _ZGVbN4v_logf(_mm_loadu_ps(x + i)));
    }
    for (; i < n; i++) {
        y[i] = logf(x[i]);
    }
}

/* Swift's max(value, floor): floor when floor >= value, else value (NaN stays). */
static inline __attribute__((target("avx2"), always_inline)) __m256 swift_max(__m256 value, __m256 floor) {
    return _mm256_blendv_ps(value, floor, _mm256_cmp_ps(floor, value, _CMP_GE_OQ));
}

static inline float swift_max_scalar(float value, float floor) { return floor >= value ? floor : value; }

__attribute__((target("avx2")))
float meltap_whisper_log10_f32_avx2(const float *bands, float *out, long n, float floor, float factor) {
    const __m256 floors = _mm256_set1_ps(floor), factors = _mm256_set1_ps(factor);
    __m256 lanes = _mm256_set1_ps(-INFINITY);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(out + i, swift_max(_mm256_loadu_ps(bands + i), floors));
        log8_store(out + i, out + i);
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(out + i), factors);
        _mm256_storeu_ps(out + i, v);
        lanes = _mm256_max_ps(v, lanes);   /* lanes < v ? v : lanes; NaN v keeps lanes */
    }
    float l[8];
    _mm256_storeu_ps(l, lanes);
    float maximum = l[0];   /* never NaN: the lanes start at −∞ and skip NaN */
    for (int k = 1; k < 8; k++) {
        if (l[k] > maximum) maximum = l[k];
    }
    if (i < n) {
        long rest = n - i;
        for (long j = i; j < n; j++) out[j] = swift_max_scalar(bands[j], floor);
        /* The tail as meltap_log_f32 does it (four lanes through libmvec, then logf). */
        meltap_log_f32_avx2(out + i, out + i, rest);
        for (; i < n; i++) {
            float v = factor * out[i];
            out[i] = v;
            if (v > maximum) maximum = v;
        }
    }
    return maximum;
}

__attribute__((target("avx2")))
void meltap_whisper_clamp_scale_f32_avx2(float *x, long n, float floor) {
    const __m256 floors = _mm256_set1_ps(floor), four = _mm256_set1_ps(4.0f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = swift_max(_mm256_loadu_ps(x + i), floors);
        _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_add_ps(v, four), four));
    }
    for (; i < n; i++) {
        x[i] = (swift_max_scalar(x[i], floor) + 4.0f) / 4.0f;
    }
}

/* Inputs on which the kernel must equal libmvec: for every sign and exponent byte, mantissas
   0, 1, all ones, the 2/3 boundary and a spread of others; then ±0, ±∞, NaNs, subnormals. */
__attribute__((target("avx2")))
int meltap_log_avx2_matches_libmvec(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2")) return 0;
    static const unsigned mantissas[] = {
        0x000000u, 0x000001u, 0x7fffffu, 0x2aaaaau, 0x2aaaabu, 0x2aaaacu, 0x400000u, 0x3fffffu,
        0x123457u, 0x555555u, 0x6db6dbu, 0x0f0f0fu, 0x7a5a5au, 0x1c71c7u, 0x333333u, 0x654321u,
    };
    enum { count = 2 * 256 * 16 };
    float in[count], mine[count], theirs[count];
    long n = 0;
    for (unsigned sign = 0; sign < 2; sign++) {
        for (unsigned exponent = 0; exponent < 256; exponent++) {
            for (unsigned m = 0; m < sizeof mantissas / sizeof mantissas[0]; m++) {
                union { unsigned u; float f; } bits = { (sign << 31) | (exponent << 23) | mantissas[m] };
                in[n++] = bits.f;
            }
        }
    }
    meltap_log_f32_avx2(in, mine, n);
    for (long i = 0; i + 4 <= n; i += 4) {
        _mm_storeu_ps(theirs + i, _ZGVbN4v_logf(_mm_loadu_ps(in + i)));
    }
    for (long i = 0; i < n; i++) {
        union { float f; unsigned u; } a = { mine[i] }, b = { theirs[i] };
        if (a.u != b.u) return 0;
    }
    return 1;
}

#else

int meltap_log_avx2_matches_libmvec(void) { return 0; }
void meltap_log_f32_avx2(const float *x, float *y, long n) { for (long i = 0; i < n; i++) y[i] = logf(x[i]); }
float meltap_whisper_log10_f32_avx2(const float *bands, float *out, long n, float floor, float factor) {
    float maximum = -INFINITY;
    for (long i = 0; i < n; i++) {
        float v = factor * logf(floor >= bands[i] ? floor : bands[i]);
        out[i] = v;
        if (v > maximum) maximum = v;
    }
    return maximum;
}
void meltap_whisper_clamp_scale_f32_avx2(float *x, long n, float floor) {
    for (long i = 0; i < n; i++) x[i] = ((floor >= x[i] ? floor : x[i]) + 4.0f) / 4.0f;
}

#endif
