//! What the registry's tests share: a database per test on either backend,
//! a registered cameo, raw SQL.
#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;

use reel_consent::Checkpoint;
use reel_consent::{
    CameoInfo, CameoRegistry, ConsentDecision, ConsentGate, ConsentRequest, Evidence, MasterKey,
    NewCameo, Person, ReferenceMedia,
};
use reel_store::testing::{fresh_postgres_database, open_with_clock, sqlite_url_in, ManualClock};
use reel_store::{Backend, Store, StoreOptions};
use sqlx::Row;

/// Bytes that appear in every test face image: they must never be found
/// in the database in the clear.
pub const FACE_MARKER: &[u8] = b"<<PLAINTEXT FACE MARKER 5f1c0de>>";

pub struct Db {
    pub store: Store,
    pub registry: CameoRegistry,
    pub master: MasterKey,
    pub url: String,
    pub dir: Option<tempfile::TempDir>,
}

impl Db {
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Runs `sql` as is, as the test's (superuser) connection would.
    pub async fn raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query(sql)
            .execute(self.store.write_pool())
            .await?
            .rows_affected())
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sql)
            .fetch_one(self.store.read_pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .try_get(0)
            .unwrap()
    }

    /// Registers a cameo `name` for `owner` with [`media`] and evidence.
    pub async fn register(&self, owner: &Person, name: &str) -> CameoInfo {
        let text = self
            .registry
            .publish_consent_text(
                "en",
                "I agree that reel may use my face and voice in clips.",
            )
            .await
            .unwrap();
        self.registry
            .register(NewCameo {
                owner: owner.clone(),
                name: name.into(),
                evidence: evidence(text.version),
                media: media(),
            })
            .await
            .unwrap()
    }

    /// What the gate says to `who` asking for `cameos` in `prompt`.
    pub async fn ask(&self, who: &Person, cameos: &[&str], prompt: &str) -> ConsentDecision {
        let cameos: Vec<String> = cameos.iter().map(|c| c.to_string()).collect();
        self.registry
            .check(&ConsentRequest {
                platform: &who.platform,
                user_id: &who.user_id,
                cameo_ids: &cameos,
                prompt,
                checkpoint: Checkpoint::Enqueue,
            })
            .await
            .unwrap()
    }
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url_in(dir.path());
    open(url, Some(dir)).await
}

pub async fn postgres() -> Db {
    open(fresh_postgres_database().await, None).await
}

async fn open(url: String, dir: Option<tempfile::TempDir>) -> Db {
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    with_store(store, url, dir)
}

/// A [`Db`] whose time moves only with `clock` (see `ManualClock`).
pub async fn sqlite_with_clock(clock: &ManualClock) -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url_in(dir.path());
    let store = open_with_clock(&url, StoreOptions::default(), clock)
        .await
        .unwrap();
    with_store(store, url, Some(dir))
}

pub async fn postgres_with_clock(clock: &ManualClock) -> Db {
    let url = fresh_postgres_database().await;
    let store = open_with_clock(&url, StoreOptions::default(), clock)
        .await
        .unwrap();
    with_store(store, url, None)
}

fn with_store(store: Store, url: String, dir: Option<tempfile::TempDir>) -> Db {
    let master = MasterKey::generate();
    Db {
        registry: CameoRegistry::new(store.clone(), master.clone()),
        store,
        master,
        url,
        dir,
    }
}

/// Runs each named test function on SQLite and on PostgreSQL (a test that
/// cannot reach PostgreSQL fails).
#[allow(unused_macros)] // not every test file runs on both backends this way
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(crate::common::sqlite().await).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(crate::common::postgres().await).await } )* }
    };
}

pub fn ana() -> Person {
    Person::new("telegram", "100")
}

pub fn bob() -> Person {
    Person::new("telegram", "200")
}

pub fn carol() -> Person {
    Person::new("discord", "300")
}

pub fn evidence(consent_text_version: i64) -> Evidence {
    Evidence {
        consent_text_version,
        message_id: "msg-42".into(),
        nonce: "n-7f3a".into(),
        transcript: "purple tiger 47 sings".into(),
        phrase_score: 1.0,
        face_score: 0.93,
        voice_score: 0.88,
        models: BTreeMap::from([
            ("speech".to_string(), "whisper-base@test".to_string()),
            ("face".to_string(), "scrfd+arcface@test".to_string()),
        ]),
    }
}

/// A face image large enough to spill into SQLite overflow pages, with
/// [`FACE_MARKER`] throughout.
pub fn media() -> ReferenceMedia {
    let mut face_image = Vec::new();
    for i in 0..400u32 {
        face_image.extend_from_slice(FACE_MARKER);
        face_image.extend_from_slice(&i.to_le_bytes());
    }
    ReferenceMedia {
        face_image,
        voice_clip: [b"RIFF-voice-".as_slice(), FACE_MARKER].concat(),
        embedding: (0..512u32).flat_map(|i| (i as f32).to_le_bytes()).collect(),
    }
}

pub fn refusal(decision: ConsentDecision) -> String {
    match decision {
        ConsentDecision::Refused(reason) => reason,
        ConsentDecision::Allowed => panic!("expected a refusal, got Allowed"),
    }
}
