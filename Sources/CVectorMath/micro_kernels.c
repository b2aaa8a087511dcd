#include "micro_kernels.h"

#include <stdlib.h>

/* A complex int16 pair as one uint32: real part low, imaginary part high. */
static uint32_t pair(int re, int im) {
    return (uint32_t)(uint16_t)(int16_t)re | (uint32_t)(uint16_t)(int16_t)im << 16;
}

void meltap_micro_fft_plan_make(const int16_t *twiddle_re, const int16_t *twiddle_im,
                                const int16_t *super_re, const int16_t *super_im,
                                meltap_micro_fft_plan *plan) {
    /* Twiddles lie in [−32767, 32767], so −d never wraps. */
    plan->leaf_a = pair(twiddle_re[0], -twiddle_im[0]);
    plan->leaf_b = pair(twiddle_im[0], twiddle_re[0]);
    for (int level = 0; level < 3; level++) {
        int m = 4 << (2 * level), stride = 64 / m;
        for (int q = 1; q <= 3; q++) {
            for (int k = 0; k < 64; k++) {
                int t = k < m ? q * k * stride : 0;
                plan->level_a[level][q - 1][k] = pair(twiddle_re[t], -twiddle_im[t]);
                plan->level_b[level][q - 1][k] = pair(twiddle_im[t], twiddle_re[t]);
            }
        }
    }
    for (int i = 0; i < 128; i++) {
        plan->super_a[i] = pair(super_re[i], -super_im[i]);
        plan->super_b[i] = pair(super_im[i], super_re[i]);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

int meltap_micro_cpu_has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

#define AVX2 __attribute__((target("avx2"), always_inline)) static inline

/* (v·k + 2^14) >> 15 on every int16 lane (kissfft's DIVSCALAR, k = 32767 / divisor). */
AVX2 __m256i scaled(__m256i v, short k) { return _mm256_mulhrs_epi16(v, _mm256_set1_epi16(k)); }

/* x·t for eight complex pairs: sround(a·c − b·d), sround(a·d + b·c), each stored as int16 by
   truncation (kissfft's C_MUL into an int16 kiss_fft_cpx). ta = (c, −d), tb = (d, c). */
AVX2 __m256i product(__m256i x, __m256i ta, __m256i tb) {
    const __m256i half = _mm256_set1_epi32(1 << 14);
    __m256i re = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(x, ta), half), 15);
    __m256i im = _mm256_srai_epi32(_mm256_add_epi32(_mm256_madd_epi16(x, tb), half), 15);
    return _mm256_blend_epi16(re, _mm256_slli_epi32(im, 16), 0xAA);
}

/* (re, im) → (im, −re) with int16 wrap: the −j rotation of kf_bfly4 (forward). */
AVX2 __m256i rotated(__m256i x) {
    const __m256i swap = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                          2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    return _mm256_sign_epi16(_mm256_shuffle_epi8(x, swap), _mm256_set1_epi32((int)0xFFFF0001u));
}

/* One kf_bfly4 (forward) on eight independent butterflies, in place in v0…v3. */
AVX2 void butterfly(__m256i *v0, __m256i *v1, __m256i *v2, __m256i *v3,
                    __m256i a1, __m256i b1, __m256i a2, __m256i b2, __m256i a3, __m256i b3) {
    __m256i f0 = scaled(*v0, 8191), f1 = scaled(*v1, 8191);   /* C_FIXDIV(·, 4) */
    __m256i f2 = scaled(*v2, 8191), f3 = scaled(*v3, 8191);
    __m256i s0 = product(f1, a1, b1), s1 = product(f2, a2, b2), s2 = product(f3, a3, b3);
    __m256i s5 = _mm256_sub_epi16(f0, s1), g0 = _mm256_add_epi16(f0, s1);
    __m256i s3 = _mm256_add_epi16(s0, s2), s4 = rotated(_mm256_sub_epi16(s0, s2));
    *v2 = _mm256_sub_epi16(g0, s3);
    *v0 = _mm256_add_epi16(g0, s3);
    *v1 = _mm256_add_epi16(s5, s4);   /* (s5r + s4i, s5i − s4r) */
    *v3 = _mm256_sub_epi16(s5, s4);   /* (s5r − s4i, s5i + s4r) */
}

/* ⌊(a + b) / 2⌋ and ⌊(a − b) / 2⌋ of int16 lanes, exact (the results always fit in int16):
   a + b = (a ^ b) + 2·(a & b) and a − b = (a ^ b) − 2·(~a & b), read as signed. */
AVX2 __m256i half_sum(__m256i a, __m256i b) {
    return _mm256_add_epi16(_mm256_and_si256(a, b), _mm256_srai_epi16(_mm256_xor_si256(a, b), 1));
}
AVX2 __m256i half_difference(__m256i a, __m256i b) {
    return _mm256_sub_epi16(_mm256_srai_epi16(_mm256_xor_si256(a, b), 1), _mm256_andnot_si256(a, b));
}

__attribute__((target("avx2")))
void meltap_micro_int16_avx2(const float *x, int16_t *y, long n) {
    const __m256 scale = _mm256_set1_ps(32768.0f), low = _mm256_set1_ps(-32768.0f), high = _mm256_set1_ps(32767.0f);
    for (long i = 0; i < n; i += 16) {
        __m256i v[2];
        for (int h = 0; h < 2; h++) {
            __m256 a = _mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * h), scale);          /* exact: a power of two */
            __m256 clamped = _mm256_min_ps(_mm256_max_ps(a, low), high);            /* NaN becomes −32768 here … */
            clamped = _mm256_and_ps(clamped, _mm256_cmp_ps(a, a, _CMP_ORD_Q));      /* … and 0 here */
            v[h] = _mm256_cvtps_epi32(clamped);                                     /* nearest, ties to even */
        }
        /* packs works per 128-bit half (0–3, 8–11 | 4–7, 12–15); no saturation: values fit. */
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[0], v[1]), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(y + i), packed);
    }
}

__attribute__((target("avx2")))
int meltap_micro_window_avx2(const int16_t *x, const int16_t *w, int16_t *y, long n) {
    __m256i maximum = _mm256_setzero_si256();
    for (long i = 0; i < n; i += 16) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(x + i)), b = _mm256_loadu_si256((const __m256i *)(w + i));
        /* Bits 12…27 of the int32 product: the low half's top four bits and the high half's low twelve. */
        __m256i v = _mm256_or_si256(_mm256_srli_epi16(_mm256_mullo_epi16(a, b), 12),
                                    _mm256_slli_epi16(_mm256_mulhi_epi16(a, b), 4));
        _mm256_storeu_si256((__m256i *)(y + i), v);
        maximum = _mm256_max_epi16(maximum, _mm256_abs_epi16(v));   /* |−32768| = −32768: never the maximum */
    }
    __m128i m = _mm_max_epi16(_mm256_castsi256_si128(maximum), _mm256_extracti128_si256(maximum, 1));
    m = _mm_max_epi16(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_epi16(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    m = _mm_max_epi16(m, _mm_shufflelo_epi16(m, _MM_SHUFFLE(2, 3, 0, 1)));
    unsigned top = (uint16_t)_mm_extract_epi16(m, 0);
    int leading_zeros = top == 0 ? 16 : __builtin_clz(top) - 16;
    int shift = leading_zeros - 1;
    const __m128i count = _mm_cvtsi32_si128(shift);
    for (long i = 0; i < n; i += 16) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(y + i));
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_sll_epi16(v, count));
    }
    return shift;
}

__attribute__((target("avx2")))
void meltap_micro_fft_avx2(const int16_t *input, const meltap_micro_fft_plan *plan,
                           uint32_t *work, uint32_t *bins) {
    const uint32_t *points = (const uint32_t *)input;   /* 256 packed points (x[2j], x[2j + 1]) */

    /* Leaf level (m = 1), straight from the input: the block at position 4·b reads points
       r, r + 64, r + 128, r + 192 with r the base-4 reversal of b, so eight blocks with
       r = 8g … 8g + 7 load four contiguous vectors. Lane l (r = 8g + l, digits d0 = l & 3,
       d1 = (l >> 2) + 2·(g & 1), d2 = g >> 1) belongs to block b = 16·d0 + 4·d1 + d2; a 4 × 4
       transpose per 128-bit half turns the four outputs into that block's four positions. */
    {
        const __m256i a = _mm256_set1_epi32((int)plan->leaf_a), b = _mm256_set1_epi32((int)plan->leaf_b);
        for (int g = 0; g < 8; g++) {
            __m256i v0 = _mm256_loadu_si256((const __m256i *)(points + 8 * g));
            __m256i v1 = _mm256_loadu_si256((const __m256i *)(points + 8 * g + 64));
            __m256i v2 = _mm256_loadu_si256((const __m256i *)(points + 8 * g + 128));
            __m256i v3 = _mm256_loadu_si256((const __m256i *)(points + 8 * g + 192));
            butterfly(&v0, &v1, &v2, &v3, a, b, a, b, a, b);
            __m256i t0 = _mm256_unpacklo_epi32(v0, v1), t1 = _mm256_unpackhi_epi32(v0, v1);
            __m256i t2 = _mm256_unpacklo_epi32(v2, v3), t3 = _mm256_unpackhi_epi32(v2, v3);
            __m256i rows[4] = {
                _mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3),
            };
            int low = 8 * (g & 1) + (g >> 1);   /* block of lane d0 = 0; the high half is 4 further */
            for (int d0 = 0; d0 < 4; d0++) {
                _mm_storeu_si128((__m128i *)(work + 4 * (16 * d0 + low)), _mm256_castsi256_si128(rows[d0]));
                _mm_storeu_si128((__m128i *)(work + 4 * (16 * d0 + low + 4)), _mm256_extracti128_si256(rows[d0], 1));
            }
        }
    }

    /* m = 4: blocks of 16 points, two blocks per vector (k = 0…3 in each half). */
    {
        __m256i a[3], b[3];
        for (int q = 0; q < 3; q++) {
            a[q] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)plan->level_a[0][q]));
            b[q] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)plan->level_b[0][q]));
        }
        for (int block = 0; block < 256; block += 32) {
            uint32_t *p = work + block;
            __m256i v0 = _mm256_loadu2_m128i((const __m128i *)(p + 16), (const __m128i *)(p));
            __m256i v1 = _mm256_loadu2_m128i((const __m128i *)(p + 20), (const __m128i *)(p + 4));
            __m256i v2 = _mm256_loadu2_m128i((const __m128i *)(p + 24), (const __m128i *)(p + 8));
            __m256i v3 = _mm256_loadu2_m128i((const __m128i *)(p + 28), (const __m128i *)(p + 12));
            butterfly(&v0, &v1, &v2, &v3, a[0], b[0], a[1], b[1], a[2], b[2]);
            _mm256_storeu2_m128i((__m128i *)(p + 16), (__m128i *)(p), v0);
            _mm256_storeu2_m128i((__m128i *)(p + 20), (__m128i *)(p + 4), v1);
            _mm256_storeu2_m128i((__m128i *)(p + 24), (__m128i *)(p + 8), v2);
            _mm256_storeu2_m128i((__m128i *)(p + 28), (__m128i *)(p + 12), v3);
        }
    }

    /* m = 16 and 64: eight consecutive k per vector. */
    for (int level = 1; level < 3; level++) {
        int m = 4 << (2 * level);
        for (int block = 0; block < 256; block += 4 * m) {
            for (int k = 0; k < m; k += 8) {
                uint32_t *p = work + block + k;
                __m256i v0 = _mm256_loadu_si256((const __m256i *)(p));
                __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + m));
                __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + 2 * m));
                __m256i v3 = _mm256_loadu_si256((const __m256i *)(p + 3 * m));
#define TW(table, q) _mm256_loadu_si256((const __m256i *)(plan->table[level][q] + k))
                butterfly(&v0, &v1, &v2, &v3, TW(level_a, 0), TW(level_b, 0), TW(level_a, 1), TW(level_b, 1),
                          TW(level_a, 2), TW(level_b, 2));
#undef TW
                _mm256_storeu_si256((__m256i *)(p), v0);
                _mm256_storeu_si256((__m256i *)(p + m), v1);
                _mm256_storeu_si256((__m256i *)(p + 2 * m), v2);
                _mm256_storeu_si256((__m256i *)(p + 3 * m), v3);
            }
        }
    }

    /* kiss_fftr's split into 257 bins. DC and Nyquist first (scalar), then k = 1…128 eight at a
       time with the mirrored points n − k loaded as a vector and reversed. */
    {
        int16_t dc_re = (int16_t)work[0], dc_im = (int16_t)(work[0] >> 16);
        int dcr = (int16_t)((dc_re * 16383 + 16384) >> 15), dci = (int16_t)((dc_im * 16383 + 16384) >> 15);
        bins[0] = pair(dcr + dci, 0);
        bins[256] = pair(dcr - dci, 0);
        const __m256i reverse = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
        const __m256i conjugate = _mm256_set1_epi32((int)0xFFFF0001u);   /* negate the imaginary half */
        for (int k = 1; k <= 128; k += 8) {
            __m256i pk = scaled(_mm256_loadu_si256((const __m256i *)(work + k)), 16383);
            __m256i mirrored = _mm256_permutevar8x32_epi32(
                _mm256_loadu_si256((const __m256i *)(work + 256 - k - 7)), reverse);   /* lane i: point 256 − k − i */
            __m256i pnk = scaled(_mm256_sign_epi16(mirrored, conjugate), 16383);
            __m256i f1 = _mm256_add_epi16(pk, pnk), f2 = _mm256_sub_epi16(pk, pnk);
            __m256i tw = product(f2, _mm256_loadu_si256((const __m256i *)(plan->super_a + k - 1)),
                                 _mm256_loadu_si256((const __m256i *)(plan->super_b + k - 1)));
            /* HALF_OF: bin k = ((f1 + tw) / 2); bin n − k = ((f1r − twr) / 2, (twi − f1i) / 2). */
            _mm256_storeu_si256((__m256i *)(bins + k), half_sum(f1, tw));
            __m256i upper = _mm256_blend_epi16(half_difference(f1, tw), half_difference(tw, f1), 0xAA);
            /* Stored after bin k's vector: at k = 128 this write wins, as in the C. */
            _mm256_storeu_si256((__m256i *)(bins + 256 - k - 7), _mm256_permutevar8x32_epi32(upper, reverse));
        }
    }
}

/* rounded_sqrt(n) >> shift of four uint64 lanes (n < 2^52), as four uint32 in the low 128 bits. */
AVX2 __m128i square_roots(__m256i n, __m128i shift) {
    /* n < 2^52 as a double, exactly: its bits under 2^52's exponent, minus 2^52. */
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);
    __m256d d = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(n, magic)), _mm256_set1_pd(4503599627370496.0));
    /* The correctly rounded root lies in [⌊√n⌋, ⌊√n⌋ + 1] (both representable), so its
       truncation is ⌊√n⌋ or one more: one correction step makes it exact. */
    __m256i r = _mm256_cvtepu32_epi64(_mm256_cvttpd_epi32(_mm256_sqrt_pd(d)));
    r = _mm256_add_epi64(r, _mm256_cmpgt_epi64(_mm256_mul_epu32(r, r), n));   /* r·r > n: r − 1 */
    __m256i remainder = _mm256_sub_epi64(n, _mm256_mul_epu32(r, r));
    /* Round up when remainder > r, unless n < 2^32 and r = 0xFFFF (Sqrt32's cap); r < 2^26
       never meets the 64-bit path's cap. */
    __m256i small = _mm256_cmpeq_epi64(_mm256_srli_epi64(n, 32), _mm256_setzero_si256());
    __m256i capped = _mm256_and_si256(small, _mm256_cmpeq_epi64(r, _mm256_set1_epi64x(0xFFFF)));
    __m256i up = _mm256_andnot_si256(capped, _mm256_cmpgt_epi64(remainder, r));
    r = _mm256_srl_epi64(_mm256_sub_epi64(r, up), shift);
    return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
}

__attribute__((target("avx2")))
void meltap_micro_sqrt_avx2(const uint64_t *n, uint32_t *out, long count, int shift) {
    const __m128i s = _mm_cvtsi32_si128(shift);
    for (long i = 0; i < count; i += 4) {
        _mm_storeu_si128((__m128i *)(out + i), square_roots(_mm256_loadu_si256((const __m256i *)(n + i)), s));
    }
}

__attribute__((target("avx2")))
void meltap_micro_filterbank_avx2(const uint32_t *bins, uint32_t *energy, long start, long end,
                                  const long *first, const long *weight_start, const long *width,
                                  const uint32_t *weights, const uint32_t *unweights, long channels,
                                  uint64_t *work, int shift, uint32_t *signal) {
    /* Energy: pmaddwd of a pair with itself is re² + im² in int32; the one overflow
       (re = im = −32768) wraps to 0x80000000, which is 2^31 as uint32, as in the C. */
    long k = start;
    for (; k + 8 <= end; k += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(bins + k));
        _mm256_storeu_si256((__m256i *)(energy + k), _mm256_madd_epi16(v, v));
    }
    for (; k < end; k++) {
        int re = (int16_t)bins[k], im = (int16_t)(bins[k] >> 16);
        energy[k] = (uint32_t)(re * re) + (uint32_t)(im * im);
    }
    /* Four bins per step in uint64 lanes (widths are multiples of 4); accumulator c starts as
       channel c − 1's unweighted lanes, so one horizontal sum per channel. Integer sums: any
       order gives the same bits. */
    __m256i carried = _mm256_setzero_si256();
    for (long c = 0; c < channels; c++) {
        const uint32_t *e = energy + first[c], *w = weights + weight_start[c], *u = unweights + weight_start[c];
        __m256i weighted = carried, unweighted = _mm256_setzero_si256();
        for (long j = 0; j < width[c]; j += 4) {
            __m256i value = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(e + j)));
            weighted = _mm256_add_epi64(weighted, _mm256_mul_epu32(value, _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(w + j)))));
            unweighted = _mm256_add_epi64(unweighted, _mm256_mul_epu32(value, _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(u + j)))));
        }
        __m128i sums = _mm_add_epi64(_mm256_castsi256_si128(weighted), _mm256_extracti128_si256(weighted, 1));
        work[c] = (uint64_t)_mm_cvtsi128_si64(sums) + (uint64_t)_mm_extract_epi64(sums, 1);
        carried = unweighted;
    }
    /* Output channel j is accumulator j + 1. */
    const __m128i s = _mm_cvtsi32_si128(shift);
    long j = 0;
    for (; j + 4 <= channels - 1; j += 4) {
        _mm_storeu_si128((__m128i *)(signal + j), square_roots(_mm256_loadu_si256((const __m256i *)(work + 1 + j)), s));
    }
    if (j < channels - 1) {   /* a short last group: through a padded copy */
        uint64_t rest[4] = {0, 0, 0, 0};
        uint32_t roots[4];
        for (long i = j; i < channels - 1; i++) rest[i - j] = work[1 + i];
        _mm_storeu_si128((__m128i *)roots, square_roots(_mm256_loadu_si256((const __m256i *)rest), s));
        for (long i = j; i < channels - 1; i++) signal[i] = roots[i - j];
    }
}

/* (a·b + add) >> s of eight uint32 lanes in uint64, truncated to uint32 (add: uint64 lanes). */
AVX2 __m256i product_shifted(__m256i a, __m256i b, __m256i add, __m128i s) {
    __m256i even = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epu32(a, b), add), s);
    __m256i odd = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)), add), s);
    return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* x ≤ limit, unsigned, as a lane mask. */
AVX2 __m256i at_most(__m256i x, unsigned limit) {
    return _mm256_cmpeq_epi32(_mm256_min_epu32(x, _mm256_set1_epi32((int)limit)), x);
}

/* 32 − clz(x) (the bit length) of eight uint32 lanes, x ≥ 1 (0 gives garbage). The float's
   exponent, corrected where rounding reached the next power of two; lanes ≥ 2^31 are 32. */
AVX2 __m256i bit_length(__m256i x) {
    __m256i length = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(x)), 23), _mm256_set1_epi32(126));
    __m256i rounded_up = _mm256_cmpeq_epi32(_mm256_srlv_epi32(x, _mm256_sub_epi32(length, _mm256_set1_epi32(1))), _mm256_setzero_si256());
    length = _mm256_add_epi32(length, rounded_up);   /* − 1 where x < 2^(length − 1) */
    return _mm256_blendv_epi8(length, _mm256_set1_epi32(32), _mm256_srai_epi32(x, 31));
}

/* x << count where 0 ≤ count, else x >> −count (count ≥ −31 … 31): variable shifts give 0
   for the out-of-range side, so the two can be ORed. */
AVX2 __m256i shifted_to(__m256i x, __m256i count) {
    return _mm256_or_si256(_mm256_sllv_epi32(x, count), _mm256_srlv_epi32(x, _mm256_sub_epi32(_mm256_setzero_si256(), count)));
}

/* WideDynamicFunction, as MicroNoiseReduction.wideDynamicFunction, widened as the C converts
   its int16 result to uint32. */
AVX2 __m256i wide_dynamic_function(__m256i x, const int32_t *table) {
    __m256i small = at_most(x, 2);
    __m256i interval = bit_length(x);
    __m256i index = _mm256_blendv_epi8(_mm256_sub_epi32(_mm256_slli_epi32(interval, 2), _mm256_set1_epi32(6)), x, small);
    __m256i lut0 = _mm256_i32gather_epi32((const int *)table, index, 4);
    __m256i lut1 = _mm256_i32gather_epi32((const int *)table + 1, index, 4);
    __m256i lut2 = _mm256_i32gather_epi32((const int *)table + 2, index, 4);
    __m256i fraction = _mm256_and_si256(shifted_to(x, _mm256_sub_epi32(_mm256_set1_epi32(11), interval)), _mm256_set1_epi32(0x3FF));
    __m256i result = _mm256_srai_epi32(_mm256_mullo_epi32(lut2, fraction), 5);
    result = _mm256_add_epi32(result, _mm256_slli_epi32(lut1, 5));
    result = _mm256_mullo_epi32(result, fraction);
    result = _mm256_srai_epi32(_mm256_add_epi32(result, _mm256_set1_epi32(1 << 14)), 15);
    result = _mm256_add_epi32(result, lut0);
    result = _mm256_blendv_epi8(result, lut0, small);
    return _mm256_srai_epi32(_mm256_slli_epi32(result, 16), 16);   /* int16, sign-extended */
}

__attribute__((target("avx2")))
void meltap_micro_noise_pcan_avx2(uint32_t *signal, uint32_t *estimate, const int32_t *gain_table, long n) {
    const __m256i smoothing = _mm256_setr_epi32(409, 983, 409, 983, 409, 983, 409, 983);   /* even, odd channels */
    const __m256i remaining = _mm256_sub_epi32(_mm256_set1_epi32(1 << 14), smoothing);
    const __m256i zero = _mm256_setzero_si256();
    const __m128i by14 = _mm_cvtsi32_si128(14), by6 = _mm_cvtsi32_si128(6);
    for (long i = 0; i < n; i += 8) {
        __m256i s = _mm256_loadu_si256((const __m256i *)(signal + i));
        __m256i estimates = _mm256_loadu_si256((const __m256i *)(estimate + i));
        __m256i up = _mm256_slli_epi32(s, 10);   /* uint32: wraps, as the C */
        /* NoiseReductionApply: (up·sm + est·(2^14 − sm)) >> 14 in uint64. */
        __m256i even = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epu32(up, smoothing), _mm256_mul_epu32(estimates, remaining)), by14);
        __m256i odd = _mm256_srl_epi64(_mm256_add_epi64(
            _mm256_mul_epu32(_mm256_srli_epi64(up, 32), _mm256_srli_epi64(smoothing, 32)),
            _mm256_mul_epu32(_mm256_srli_epi64(estimates, 32), _mm256_srli_epi64(remaining, 32))), by14);
        __m256i updated = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
        _mm256_storeu_si256((__m256i *)(estimate + i), updated);
        __m256i lowest = product_shifted(s, _mm256_set1_epi32(819), zero, by14);
        __m256i subtracted = _mm256_srli_epi32(_mm256_sub_epi32(up, _mm256_min_epu32(updated, up)), 10);
        __m256i reduced = _mm256_max_epu32(subtracted, lowest);
        /* PcanGainControlApply and PcanShrink. */
        __m256i snr = product_shifted(reduced, wide_dynamic_function(updated, gain_table), zero, by6);
        __m256i squared = _mm256_srli_epi32(_mm256_mullo_epi32(snr, snr), 20);
        __m256i linear = _mm256_sub_epi32(_mm256_srli_epi32(snr, 6), _mm256_set1_epi32(64));
        _mm256_storeu_si256((__m256i *)(signal + i), _mm256_blendv_epi8(linear, squared, at_most(snr, 8191)));
    }
}

__attribute__((target("avx2")))
void meltap_micro_log_avx2(const uint32_t *signal, const int32_t *lut, float scale, float *out, long n) {
    const __m128i by16 = _mm_cvtsi32_si128(16);
    for (long i = 0; i < n; i += 8) {
        __m256i value = _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(signal + i)), 3);   /* wraps, as the C */
        __m256i none = at_most(value, 1);   /* these lanes give 0; computed on 2 meanwhile */
        value = _mm256_blendv_epi8(value, _mm256_set1_epi32(2), none);
        __m256i integer = _mm256_sub_epi32(bit_length(value), _mm256_set1_epi32(1));
        /* Log2FractionPart: the bits below the leading one as Q16. */
        __m256i fraction = _mm256_sub_epi32(value, _mm256_sllv_epi32(_mm256_set1_epi32(1), integer));
        fraction = shifted_to(fraction, _mm256_sub_epi32(_mm256_set1_epi32(16), integer));
        __m256i segment = _mm256_srli_epi32(fraction, 9);
        __m256i c0 = _mm256_i32gather_epi32((const int *)lut, segment, 4);
        __m256i c1 = _mm256_i32gather_epi32((const int *)lut + 1, segment, 4);
        __m256i relative = _mm256_srai_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(c1, c0),
                                                                _mm256_sub_epi32(fraction, _mm256_slli_epi32(segment, 9))), 16);
        __m256i log_two = _mm256_add_epi32(_mm256_slli_epi32(integer, 16), _mm256_add_epi32(_mm256_add_epi32(fraction, c0), relative));
        __m256i loge = product_shifted(log_two, _mm256_set1_epi32(45426), _mm256_set1_epi64x(1 << 15), by16);   /* × ln 2, Q16 */
        __m256i result = _mm256_srli_epi32(_mm256_add_epi32(_mm256_slli_epi32(loge, 6), _mm256_set1_epi32(1 << 15)), 16);
        result = _mm256_andnot_si256(none, _mm256_min_epu32(result, _mm256_set1_epi32(0xFFFF)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(result), _mm256_set1_ps(scale)));
    }
}

#else

int meltap_micro_cpu_has_avx2(void) { return 0; }
void meltap_micro_noise_pcan_avx2(uint32_t *signal, uint32_t *estimate, const int32_t *gain_table, long n) {
    (void)signal; (void)estimate; (void)gain_table; (void)n; abort();
}
void meltap_micro_log_avx2(const uint32_t *signal, const int32_t *lut, float scale, float *out, long n) {
    (void)signal; (void)lut; (void)scale; (void)out; (void)n; abort();
}
void meltap_micro_int16_avx2(const float *x, int16_t *y, long n) { (void)x; (void)y; (void)n; abort(); }
int meltap_micro_window_avx2(const int16_t *x, const int16_t *w, int16_t *y, long n) {
    (void)x; (void)w; (void)y; (void)n; abort();
}
void meltap_micro_fft_avx2(const int16_t *input, const meltap_micro_fft_plan *plan,
                           uint32_t *work, uint32_t *bins) {
    (void)input; (void)plan; (void)work; (void)bins; abort();
}
void meltap_micro_filterbank_avx2(const uint32_t *bins, uint32_t *energy, long start, long end,
                                  const long *first, const long *weight_start, const long *width,
                                  const uint32_t *weights, const uint32_t *unweights, long channels,
                                  uint64_t *work, int shift, uint32_t *signal) {
    (void)bins; (void)energy; (void)start; (void)end; (void)first; (void)weight_start; (void)width;
    (void)weights; (void)unweights; (void)channels; (void)work; (void)shift; (void)signal; abort();
}
void meltap_micro_sqrt_avx2(const uint64_t *n, uint32_t *out, long count, int shift) {
    (void)n; (void)out; (void)count; (void)shift; abort();
}

#endif
