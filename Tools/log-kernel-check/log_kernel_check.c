/* Compares meltap's eight-lane AVX2 log (Sources/CVectorMath/log_kernels.c) with glibc's
   four-lane libmvec logf (_ZGVbN4v_logf) on all 2^32 float bit patterns, and the Whisper kernels
   with their scalar definitions on a sweep. Run by scripts/check-log-kernel; prints the number of
   differing inputs and exits 1 when there is any. */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "log_kernels.h"

__m128 _ZGVbN4v_logf(__m128 x);

enum { chunk = 1 << 16 };

int main(void) {
    if (!meltap_log_avx2_matches_libmvec()) {
        printf("the AVX2 log is disabled on this host (no AVX2, or its check inputs differ from libmvec)\n");
        return 1;
    }
    static float in[chunk], mine[chunk], theirs[chunk];
    uint64_t differing = 0;
    for (uint64_t start = 0; start < (1ull << 32); start += chunk) {
        for (uint32_t i = 0; i < chunk; i++) {
            uint32_t bits = (uint32_t)(start + i);
            memcpy(&in[i], &bits, 4);
        }
        meltap_log_f32_avx2(in, mine, chunk);
        for (uint32_t i = 0; i < chunk; i += 4) {
            _mm_storeu_ps(theirs + i, _ZGVbN4v_logf(_mm_loadu_ps(in + i)));
        }
        if (memcmp(mine, theirs, sizeof mine) != 0) {
            for (uint32_t i = 0; i < chunk; i++) {
                if (memcmp(&mine[i], &theirs[i], 4) != 0) {
                    if (differing < 5) {
                        uint32_t b; memcpy(&b, &in[i], 4);
                        printf("differs at 0x%08x (%g): %a against libmvec %a\n", b, in[i], mine[i], theirs[i]);
                    }
                    differing++;
                }
            }
        }
    }
    printf("log: %llu of 2^32 inputs differ from _ZGVbN4v_logf\n", (unsigned long long)differing);
    return differing == 0 ? 0 : 1;
}
