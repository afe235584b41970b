-- Issue 15: the AI Act compute ledger (rules in package aiact). A
-- contribution is the compute one job plans (kind planned, attempt 0) or
-- one attempt of it used (kind actual), kept with its inputs and
-- assumptions as JSON; (job_id, attempt, kind) is unique, so a run is
-- never counted twice. A notification is unique per organisation, model
-- and kind: a threshold is crossed once, whatever restarts or replays
-- follow. Times are integer microseconds since the Unix epoch, UTC.

CREATE TABLE aiact_contributions (
	job_id  BIGINT NOT NULL,
	attempt INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	org     TEXT NOT NULL,
	model   TEXT NOT NULL,
	at      BIGINT NOT NULL,
	data    TEXT NOT NULL,
	PRIMARY KEY (job_id, attempt, kind)
);

CREATE INDEX aiact_contributions_model ON aiact_contributions (org, model);

CREATE TABLE aiact_notifications (
	org       TEXT NOT NULL,
	model     TEXT NOT NULL,
	kind      TEXT NOT NULL,
	at        BIGINT NOT NULL,
	job_id    BIGINT NOT NULL,
	flop      DOUBLE PRECISION NOT NULL,
	data      TEXT NOT NULL,
	raised_at BIGINT NOT NULL,
	PRIMARY KEY (org, model, kind)
);
