// MelJack
