-- The platform's id for the event that queued a job (a Telegram message or
-- callback, a Discord interaction). Platforms redeliver events when they did
-- not see an acknowledgement; the unique index makes a redelivered event find
-- the job it queued instead of queueing a second one. NULL (terminal, jobs
-- from before this column) never collides.
ALTER TABLE jobs ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX jobs_by_request_key ON jobs (platform, request_key);

-- Every enqueue reads the last 20 render times for its ETA: without this the
-- read scans and sorts the whole history.
CREATE INDEX jobs_by_encoded_at ON jobs (encoded_at);
