/// FFTW wisdom compiled into meltap: FFTW_PATIENT plans for the real-FFT lengths the presets use
/// (256, 400, 512, 1024 and 2048 points, out of place, float32 and float64), generated once by
/// `Tools/fftw-wisdom/fftw-wisdom.c` on an Intel Xeon (AVX2/AVX-512, KVM) with Debian's FFTW 3.3.10.
///
/// Why compiled in: a measured plan is chosen by timing, so two processes planning on their own
/// can pick different algorithms and round differently, and live frames would differ from file
/// frames. Every process imports these same strings before planning, so they all build the
/// same plan (see `RealFFT.init`). Regenerate with the tool after an FFTW upgrade; a wisdom
/// string from another FFTW version or build is refused by FFTW, and `RealFFT` then falls back
/// to FFTW_ESTIMATE (deterministic too).
enum FFTWisdom {
    /// `fftwf_export_wisdom_to_string()` output (float32 plans).
    static let single = """
(fftw-3.3.10 fftwf_wisdom #x9e7d4dee #xdb14fed1 #x34bf76a4 #xeb6e8fdf
  (fftwf_codelet_hc2cfdftv_16_sse2 0 #x11048 #x11048 #x0 #x3f67885c #x1d118905 #x1b4c027b #x7ecffc87)
  (fftwf_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #xdae94766 #xa548e347 #x8a9a261b #xff2066cd)
  (fftwf_codelet_r2cfII_8 2 #x11048 #x11048 #x0 #x9b71d905 #x7d7faf81 #x09c45860 #x2a522386)
  (fftwf_codelet_r2cf_16 2 #x11048 #x11048 #x0 #x47d0a12e #xc910d204 #x3dc4a7f4 #x4c581c0f)
  (fftwf_codelet_n2fv_32_avx 0 #x11048 #x11048 #x0 #x12d24524 #x289b57fa #x2bd8cbf3 #xaac91103)
  (fftwf_codelet_t2fv_4_avx 0 #x11048 #x11048 #x0 #xb0bde699 #x3baa1ac0 #xdbbed5b2 #x3b1456c3)
  (fftwf_codelet_r2cfII_8 2 #x11048 #x11048 #x0 #x19874a0b #x24b0af00 #xe2ced342 #x7683bb62)
  (fftwf_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #x03406dff #xc8fa0a2c #x62a9a61e #xa394d874)
  (fftwf_dft_vrank_geq1_register 0 #x11048 #x11048 #x0 #x1d5f8951 #x83ff8a7f #x97795bcc #x27178c7e)
  (fftwf_codelet_n2fv_10_avx 0 #x11048 #x11048 #x0 #x5531be5f #xe4229cfb #x32b8a320 #x9b968067)
  (fftwf_codelet_r2cfII_8 2 #x11048 #x11048 #x0 #x76fa2a50 #xf4668261 #xbf8b003e #xbfa64206)
  (fftwf_codelet_r2cf_8 2 #x11048 #x11048 #x0 #xa8e723ad #x5577b756 #x19ace181 #xf0b6f4b2)
  (fftwf_codelet_r2cf_8 2 #x11048 #x11048 #x0 #xaae37515 #xc366903c #xc804fee2 #x44fc70a7)
  (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11048 #x11048 #x0 #x85773c49 #x9a968ccc #xbd37e819 #xac77e6a4)
  (fftwf_codelet_t2fv_5_sse2 0 #x11048 #x11048 #x0 #xedc3cbea #x1482f267 #xb0ff76ff #x970e7bbc)
  (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11048 #x11048 #x0 #xc447d79d #x3bb36c12 #x2e7c8386 #xc241521c)
  (fftwf_codelet_hc2cfdftv_8_sse2 0 #x11048 #x11048 #x0 #x4bb69ce7 #x4599107c #x14ecc846 #x282ba2c3)
  (fftwf_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #x60f7dd6b #xe5962c71 #x960dc0f4 #x2fbec2ab)
  (fftwf_codelet_r2cfII_16 2 #x11048 #x11048 #x0 #xe7fc0162 #x17132a32 #x3dd3993f #xb8e0890f)
  (fftwf_codelet_r2cf_8 2 #x11048 #x11048 #x0 #x3e90da4c #xf6adcf90 #x898e154f #x11ab044e)
  (fftwf_codelet_r2cf_8 2 #x11048 #x11048 #x0 #xe75b944c #x09ac1906 #x449b29ce #x7b6666b0)
  (fftwf_codelet_r2cfII_8 2 #x11048 #x11048 #x0 #x23fb2e26 #x3fe4d3f4 #x78d7c0db #xaba9deb1)
  (fftwf_dft_vrank_geq1_register 0 #x11048 #x11048 #x0 #x892a9e48 #x1ec770a8 #x4e202248 #xc5a96d68)
  (fftwf_codelet_hc2cfdftv_8_avx 0 #x11048 #x11048 #x0 #x54e81c36 #x0273f006 #x7706b279 #x870b3f6a)
)
"""

    /// `fftw_export_wisdom_to_string()` output (float64 plans).
    static let double = """
(fftw-3.3.10 fftw_wisdom #x458a31c8 #x92381c4c #x4f974889 #xcd46f97e
  (fftw_codelet_r2cfII_16 2 #x11048 #x11048 #x0 #x3b254bf2 #x69af0f62 #x0f30d3ff #x27534225)
  (fftw_codelet_t2fv_20_avx 0 #x11048 #x11048 #x0 #xffd09777 #x6a22c421 #x26e23624 #x55b13d2a)
  (fftw_codelet_r2cfII_2 2 #x11048 #x11048 #x0 #x7650576c #xaf9d0ae1 #x826e803c #xd781edb3)
  (fftw_codelet_r2cf_2 2 #x11048 #x11048 #x0 #xf0d96050 #xfa5d6f50 #xf29d1600 #xa5ada0d0)
  (fftw_codelet_r2cf_32 2 #x11048 #x11048 #x0 #x7da7817a #xbe20e7cd #x001a0a1b #x7f9f0731)
  (fftw_codelet_hc2cfdftv_2_avx 0 #x11048 #x11048 #x0 #x25cdb19f #x68e65986 #xad1800bd #x2e42601b)
  (fftw_codelet_n2fv_32_avx 0 #x11048 #x11048 #x0 #x8c8ebecc #x3271444a #xaebe0761 #xea1e7699)
  (fftw_codelet_n2fv_32_avx 0 #x11048 #x11048 #x0 #xe4f1eca0 #xf6127fbd #x4a1f12ad #xd334caed)
  (fftw_codelet_r2cf_16 2 #x11048 #x11048 #x0 #xc92c28de #x76f51eb7 #xd5c2363f #x49cf178e)
  (fftw_codelet_r2cf_2 2 #x11048 #x11048 #x0 #x4bf7f8d9 #x64aa2220 #x1d28527a #x056c408f)
  (fftw_codelet_t2fv_8_avx 0 #x11048 #x11048 #x0 #xcf6061a3 #x568aee5c #x3ed75045 #xd3c2f0a4)
  (fftw_codelet_hc2cfdftv_16_avx 0 #x11048 #x11048 #x0 #x2b2224fd #xc6d31fc1 #xf08ddb32 #xd3726977)
  (fftw_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #x4fa8b2f3 #xd93af2ba #xec419f5a #xae14e9fd)
  (fftw_codelet_n2fv_64_avx 0 #x11048 #x11048 #x0 #x72075258 #x982ada2c #x7b92010e #x469b2ff9)
  (fftw_codelet_hc2cfdftv_2_avx 0 #x11048 #x11048 #x0 #xfee68690 #xad28e91e #x220cee4d #x14ded02f)
  (fftw_codelet_r2cfII_2 2 #x11048 #x11048 #x0 #x78c29da6 #x74a561e9 #x89ce8aa0 #xdd996bbc)
  (fftw_codelet_r2cf_2 2 #x11048 #x11048 #x0 #xb7820e4e #x6b78fc1c #x6e07111d #xa08341cb)
  (fftw_codelet_n2fv_10_avx 0 #x11048 #x11048 #x0 #x70289adc #xdf6353ad #x7fcbfd48 #x4af238de)
  (fftw_codelet_r2cfII_2 2 #x11048 #x11048 #x0 #x4cdd1efb #xc1a88eb2 #xbcfe1dda #xf6a08615)
  (fftw_codelet_hc2cfdftv_2_avx 0 #x11048 #x11048 #x0 #x4d4b1bfd #x8518ad3f #x36f383f1 #x5a841548)
  (fftw_codelet_hc2cfdftv_32_avx 0 #x11048 #x11048 #x0 #x4fc99822 #xf85b48fc #x7d0a0313 #x81834ad0)
  (fftw_codelet_r2cfII_32 2 #x11048 #x11048 #x0 #x9854524d #x45e23508 #xe087f9f8 #xdf099e07)
  (fftw_codelet_t2fv_4_avx 0 #x11048 #x11048 #x0 #x2f62ee2a #xfc02dfdb #x3154f965 #x956f2faa)
)
"""
}
