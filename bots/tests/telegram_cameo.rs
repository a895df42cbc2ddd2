//! `/cameo` on Telegram end to end: the real teloxide client against the
//! fake Bot API, the registry on SQLite and PostgreSQL, the stand-in
//! recording checks. A video note in a private chat answers the challenge.

#[path = "telegram/fake.rs"]
mod fake;
#[path = "telegram/harness.rs"]
#[allow(dead_code)]
mod harness;

use fake::{callback, text_update};
use harness::Harness;
use reel_bots::core::wording::cameo as words;
use reel_consent::Person;

const ANN: i64 = 77;
const BOB: i64 = 88;

/// The text of the `n`th sendMessage (1-based) once it was sent.
async fn nth_message(h: &Harness, n: usize) -> String {
    let calls = h.fake.wait_for("sendMessage", n).await;
    calls[n - 1].str("text").to_string()
}

fn ann() -> Person {
    Person::new("telegram", ANN.to_string())
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
    assert_eq!(list.buttons(), [data.clone()]);

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

on_both_backends!(clips_with_a_delete_button_remove_the_clip,);
