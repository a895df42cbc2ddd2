//! `/video` with an `image` attachment on Discord end to end: the real
//! serenity client against the fake Discord, on SQLite and PostgreSQL. The
//! attachment's declared size and type are checked before any download.

#[path = "common/fake_discord.rs"]
mod fake_discord;
#[path = "discord/harness.rs"]
#[allow(dead_code)]
mod harness;

use fake_discord::{token_of, video_with_image, Call, Place, APP_ID};
use harness::{Harness, GUILD, PICTURE_LIMIT};
use reel_bots::core::wording;

const ANN: u64 = 77;
const CHANNEL: u64 = 5_000;

fn ann() -> Place {
    Place::guild(ANN, CHANNEL, GUILD)
}

async fn start(postgres: bool) -> Harness {
    match postgres {
        true => Harness::start_postgres().await,
        false => Harness::start().await,
    }
}

/// The text interaction `id` was finally answered with: its edited
/// original response, a follow-up for the sender alone (a refusal after
/// the download), or its immediate message.
async fn answer(h: &Harness, id: u64) -> String {
    let webhook = format!("/webhooks/{APP_ID}/{}", token_of(id));
    h.fake
        .wait_until("an answer", || {
            let calls = h.fake.calls();
            let edited = calls.iter().rev().find(|c: &&Call| {
                c.is("PATCH", &webhook) || (c.method == "POST" && c.path == webhook)
            });
            let at_once = calls
                .iter()
                .find(|c| c.is("POST", &format!("/interactions/{id}/")) && c.body["type"] == 4);
            edited.map(|c| c.content().to_string()).or_else(|| {
                at_once.map(|c| c.body["data"]["content"].as_str().unwrap_or("").to_string())
            })
        })
        .await
}

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

async fn an_attached_image_starts_the_clip(postgres: bool) {
    let h = start(postgres).await;
    // The option is declared with the command.
    let registered = h.fake.calls_to("PUT", "/applications/").remove(0);
    let commands = registered.body.as_array().unwrap();
    let video = commands.iter().find(|c| c["name"] == "video").unwrap();
    let image = video["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "image")
        .expect("an image option");
    assert_eq!(image["type"], 11);
    assert_ne!(image["required"], true);

    let picture = png(false);
    let url = h.fake.serve_attachment("sky.png", &picture);
    let size = picture.len() as u64;
    h.fake.interaction(video_with_image(
        10,
        &ann(),
        "a quiet lake",
        (700, "sky.png", size, &url, "image/png"),
    ));
    let queued = answer(&h, 10).await;
    assert!(queued.contains("queued"), "{queued}");
    let jobs = h.jobs().await;
    assert_eq!(jobs.len(), 1);
    let stored = h.store.job_picture(jobs[0].id).await.unwrap().unwrap();
    assert_eq!(stored.bytes(), &picture[..]);
    h.stop().await;
}

async fn bad_images_are_refused(postgres: bool) {
    let h = start(postgres).await;
    let url = h.fake.serve_attachment("never.png", b"never fetched");
    let over = PICTURE_LIMIT + 1;
    h.fake.interaction(video_with_image(
        20,
        &ann(),
        "a lake",
        (701, "never.png", over, &url, "image/png"),
    ));
    assert_eq!(
        answer(&h, 20).await,
        wording::picture::too_large(over, PICTURE_LIMIT)
    );
    h.fake.interaction(video_with_image(
        21,
        &ann(),
        "a lake",
        (702, "never.gif", 100, &url, "image/gif"),
    ));
    assert_eq!(
        answer(&h, 21).await,
        wording::picture::wrong_type("image/gif")
    );
    assert!(h.fake.calls_to("GET", "/attachments/").is_empty());
    // Downloaded, then refused by content.
    let face = png(true);
    let url = h.fake.serve_attachment("face.png", &face);
    h.fake.interaction(video_with_image(
        22,
        &ann(),
        "a lake",
        (703, "face.png", face.len() as u64, &url, "image/png"),
    ));
    assert_eq!(answer(&h, 22).await, wording::picture::HAS_A_FACE);
    assert!(h.jobs().await.is_empty(), "nothing was queued");
    h.stop().await;
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test] async fn $name() { super::$name(false).await } )* }
        mod on_postgres { $( #[tokio::test] async fn $name() { super::$name(true).await } )* }
    };
}

on_both_backends!(an_attached_image_starts_the_clip, bad_images_are_refused);
