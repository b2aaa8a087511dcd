// MelServer
