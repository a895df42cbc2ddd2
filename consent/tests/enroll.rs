//! Registration by challenge on both backends, with a deterministic
//! stand-in for the recording checks (the real ones, with the models, are
//! tested in the binary crate's `tests/enroll_recordings.rs`).

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use common::{ana, bob, media, Db};
use reel_consent::{
    CameoInfo, RecordingRefused, RecordingVerifier, RegistryError, Status, Submission,
    VerifiedRecording, CHALLENGE_TTL_MS, CHALLENGE_WORDS, CONSENT_TEXT_EN, PHRASE_WORDS,
};
use reel_consent::{Challenge, Person};
use reel_store::testing::ManualClock;
use serde_json::Value;

/// Runs each test on SQLite and PostgreSQL, with a clock only the test moves.
macro_rules! with_clock_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() {
            let clock = reel_store::testing::ManualClock::new(0);
            super::$name(crate::common::sqlite_with_clock(&clock).await, clock).await
        } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() {
            let clock = reel_store::testing::ManualClock::new(0);
            super::$name(crate::common::postgres_with_clock(&clock).await, clock).await
        } )* }
    };
}

with_clock_on_both_backends!(
    a_recording_answers_the_challenge_once_and_is_recorded_as_evidence,
    an_expired_challenge_is_refused,
    forwarded_media_is_refused_and_the_challenge_stays_open,
    a_refused_recording_stores_nothing_and_the_challenge_stays_open,
    a_challenge_holds_its_name_until_it_expires,
    nobody_answers_someone_elses_challenge,
    an_erasure_request_removes_the_persons_challenges,
);

/// The stand-in checks: accepts (hearing exactly the phrase) or refuses
/// with a fixed text, and remembers the phrases it was asked about.
struct StandIn {
    refusal: Option<&'static str>,
    asked: Mutex<Vec<String>>,
}

impl StandIn {
    fn accepting() -> Self {
        Self {
            refusal: None,
            asked: Mutex::new(Vec::new()),
        }
    }

    fn refusing(text: &'static str) -> Self {
        Self {
            refusal: Some(text),
            asked: Mutex::new(Vec::new()),
        }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl RecordingVerifier for StandIn {
    async fn verify(
        &self,
        _recording: &Path,
        phrase: &str,
    ) -> Result<VerifiedRecording, RecordingRefused> {
        self.asked.lock().unwrap().push(phrase.to_string());
        if let Some(text) = self.refusal {
            return Err(RecordingRefused(text.to_string()));
        }
        Ok(VerifiedRecording {
            transcript: format!("Okay: {phrase}."),
            phrase_score: 1.0,
            face_score: 0.97,
            voice_score: 0.81,
            models: BTreeMap::from([
                ("face".to_string(), "stand-in-face@1".to_string()),
                ("speech".to_string(), "stand-in-speech@1".to_string()),
            ]),
            media: media(),
        })
    }
}

fn submission(owner: Person, forwarded: bool) -> Submission {
    Submission {
        owner,
        message_id: "tg-msg-901".into(),
        forwarded,
        path: PathBuf::from("/nonexistent/recording.mp4"),
    }
}

async fn finish(db: &Db, who: Person, verifier: &StandIn) -> Result<CameoInfo, RegistryError> {
    db.registry
        .finish_registration(&submission(who, false), verifier)
        .await
}

/// Rows in the tables a registration writes: cameos, keys, media, events.
async fn stored(db: &Db) -> [i64; 4] {
    [
        db.count("SELECT COUNT(*) FROM cameos").await,
        db.count("SELECT COUNT(*) FROM cameo_keys").await,
        db.count("SELECT COUNT(*) FROM cameo_media").await,
        db.count("SELECT COUNT(*) FROM consent_events").await,
    ]
}

fn payload(db_event: &reel_consent::ConsentEvent) -> Value {
    serde_json::from_str(&db_event.payload).unwrap()
}

async fn a_recording_answers_the_challenge_once_and_is_recorded_as_evidence(
    db: Db,
    _clock: ManualClock,
) {
    let challenge: Challenge = db
        .registry
        .start_registration(&ana(), "@Ana")
        .await
        .unwrap();
    assert_eq!(challenge.name, "ana");
    let words: Vec<&str> = challenge.phrase.split(' ').collect();
    assert_eq!(words.len(), PHRASE_WORDS, "{}", challenge.phrase);
    assert!(words.iter().all(|w| CHALLENGE_WORDS.contains(w)));
    assert_eq!(challenge.consent_text.body, CONSENT_TEXT_EN);
    assert_eq!(challenge.consent_text.language, "en");
    let created: i64 = db.count("SELECT created_at FROM cameo_challenges").await;
    assert_eq!(challenge.expires_at, created + CHALLENGE_TTL_MS);

    let verifier = StandIn::accepting();
    let info = finish(&db, ana(), &verifier).await.unwrap();
    assert_eq!(verifier.asked(), std::slice::from_ref(&challenge.phrase));
    assert_eq!(info.name, "ana");
    assert_eq!(info.owner, ana());
    assert_eq!(info.status, Status::Active);
    assert_eq!(info.consent_text_version, challenge.consent_text.version);
    assert_eq!(db.registry.reference_media("ana").await.unwrap(), media());

    let events = db.registry.events_of(info.id.0).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["granted", "verified"]);
    let granted = payload(&events[0]);
    assert_eq!(
        granted["consent_text_version"],
        challenge.consent_text.version
    );
    assert_eq!(
        granted["consent_text_sha256"],
        challenge.consent_text.sha256
    );
    assert_eq!(granted["message_id"], "tg-msg-901");
    let verified = payload(&events[1]);
    let nonce: String = sqlx::query_scalar("SELECT nonce FROM cameo_challenges")
        .fetch_one(db.store.read_pool())
        .await
        .unwrap();
    assert_eq!(nonce.len(), 32);
    assert_eq!(verified["nonce"], nonce.as_str());
    assert_eq!(
        verified["transcript"],
        format!("Okay: {}.", challenge.phrase)
    );
    assert_eq!(verified["phrase_score"], 1.0);
    assert_eq!(verified["face_score"], 0.97);
    assert_eq!(verified["voice_score"], 0.81);
    assert_eq!(verified["models"]["speech"], "stand-in-speech@1");
    assert_eq!(verified["message_id"], "tg-msg-901");

    // Single use: answering again is ChallengeUsed, and checks nothing.
    let again = StandIn::accepting();
    assert!(matches!(
        finish(&db, ana(), &again).await,
        Err(RegistryError::ChallengeUsed)
    ));
    assert!(again.asked().is_empty());
    assert_eq!(stored(&db).await, [1, 1, 3, 2]);
}

async fn an_expired_challenge_is_refused(db: Db, clock: ManualClock) {
    db.registry.start_registration(&ana(), "ana").await.unwrap();
    clock.advance(Duration::from_millis(CHALLENGE_TTL_MS as u64 - 1_000));
    db.registry.start_registration(&ana(), "ana").await.unwrap(); // voids the first
    clock.advance(Duration::from_millis(CHALLENGE_TTL_MS as u64 + 1));
    let verifier = StandIn::accepting();
    assert!(matches!(
        finish(&db, ana(), &verifier).await,
        Err(RegistryError::ChallengeExpired)
    ));
    assert!(
        verifier.asked().is_empty(),
        "an expired challenge is not checked"
    );
    assert_eq!(stored(&db).await, [0, 0, 0, 0]);
    // A new phrase works.
    let fresh = db.registry.start_registration(&ana(), "ana").await.unwrap();
    finish(&db, ana(), &verifier).await.unwrap();
    assert_eq!(verifier.asked(), [fresh.phrase]);
}

async fn forwarded_media_is_refused_and_the_challenge_stays_open(db: Db, _clock: ManualClock) {
    db.registry.start_registration(&ana(), "ana").await.unwrap();
    let verifier = StandIn::accepting();
    let forwarded = db
        .registry
        .finish_registration(&submission(ana(), true), &verifier)
        .await;
    assert!(matches!(forwarded, Err(RegistryError::Forwarded)));
    assert!(verifier.asked().is_empty());
    assert_eq!(stored(&db).await, [0, 0, 0, 0]);
    finish(&db, ana(), &verifier).await.unwrap();
}

async fn a_refused_recording_stores_nothing_and_the_challenge_stays_open(
    db: Db,
    _clock: ManualClock,
) {
    let challenge = db.registry.start_registration(&ana(), "ana").await.unwrap();
    let text = "I couldn't hear the phrase: say the five words clearly, in one take";
    let refusing = StandIn::refusing(text);
    match finish(&db, ana(), &refusing).await {
        Err(RegistryError::Recording(refused)) => assert_eq!(refused.0, text),
        other => panic!("expected the verifier's refusal, got {other:?}"),
    }
    assert_eq!(refusing.asked(), std::slice::from_ref(&challenge.phrase));
    assert_eq!(stored(&db).await, [0, 0, 0, 0]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM cameo_challenges WHERE status = 'open'")
            .await,
        1
    );
    // Another take answers the same challenge.
    let accepting = StandIn::accepting();
    finish(&db, ana(), &accepting).await.unwrap();
    assert_eq!(accepting.asked(), [challenge.phrase]);
}

async fn a_challenge_holds_its_name_until_it_expires(db: Db, clock: ManualClock) {
    let r = &db.registry;
    r.start_registration(&ana(), "ana").await.unwrap();
    assert!(
        matches!(r.start_registration(&bob(), "ANA").await, Err(RegistryError::NameTaken(n)) if n == "ana")
    );
    for bad in ["a", "1ana", "ana b", ""] {
        assert!(
            matches!(
                r.start_registration(&bob(), bad).await,
                Err(RegistryError::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
    // The owner asking again (for the same or another name) replaces the
    // challenge, which frees the old name.
    r.start_registration(&ana(), "anna").await.unwrap();
    r.start_registration(&bob(), "ana").await.unwrap();
    let verifier = StandIn::accepting();
    assert_eq!(finish(&db, ana(), &verifier).await.unwrap().name, "anna");
    // A registered name is taken for good; an expired hold is not.
    assert!(matches!(
        r.start_registration(&bob(), "anna").await,
        Err(RegistryError::NameTaken(_))
    ));
    clock.advance(Duration::from_millis(CHALLENGE_TTL_MS as u64 + 1));
    r.start_registration(&ana(), "ana").await.unwrap();
    assert!(matches!(
        finish(&db, bob(), &verifier).await,
        Err(RegistryError::ChallengeExpired)
    ));
    assert_eq!(finish(&db, ana(), &verifier).await.unwrap().name, "ana");
    assert_eq!(stored(&db).await, [2, 2, 6, 4]);
}

async fn nobody_answers_someone_elses_challenge(db: Db, _clock: ManualClock) {
    let verifier = StandIn::accepting();
    assert!(matches!(
        finish(&db, ana(), &verifier).await,
        Err(RegistryError::NoChallenge)
    ));
    let challenge = db.registry.start_registration(&ana(), "ana").await.unwrap();
    assert!(matches!(
        finish(&db, bob(), &verifier).await,
        Err(RegistryError::NoChallenge)
    ));
    assert!(verifier.asked().is_empty());
    assert_eq!(stored(&db).await, [0, 0, 0, 0]);
    let info = finish(&db, ana(), &verifier).await.unwrap();
    assert_eq!(info.owner, ana());
    assert_eq!(verifier.asked(), [challenge.phrase]);
}

async fn an_erasure_request_removes_the_persons_challenges(db: Db, _clock: ManualClock) {
    let verifier = StandIn::accepting();
    db.registry.start_registration(&ana(), "ana").await.unwrap();
    finish(&db, ana(), &verifier).await.unwrap();
    db.registry
        .start_registration(&ana(), "anna")
        .await
        .unwrap();
    db.registry.start_registration(&bob(), "bob").await.unwrap();
    assert_eq!(db.registry.erase_person(&ana(), "op").await.unwrap(), 1);
    let left = "SELECT COUNT(*) FROM cameo_challenges WHERE owner_user = '100'";
    assert_eq!(db.count(left).await, 0);
    assert!(matches!(
        finish(&db, ana(), &verifier).await,
        Err(RegistryError::NoChallenge)
    ));
    // Others' challenges stay.
    finish(&db, bob(), &verifier).await.unwrap();
}
