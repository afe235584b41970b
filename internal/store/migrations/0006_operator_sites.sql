-- Issue 14: an operator runs named sites (drains, resumes and takes them
-- down, sees and cancels the jobs placed there). The sites are JSON text
-- (a list of site ids); empty for every other role.

ALTER TABLE users ADD COLUMN sites TEXT NOT NULL DEFAULT '';
