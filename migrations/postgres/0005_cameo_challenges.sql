-- Registration challenges (issue 16): `/cameo register NAME` issues a
-- one-time phrase that holds NAME for its owner until it expires; one
-- recording of the owner reading it answers it. Times are unix ms of the
-- database's clock. Nothing biometric here: the recording itself is never
-- stored, only what the checks established (in consent_events).
CREATE TABLE cameo_challenges (
    id                   BIGSERIAL PRIMARY KEY,
    owner_platform       TEXT    NOT NULL,
    owner_user           TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    phrase               TEXT    NOT NULL,
    nonce                TEXT    NOT NULL UNIQUE,     -- random hex, recorded as evidence
    consent_text_version BIGINT  NOT NULL REFERENCES consent_texts (version),
    -- open: may be answered until expires_at; used: answered (single use);
    -- void: replaced by a newer challenge of the same owner.
    status               TEXT    NOT NULL CHECK (status IN ('open', 'used', 'void')),
    created_at           BIGINT  NOT NULL,
    expires_at           BIGINT  NOT NULL,
    used_at              BIGINT
);
CREATE INDEX cameo_challenges_by_owner ON cameo_challenges (owner_platform, owner_user, id);
CREATE INDEX cameo_challenges_by_name ON cameo_challenges (name, status, expires_at);
