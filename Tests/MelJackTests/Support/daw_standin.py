"""A DAW stand-in for ConnectionPolicyTests: a real JACK client that re-creates its output ports,
as a DAW does when it reloads a session (same names, in another order) or renames its tracks.

    daw_standin.py CLIENT SET [SET…]

Each SET is a comma-separated list of output port names. The client registers the first set and
activates, then on every SIGUSR1 unregisters all its ports and registers the next set, in the
order given. After each change it prints `ports SET` (flushed). SIGTERM closes the client.

libjack through ctypes (the standard library only): no process callback, so the ports carry
silence, which is all a connection test needs. It never starts a server (JackNoStartServer).
"""
import ctypes as C
import signal
import sys

JACK_NO_START_SERVER = 0x01
JACK_PORT_IS_OUTPUT = 0x2
AUDIO = b"32 bit float mono audio"

jack = C.CDLL("libjack.so.0")
jack.jack_client_open.restype = C.c_void_p
jack.jack_port_register.restype = C.c_void_p
jack.jack_port_register.argtypes = [C.c_void_p, C.c_char_p, C.c_char_p, C.c_ulong, C.c_ulong]
jack.jack_port_unregister.argtypes = [C.c_void_p, C.c_void_p]
jack.jack_activate.argtypes = [C.c_void_p]
jack.jack_client_close.argtypes = [C.c_void_p]


def main():
    name, *sets = sys.argv[1:]
    status = C.c_int(0)
    client = jack.jack_client_open(name.encode(), JACK_NO_START_SERVER, C.byref(status))
    if not client:
        sys.exit(f"daw_standin: cannot open a JACK client (status 0x{status.value:x})")
    ports = []
    pending = [0]

    def register(names):
        for port in ports:
            jack.jack_port_unregister(client, port)
        ports.clear()
        for port_name in names.split(","):
            port = jack.jack_port_register(client, port_name.encode(), AUDIO, JACK_PORT_IS_OUTPUT, 0)
            if not port:
                sys.exit(f"daw_standin: cannot register {port_name}")
            ports.append(port)
        print(f"ports {names}", flush=True)

    signal.signal(signal.SIGUSR1, lambda *_: pending.__setitem__(0, pending[0] + 1))
    signal.signal(signal.SIGTERM, lambda *_: (jack.jack_client_close(client), sys.exit(0)))
    register(sets[0])
    if jack.jack_activate(client) != 0:
        sys.exit("daw_standin: jack_activate failed")
    current = 0
    while True:
        signal.pause()
        while pending[0] and current + 1 < len(sets):
            pending[0] -= 1
            current += 1
            register(sets[current])


if __name__ == "__main__":
    main()
