//! `/cameo` on Telegram end to end: the real teloxide client against the
//! fake Bot API, the registry on SQLite and PostgreSQL, the stand-in
//! recording checks. A video note in a private chat answers the challenge.

#[path = "telegram/fake.rs"]
#[allow(dead_code)] // each test binary uses its own part
mod fake;
#[path = "telegram/harness.rs"]
#[allow(dead_code)]
mod harness;

use fake::{callback, text_update, video_note_update, video_update};
use harness::Harness;
use reel_bots::core::wording::cameo as words;
use reel_consent::{Person, Status};

const ANN: i64 = 77;
const BOB: i64 = 88;

/// The phrase in a `/cameo register` answer.
fn phrase_in(text: &str) -> String {
    let after = text
        .split("reading aloud:\n\n    ")
        .nth(1)
        .unwrap_or_else(|| panic!("no phrase in {text}"));
    after.split("\n\n").next().unwrap().to_string()
}

/// The text of the `n`th sendMessage (1-based) once it was sent.
async fn nth_message(h: &Harness, n: usize) -> String {
    let calls = h.fake.wait_for("sendMessage", n).await;
    calls[n - 1].str("text").to_string()
}

fn ann() -> Person {
    Person::new("telegram", ANN.to_string())
}

async fn a_video_note_registers_a_cameo(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let registry = h.registry.clone().unwrap();
    h.fake.push(text_update(1, ANN, ANN, "/cameo register ana"));
    let challenge = nth_message(&h, 1).await;
    assert!(challenge.contains("video note"), "{challenge}");
    assert!(challenge.contains(harness::cameos::CONSENT_TEXT) || challenge.contains("consent"));
    let phrase = phrase_in(&challenge);

    // Someone else's recording of the phrase answers nothing of Ann's.
    h.fake.serve_file("note-bob", phrase.as_bytes());
    h.fake
        .push(video_note_update(2, BOB, "note-bob", phrase.len(), false));
    let refused = nth_message(&h, 2).await;
    assert!(!refused.contains("registered"), "{refused}");

    h.fake
        .serve_file("note-1", format!("… {phrase} …").as_bytes());
    h.fake
        .push(video_note_update(3, ANN, "note-1", phrase.len() + 6, false));
    let done = nth_message(&h, 3).await;
    assert!(done.starts_with("Cameo ana is registered"), "{done}");
    assert!(h.fake.downloads().contains(&"videos/note-1".to_string()));
    let ana = registry.cameo(&ann(), "ana").await.unwrap();
    assert_eq!(ana.status, Status::Active);

    h.fake.push(text_update(4, ANN, ANN, "/cameo status"));
    let status = nth_message(&h, 4).await;
    assert_eq!(status, words::status(&ana));
    h.stop().await;
}

async fn forwarded_and_unasked_recordings_are_refused(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let registry = h.registry.clone().unwrap();

    // No challenge yet: a hint, nothing stored.
    h.fake.serve_file("video-1", b"hello");
    h.fake.push(video_update(1, ANN, "video-1", 5));
    let hint = nth_message(&h, 1).await;
    assert!(hint.contains("/cameo register"), "{hint}");

    h.fake.push(text_update(2, ANN, ANN, "/cameo register ana"));
    let phrase = phrase_in(&nth_message(&h, 2).await);
    h.fake.serve_file("note-fwd", phrase.as_bytes());
    h.fake
        .push(video_note_update(3, ANN, "note-fwd", phrase.len(), true));
    let forwarded = nth_message(&h, 3).await;
    assert!(forwarded.contains("forwarded"), "{forwarded}");

    // Over the size limit: refused before anything is downloaded.
    let getfiles = h.fake.calls_to("getFile").len();
    h.fake
        .push(video_note_update(4, ANN, "note-huge", 60 << 20, false));
    let too_large = nth_message(&h, 4).await;
    assert_eq!(
        too_large,
        words::recording_too_large(60 << 20, 50 * 1024 * 1024)
    );
    assert_eq!(h.fake.calls_to("getFile").len(), getfiles);

    assert!(registry.cameos_of(&ann()).await.unwrap().is_empty());
    h.stop().await;
}

async fn clips_with_a_delete_button_remove_the_clip(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let registry = h.registry.clone().unwrap();
    harness::cameos::registered(&registry, &ann(), "ana").await;
    h.fake
        .push(text_update(1, ANN, ANN, "/cameo audience everyone"));
    nth_message(&h, 1).await;
    h.fake
        .push(text_update(2, BOB, BOB, "/video ana waves cameo:ana"));
    nth_message(&h, 2).await;
    let job = h.jobs().await.remove(0);
    assert_eq!(job.cameo_ids, ["ana"]);
    let job = h.deliver(job.id).await;
    registry
        .record_clip(
            job.id,
            &Person::new("telegram", BOB.to_string()),
            &job.cameo_ids,
        )
        .await
        .unwrap();
    let key = job.clip_key.clone().unwrap();

    h.fake.push(text_update(3, ANN, ANN, "/cameo clips"));
    let calls = h.fake.wait_for("sendMessage", 3).await;
    let list = calls.last().unwrap();
    let data =
        reel_bots::core::actions::encode(reel_bots::core::actions::Action::RemoveCameoClip, job.id);
    assert_eq!(list.buttons(), std::slice::from_ref(&data));

    // Bob (the requester) can't press it; Ann can.
    h.fake.push(callback("cb-1", BOB, BOB, 1003, &data));
    let answers = h.fake.wait_for("answerCallbackQuery", 1).await;
    assert_eq!(answers[0].str("text"), words::not_your_clip(job.id));
    assert!(h.clips.get(&key).await.is_ok());
    h.fake.push(callback("cb-2", ANN, ANN, 1003, &data));
    let answers = h.fake.wait_for("answerCallbackQuery", 2).await;
    assert_eq!(answers[1].str("text"), words::clip_removed(job.id));
    assert!(h.clips.get(&key).await.is_err());
    // The posted clip is deleted and Bob told no more than that.
    let deleted = h.fake.wait_for("deleteMessage", 1).await;
    assert_eq!(deleted[0].int("chat_id"), BOB);
    let told = h.fake.wait_for("sendMessage", 4).await;
    assert_eq!(
        told.last().unwrap().str("text"),
        words::removed_for_requester(job.id)
    );
    h.stop().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(false).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(true).await } )* }
    };
}

on_both_backends!(
    a_video_note_registers_a_cameo,
    forwarded_and_unasked_recordings_are_refused,
    clips_with_a_delete_button_remove_the_clip,
    the_owner_approves_a_clip_in_her_private_chat,
);

/// Approval mode `ask` on Telegram: Ann's clip request goes to her private
/// chat with the clip; Bob gets it only after Ann's `/cameo approve`.
async fn the_owner_approves_a_clip_in_her_private_chat(postgres: bool) {
    let h = Harness::start_with_cameos(postgres).await;
    let registry = h.registry.clone().unwrap();
    harness::cameos::registered(&registry, &ann(), "ana").await;
    h.fake
        .push(text_update(1, ANN, ANN, "/cameo audience everyone"));
    nth_message(&h, 1).await;
    h.fake.push(text_update(2, ANN, ANN, "/cameo approval ask"));
    nth_message(&h, 2).await;
    h.fake.push(text_update(
        3,
        BOB,
        BOB,
        "/video ana flies a kite cameo:ana",
    ));
    nth_message(&h, 3).await;
    let job = h.jobs().await.remove(0);
    h.start_render(job.id, 1, 2).await;
    h.finish_render(job.id).await;
    registry
        .record_clip(
            job.id,
            &Person::new("telegram", BOB.to_string()),
            &job.cameo_ids,
        )
        .await
        .unwrap();

    let poster = h.poster();
    assert!(poster.post_next().await.unwrap());
    let asked = h.fake.wait_for("sendVideo", 1).await;
    assert_eq!(asked[0].int("chat_id"), ANN, "to the owner's private chat");
    let caption = asked[0].str("caption");
    assert!(caption.contains("ana flies a kite"), "{caption}");
    assert!(
        caption.contains(&format!("/cameo approve {}", job.id)),
        "{caption}"
    );
    assert!(!asked[0].files.is_empty(), "the clip itself is shown");
    assert_eq!(
        h.store.job(job.id).await.unwrap().state,
        reel_store::JobState::Encoded,
        "held"
    );

    let approve = format!("/cameo approve {}", job.id);
    h.fake.push(text_update(4, BOB, BOB, &approve));
    let refused = nth_message(&h, 4).await;
    assert!(
        refused.contains("not waiting for your approval"),
        "{refused}"
    );
    h.fake.push(text_update(5, ANN, ANN, &approve));
    let approved = nth_message(&h, 5).await;
    assert!(approved.starts_with("Approved"), "{approved}");

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(poster.post_next().await.unwrap());
    let videos = h.fake.wait_for("sendVideo", 2).await;
    assert_eq!(videos[1].int("chat_id"), BOB);
    assert_eq!(
        h.store.job(job.id).await.unwrap().state,
        reel_store::JobState::Delivered
    );
    h.stop().await;
}
