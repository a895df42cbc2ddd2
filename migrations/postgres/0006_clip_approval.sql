-- Approval mode `ask` (issue 16): the owner's answer about one clip. The
-- clip's clip_cameos row exists from render start; delivery asks the owner
-- once (approval_asked_at) and holds the clip until the answer.
ALTER TABLE clip_cameos ADD COLUMN approval_asked_at BIGINT;
ALTER TABLE clip_cameos ADD COLUMN approval TEXT CHECK (approval IN ('approved', 'rejected'));
ALTER TABLE clip_cameos ADD COLUMN approval_at BIGINT;
