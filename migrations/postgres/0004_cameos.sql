-- Cameos: a person's registered face and voice (issue 16). Owned by
-- reel-consent's registry; kept here so one `migrate` covers the database.
-- Times are unix milliseconds. Nothing biometric is stored in the clear:
-- cameo_media holds ciphertext only, under a per-cameo key that
-- cameo_keys holds wrapped by the master key (which is never stored).

-- Consent wording, versioned. Rows are never changed or removed (triggers
-- below): a consent record names the exact text and its SHA-256.
CREATE TABLE consent_texts (
    version    BIGSERIAL PRIMARY KEY,
    language   TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    sha256     TEXT    NOT NULL,              -- hex of SHA-256 over body (UTF-8)
    created_at BIGINT  NOT NULL,
    UNIQUE (language, sha256)
);

CREATE TABLE cameos (
    id                   BIGSERIAL PRIMARY KEY,
    owner_platform       TEXT    NOT NULL,
    owner_user           TEXT    NOT NULL,
    name                 TEXT    NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{1,19}$'),
    status               TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'withdrawn', 'erased')),
    audience             TEXT    NOT NULL DEFAULT 'only_me' CHECK (audience IN ('only_me', 'approved', 'everyone')),
    approval             TEXT    NOT NULL DEFAULT 'auto' CHECK (approval IN ('auto', 'ask')),
    restrictions         TEXT    NOT NULL DEFAULT '[]',   -- JSON array of normalised words and phrases
    consent_text_version BIGINT  NOT NULL REFERENCES consent_texts (version),
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL
);
-- A name is held until its cameo is erased; then it is free again.
CREATE UNIQUE INDEX cameos_by_name ON cameos (name) WHERE status <> 'erased';
CREATE INDEX cameos_by_owner ON cameos (owner_platform, owner_user);

-- Users the owner approved (audience `approved`).
CREATE TABLE cameo_grants (
    cameo_id   BIGINT NOT NULL REFERENCES cameos (id),
    platform   TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (cameo_id, platform, user_id)
);
CREATE INDEX cameo_grants_by_user ON cameo_grants (platform, user_id);

-- The cameo's own key, wrapped (AEAD) by the master key. Deleting this row
-- is what makes the media unreadable everywhere, backups included.
CREATE TABLE cameo_keys (
    cameo_id    BIGINT PRIMARY KEY REFERENCES cameos (id),
    master_id   TEXT   NOT NULL,                -- which master key wrapped it (a fingerprint, not the key)
    wrapped_key BYTEA  NOT NULL,                -- nonce || ciphertext || tag
    created_at  BIGINT NOT NULL
);

-- Reference media, encrypted with the cameo's key; bound to (cameo, kind)
-- by the AEAD's associated data, so a blob moved to another row fails.
CREATE TABLE cameo_media (
    cameo_id   BIGINT NOT NULL REFERENCES cameos (id),
    kind       TEXT   NOT NULL CHECK (kind IN ('face_image', 'voice_clip', 'embedding')),
    ciphertext BYTEA  NOT NULL,                 -- nonce || ciphertext || tag
    created_at BIGINT NOT NULL,
    PRIMARY KEY (cameo_id, kind)
);

-- The consent log: append-only and hash-chained. Each row's hash is
-- SHA-256 over a canonical encoding of (prev_hash, seq, cameo_id, kind,
-- actor, payload, at); see reel-consent's chain.rs.
CREATE TABLE consent_events (
    seq       BIGINT  PRIMARY KEY,              -- 1, 2, 3, … without gaps
    cameo_id  BIGINT  NOT NULL REFERENCES cameos (id),
    kind      TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    payload   TEXT    NOT NULL,                 -- JSON, hashed as stored
    at        BIGINT  NOT NULL,
    prev_hash TEXT    NOT NULL UNIQUE,          -- hex; 64 zeros for the first row
    hash      TEXT    NOT NULL UNIQUE           -- hex
);
CREATE INDEX consent_events_by_cameo ON consent_events (cameo_id, seq);

-- The database refuses to change the log: a trigger for every role
-- (superusers included), and the rights taken from the role that owns the
-- tables (the one running migrations; it could grant them back, but only
-- on purpose). PUBLIC never had them.
CREATE FUNCTION reel_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
    FOR EACH ROW EXECUTE FUNCTION reel_refuse_change();
CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events
    FOR EACH STATEMENT EXECUTE FUNCTION reel_refuse_change();
CREATE TRIGGER consent_texts_immutable BEFORE UPDATE OR DELETE ON consent_texts
    FOR EACH ROW EXECUTE FUNCTION reel_refuse_change();
CREATE TRIGGER consent_texts_no_truncate BEFORE TRUNCATE ON consent_texts
    FOR EACH STATEMENT EXECUTE FUNCTION reel_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON consent_events, consent_texts FROM PUBLIC, CURRENT_USER;

-- Which clip (job) used which cameo, at whose request: the owner's
-- "every clip with me" list.
CREATE TABLE clip_cameos (
    job_id             BIGINT NOT NULL,         -- jobs.id; no foreign key: retention sweeps jobs
    cameo_id           BIGINT NOT NULL REFERENCES cameos (id),
    requester_platform TEXT   NOT NULL,
    requester_user     TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (job_id, cameo_id)
);
CREATE INDEX clip_cameos_by_cameo ON clip_cameos (cameo_id, created_at);
CREATE INDEX clip_cameos_by_requester ON clip_cameos (requester_platform, requester_user);
