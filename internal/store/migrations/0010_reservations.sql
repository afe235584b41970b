-- Advance reservations (issue 17): Accelerators of one model at a site set
-- aside for [start_at, end_at) for the jobs of the listed projects (JSON
-- text) that name the reservation. Times are microseconds since the epoch,
-- as everywhere in the store. The daemon gives every row to the engine at
-- start, so a reservation survives restarts.
CREATE TABLE reservations (
	id           TEXT PRIMARY KEY,
	site         TEXT NOT NULL,
	model        TEXT NOT NULL DEFAULT '',
	accelerators BIGINT NOT NULL,
	start_at     BIGINT NOT NULL,
	end_at       BIGINT NOT NULL,
	projects     TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	created_by   TEXT NOT NULL DEFAULT ''
);

CREATE INDEX reservations_site ON reservations (site, start_at);
