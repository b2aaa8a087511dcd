// MeltapClient
