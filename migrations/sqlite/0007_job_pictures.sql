-- A picture attached to /video (issue 14): the job's first frame. The
-- command core stores the checked PNG (decoded and re-encoded, nothing else
-- of the upload) in the job's own enqueue transaction, so a worker never
-- claims the job without it and it survives a restart. It goes with the
-- clip: when the clip is deleted, when retention expires the job's clip (or
-- would have, for a job that made none), and with the job row at the latest.
CREATE TABLE job_pictures (
    job_id     BIGINT PRIMARY KEY REFERENCES jobs (id),
    png        BLOB   NOT NULL,
    created_at BIGINT NOT NULL
);
