-- A line to speak in the clip (issue 17, `/video … say:"…"`): checked by
-- the command core (as prompts are: no control characters, at most 300
-- characters), spoken by the worker. NULL: a clip without a spoken line.
ALTER TABLE jobs ADD COLUMN say_line TEXT;

-- A cameo's voice prompt for the speech model, made once from its consent
-- recording (decoded, trimmed to speech, loudness-normalised, with the
-- phrase as transcript) and kept sealed under the cameo's own key, like
-- its other media (cameo_media), so an erasure's crypto-shredding covers
-- it too. It is a cache: deleted when the cameo is withdrawn or erased.
-- The foreign key to cameo_keys (ON DELETE CASCADE) makes sure a prompt
-- written while an erasure runs goes with the key, never outlives it.
CREATE TABLE cameo_voice_prompts (
    cameo_id   BIGINT PRIMARY KEY REFERENCES cameo_keys (cameo_id) ON DELETE CASCADE,
    ciphertext BLOB   NOT NULL,                 -- nonce || ciphertext || tag
    created_at BIGINT NOT NULL
);
