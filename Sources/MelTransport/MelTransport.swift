// MelTransport
