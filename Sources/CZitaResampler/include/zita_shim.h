#ifndef MELTAP_ZITA_SHIM_H
#define MELTAP_ZITA_SHIM_H

/* A C face for zita-resampler's C++ `Resampler` (Fons Adriaensen, libzita-resampler 1.8, GPL-3),
   one channel, fixed rational ratio. MelResample/Resampler.swift is the only caller.

   Life: meltap_zita_create (allocates the filter table and the buffer: never on the realtime
   thread), meltap_zita_process and meltap_zita_reset (no allocation, locks or system calls:
   Resampler::process is a loop over the preallocated buffer with one memcpy when it wraps;
   Resampler::reset only stores fields), meltap_zita_destroy.

   Timing: after create or reset, inpsize() / 2 - 1 zeros are fed in, as zita-resampler's
   documentation prescribes, so output sample k sits at input instant k * in_rate / out_rate
   (output 0 on input 0), the same alignment as libsamplerate and soxr. */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct meltap_zita meltap_zita;

/* Creates a converter from in_rate to out_rate Hz with the given filter half-length (zita's
   `hlen`, 16 to 96, in output-rate samples when downsampling). NULL when zita refuses the
   ratio: it needs out_rate / gcd(in_rate, out_rate) <= 1000 and out_rate / in_rate >= 1/64 (measured on 1.8.0). */
meltap_zita *meltap_zita_create(unsigned in_rate, unsigned out_rate, unsigned half_length);

void meltap_zita_destroy(meltap_zita *z);

/* Forgets all input and feeds the alignment zeros again. Real-time safe. */
void meltap_zita_reset(meltap_zita *z);

/* Converts up to `count` input samples into at most `capacity` outputs; stores the input
   samples used in *consumed and returns the outputs written. Stops early only when the output
   is full. Real-time safe. */
long meltap_zita_process(meltap_zita *z, const float *input, long count, float *output, long capacity,
                         long *consumed);

/* The filter's length in input samples (zita's inpsize(): 2 * the half-length at the input rate). */
int meltap_zita_input_size(const meltap_zita *z);

/* The library's version, e.g. 1 and 8. */
int meltap_zita_major_version(void);
int meltap_zita_minor_version(void);

#ifdef __cplusplus
}
#endif

#endif
