//! The Telegram adapter end to end: the real teloxide client against a fake
//! Bot API on 127.0.0.1, with jobs walked through the store by hand.

#[path = "telegram/fake.rs"]
#[allow(dead_code)] // each test binary uses its own part
mod fake;
#[path = "telegram/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::Duration;

use bytes::Bytes;
use fake::{callback, text_update, user_message, BOT_USERNAME};
use harness::Harness;
use reel_bots::core::wording::{self, MEDIA_REFUSED, STALE_BUTTON};
use reel_bots::core::ChatHandles;
use reel_bots::core::{ChatSink, ClipFile};
use reel_bots::telegram::{Mode, Receipt, ReplyHandle, TelegramSink};
use reel_store::{JobState, RenderFailure};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const ANN: i64 = 77;
const BOB: i64 = 88;
const GROUP: i64 = -500;

#[tokio::test]
async fn video_is_queued_shows_progress_and_is_posted_once() {
    let h = Harness::start().await;
    let commands = h.fake.wait_for("setMyCommands", 1).await;
    let names: Vec<&str> = commands[0].params["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["video", "status", "cancel", "history", "clip", "cameo", "help"]
    );

    h.fake.push(text_update(
        1,
        ANN,
        ANN,
        "/video a cat on a skateboard duration:1 seed:7",
    ));
    let queued = h.fake.wait_for("sendMessage", 1).await.remove(0);
    assert!(
        queued.str("text").starts_with("#1 queued, position 1"),
        "{}",
        queued.str("text")
    );
    assert_eq!(queued.int("chat_id"), ANN);
    assert_eq!(queued.params["reply_parameters"]["message_id"], 1);
    assert_eq!(queued.buttons(), ["reel:cancel:1"]);
    let job = h.store.job(1).await.unwrap();
    assert_eq!(
        (job.platform.as_str(), job.user_id.as_str(), job.seed),
        ("telegram", "77", 7)
    );
    // Stored once sendMessage has answered, a moment after the fake saw it.
    let status_message = h.status_message_id(1).await;

    h.start_render(1, 1, 4).await;
    assert_eq!(h.watcher().poll_once().await.unwrap(), 1);
    let edit = h.fake.wait_for("editMessageText", 1).await.remove(0);
    assert_eq!(edit.int("message_id"), i64::from(status_message));
    assert!(
        edit.str("text").contains("#1 rendering"),
        "{}",
        edit.str("text")
    );
    assert_eq!(edit.buttons(), ["reel:cancel:1"]);

    let mp4 = h.finish_render(1).await;
    assert!(h.poster().post_next().await.unwrap());
    let video = h.fake.wait_for("sendVideo", 1).await.remove(0);
    assert_eq!(video.str("supports_streaming"), "true");
    assert!(
        video.str("caption").contains("a cat on a skateboard"),
        "{}",
        video.str("caption")
    );
    assert!(video.str("caption").contains("seed 7"));
    assert_eq!(video.buttons(), ["reel:reroll:1", "reel:delete:1"]);
    let (field, uploaded) = &video.files[0];
    assert_eq!(video.str("video"), format!("attach://{field}"));
    assert_eq!(uploaded.as_slice(), mp4.as_ref());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uploaded.mp4");
    std::fs::write(&path, uploaded).unwrap();
    let info = reel_media::probe(&path).expect("the upload decodes as MP4");
    assert_eq!(
        (info.video_codec.as_str(), info.width, info.height),
        ("h264", 64, 64)
    );
    assert!(
        !h.fake.calls_to("sendChatAction").is_empty(),
        "upload_video shown"
    );

    let job = h.store.job(1).await.unwrap();
    assert_eq!(job.state, JobState::Delivered);
    let receipt: serde_json::Value =
        serde_json::from_str(job.delivery_receipt.as_deref().unwrap()).unwrap();
    assert_eq!(receipt["chat_id"], ANN);
    assert!(receipt["file_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{receipt}"))
        .starts_with("video-file-"));

    // A retried post (a crash after Telegram took it) does not post again.
    let again = h
        .sink()
        .post_clip(&job, &clip_file(&mp4), "caption")
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        receipt
    );
    assert!(!h.poster().post_next().await.unwrap());
    assert_eq!(h.fake.calls_to("sendVideo").len(), 1);
    h.stop().await;
}

fn clip_file(data: &Bytes) -> ClipFile {
    ClipFile {
        key: "clips/1/x.mp4".into(),
        data: data.clone(),
        local_path: None,
    }
}

/// The `answerCallbackQuery` text for callback query `id`.
async fn answer_to(h: &Harness, id: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let answers = h.fake.calls_to("answerCallbackQuery");
        if let Some(call) = answers.iter().find(|c| c.str("callback_query_id") == id) {
            return call.str("text").to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "callback {id} was not answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn buttons_reroll_cancel_and_delete() {
    let h = Harness::start().await;
    h.fake
        .push(text_update(1, ANN, ANN, "/video a dog duration:1"));
    h.fake.wait_for("sendMessage", 1).await;
    let first = h.deliver(1).await;
    let video_message = 1002;

    // Someone else's presses change nothing.
    h.fake
        .push(callback("q-bob", BOB, ANN, video_message, "reel:delete:1"));
    assert_eq!(answer_to(&h, "q-bob").await, wording::not_yours(1));
    assert!(h.store.job(1).await.unwrap().clip_key.is_some());
    // Fault 3: a refused Re-roll is told to the presser alone (the callback
    // answer); main posted the refusal in the chat on every press.
    let sent = h.fake.calls_to("sendMessage").len();
    h.fake.push(callback(
        "q-bob-rr",
        BOB,
        ANN,
        video_message,
        "reel:reroll:1",
    ));
    assert_eq!(answer_to(&h, "q-bob-rr").await, wording::not_yours(1));
    assert_eq!(
        h.fake.calls_to("sendMessage").len(),
        sent,
        "nothing posted in the chat"
    );

    h.fake
        .push(callback("q-rr", ANN, ANN, video_message, "reel:reroll:1"));
    assert!(answer_to(&h, "q-rr").await.starts_with("#2 queued"));
    let queued = h.fake.wait_for("sendMessage", 2).await.remove(1);
    assert!(queued.str("text").starts_with("#2 queued"));
    assert_eq!(queued.buttons(), ["reel:cancel:2"]);
    let reroll = h.store.job(2).await.unwrap();
    assert_eq!(
        (reroll.prompt.as_str(), reroll.duration_s),
        (first.prompt.as_str(), first.duration_s)
    );
    assert!(ReplyHandle::parse(&reroll.reply_handle)
        .status_message_id
        .is_some());

    h.fake
        .push(callback("q-cx", ANN, ANN, 1003, "reel:cancel:2"));
    assert_eq!(
        answer_to(&h, "q-cx").await,
        wording::cancelled_before_start(2)
    );
    assert_eq!(h.store.job(2).await.unwrap().state, JobState::Cancelled);

    h.fake
        .push(callback("q-del", ANN, ANN, video_message, "reel:delete:1"));
    assert!(answer_to(&h, "q-del").await.starts_with("#1 deleted"));
    let deleted = h.fake.wait_for("deleteMessage", 1).await.remove(0);
    assert_eq!(deleted.int("message_id"), video_message);
    let job = h.store.job(1).await.unwrap();
    assert_eq!((job.state, job.clip_key), (JobState::Delivered, None));
    let key = first.clip_key.unwrap();
    assert!(h.clips.get(&key).await.is_err(), "the clip data is gone");

    // Stale and forged data: a clear answer, nothing changed.
    let before = h.jobs().await;
    h.fake.push(callback(
        "q-stale",
        ANN,
        ANN,
        video_message,
        "reel:reroll:999",
    ));
    assert_eq!(answer_to(&h, "q-stale").await, wording::not_yours(999));
    h.fake
        .push(callback("q-junk", ANN, ANN, video_message, "zz:1"));
    assert_eq!(answer_to(&h, "q-junk").await, STALE_BUTTON);
    h.fake.push(callback(
        "q-again",
        ANN,
        ANN,
        video_message,
        "reel:delete:1",
    ));
    assert!(answer_to(&h, "q-again").await.contains("no clip to delete"));
    assert_eq!(h.jobs().await, before);
    h.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_reply_and_queues_nothing() {
    let h = Harness::start().await;
    let cases = [
        (
            text_update(1, ANN, ANN, "/frobnicate"),
            "I don't know the command /frobnicate",
        ),
        (
            text_update(2, ANN, ANN, "/video a cat duration:99"),
            "duration:99 is out of range",
        ),
        (
            text_update(3, ANN, ANN, "/video a cat colour:red"),
            "Unknown option `colour:`",
        ),
        (
            text_update(4, ANN, ANN, "/cancel 12abc"),
            "is not a job number",
        ),
        (
            user_message(
                5,
                ANN,
                ANN,
                json!({ "photo": [{ "file_id": "p", "file_unique_id": "pu", "width": 9, "height": 9 }] }),
            ),
            MEDIA_REFUSED,
        ),
    ];
    for (n, (update, expected)) in cases.into_iter().enumerate() {
        h.fake.push(update);
        let reply = h.fake.wait_for("sendMessage", n + 1).await.remove(n);
        assert!(
            reply.str("text").contains(expected),
            "{expected:?} in {:?}",
            reply.str("text")
        );
        assert!(reply.buttons().is_empty());
    }
    // Group chatter and other bots' commands are not for us.
    h.fake
        .push(text_update(6, ANN, GROUP, "a cat on a skateboard"));
    h.fake
        .push(text_update(7, ANN, GROUP, "/video@other_bot a cat"));
    h.fake.push(text_update(8, ANN, GROUP, "/frobnicate"));
    h.fake.push(text_update(9, ANN, GROUP, "/help"));
    let help = h.fake.wait_for("sendMessage", 6).await.remove(5);
    assert!(
        help.str("text").starts_with("reel turns a sentence"),
        "{}",
        help.str("text")
    );
    assert_eq!(help.int("chat_id"), GROUP);
    assert!(h.jobs().await.is_empty());
    assert_eq!(h.fake.calls_to("sendMessage").len(), 6);
    h.stop().await;
}

#[tokio::test]
async fn group_prompts_must_name_the_bot() {
    let h = Harness::start().await;
    h.fake.push(text_update(
        1,
        ANN,
        GROUP,
        &format!("/video@{BOT_USERNAME} a dog"),
    ));
    h.fake.push(text_update(
        2,
        BOB,
        GROUP,
        &format!("@{BOT_USERNAME} a horse duration:2"),
    ));
    let replies = h.fake.wait_for("sendMessage", 2).await;
    assert!(replies[0].str("text").starts_with("#1 queued"));
    assert!(replies[1].str("text").starts_with("#2 queued"));
    let jobs = h.jobs().await;
    assert_eq!(
        (jobs[0].prompt.as_str(), jobs[0].user_id.as_str()),
        ("a horse", "88")
    );
    assert_eq!(jobs[1].chat_id, GROUP.to_string());
    h.stop().await;
}

#[tokio::test]
async fn failures_are_posted_as_a_reply() {
    let h = Harness::start().await;
    h.fake
        .push(text_update(1, ANN, ANN, "/video a storm duration:1"));
    h.fake.wait_for("sendMessage", 1).await;
    h.start_render(1, 1, 4).await;
    let failure = RenderFailure::Fatal("the renderer ran out of memory".into());
    h.store
        .render_queue()
        .end(1, harness::WORKER, &failure)
        .await
        .unwrap();
    assert!(h.poster().post_next().await.unwrap());
    let posted = h.fake.wait_for("sendMessage", 2).await.remove(1);
    assert!(
        posted
            .str("text")
            .starts_with("#1 failed: the renderer ran out of memory"),
        "{}",
        posted.str("text")
    );
    assert_eq!(posted.params["reply_parameters"]["message_id"], 1001);
    assert!(h.store.job(1).await.unwrap().outcome_posted);
    h.stop().await;
}

#[tokio::test]
async fn a_429_is_waited_out_then_retried() {
    let h = Harness::start().await;
    let too_many = json!({
        "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
        "parameters": { "retry_after": 1 }
    });
    h.fake.fail_next("sendMessage", 429, too_many);
    h.fake
        .push(text_update(1, ANN, ANN, "/video a kite duration:1"));
    let tries = h.fake.wait_for("sendMessage", 2).await;
    let waited = tries[1].at.duration_since(tries[0].at);
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(h.jobs().await.len(), 1, "one job, one queued message");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.fake.calls_to("sendMessage").len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn a_restart_mid_job_posts_once_and_buttons_still_work() {
    let mut h = Harness::start().await;
    h.fake
        .push(text_update(1, ANN, ANN, "/video a lighthouse duration:1"));
    h.fake.wait_for("sendMessage", 1).await;
    h.start_render(1, 1, 4).await;
    h.finish_render(1).await;

    // The first process took the clip for posting, then died before the post.
    let lease = Duration::from_millis(200);
    let taken = h
        .store
        .delivery()
        .claim(&["telegram"], "dead-poster", lease)
        .await
        .unwrap();
    assert_eq!(taken.map(|j| j.id), Some(1));
    h.restart().await;
    assert!(
        !h.poster().post_next().await.unwrap(),
        "the dead poster's lease holds"
    );
    tokio::time::sleep(lease).await;
    assert!(h.poster().post_next().await.unwrap());
    assert!(!h.poster().post_next().await.unwrap());
    let video = h.fake.wait_for("sendVideo", 1).await.remove(0);
    let reply: serde_json::Value = serde_json::from_str(video.str("reply_parameters")).unwrap();
    assert_eq!(
        reply["message_id"], 1001,
        "the clip answers the queued message"
    );
    assert_eq!(h.store.job(1).await.unwrap().state, JobState::Delivered);

    // Buttons made before the restart work after it.
    h.fake
        .push(callback("q-rr", ANN, ANN, 1002, "reel:reroll:1"));
    assert!(answer_to(&h, "q-rr").await.starts_with("#2 queued"));
    assert_eq!(h.fake.calls_to("sendVideo").len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_clip_over_the_upload_limit_is_explained_not_dropped() {
    let h = Harness::start().await;
    h.fake
        .push(text_update(1, ANN, ANN, "/video a waterfall duration:1"));
    h.fake.wait_for("sendMessage", 1).await;
    h.start_render(1, 1, 4).await;
    let mp4 = h.finish_render(1).await;
    let job = h.store.job(1).await.unwrap();
    let small = reel_bots::telegram::TelegramSink::new(
        h.bot.clone(),
        ChatHandles::new(h.store.clone()),
        100,
    );
    let receipt = small
        .post_clip(&job, &clip_file(&mp4), "caption")
        .await
        .unwrap();
    let said = h.fake.wait_for("sendMessage", 2).await.remove(1);
    assert!(
        said.str("text").contains("over the 0.0 MB"),
        "{}",
        said.str("text")
    );
    assert!(receipt.contains("\"message_id\""));
    assert!(h.fake.calls_to("sendVideo").is_empty());
    h.stop().await;
}

/// Posts `mp4` for job 1 (queued and rendered) through a sink with these
/// limits; returns the receipt.
async fn post_with_limits(h: &Harness, mp4: &Bytes, video: u64, document: u64) -> Receipt {
    h.fake
        .push(text_update(1, ANN, ANN, "/video a waterfall duration:2"));
    h.fake.wait_for("sendMessage", 1).await;
    h.start_render(1, 1, 4).await;
    h.finish_render(1).await;
    let job = h.store.job(1).await.unwrap();
    let sink = TelegramSink::new(h.bot.clone(), ChatHandles::new(h.store.clone()), video)
        .with_document_limit(document);
    let receipt = sink
        .post_clip(&job, &clip_file(mp4), "#1 a waterfall")
        .await
        .unwrap();
    serde_json::from_str(&receipt).unwrap()
}

fn probe_upload(bytes: &[u8]) -> reel_media::ClipInfo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uploaded.mp4");
    std::fs::write(&path, bytes).unwrap();
    reel_media::probe(&path).expect("the upload decodes as MP4")
}

#[tokio::test]
async fn a_clip_over_the_video_limit_is_re_encoded_to_fit() {
    let h = Harness::start().await;
    let mp4 = harness::lossless_mp4().await;
    let limit = mp4.len() as u64 / 3;
    let receipt = post_with_limits(&h, &mp4, limit, limit).await;

    let video = h.fake.wait_for("sendVideo", 1).await.remove(0);
    let (_, uploaded) = &video.files[0];
    assert!(
        (uploaded.len() as u64) <= limit,
        "{} bytes uploaded, limit {limit} (original {})",
        uploaded.len(),
        mp4.len()
    );
    let info = probe_upload(uploaded);
    assert_eq!(
        (info.video_codec.as_str(), info.frames),
        ("h264", 48),
        "the whole clip, re-encoded"
    );
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!(
        (video.int("width"), video.int("height")),
        (i64::from(info.width), i64::from(info.height)),
        "the size hint is the upload's, not the job's"
    );
    assert!(
        video.str("caption").contains("re-encoded smaller"),
        "{}",
        video.str("caption")
    );
    assert_eq!(video.buttons(), ["reel:reroll:1", "reel:delete:1"]);
    assert!(!receipt.as_document);
    assert!(receipt.file_id.unwrap().starts_with("video-file-"));
    assert!(h.fake.calls_to("sendDocument").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_clip_no_video_upload_takes_is_sent_as_a_document() {
    let h = Harness::start().await;
    let mp4 = harness::lossless_mp4().await;
    // No re-encode gets a 2 s clip under 1 kB; the document limit takes it whole.
    let receipt = post_with_limits(&h, &mp4, 1_000, mp4.len() as u64).await;

    let document = h.fake.wait_for("sendDocument", 1).await.remove(0);
    let (field, uploaded) = &document.files[0];
    assert_eq!(document.str("document"), format!("attach://{field}"));
    assert_eq!(uploaded.as_slice(), mp4.as_ref(), "the original, untouched");
    assert!(
        document.str("caption").contains("sent as a file"),
        "{}",
        document.str("caption")
    );
    assert_eq!(document.buttons(), ["reel:reroll:1", "reel:delete:1"]);
    let reply: serde_json::Value = serde_json::from_str(document.str("reply_parameters")).unwrap();
    assert_eq!(reply["message_id"], 1001);
    assert!(h.fake.calls_to("sendVideo").is_empty());
    assert!(receipt.as_document);
    assert!(receipt.file_id.unwrap().starts_with("document-file-"));
    let actions = h.fake.calls_to("sendChatAction");
    assert_eq!(actions.last().unwrap().str("action"), "upload_document");
    h.stop().await;
}

#[tokio::test]
async fn a_clip_too_large_even_as_a_document_is_explained() {
    let h = Harness::start().await;
    let mp4 = harness::lossless_mp4().await;
    let receipt = post_with_limits(&h, &mp4, 1_000, 2_000).await;
    let said = h.fake.wait_for("sendMessage", 2).await.remove(1);
    assert!(
        said.str("text").starts_with("#1 is ready but"),
        "{}",
        said.str("text")
    );
    assert_eq!(receipt.file_id, None);
    assert!(h.fake.calls_to("sendVideo").is_empty());
    assert!(h.fake.calls_to("sendDocument").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_re_post_sends_the_file_id_and_uploads_nothing() {
    let h = Harness::start().await;
    h.fake
        .push(text_update(1, ANN, ANN, "/video a lighthouse duration:1"));
    h.fake.wait_for("sendMessage", 1).await;
    let job = h.deliver(1).await;
    let first = h.fake.wait_for("sendVideo", 1).await.remove(0);
    assert_eq!(first.files.len(), 1, "the first post uploads the clip");
    let stored: Receipt = serde_json::from_str(job.delivery_receipt.as_deref().unwrap()).unwrap();
    let file_id = stored.file_id.clone().expect("file_id stored");

    // Delivered: the clip data could even be gone; the re-post needs none.
    let again = h.sink().resend(&job, "#1 again").await.unwrap();
    let second = h.fake.wait_for("sendVideo", 2).await.remove(1);
    assert_eq!(second.str("video"), file_id);
    assert!(second.files.is_empty(), "no multipart upload");
    assert_eq!(second.int("chat_id"), ANN);
    assert_eq!(second.buttons(), ["reel:reroll:1", "reel:delete:1"]);
    assert_eq!(again.file_id.as_deref(), Some(file_id.as_str()));
    assert_ne!(again.message_id, stored.message_id);

    // A retried delivery of the same job posts nothing at all.
    let retried = h
        .sink()
        .post_clip(&job, &clip_file(&harness::tiny_mp4().await), "caption")
        .await
        .unwrap();
    assert_eq!(Receipt::parse(&retried), Some(stored));
    assert_eq!(h.fake.calls_to("sendVideo").len(), 2);

    // What users ask for: `/clip 1` posts it again here, by file_id.
    h.fake.push(text_update(3, ANN, ANN, "/clip 1"));
    let third = h.fake.wait_for("sendVideo", 3).await.remove(2);
    assert_eq!(third.str("video"), file_id);
    assert!(third.files.is_empty(), "no multipart upload");
    // Multipart: the parameters object arrives as a JSON string.
    let reply: serde_json::Value = serde_json::from_str(third.str("reply_parameters")).unwrap();
    assert_eq!(reply["message_id"], 3, "answers the /clip message");
    assert!(
        third.str("caption").starts_with("#1 “a lighthouse”"),
        "{}",
        third.str("caption")
    );
    // Someone else's clip, an unknown one, and no number: a clear reply.
    h.fake.push(text_update(4, BOB, BOB, "/clip 1"));
    h.fake.push(text_update(5, ANN, ANN, "/clip 99"));
    h.fake.push(text_update(6, ANN, ANN, "/clip"));
    let said = h.fake.wait_for("sendMessage", 4).await;
    // Two chats answered side by side: pick each reply by its chat.
    let to = |chat: i64| -> Vec<&str> {
        said.iter()
            .filter(|c| c.int("chat_id") == chat)
            .map(|c| c.str("text"))
            .collect()
    };
    let (bob, ann) = (to(BOB), to(ANN));
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert!(bob[0].contains("#1"), "{bob:?}");
    assert_eq!(
        bob[0],
        ann[1].replace("99", "1"),
        "another's reads like a missing one"
    );
    assert!(ann[2].starts_with("Which clip?"), "{ann:?}");
    assert_eq!(h.fake.calls_to("sendVideo").len(), 3);
    h.stop().await;
}

#[tokio::test]
async fn a_redelivered_update_queues_nothing_new() {
    let h = Harness::start().await;
    // Telegram sends an update again when it saw no acknowledgement (the
    // process died after queueing): same chat, same message.
    let update = text_update(5, ANN, ANN, "/video a harbour at dawn duration:1");
    h.fake.push(update.clone());
    let first = h.fake.wait_for("sendMessage", 1).await.remove(0);
    h.fake.push(update);
    let second = h.fake.wait_for("sendMessage", 2).await.remove(1);
    assert!(
        first.str("text").starts_with("#1 queued"),
        "{}",
        first.str("text")
    );
    assert!(
        second.str("text").starts_with("#1 queued"),
        "{}",
        second.str("text")
    );
    // The same press of Re-roll, delivered twice: one new job.
    let press = callback("press-1", ANN, ANN, 1, "reel:reroll:1");
    h.fake.push(press.clone());
    h.fake.wait_for("answerCallbackQuery", 1).await;
    h.fake.push(press);
    h.fake.wait_for("answerCallbackQuery", 2).await;
    let said = h.fake.wait_for("sendMessage", 4).await;
    assert!(
        said[2].str("text").starts_with("#2 queued"),
        "{}",
        said[2].str("text")
    );
    assert!(
        said[3].str("text").starts_with("#2 queued"),
        "{}",
        said[3].str("text")
    );
    let jobs = h.store.list_jobs(None, 10).await.unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    // A new message with the same words is a new request.
    h.fake.push(text_update(
        6,
        ANN,
        ANN,
        "/video a harbour at dawn duration:1",
    ));
    let said = h.fake.wait_for("sendMessage", 5).await;
    assert!(
        said[4].str("text").starts_with("#3 queued"),
        "{}",
        said[4].str("text")
    );
    assert_eq!(h.store.list_jobs(None, 10).await.unwrap().len(), 3);
    h.stop().await;
}

#[tokio::test]
async fn a_re_post_of_a_document_sends_its_file_id_as_a_document() {
    let h = Harness::start().await;
    let mp4 = harness::lossless_mp4().await;
    let receipt = post_with_limits(&h, &mp4, 1_000, mp4.len() as u64).await;
    let mut job = h.store.job(1).await.unwrap();
    job.delivery_receipt = Some(receipt.to_json());
    let again = h.sink().resend(&job, "#1 again").await.unwrap();
    let sent = h.fake.wait_for("sendDocument", 2).await.remove(1);
    assert_eq!(Some(sent.str("document")), receipt.file_id.as_deref());
    assert!(sent.files.is_empty(), "no multipart upload");
    assert!(again.as_document);
    assert!(h.fake.calls_to("sendVideo").is_empty());

    // Nothing posted yet: nothing to re-post, and nothing is sent.
    h.fake
        .push(text_update(2, ANN, ANN, "/video a second clip duration:1"));
    h.fake.wait_for("sendMessage", 2).await;
    let fresh = h.store.job(2).await.unwrap();
    let refused = h.sink().resend(&fresh, "#2").await.unwrap_err();
    assert!(refused.0.contains("no posted clip"), "{refused}");
    assert_eq!(h.fake.calls_to("sendDocument").len(), 2);
    h.stop().await;
}

/// Fault 1: on main Telegram's `from` was the identity, so every anonymous
/// admin (and every channel post) was one shared account: one person could
/// see, cancel and re-post another's jobs. A channel now acts as itself;
/// a shared account is refused, saying why.
#[tokio::test]
async fn shared_accounts_are_refused_and_channels_act_as_themselves() {
    let h = Harness::start().await;
    let addressed = format!("/video@{BOT_USERNAME} a cat");
    let mut anonymous = text_update(30, ANN, GROUP, &addressed);
    anonymous["message"]["from"] = json!({
        "id": 1087968824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"
    });
    anonymous["message"]["sender_chat"] = fake::chat(GROUP);
    h.fake.push(anonymous);
    let refusal = h.fake.wait_for("sendMessage", 1).await.remove(0);
    assert_eq!(
        refusal.str("text"),
        reel_bots::core::wording::SHARED_ACCOUNT
    );
    assert!(h.jobs().await.is_empty(), "nothing was queued");

    let channel = -1_001_234_567_i64;
    let mut as_channel = text_update(31, ANN, GROUP, &addressed);
    as_channel["message"]["from"] = json!({
        "id": 136817688, "is_bot": true, "first_name": "Channel", "username": "Channel_Bot"
    });
    as_channel["message"]["sender_chat"] =
        json!({ "id": channel, "type": "channel", "title": "News" });
    h.fake.push(as_channel);
    let queued = h.fake.wait_for("sendMessage", 2).await.remove(1);
    assert!(
        queued.str("text").starts_with("#1 queued"),
        "{}",
        queued.str("text")
    );
    let job = h.store.job(1).await.unwrap();
    assert_eq!(job.user_id, channel.to_string());
    h.stop().await;
}

/// Fault 9: on main a failure while registering the commands ended the
/// adapter silently. It is retried with back-off, and a lasting failure
/// ends `run` with an error (the binary then exits non-zero: see
/// tests/telegram_serve.rs). The fake breaks the connection: a 5xx would
/// make teloxide sleep 10 s before reading the answer.
#[tokio::test]
async fn a_failing_start_is_retried_then_given_up_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let store = harness::open_store(&reel_store::testing::sqlite_url_in(dir.path())).await;
    let clips = reel_store::ClipStore::open(&reel_store::ClipStoreConfig::Local {
        root: dir.path().join("clips"),
    })
    .unwrap();

    // Two blips, then Telegram answers: the adapter starts.
    let fake = fake::FakeTelegram::start().await;
    for _ in 0..2 {
        fake.cut_next("setMyCommands");
    }
    let options = harness::options_for(&fake, Mode::Polling, harness::fast_limits());
    let bot = reel_bots::telegram::connect("123456:TEST-TOKEN", &options).unwrap();
    let shutdown = CancellationToken::new();
    let core = harness::core_for(&store, &clips);
    let running = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { reel_bots::telegram::run(bot, core, &options, shutdown).await }
    });
    fake.wait_for("getUpdates", 1).await;
    assert_eq!(fake.calls_to("setMyCommands").len(), 3);
    shutdown.cancel();
    running.await.unwrap().expect("a clean stop");

    // It never answers: after the configured tries, an error.
    let fake = fake::FakeTelegram::start().await;
    for _ in 0..10 {
        fake.cut_next("setMyCommands");
    }
    let options = harness::options_for(&fake, Mode::Polling, harness::fast_limits());
    let bot = reel_bots::telegram::connect("123456:TEST-TOKEN", &options).unwrap();
    let core = harness::core_for(&store, &clips);
    let ended = tokio::time::timeout(
        Duration::from_secs(10),
        reel_bots::telegram::run(bot, core, &options, CancellationToken::new()),
    )
    .await
    .expect("gives up within the retry budget");
    assert!(ended.is_err(), "a start that never succeeds is an error");
    assert_eq!(
        fake.calls_to("setMyCommands").len(),
        harness::fast_retry().tries as usize
    );
    assert!(fake.calls_to("getUpdates").is_empty());
}
