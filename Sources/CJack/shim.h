#ifndef MELTAP_CJACK_SHIM_H
#define MELTAP_CJACK_SHIM_H
// What Swift cannot call or see in <jack/jack.h>: variadic functions and macro strings.
#include <jack/jack.h>
#include <jack/types.h>
#include <jack/metadata.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

/// jack_client_open is variadic, which Swift cannot call: this wrapper opens a client
/// without a server name (JACK_DEFAULT_SERVER selects the server).
static inline jack_client_t *meltap_jack_client_open(const char *name, jack_options_t options,
                                                     jack_status_t *status) {
    return jack_client_open(name, options, status);
}

/// JACK_DEFAULT_AUDIO_TYPE ("32 bit float mono audio") is a macro string Swift cannot import.
static inline const char *meltap_jack_default_audio_type(void) {
    return JACK_DEFAULT_AUDIO_TYPE;
}

/// JACK_METADATA_PRETTY_NAME is an extern const char * Swift cannot import as a constant.
static inline const char *meltap_jack_metadata_pretty_name(void) {
    return JACK_METADATA_PRETTY_NAME;
}

/// The calling thread's kernel ID (gettid(2); Swift cannot call the variadic syscall(2)). MelJack
/// records the libjack thread that delivered a server shutdown, to wait for it to end.
static inline pid_t meltap_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}
#endif
