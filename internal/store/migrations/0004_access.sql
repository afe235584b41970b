-- The access process (issue 14): calls, proposals, reviews, reviewers'
-- declared conflicts, project memberships and awards. Lists and maps
-- (models, sites, hours by model) are JSON text. Times are integer
-- microseconds since the Unix epoch, UTC; 0 is "none" where a column is
-- NOT NULL, NULL where the record says "not yet" (submitted_at).

CREATE TABLE calls (
	id          TEXT PRIMARY KEY,
	title       TEXT NOT NULL,
	mode        TEXT NOT NULL,
	state       TEXT NOT NULL,
	opens       BIGINT NOT NULL,
	closes      BIGINT NOT NULL,
	kinds       TEXT NOT NULL,
	countries   TEXT NOT NULL,
	invited     TEXT NOT NULL,
	sites       TEXT NOT NULL,
	models      TEXT NOT NULL,
	total_hours DOUBLE PRECISION NOT NULL,
	max_hours   DOUBLE PRECISION NOT NULL,
	created_at  BIGINT NOT NULL,
	created_by  TEXT NOT NULL
);

-- A call's proposals are numbered from its own serial: next_serial is
-- bumped in the transaction that creates one.
CREATE TABLE call_serials (
	call_id        TEXT PRIMARY KEY REFERENCES calls (id),
	next_serial BIGINT NOT NULL
);

CREATE TABLE proposals (
	id           TEXT PRIMARY KEY,
	call_id         TEXT NOT NULL REFERENCES calls (id),
	project      TEXT NOT NULL REFERENCES projects (name),
	org          TEXT NOT NULL,
	pi           TEXT NOT NULL,
	title        TEXT NOT NULL,
	abstract     TEXT NOT NULL,
	hours        TEXT NOT NULL,
	period_start BIGINT NOT NULL,
	period_end   BIGINT NOT NULL,
	residency    TEXT NOT NULL,
	state        TEXT NOT NULL,
	decision     TEXT NOT NULL,
	submitted_at BIGINT,
	decided_at   BIGINT,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
CREATE INDEX proposals_call ON proposals (call_id, id);
CREATE INDEX proposals_project ON proposals (project, id);

CREATE TABLE reviews (
	proposal        TEXT NOT NULL REFERENCES proposals (id),
	reviewer        TEXT NOT NULL REFERENCES users (name),
	technical       BIGINT NOT NULL,
	scientific      BIGINT NOT NULL,
	comments        TEXT NOT NULL,
	conflict        BIGINT NOT NULL,
	conflict_reason TEXT NOT NULL,
	assigned_at     BIGINT NOT NULL,
	assigned_by     TEXT NOT NULL,
	submitted_at    BIGINT,
	PRIMARY KEY (proposal, reviewer)
);
CREATE INDEX reviews_reviewer ON reviews (reviewer, proposal);

-- org or project is '' when the conflict is with the other.
CREATE TABLE conflicts (
	reviewer    TEXT NOT NULL REFERENCES users (name),
	org         TEXT NOT NULL,
	project     TEXT NOT NULL,
	reason      TEXT NOT NULL,
	declared_at BIGINT NOT NULL,
	PRIMARY KEY (reviewer, org, project)
);

CREATE TABLE members (
	project   TEXT NOT NULL REFERENCES projects (name),
	user_name TEXT NOT NULL REFERENCES users (name),
	role      TEXT NOT NULL,
	added_at  BIGINT NOT NULL,
	added_by  TEXT NOT NULL,
	PRIMARY KEY (project, user_name)
);
CREATE INDEX members_user ON members (user_name, project);

CREATE TABLE awards (
	id         TEXT PRIMARY KEY,
	project    TEXT NOT NULL REFERENCES projects (name),
	proposal   TEXT NOT NULL,
	call_id       TEXT NOT NULL,
	mode       TEXT NOT NULL,
	hours      TEXT NOT NULL,
	valid_from BIGINT NOT NULL,
	valid_to   BIGINT NOT NULL,
	sites      TEXT NOT NULL,
	overdraft  DOUBLE PRECISION NOT NULL,
	created_at BIGINT NOT NULL,
	created_by TEXT NOT NULL
);
CREATE INDEX awards_project ON awards (project, id);
CREATE INDEX awards_call ON awards (call_id, id);
CREATE INDEX awards_valid_to ON awards (valid_to);
