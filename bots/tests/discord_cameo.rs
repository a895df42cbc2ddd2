//! `/cameo` on Discord end to end: the real serenity client against the
//! fake Discord, the registry on SQLite and PostgreSQL, the stand-in
//! recording checks. The recording is an attachment of `/cameo submit`.

#[path = "common/fake_discord.rs"]
mod fake_discord;
#[path = "discord/harness.rs"]
#[allow(dead_code)]
mod harness;

use fake_discord::{cameo, cameo_autocomplete, token_of, Call, Place, APP_ID};
use harness::{Harness, GUILD};
use reel_bots::core::wording::cameo as words;
use reel_consent::{Audience, Person, Status};
use serde_json::json;

const ANN: u64 = 77;
const BOB: u64 = 88;
const CHANNEL: u64 = 5_000;

fn ann() -> Place {
    Place::guild(ANN, CHANNEL, GUILD)
}

fn person(user: u64) -> Person {
    Person::new("discord", user.to_string())
}

/// The text interaction `id` was finally answered with (its edited
/// original response, or its immediate message).
async fn answer(h: &Harness, id: u64) -> String {
    let webhook = format!("/webhooks/{APP_ID}/{}", token_of(id));
    h.fake
        .wait_until("an answer", || {
            let calls = h.fake.calls();
            let edited = calls.iter().rev().find(|c: &&Call| c.is("PATCH", &webhook));
            let at_once = calls
                .iter()
                .find(|c| c.is("POST", &format!("/interactions/{id}/")) && c.body["type"] == 4);
            edited.map(|c| c.content().to_string()).or_else(|| {
                at_once.map(|c| c.body["data"]["content"].as_str().unwrap_or("").to_string())
            })
        })
        .await
}

fn phrase_in(text: &str) -> String {
    let after = text
        .split("reading aloud:\n\n    ")
        .nth(1)
        .unwrap_or_else(|| panic!("no phrase in {text}"));
    after.split("\n\n").next().unwrap().to_string()
}

async fn register_and_submit_an_attachment(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let registry = h.registry.clone().unwrap();
    let registered = h.fake.calls_to("PUT", "/applications/").remove(0);
    let commands = registered.body.as_array().unwrap();
    let cameo_command = commands.iter().find(|c| c["name"] == "cameo").unwrap();
    let subs: Vec<&str> = cameo_command["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            assert_eq!(o["type"], 1, "a SUB_COMMAND");
            o["name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        subs,
        [
            "register", "submit", "status", "audience", "allow", "deny", "restrict", "approval",
            "clips", "withdraw", "erase", "approve", "reject"
        ]
    );
    let submit = &cameo_command["options"][1]["options"][0];
    assert_eq!(
        (submit["type"].as_u64(), submit["required"].as_bool()),
        (Some(11), Some(true))
    );

    let options = json!([{ "name": "name", "type": 3, "value": "ana" }]);
    h.fake
        .interaction(cameo(10, &ann(), "register", options, &[]));
    let challenge = answer(&h, 10).await;
    assert!(challenge.contains("/cameo submit"), "{challenge}");
    let phrase = phrase_in(&challenge);

    let url = h.fake.serve_attachment("take.mp4", phrase.as_bytes());
    let size = phrase.len() as u64;
    let options = json!([{ "name": "recording", "type": 11, "value": "700" }]);
    h.fake.interaction(cameo(
        11,
        &ann(),
        "submit",
        options,
        &[(700, "take.mp4", size, &url)],
    ));
    let done = answer(&h, 11).await;
    assert!(done.starts_with("Cameo ana is registered"), "{done}");
    let ana = registry.cameo(&person(ANN), "ana").await.unwrap();
    assert_eq!(ana.status, Status::Active);

    // A mention is a user; choices are typed.
    let options = json!([{ "name": "who", "type": 3, "value": "approved" }]);
    h.fake
        .interaction(cameo(12, &ann(), "audience", options, &[]));
    answer(&h, 12).await;
    let options = json!([{ "name": "user", "type": 6, "value": BOB.to_string() }]);
    h.fake.interaction(cameo(13, &ann(), "allow", options, &[]));
    answer(&h, 13).await;
    let ana = registry.cameo(&person(ANN), "ana").await.unwrap();
    assert_eq!(ana.audience, Audience::Approved);
    assert_eq!(ana.approved_users, [person(BOB)]);
    h.stop().await;
}

async fn oversized_attachments_are_refused_before_download(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let url = h.fake.serve_attachment("huge.mp4", b"never fetched");
    let huge = 60 << 20;
    let options = json!([{ "name": "recording", "type": 11, "value": "701" }]);
    h.fake.interaction(cameo(
        20,
        &ann(),
        "submit",
        options,
        &[(701, "huge.mp4", huge, &url)],
    ));
    let refused = answer(&h, 20).await;
    assert_eq!(refused, words::recording_too_large(huge, 50 * 1024 * 1024));
    assert!(h.fake.calls_to("GET", "/attachments/").is_empty());
    h.stop().await;
}

async fn autocomplete_lists_only_usable_cameos(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let registry = h.registry.clone().unwrap();
    let cameos = harness::cameos::registered;
    cameos(&registry, &person(ANN), "ana").await;
    cameos(&registry, &person(ANN), "anna_private").await;
    cameos(&registry, &person(BOB), "andy").await;
    registry
        .set_audience(&person(ANN), "ana", Audience::Everyone)
        .await
        .unwrap();

    let bob = Place::guild(BOB, CHANNEL, GUILD);
    h.fake.interaction(cameo_autocomplete(30, &bob, "an"));
    let offered = h.fake.wait_for_callback(30).await;
    assert_eq!(offered.body["type"], 8, "an autocomplete result");
    let names: Vec<&str> = offered.body["data"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ana", "andy"], "anna_private is Ann's alone");
    h.stop().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(false).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(true).await } )* }
    };
}

on_both_backends!(
    register_and_submit_an_attachment,
    oversized_attachments_are_refused_before_download,
    autocomplete_lists_only_usable_cameos,
    the_owner_is_asked_in_a_direct_message,
);

/// Approval mode `ask` on Discord: the owner is asked in a direct message,
/// with the clip attached and no mention resolved.
async fn the_owner_is_asked_in_a_direct_message(postgres: bool) {
    use reel_bots::core::{ChatSink, ClipFile};
    let h = Harness::start_with_cameos(postgres).await;
    let job = h
        .store
        .enqueue(&reel_store::NewJob {
            platform: "discord".into(),
            user_id: BOB.to_string(),
            chat_id: CHANNEL.to_string(),
            reply_handle: "{}".into(),
            prompt: "ana and @everyone dance".into(),
            duration_s: 1,
            width: 64,
            height: 64,
            fps: 4,
            seed: 1,
            cameo_ids: vec!["ana".into()],
            request_key: None,
            picture: None,
            say_line: None,
        })
        .await
        .unwrap();
    let clip = ClipFile {
        key: "clips/41.mp4".into(),
        data: bytes::Bytes::from_static(b"the clip itself"),
        local_path: None,
    };
    h.sink()
        .ask_approval(
            &ANN.to_string(),
            &job,
            &clip,
            "May clip #1 go out? @everyone",
        )
        .await
        .unwrap();
    let calls = h.fake.calls();
    let opened = calls
        .iter()
        .find(|c| c.is("POST", "/users/@me/channels"))
        .expect("a DM channel opened");
    assert_eq!(opened.body["recipient_id"], ANN.to_string());
    let sent = calls
        .iter()
        .find(|c| c.is("POST", &format!("/channels/9{ANN}/messages")))
        .expect("a message in the DM");
    assert!(
        sent.content().contains("May clip #1 go out?"),
        "{}",
        sent.content()
    );
    assert_eq!(sent.body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(sent.files.len(), 1, "the clip is attached");
    assert_eq!(sent.files[0].2, b"the clip itself");
    let bad = h.sink().ask_approval("not-a-user", &job, &clip, "x").await;
    assert!(bad.is_err());
    h.stop().await;
}
