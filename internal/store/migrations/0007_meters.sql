-- Issue 15: a meter per run of a job (per attempt), written once in the
-- transaction that records the run's end: what it used (accelerator-,
-- node-, CPU-core-hours, hours in its award's unit), its energy, carbon
-- and cost, who paid it (public/private) and the assumptions and policy
-- behind each figure. (job_id, attempt) is unique: a run is never counted
-- twice. Times are integer microseconds since the Unix epoch, UTC.

CREATE TABLE meters (
	job_id         BIGINT NOT NULL REFERENCES jobs (id),
	attempt        INTEGER NOT NULL,
	project        TEXT NOT NULL,
	org            TEXT NOT NULL,
	org_kind       TEXT NOT NULL,
	user_name      TEXT NOT NULL,
	mode           TEXT NOT NULL,
	site           TEXT NOT NULL,
	site_kind      TEXT NOT NULL,
	country        TEXT NOT NULL,
	pool           TEXT NOT NULL,
	model          TEXT NOT NULL,
	state          TEXT NOT NULL,
	start_time     BIGINT NOT NULL,
	end_time       BIGINT NOT NULL,
	accelerators   DOUBLE PRECISION NOT NULL,
	nodes          INTEGER NOT NULL,
	accel_hours    DOUBLE PRECISION NOT NULL,
	node_hours     DOUBLE PRECISION NOT NULL,
	cpu_core_hours DOUBLE PRECISION NOT NULL,
	award          TEXT NOT NULL,
	norm_unit      TEXT NOT NULL,
	norm_hours     DOUBLE PRECISION NOT NULL,
	power_w        DOUBLE PRECISION NOT NULL,
	power_source   TEXT NOT NULL,
	utilisation    DOUBLE PRECISION NOT NULL,
	pue            DOUBLE PRECISION NOT NULL,
	energy_kwh     DOUBLE PRECISION NOT NULL,
	carbon_factor  DOUBLE PRECISION NOT NULL,
	carbon_year    INTEGER NOT NULL,
	carbon_source  TEXT NOT NULL,
	carbon_kg      DOUBLE PRECISION NOT NULL,
	price          DOUBLE PRECISION NOT NULL,
	cost           DOUBLE PRECISION NOT NULL,
	public_cost    DOUBLE PRECISION NOT NULL,
	private_cost   DOUBLE PRECISION NOT NULL,
	policy         TEXT NOT NULL,
	capped_hours   DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (job_id, attempt)
);

CREATE INDEX meters_end ON meters (end_time);
CREATE INDEX meters_org_end ON meters (org, end_time);
CREATE INDEX meters_project ON meters (project);
