/* From melbase.c, the meltap team's hardware-limit proxy (kept in the team's design notes,
   outside this repository; credit: the meltap team's shared baseline). Extended minimally for meltap's benchmark: optional flags after the five
   positional arguments select a float64 FFT (librosa's precision, as meltap's librosa preset)
   and FFTW_ESTIMATE planning (what meltap uses, for deterministic plans); and the loop is timed
   in process CPU time (CLOCK_PROCESS_CPUTIME_ID) instead of wall time, as meltap-bench does, so
   that other work on a shared machine does not count.
   Build: cc -O2 -o melbase melbase.c -lfftw3f -lfftw3 -lm   (-O2: portable, no -march=native;
   Swift's release builds use -O, the same level). */
/* Physical-limit proxy: the leanest streaming mel pipeline in C with FFTW (float, SIMD).
   Per hop: shift ring into frame, multiply periodic Hann, r2c FFT, |X|^2, sparse Slaney mel.
   Usage: melbase N_FFT HOP N_MELS SR SECONDS [--f64] [--estimate]
            -> prints ns/hop and x-realtime (one channel).
   --f64       float64 window product and FFT (fftw, not fftwf), bins rounded to float after the FFT.
   --estimate  plan with FFTW_ESTIMATE instead of FFTW_MEASURE. */
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double hz2mel(double f) { /* Slaney */
  const double fsp = 200.0 / 3, minlog = 1000.0, minlogmel = minlog / fsp, step = log(6.4) / 27.0;
  return f < minlog ? f / fsp : minlogmel + log(f / minlog) / step;
}
static double mel2hz(double m) {
  const double fsp = 200.0 / 3, minlog = 1000.0, minlogmel = minlog / fsp, step = log(6.4) / 27.0;
  return m < minlogmel ? m * fsp : minlog * exp(step * (m - minlogmel));
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
  int nfft = argc > 1 ? atoi(argv[1]) : 2048, hop = argc > 2 ? atoi(argv[2]) : 512;
  int nmels = argc > 3 ? atoi(argv[3]) : 128; double sr = argc > 4 ? atof(argv[4]) : 48000;
  double secs = argc > 5 ? atof(argv[5]) : 600;
  int f64 = 0, flags = FFTW_MEASURE;
  for (int a = 6; a < argc; a++) {
    if (!strcmp(argv[a], "--f64")) f64 = 1;
    else if (!strcmp(argv[a], "--estimate")) flags = FFTW_ESTIMATE;
    else { fprintf(stderr, "melbase: unknown flag '%s'; use --f64 or --estimate\n", argv[a]); return 2; }
  }
  int nb = nfft / 2 + 1; long n = (long)(secs * sr);
  float *x = malloc(sizeof(float) * n); unsigned s = 1;
  for (long i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; x[i] = 0.3f * sinf(i * 0.05f) + ((s >> 8) / 16777216.0f - 0.5f) * 0.1f; }
  float *win = fftwf_malloc(sizeof(float) * nfft), *frame = fftwf_malloc(sizeof(float) * nfft);
  fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * nb);
  float *power = malloc(sizeof(float) * nb), *mel = malloc(sizeof(float) * nmels);
  for (int i = 0; i < nfft; i++) win[i] = 0.5f - 0.5f * cosf(2 * M_PI * i / nfft);
  fftwf_plan plan = fftwf_plan_dft_r2c_1d(nfft, frame, spec, flags);
  /* float64 path: window in double, fftw (double) r2c */
  double *wind = fftw_malloc(sizeof(double) * nfft), *framed = fftw_malloc(sizeof(double) * nfft);
  fftw_complex *specd = fftw_malloc(sizeof(fftw_complex) * nb);
  for (int i = 0; i < nfft; i++) wind[i] = 0.5 - 0.5 * cos(2 * M_PI * i / nfft);
  fftw_plan pland = f64 ? fftw_plan_dft_r2c_1d(nfft, framed, specd, flags) : NULL;
  /* Slaney filters, stored sparse as [start, len] + weights */
  int *fs = malloc(sizeof(int) * nmels), *fl = malloc(sizeof(int) * nmels); float *w = calloc((size_t)nmels * nb, sizeof(float));
  double mmin = hz2mel(0), mmax = hz2mel(sr / 2); double *pts = malloc(sizeof(double) * (nmels + 2));
  for (int i = 0; i < nmels + 2; i++) pts[i] = mel2hz(mmin + (mmax - mmin) * i / (nmels + 1));
  long nnz = 0;
  for (int m = 0; m < nmels; m++) {
    double enorm = 2.0 / (pts[m + 2] - pts[m]); fs[m] = -1; fl[m] = 0;
    for (int k = 0; k < nb; k++) {
      double f = k * sr / nfft, lo = (f - pts[m]) / (pts[m + 1] - pts[m]), hi = (pts[m + 2] - f) / (pts[m + 2] - pts[m + 1]);
      double v = fmax(0, fmin(lo, hi)) * enorm;
      if (v > 0) { if (fs[m] < 0) fs[m] = k; w[nnz++] = (float)v; fl[m] = k - fs[m] + 1; }
    }
  }
  long frames = 0; double sink = 0; double t0 = now();
  for (long start = 0; start + nfft <= n; start += hop) {
    if (f64) {
      for (int i = 0; i < nfft; i++) framed[i] = x[start + i] * wind[i];
      fftw_execute(pland);
      for (int k = 0; k < nb; k++) { float re = (float)specd[k][0], im = (float)specd[k][1]; power[k] = re * re + im * im; }
    } else {
      for (int i = 0; i < nfft; i++) frame[i] = x[start + i] * win[i];
      fftwf_execute(plan);
      for (int k = 0; k < nb; k++) power[k] = spec[k][0] * spec[k][0] + spec[k][1] * spec[k][1];
    }
    const float *wp = w;
    for (int m = 0; m < nmels; m++) { float acc = 0; for (int j = 0; j < fl[m]; j++) acc += wp[j] * power[fs[m] + j]; wp += fl[m]; mel[m] = acc; }
    sink += mel[frames % nmels]; frames++;
  }
  double dt = now() - t0;
  printf("nfft=%d hop=%d nmels=%d sr=%.0f fft=%s plan=%s frames=%ld ns_per_hop=%.0f x_realtime=%.0f (sink %g)\n",
         nfft, hop, nmels, sr, f64 ? "f64" : "f32", flags == FFTW_ESTIMATE ? "estimate" : "measure", frames,
         dt * 1e9 / frames, secs / dt, sink);
  return 0;
}
