// MelFiles
