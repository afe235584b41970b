-- Initial schema. One text for SQLite and PostgreSQL: BIGINT, TEXT and
-- DOUBLE PRECISION mean the same on both. The single dialect difference is
-- the job id column, written ID_PK (see migrate.go): SQLite's INTEGER PRIMARY
-- KEY aliases the rowid, PostgreSQL's INTEGER would be 32-bit.
-- Times are integer microseconds since the Unix epoch, UTC.

CREATE TABLE orgs (
	name       TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,
	country    TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE projects (
	name             TEXT PRIMARY KEY,
	org              TEXT NOT NULL REFERENCES orgs (name),
	description      TEXT NOT NULL,
	budget_accel_hrs DOUBLE PRECISION NOT NULL,
	created_at       BIGINT NOT NULL
);
CREATE INDEX projects_org ON projects (org, name);

CREATE TABLE users (
	name       TEXT PRIMARY KEY,
	email      TEXT NOT NULL,
	org        TEXT NOT NULL,
	role       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

-- Only the hex SHA-256 of an API token is ever stored.
CREATE TABLE tokens (
	hash       TEXT PRIMARY KEY,
	user_name  TEXT NOT NULL REFERENCES users (name),
	label      TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

-- Counters hand out job ids and audit sequence numbers. Bumping a counter
-- row is the first write of a transaction, so it takes the write lock (SQLite)
-- or the row lock (PostgreSQL) and ids grow in commit order.
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('job', 0);
INSERT INTO counters (name, value) VALUES ('audit', 0);

CREATE TABLE jobs (
	id              ID_PK,
	name            TEXT NOT NULL,
	project         TEXT NOT NULL,
	org             TEXT NOT NULL,
	user_name       TEXT NOT NULL,
	state           TEXT NOT NULL,
	reason          TEXT NOT NULL,
	site            TEXT NOT NULL,
	spec            TEXT NOT NULL,
	alloc           TEXT,
	submit_time     BIGINT NOT NULL,
	start_time      BIGINT,
	end_time        BIGINT,
	exit_code       BIGINT,
	signal          TEXT NOT NULL,
	attempt         BIGINT NOT NULL,
	idem_key        TEXT,
	handle          TEXT NOT NULL,
	estimated_start BIGINT,
	update_time     BIGINT NOT NULL,
	event_seq       BIGINT NOT NULL
);
-- NULL keys never collide, so jobs without an idempotency key are free.
CREATE UNIQUE INDEX jobs_idem ON jobs (user_name, idem_key);
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_project ON jobs (project, id);
CREATE INDEX jobs_user ON jobs (user_name, id);
CREATE INDEX jobs_org ON jobs (org, id);
CREATE INDEX jobs_site ON jobs (site, id);

CREATE TABLE job_events (
	job_id  BIGINT NOT NULL,
	seq     BIGINT NOT NULL,
	time    BIGINT NOT NULL,
	type    TEXT NOT NULL,
	state   TEXT NOT NULL,
	message TEXT NOT NULL,
	PRIMARY KEY (job_id, seq)
);

CREATE TABLE audit (
	seq       BIGINT PRIMARY KEY,
	time      BIGINT NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	object    TEXT NOT NULL,
	detail    TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);

CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
