-- Leadership (issue 19): several controllers on one database, one leader.
-- Every controller upserts its row in controllers and beats last_seen; the
-- one row of leader_lease names the leader, the epoch it leads in (the
-- fencing token, incremented at every new lease) and when the lease lapses.
-- Times are microseconds since the epoch, from the database's own clock.
CREATE TABLE controllers (
	id         TEXT PRIMARY KEY,
	address    TEXT NOT NULL DEFAULT '',
	started_at BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL
);

CREATE TABLE leader_lease (
	id          BIGINT PRIMARY KEY,
	holder      TEXT NOT NULL DEFAULT '',
	epoch       BIGINT NOT NULL DEFAULT 0,
	expires_at  BIGINT NOT NULL DEFAULT 0,
	acquired_at BIGINT NOT NULL DEFAULT 0
);

INSERT INTO leader_lease (id, holder, epoch, expires_at, acquired_at) VALUES (1, '', 0, 0, 0);
