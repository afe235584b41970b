-- Signed checkpoints of the audit chain (issue 15). Each row covers the
-- entries first_seq..last_seq: hashes holds their chain hashes (64 hex
-- characters each, concatenated, in seq order) and signature is the hex
-- Ed25519 signature, by the key in the data directory's audit.key, of the
-- message auditCheckpointMessage builds from first_seq, last_seq, time and
-- the SHA-256 of hashes. Whoever can write the database can recompute the
-- hash chain but cannot sign a checkpoint for it.
CREATE TABLE audit_checkpoints (
	last_seq   BIGINT PRIMARY KEY,
	first_seq  BIGINT NOT NULL,
	time       BIGINT NOT NULL,
	hashes     TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	signature  TEXT NOT NULL
);

-- gf audit log filters by actor, object, action and time.
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_object ON audit (object, seq);
CREATE INDEX audit_time ON audit (time, seq);
