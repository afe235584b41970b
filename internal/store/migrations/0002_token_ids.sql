-- Tokens get a public id (for listing and revoking them without showing
-- the secret) and the time they were last used. Ids come from the 'token'
-- counter; the tokens that exist already are numbered by creation time.

ALTER TABLE tokens ADD COLUMN id BIGINT;
ALTER TABLE tokens ADD COLUMN last_used BIGINT;
UPDATE tokens SET id = (SELECT COUNT(*) FROM tokens AS t2 WHERE t2.created_at < tokens.created_at OR (t2.created_at = tokens.created_at AND t2.hash <= tokens.hash));
CREATE UNIQUE INDEX tokens_id ON tokens (id);
CREATE INDEX tokens_user ON tokens (user_name, id);
INSERT INTO counters (name, value) SELECT 'token', COUNT(*) FROM tokens;
