#include "frame_kernels.h"

#include <stdlib.h>
#include <string.h>

/* No multiply-add contraction anywhere in this file: every product is rounded before it is
   added, as in the Swift loops these kernels replace (Swift never contracts). */
#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>

int meltap_avx2_kernels_available(void) {
    const char *choice = getenv("MELTAP_KERNELS");
    if (choice != NULL && strcmp(choice, "baseline") == 0) {
        return 0;
    }
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

__attribute__((target("avx2")))
void meltap_multiply_f32_avx2(const float *x, const float *w, float *out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(w + i)));
    }
    for (; i < n; i++) {
        out[i] = x[i] * w[i];
    }
}

__attribute__((target("avx2")))
void meltap_power_spectrum_f32_avx2(const float *bins, float *out, long n) {
    long k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 a = _mm256_loadu_ps(bins + 2 * k), b = _mm256_loadu_ps(bins + 2 * k + 8);
        a = _mm256_mul_ps(a, a);   /* re0² im0² … re3² im3² */
        b = _mm256_mul_ps(b, b);   /* re4² im4² … re7² im7² */
        /* hadd per 128-bit half: bins 0 1 4 5 | 2 3 6 7; each is re² + im² (one rounding). */
        __m256 sums = _mm256_hadd_ps(a, b);
        sums = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(sums), 0xD8));  /* 0 1 2 3 4 5 6 7 */
        _mm256_storeu_ps(out + k, sums);
    }
    for (; k < n; k++) {
        float re = bins[2 * k], im = bins[2 * k + 1];
        out[k] = re * re + im * im;
    }
}

__attribute__((target("avx2")))
void meltap_mel_bank_f32_avx2(const float *spectrum, const long *first, const long *span,
                              const float *weights, float *out, long bands) {
    for (long band = 0; band < bands; band++) {
        const float *x = spectrum + first[band];
        long s = span[band], j = 0;
        __m256 sums = _mm256_setzero_ps();   /* lane k is s_k */
        for (; j + 8 <= s; j += 8) {
            sums = _mm256_add_ps(sums, _mm256_mul_ps(_mm256_loadu_ps(weights + j), _mm256_loadu_ps(x + j)));
        }
        __m128 low = _mm256_castps256_ps128(sums), high = _mm256_extractf128_ps(sums, 1);
        if (j < s) {   /* one last four-lane step into s0…s3 */
            low = _mm_add_ps(low, _mm_mul_ps(_mm_loadu_ps(weights + j), _mm_loadu_ps(x + j)));
        }
        __m128 t = _mm_add_ps(low, high);                                 /* s0+s4, s1+s5, s2+s6, s3+s7 */
        __m128 pairs = _mm_add_ps(t, _mm_shuffle_ps(t, t, _MM_SHUFFLE(2, 3, 0, 1)));  /* t0+t1, _, t2+t3, _ */
        out[band] = _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehl_ps(pairs, pairs)));
        weights += s;
    }
}

__attribute__((target("avx2")))
float meltap_kaldi_prepare_f32_avx2(const float *samples, float *input, long n, float scale,
                                    int remove_dc, int use_energy, float preemphasis,
                                    const float *window) {
    /* Scale and the DC sum: eight samples at a time, but added as two four-lane steps in order,
       so s0…s3 see the same additions as the four-lane loop. */
    const __m256 scales = _mm256_set1_ps(scale);
    __m128 sums = _mm_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(samples + i), scales);
        _mm256_storeu_ps(input + i, v);
        sums = _mm_add_ps(sums, _mm256_castps256_ps128(v));
        sums = _mm_add_ps(sums, _mm256_extractf128_ps(v, 1));
    }
    if (i + 4 <= n) {
        __m128 v = _mm_mul_ps(_mm_loadu_ps(samples + i), _mm256_castps256_ps128(scales));
        _mm_storeu_ps(input + i, v);
        sums = _mm_add_ps(sums, v);
        i += 4;
    }
    float s[4];
    _mm_storeu_ps(s, sums);
    for (; i < n; i++) {
        float a = samples[i] * scale;
        input[i] = a;
        s[0] += a;
    }
    if (remove_dc) {
        const __m256 means = _mm256_set1_ps(((s[0] + s[1]) + (s[2] + s[3])) / (float)n);
        i = 0;
        for (; i + 8 <= n; i += 8) {
            _mm256_storeu_ps(input + i, _mm256_sub_ps(_mm256_loadu_ps(input + i), means));
        }
        for (; i < n; i++) {
            input[i] -= _mm256_cvtss_f32(means);
        }
    }
    float energy = 0;
    if (use_energy) {
        __m128 e = _mm_setzero_ps();
        i = 0;
        for (; i + 4 <= n; i += 4) {
            __m128 v = _mm_loadu_ps(input + i);
            e = _mm_add_ps(e, _mm_mul_ps(v, v));
        }
        float es[4];
        _mm_storeu_ps(es, e);
        for (; i < n; i++) {
            es[0] += input[i] * input[i];
        }
        energy = (es[0] + es[1]) + (es[2] + es[3]);
    }
    const __m256 cs = _mm256_set1_ps(preemphasis);
    i = n;
    while (i >= 9) {
        i -= 8;
        __m256 current = _mm256_loadu_ps(input + i), previous = _mm256_loadu_ps(input + i - 1);
        __m256 y = _mm256_mul_ps(_mm256_sub_ps(current, _mm256_mul_ps(cs, previous)), _mm256_loadu_ps(window + i));
        _mm256_storeu_ps(input + i, y);
    }
    while (i > 1) {
        i -= 1;
        input[i] = (input[i] - preemphasis * input[i - 1]) * window[i];
    }
    input[0] = (input[0] - preemphasis * input[0]) * window[0];
    return energy;
}

#else

int meltap_avx2_kernels_available(void) { return 0; }
void meltap_multiply_f32_avx2(const float *x, const float *w, float *out, long n) { (void)x; (void)w; (void)out; (void)n; abort(); }
void meltap_power_spectrum_f32_avx2(const float *bins, float *out, long n) { (void)bins; (void)out; (void)n; abort(); }
float meltap_kaldi_prepare_f32_avx2(const float *samples, float *input, long n, float scale,
                                    int remove_dc, int use_energy, float preemphasis,
                                    const float *window) {
    (void)samples; (void)input; (void)n; (void)scale; (void)remove_dc; (void)use_energy;
    (void)preemphasis; (void)window; abort();
}
void meltap_mel_bank_f32_avx2(const float *spectrum, const long *first, const long *span,
                              const float *weights, float *out, long bands) {
    (void)spectrum; (void)first; (void)span; (void)weights; (void)out; (void)bands; abort();
}

#endif
