#ifndef MELTAP_CJACK_SHIM_H
#define MELTAP_CJACK_SHIM_H
#include <jack/jack.h>
#include <jack/types.h>

/// jack_client_open is variadic, which Swift cannot call: this wrapper opens a client
/// without a server name (JACK_DEFAULT_SERVER selects the server).
static inline jack_client_t *meltap_jack_client_open(const char *name, jack_options_t options,
                                                     jack_status_t *status) {
    return jack_client_open(name, options, status);
}
#endif
