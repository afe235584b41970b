package store

// ChainHash exposes the chain's hash to tests that rewrite the chain as an
// attacker who knows the algorithm but not the key would.
func ChainHash(prevHash string, e AuditEntry) string { return chainHash(prevHash, e) }
