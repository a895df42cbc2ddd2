-- Where the request of each job sat in its enqueue batch: the batch's
-- INSERT returns it, so each caller gets its own row back (neither SQLite
-- nor PostgreSQL promises RETURNING's order, nor ids in VALUES order).
ALTER TABLE jobs ADD COLUMN enqueue_index BIGINT;

-- The retention sweep finds ended jobs by when they ended, and asks of each
-- clip object whether a job still refers to it.
CREATE INDEX jobs_by_finished_at ON jobs (finished_at);
CREATE INDEX jobs_by_clip_key ON jobs (clip_key);
