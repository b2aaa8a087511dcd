// See include/zita_shim.h.
#include "zita_shim.h"

#include <new>
#include <zita-resampler/resampler.h>

struct meltap_zita {
    Resampler resampler;
};

// Feeds inpsize() / 2 - 1 zeros (inp_data = nullptr means zeros to zita) with no output
// requested (out_data = nullptr, out_count large: outputs are skipped while input is missing).
static void prime(Resampler &r) {
    r.reset();
    r.inp_count = static_cast<unsigned>(r.inpsize() / 2 - 1);
    r.inp_data = nullptr;
    r.out_count = 1u << 20;  // never reached: no output is due before the filter is full
    r.out_data = nullptr;
    r.process();
}

extern "C" meltap_zita *meltap_zita_create(unsigned in_rate, unsigned out_rate, unsigned half_length) {
    meltap_zita *z = new (std::nothrow) meltap_zita;
    if (!z) return nullptr;
    if (z->resampler.setup(in_rate, out_rate, 1, half_length) != 0) {
        delete z;
        return nullptr;
    }
    prime(z->resampler);
    return z;
}

extern "C" void meltap_zita_destroy(meltap_zita *z) { delete z; }

extern "C" void meltap_zita_reset(meltap_zita *z) { prime(z->resampler); }

extern "C" long meltap_zita_process(meltap_zita *z, const float *input, long count, float *output, long capacity,
                                    long *consumed) {
    Resampler &r = z->resampler;
    r.inp_count = static_cast<unsigned>(count);
    r.inp_data = const_cast<float *>(input);  // zita reads it only
    r.out_count = static_cast<unsigned>(capacity);
    r.out_data = output;
    r.process();
    *consumed = count - static_cast<long>(r.inp_count);
    return capacity - static_cast<long>(r.out_count);
}

extern "C" int meltap_zita_input_size(const meltap_zita *z) { return z->resampler.inpsize(); }

extern "C" int meltap_zita_major_version(void) { return zita_resampler_major_version(); }
extern "C" int meltap_zita_minor_version(void) { return zita_resampler_minor_version(); }
