//! `/video` with a picture through the command core, on SQLite and on
//! PostgreSQL: a clean picture is stored (re-encoded) with its job; every
//! bad input is refused with its own message and changes nothing.

#[macro_use]
mod common;

use std::sync::atomic::Ordering;

use reel_bots::core::{parse, wording, Command, PictureOffer, ReplyKind, VideoRequest};
use reel_media::{decode_picture, PictureError, MAX_IMAGE_SIDE};

use common::{picture_core, picture_png, requester, Db, FakeFaceScreen};

on_both_backends!(
    a_clean_picture_is_stored_with_its_job,
    bad_pictures_are_refused_and_change_nothing,
    a_reroll_starts_from_the_same_picture,
);

fn video(text: &str) -> VideoRequest {
    match parse(text, false) {
        Ok(Command::Video(request)) => request,
        other => panic!("{other:?}"),
    }
}

const JPEG: &[u8] = include_bytes!("fixtures/blue.jpg");

async fn a_clean_picture_is_stored_with_its_job(db: Db) {
    let screen = FakeFaceScreen::new();
    let core = picture_core(&db, screen.clone());
    let me = requester("terminal", "alice");
    for bytes in [picture_png(40, 30, false), JPEG.to_vec()] {
        let reply = core
            .video_with_picture(&me, &video("/video a blue sky"), &bytes)
            .await;
        let job = reply.job_id().unwrap_or_else(|| panic!("{}", reply.text()));
        let stored = db.store.job_picture(job).await.unwrap().unwrap();
        // Stored as a PNG of the decoded pixels, whatever was sent.
        assert!(stored.bytes().starts_with(b"\x89PNG"));
        let expected = decode_picture(&bytes).unwrap();
        assert_eq!(decode_picture(stored.bytes()).unwrap().data, expected.data);
    }
    assert_eq!(screen.calls.load(Ordering::SeqCst), 2);
    // Without a picture nothing is stored.
    let plain = core.handle(&me, "/video no picture", false).await;
    let plain = plain.job_id().unwrap();
    assert_eq!(db.store.job_picture(plain).await.unwrap(), None);
}

async fn bad_pictures_are_refused_and_change_nothing(db: Db) {
    let core = picture_core(&db, FakeFaceScreen::new());
    let me = requester("terminal", "alice");
    let limit = core.max_upload_bytes();
    // Before the download: the platform's declared size and type.
    assert_eq!(
        core.picture_offer(&PictureOffer {
            declared_bytes: Some(limit + 1),
            declared_type: Some("image/png"),
        }),
        Err(wording::picture::too_large(limit + 1, limit))
    );
    assert_eq!(
        core.picture_offer(&PictureOffer {
            declared_bytes: Some(1000),
            declared_type: Some("image/gif"),
        }),
        Err(wording::picture::wrong_type("image/gif"))
    );
    for fine in [None, Some("image/png"), Some("image/jpeg")] {
        let offer = PictureOffer {
            declared_bytes: Some(limit),
            declared_type: fine,
        };
        assert_eq!(core.picture_offer(&offer), Ok(()));
    }

    let png = picture_png(16, 16, false);
    let mut huge = png.clone();
    huge[16..20].copy_from_slice(&50_000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&50_000u32.to_be_bytes());
    let mut oversized = png.clone();
    oversized.resize(limit as usize + 1, 0);
    let damaged = PictureError::Damaged;
    let rows: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "actually too big",
            oversized,
            wording::picture::too_large(limit + 1, limit),
        ),
        (
            "not an image",
            b"just some text, really".to_vec(),
            wording::picture::not_accepted(&PictureError::NotAPicture),
        ),
        (
            "GIF",
            include_bytes!("fixtures/blue.gif").to_vec(),
            wording::picture::not_accepted(&PictureError::Unsupported("GIF")),
        ),
        (
            "WebP",
            include_bytes!("fixtures/blue.webp").to_vec(),
            wording::picture::not_accepted(&PictureError::Unsupported("WebP")),
        ),
        (
            "truncated PNG",
            png[..png.len() - 30].to_vec(),
            wording::picture::not_accepted(&damaged),
        ),
        (
            "truncated JPEG",
            JPEG[..JPEG.len() - 40].to_vec(),
            wording::picture::not_accepted(&damaged),
        ),
        (
            "huge dimensions",
            huge,
            wording::picture::not_accepted(&PictureError::TooLarge {
                width: 50_000,
                height: 50_000,
                max: MAX_IMAGE_SIDE,
            }),
        ),
        (
            "a face",
            picture_png(16, 16, true),
            wording::picture::HAS_A_FACE.into(),
        ),
        ("empty", Vec::new(), {
            wording::picture::not_accepted(&PictureError::NotAPicture)
        }),
    ];
    let before = db.jobs().await;
    for (name, bytes, expected) in rows {
        let reply = core
            .video_with_picture(&me, &video("/video a blue sky"), &bytes)
            .await;
        assert_eq!(reply.kind(), ReplyKind::Refused, "{name}");
        assert_eq!(reply.text(), expected, "{name}");
        assert!(reply.text().ends_with("Nothing was queued."), "{name}");
    }
    // A picture with a cameo, a bad request, and no face check at all.
    let with_cameo = core
        .video_with_picture(&me, &video("/video a sky cameo:ana"), &png)
        .await;
    assert_eq!(with_cameo.text(), wording::picture::WITH_CAMEO);
    let empty_prompt = core.video_with_picture(&me, &video("/video"), &png).await;
    assert_eq!(empty_prompt.text(), wording::EMPTY_PROMPT);
    let unchecked = picture_core(&db, FakeFaceScreen::missing_models());
    let reply = unchecked
        .video_with_picture(&me, &video("/video a sky"), &png)
        .await;
    assert_eq!(reply.text(), wording::picture::UNAVAILABLE);
    let no_screen = common::core(&db, common::roomy());
    let reply = no_screen
        .video_with_picture(&me, &video("/video a sky"), &png)
        .await;
    assert_eq!(reply.text(), wording::picture::UNAVAILABLE);
    assert_eq!(db.jobs().await, before, "nothing changed");
}

async fn a_reroll_starts_from_the_same_picture(db: Db) {
    let core = picture_core(&db, FakeFaceScreen::new());
    let me = requester("terminal", "alice");
    let png = picture_png(24, 24, false);
    let first = core
        .video_with_picture(&me, &video("/video a blue sky"), &png)
        .await
        .job_id()
        .unwrap();
    let again = core.reroll(&me, first).await.job_id().unwrap();
    assert_ne!(first, again);
    assert_eq!(
        db.store.job_picture(again).await.unwrap(),
        db.store.job_picture(first).await.unwrap()
    );
}
