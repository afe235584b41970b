-- Issue 14: tokens get a scope (read, submit or admin: what the token may
-- do within its user's role; the tokens that exist keep all their user may)
-- and an optional expiry; users a kind (person, or service for pipelines);
-- federated logins map an OIDC issuer's subject to the user it created, so
-- that a name alone never logs anyone into an account.

ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin';
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person';

CREATE TABLE identities (
	issuer     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	user_name  TEXT NOT NULL REFERENCES users (name),
	created_at BIGINT NOT NULL,
	PRIMARY KEY (issuer, subject)
);
