//! `/video` with a picture on Telegram end to end: the real teloxide client
//! against the fake Bot API, on SQLite and PostgreSQL. A photo whose
//! caption is the command starts the clip from the largest size under the
//! limit; sizes and types are checked before anything is downloaded.

#[path = "telegram/fake.rs"]
#[allow(dead_code)] // each test binary uses its own part
mod fake;
#[path = "telegram/harness.rs"]
#[allow(dead_code)]
mod harness;

use fake::{image_document_update, photo_update, BOT_USERNAME};
use harness::{Harness, PICTURE_LIMIT};
use reel_bots::core::wording;

const ANN: i64 = 77;
const GROUP: i64 = -500;

async fn start(postgres: bool) -> Harness {
    match postgres {
        true => Harness::start_postgres().await,
        false => Harness::start().await,
    }
}

/// The text of the `n`th sendMessage (1-based) once it was sent.
async fn nth_message(h: &Harness, n: usize) -> String {
    let calls = h.fake.wait_for("sendMessage", n).await;
    calls[n - 1].str("text").to_string()
}

/// A PNG; its top-left pixel pure red ("a face" to the stand-in) when `face`.
fn png(face: bool) -> Vec<u8> {
    let mut image = reel_media::RgbImage::new(30, 20);
    for (i, px) in image.data.chunks_exact_mut(3).enumerate() {
        px.copy_from_slice(&[10, (i % 250) as u8, 99]);
    }
    if face {
        image.data[..3].copy_from_slice(&[255, 0, 0]);
    }
    reel_media::encode_png(&image).unwrap()
}

async fn a_captioned_photo_starts_the_clip(postgres: bool) {
    let h = start(postgres).await;
    let picture = png(false);
    let over = PICTURE_LIMIT as usize + 1;
    h.fake.serve_file("mid", &picture);
    h.fake.push(photo_update(
        1,
        ANN,
        ANN,
        "/video a quiet lake duration:2",
        &[("thumb", 90), ("mid", picture.len()), ("huge", over)],
    ));
    let queued = nth_message(&h, 1).await;
    assert!(queued.contains("queued"), "{queued}");
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].prompt, "a quiet lake");
    assert_eq!(jobs[0].duration_s, 2);
    let stored = h.store.job_picture(jobs[0].id).await.unwrap().unwrap();
    assert_eq!(stored.bytes(), &picture[..], "re-encoded: the same pixels");
    // Only the largest size under the limit was fetched.
    assert_eq!(h.fake.downloads(), ["videos/mid"]);

    // In a group, addressed to the bot.
    h.fake.serve_file("group-pic", &picture);
    let caption = format!("/video@{BOT_USERNAME} a red kite");
    h.fake.push(photo_update(
        2,
        ANN,
        GROUP,
        &caption,
        &[("group-pic", picture.len())],
    ));
    let queued = nth_message(&h, 2).await;
    assert!(queued.contains("queued"), "{queued}");
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 2);
    assert!(h.store.job_picture(jobs[0].id).await.unwrap().is_some());

    // An image sent as a file works too.
    h.fake.serve_file("doc-png", &picture);
    h.fake.push(image_document_update(
        3,
        ANN,
        "/video a boat",
        "doc-png",
        "image/png",
        picture.len(),
    ));
    let queued = nth_message(&h, 3).await;
    assert!(queued.contains("queued"), "{queued}");
    assert_eq!(h.jobs().await.len(), 3);
    h.stop().await;
}

async fn bad_pictures_are_refused_before_or_after_the_download(postgres: bool) {
    let h = start(postgres).await;
    let over = PICTURE_LIMIT as usize + 1;
    // Every size over the limit: refused from the declared size, no getFile.
    h.fake
        .push(photo_update(1, ANN, ANN, "/video a lake", &[("big", over)]));
    let refused = nth_message(&h, 1).await;
    assert_eq!(
        refused,
        wording::picture::too_large(over as u64, PICTURE_LIMIT)
    );
    // A GIF sent as a file: refused from its declared type.
    h.fake.push(image_document_update(
        2,
        ANN,
        "/video a lake",
        "doc-gif",
        "image/gif",
        100,
    ));
    assert_eq!(
        nth_message(&h, 2).await,
        wording::picture::wrong_type("image/gif")
    );
    assert!(h.fake.calls_to("getFile").is_empty());
    // Downloaded, then refused by content.
    h.fake.serve_file("face", &png(true));
    h.fake
        .push(photo_update(3, ANN, ANN, "/video a lake", &[("face", 200)]));
    assert_eq!(nth_message(&h, 3).await, wording::picture::HAS_A_FACE);
    h.fake.serve_file("text", b"not a picture at all");
    h.fake
        .push(photo_update(4, ANN, ANN, "/video a lake", &[("text", 20)]));
    assert_eq!(
        nth_message(&h, 4).await,
        wording::picture::not_accepted(&reel_media::PictureError::NotAPicture)
    );
    // A photo without a /video caption keeps today's answer.
    h.fake
        .push(photo_update(5, ANN, ANN, "look at this", &[("x", 20)]));
    assert_eq!(nth_message(&h, 5).await, wording::MEDIA_REFUSED);
    assert!(h.jobs().await.is_empty(), "nothing was queued");
    h.stop().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(false).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(true).await } )* }
    };
}

on_both_backends!(
    a_captioned_photo_starts_the_clip,
    bad_pictures_are_refused_before_or_after_the_download,
);
