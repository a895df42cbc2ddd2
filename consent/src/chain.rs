//! The consent log's hash chain.
//!
//! Every event stores the hash of the one before it (64 zeros for the
//! first) and its own hash: SHA-256 over a canonical encoding of
//! (prev_hash, seq, cameo_id, kind, actor, payload, at). The encoding is a
//! domain tag, then each field in that order: integers as 8 bytes big
//! endian, text as its UTF-8 length (8 bytes big endian) followed by its
//! bytes. Length prefixes make it unambiguous (no two field lists encode
//! alike), and the payload is hashed as stored, so no JSON
//! canonicalisation is needed. One chain runs across all cameos, so a
//! deleted event anywhere shows as a gap in `seq` or a broken link.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::crypto::hex;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"reel/consent-event/v1\0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Granted,
    Verified,
    AudienceChanged,
    GrantAdded,
    GrantRemoved,
    RestrictionsChanged,
    ApprovalModeChanged,
    ApprovalGiven,
    ApprovalRefused,
    Withdrawn,
    /// The tombstone: media and key destroyed.
    Erased,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::Verified => "verified",
            Self::AudienceChanged => "audience_changed",
            Self::GrantAdded => "grant_added",
            Self::GrantRemoved => "grant_removed",
            Self::RestrictionsChanged => "restrictions_changed",
            Self::ApprovalModeChanged => "approval_mode_changed",
            Self::ApprovalGiven => "approval_given",
            Self::ApprovalRefused => "approval_refused",
            Self::Withdrawn => "withdrawn",
            Self::Erased => "erased",
        }
    }
}

/// One row of the log, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentEvent {
    pub seq: i64,
    pub cameo_id: i64,
    pub kind: String,
    pub actor: String,
    /// JSON text, exactly as hashed.
    pub payload: String,
    pub at: i64,
    pub prev_hash: String,
    pub hash: String,
}

impl ConsentEvent {
    /// The hash this event's fields call for (compare with `hash`).
    pub fn expected_hash(&self) -> String {
        event_hash(
            &self.prev_hash,
            self.seq,
            self.cameo_id,
            &self.kind,
            &self.actor,
            &self.payload,
            self.at,
        )
    }
}

pub(crate) fn event_hash(
    prev_hash: &str,
    seq: i64,
    cameo_id: i64,
    kind: &str,
    actor: &str,
    payload: &str,
    at: i64,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    text(&mut hasher, prev_hash);
    hasher.update(seq.to_be_bytes());
    hasher.update(cameo_id.to_be_bytes());
    text(&mut hasher, kind);
    text(&mut hasher, actor);
    text(&mut hasher, payload);
    hasher.update(at.to_be_bytes());
    hex(&hasher.finalize())
}

fn text(hasher: &mut Sha256, value: &str) {
    hasher.update((value.len() as u64).to_be_bytes());
    hasher.update(value.as_bytes());
}

/// What `verify_chain` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum ChainReport {
    /// Every link holds; `head` is the last event's hash (none: empty log).
    Intact { events: i64, head: Option<String> },
    /// The first link that does not hold: the event at `seq` (or where it
    /// should be), and why.
    Broken { seq: i64, reason: String },
}

/// Walks the log in `seq` order, one event at a time.
#[derive(Debug)]
pub(crate) struct ChainWalk {
    next_seq: i64,
    prev_hash: String,
}

impl ChainWalk {
    pub(crate) fn new() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS.to_string(),
        }
    }

    /// Checks the next event; the error names the broken link.
    pub(crate) fn step(&mut self, event: &ConsentEvent) -> Result<(), ChainReport> {
        let broken = |seq: i64, reason: String| Err(ChainReport::Broken { seq, reason });
        if event.seq != self.next_seq {
            return broken(
                self.next_seq,
                format!(
                    "event {} is missing (the next stored is {})",
                    self.next_seq, event.seq
                ),
            );
        }
        if event.prev_hash != self.prev_hash {
            return broken(
                event.seq,
                format!(
                    "its prev_hash {} is not the previous event's hash {}",
                    event.prev_hash, self.prev_hash
                ),
            );
        }
        let expected = event.expected_hash();
        if event.hash != expected {
            return broken(
                event.seq,
                format!(
                    "its stored hash {} does not match its content (which hashes to {expected}): the row was altered",
                    event.hash
                ),
            );
        }
        self.next_seq += 1;
        self.prev_hash = event.hash.clone();
        Ok(())
    }

    pub(crate) fn finish(self) -> ChainReport {
        let events = self.next_seq - 1;
        ChainReport::Intact {
            events,
            head: (events > 0).then_some(self.prev_hash),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, prev: &str, payload: &str) -> ConsentEvent {
        let mut e = ConsentEvent {
            seq,
            cameo_id: 1,
            kind: "granted".into(),
            actor: "terminal:ana".into(),
            payload: payload.into(),
            at: 1000 + seq,
            prev_hash: prev.into(),
            hash: String::new(),
        };
        e.hash = e.expected_hash();
        e
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        // The same bytes split differently between fields hash differently.
        let a = event_hash(GENESIS, 1, 1, "ab", "c", "{}", 5);
        let b = event_hash(GENESIS, 1, 1, "a", "bc", "{}", 5);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn a_walk_names_the_first_broken_link() {
        let first = event(1, GENESIS, "{}");
        let second = event(2, &first.hash, r#"{"a":1}"#);
        let mut third = event(3, &second.hash, "{}");
        let mut walk = ChainWalk::new();
        walk.step(&first).unwrap();
        walk.step(&second).unwrap();
        third.payload = r#"{"a":2}"#.into();
        match walk.step(&third) {
            Err(ChainReport::Broken { seq, reason }) => {
                assert_eq!(seq, 3);
                assert!(reason.contains("altered"), "{reason}");
            }
            other => panic!("tampering went unnoticed: {other:?}"),
        }
        let mut walk = ChainWalk::new();
        walk.step(&first).unwrap();
        match walk.step(&event(3, &first.hash, "{}")) {
            Err(ChainReport::Broken { seq: 2, .. }) => {}
            other => panic!("a gap went unnoticed: {other:?}"),
        }
    }
}
