-- Render jobs: one row per requested clip, the durable queue shared by every
-- process. Times are unix milliseconds (BIGINT), taken from the caller's clock.
CREATE TABLE jobs (
    id                BIGSERIAL PRIMARY KEY,
    platform          TEXT    NOT NULL,           -- terminal | discord | telegram
    user_id           TEXT    NOT NULL,           -- the platform's user id
    chat_id           TEXT    NOT NULL,           -- channel / chat / DM the request came from
    reply_handle      TEXT    NOT NULL,           -- adapter-owned JSON: where to post progress and the clip
    prompt            TEXT    NOT NULL,
    duration_s        BIGINT  NOT NULL,
    width             BIGINT  NOT NULL,
    height            BIGINT  NOT NULL,
    fps               BIGINT  NOT NULL,
    seed              BIGINT  NOT NULL,
    cameo_ids         TEXT    NOT NULL DEFAULT '[]', -- JSON array of likeness ids
    renderer          TEXT,                        -- which renderer produced the clip
    state             TEXT    NOT NULL,            -- queued | rendering | encoded | delivered | failed | cancelled | blocked
    progress_step     BIGINT  NOT NULL DEFAULT 0,
    progress_total    BIGINT  NOT NULL DEFAULT 0,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    max_attempts      BIGINT  NOT NULL,
    run_after         BIGINT  NOT NULL,            -- not claimed before (retry backoff)
    lease_owner       TEXT,                        -- worker or deliverer holding the job
    lease_expires_at  BIGINT,
    cancel_requested  BIGINT  NOT NULL DEFAULT 0,
    failure_reason    TEXT,
    clip_key          TEXT,                        -- object store key, never derived from user text
    clip_bytes        BIGINT,
    render_ms         BIGINT,
    delivery_attempts BIGINT  NOT NULL DEFAULT 0,
    delivery_receipt  TEXT,                        -- adapter's record of the post (message id, file id)
    outcome_posted    BIGINT  NOT NULL DEFAULT 0,  -- the final message (clip or reason) was posted
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    started_at        BIGINT,
    encoded_at        BIGINT,
    finished_at       BIGINT
);
CREATE INDEX jobs_by_state ON jobs (state, run_after, id);
CREATE INDEX jobs_by_user ON jobs (platform, user_id, created_at);

-- What happened to a job, in order: claims, retries, deliveries. Used to audit
-- and by the tests that prove no job is rendered or posted twice.
CREATE TABLE job_events (
    id      BIGSERIAL PRIMARY KEY,
    job_id  BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at      BIGINT  NOT NULL,
    kind    TEXT    NOT NULL,
    actor   TEXT    NOT NULL,
    detail  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX job_events_by_job ON job_events (job_id, id);

-- Live render workers, for the ETA and `reel jobs workers`.
CREATE TABLE workers (
    id         TEXT   PRIMARY KEY,
    host       TEXT   NOT NULL,
    renderer   TEXT   NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);

-- One row per user, locked at the start of every enqueue so that the per-user
-- limits are checked and the job inserted as one step.
CREATE TABLE user_gates (
    platform TEXT   NOT NULL,
    user_id  TEXT   NOT NULL,
    enqueues BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (platform, user_id)
);
