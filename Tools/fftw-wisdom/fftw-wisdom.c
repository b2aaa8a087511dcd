/*
 * Generates the FFTW wisdom meltap ships (Sources/MelDSP/Spectrum/FFTWisdom.swift).
 *
 * Plans every real-FFT length meltap's presets use (out of place, r2c, fftw(f)_alloc buffers,
 * as RealFFT does) with FFTW_PATIENT, in float32 and float64, and prints the two wisdom strings.
 * Planning times candidates, so this output differs between runs and machines; that is why it is
 * generated once and compiled in, not made at run time: every meltap process then imports the
 * same wisdom and FFTW builds the same plan (RealFFT.swift explains the fallback).
 *
 *   cc -O2 -o fftw-wisdom Tools/fftw-wisdom/fftw-wisdom.c -lfftw3f -lfftw3
 *   ./fftw-wisdom > wisdom.txt
 */
#include <fftw3.h>
#include <stdio.h>
#include <stdlib.h>

static const int lengths[] = {256, 400, 512, 1024, 2048};
enum { lengthCount = sizeof lengths / sizeof lengths[0] };

int main(void) {
    for (int i = 0; i < lengthCount; i++) {
        int n = lengths[i];
        float *in = fftwf_alloc_real(n);
        fftwf_complex *out = fftwf_alloc_complex(n / 2 + 1);
        fftwf_destroy_plan(fftwf_plan_dft_r2c_1d(n, in, out, FFTW_PATIENT));
        fftwf_free(in);
        fftwf_free(out);
        double *inDouble = fftw_alloc_real(n);
        fftw_complex *outDouble = fftw_alloc_complex(n / 2 + 1);
        fftw_destroy_plan(fftw_plan_dft_r2c_1d(n, inDouble, outDouble, FFTW_PATIENT));
        fftw_free(inDouble);
        fftw_free(outDouble);
    }
    char *single = fftwf_export_wisdom_to_string(), *doubleWisdom = fftw_export_wisdom_to_string();
    printf("%s\n%s\n", single, doubleWisdom);
    free(single);  /* the export functions return malloc memory */
    free(doubleWisdom);
    return 0;
}
