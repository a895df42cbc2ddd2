//! The Discord adapter end to end: the real serenity client (REST through
//! its proxy setting, the gateway over ws://) against a fake Discord on
//! 127.0.0.1, with jobs walked through the store by hand.

#[path = "common/fake_discord.rs"]
mod fake_discord;
#[path = "discord/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::time::Duration;

use bytes::Bytes;
use fake_discord::{button, slash, token_of, video, Call, Place, APP_ID};
use harness::{Harness, GUILD};
use reel_bots::core::wording::{self, STALE_BUTTON};
use reel_bots::core::{ChatSink, ClipFile};
use reel_bots::discord::{Receipt, ReplyHandle, Via};
use reel_store::JobState;
use serde_json::{json, Value};

const ANN: u64 = 77;
const BOB: u64 = 88;
const CHANNEL: u64 = 5_000;
const EPHEMERAL: u64 = 64;

fn ann() -> Place {
    Place::guild(ANN, CHANNEL, GUILD)
}

fn bob() -> Place {
    Place::guild(BOB, CHANNEL, GUILD)
}

fn webhook(id: u64) -> String {
    format!("/webhooks/{APP_ID}/{}", token_of(id))
}

/// The first answer to interaction `id`: its type and whether it is ephemeral.
async fn callback(h: &Harness, id: u64) -> Call {
    h.fake.wait_for_callback(id).await
}

/// The ephemeral follow-up sent for button press `id`.
async fn told(h: &Harness, id: u64) -> String {
    let calls = h.fake.wait_for("POST", &webhook(id), 1).await;
    let said = calls.last().unwrap();
    assert_eq!(said.flags() & EPHEMERAL, EPHEMERAL, "{:?}", said.body);
    said.content().to_string()
}

#[tokio::test]
async fn video_is_deferred_queued_shows_progress_and_posts_the_clip() {
    let h = Harness::start().await;
    let registered = h
        .fake
        .wait_for(
            "PUT",
            &format!("/applications/{APP_ID}/guilds/{GUILD}/commands"),
            1,
        )
        .await
        .remove(0);
    let commands = registered.body.as_array().expect("a list of commands");
    let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        ["video", "status", "cancel", "history", "clip", "cameo", "help"]
    );
    let options = &commands[0]["options"];
    assert_eq!(options[0]["name"], "prompt");
    assert_eq!(options[0]["required"], true);
    assert_eq!(options[0]["max_length"], 500);
    assert_eq!(
        (
            options[1]["min_value"].as_u64(),
            options[1]["max_value"].as_u64()
        ),
        (Some(1), Some(10))
    );
    let aspects: Vec<&str> = options[2]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["value"].as_str())
        .collect();
    assert_eq!(aspects, ["landscape", "portrait", "square"]);
    assert_eq!(options[3]["max_value"].as_u64(), Some(u64::from(u32::MAX)));

    h.fake.interaction(video(
        1001,
        &ann(),
        "a cat on a skateboard",
        &[("duration", json!(1)), ("seed", json!(7))],
    ));
    let deferred = callback(&h, 1001).await;
    assert_eq!(deferred.body["type"], 5, "a deferred channel message");
    assert_eq!(
        deferred.flags() & EPHEMERAL,
        0,
        "the queue message is public"
    );
    let took = deferred.at - h.fake.dispatched_at(1001).unwrap();
    assert!(took < Duration::from_secs(3), "deferred after {took:?}");

    let queued = h.fake.wait_for("PATCH", &webhook(1001), 1).await.remove(0);
    assert_eq!(queued.path, format!("{}/messages/@original", webhook(1001)));
    assert!(
        queued.content().starts_with("#1 queued, position 1"),
        "{}",
        queued.content()
    );
    assert_eq!(queued.buttons(), ["reel:cancel:1"]);
    let job = h.wait_for_job(1).await;
    assert_eq!(
        (
            job.platform.as_str(),
            job.user_id.as_str(),
            job.chat_id.as_str(),
            job.seed,
            job.duration_s
        ),
        ("discord", "77", "5000", 7, 1)
    );
    let handle = ReplyHandle::parse(&job.reply_handle).unwrap();
    let message = handle.message_id.unwrap();
    assert_eq!(
        (handle.token.as_str(), handle.guild_id),
        (token_of(1001).as_str(), Some(GUILD))
    );
    assert_eq!(handle.attachment_limit, 10 * 1024 * 1024);

    h.start_render(1, 1, 4).await;
    let mut watcher = h.watcher();
    assert_eq!(watcher.poll_once().await.unwrap(), 1);
    h.report_progress(1, 3, 4).await;
    assert_eq!(watcher.poll_once().await.unwrap(), 1);
    let mp4 = h.finish_render(1).await;
    assert!(h.poster().post_next().await.unwrap());

    let edits = h.fake.calls_to("PATCH", &webhook(1001));
    let message_path = format!("{}/messages/{message}", webhook(1001));
    assert_eq!(edits.len(), 4, "queued, two progress edits, the clip");
    assert!(edits[1..].iter().all(|e| e.path == message_path));
    assert!(
        edits[1].content().contains("#1 rendering") && edits[1].content().contains("25%"),
        "{}",
        edits[1].content()
    );
    assert!(edits[2].content().contains("75%"), "{}", edits[2].content());
    assert_eq!(edits[1].buttons(), ["reel:cancel:1"]);
    let clip = &edits[3];
    assert!(
        clip.content().contains("a cat on a skateboard"),
        "{}",
        clip.content()
    );
    assert!(clip.content().contains("seed 7"));
    assert_eq!(clip.buttons(), ["reel:reroll:1", "reel:delete:1"]);
    let (field, name, uploaded) = &clip.files[0];
    assert_eq!((field.as_str(), name.as_str()), ("files[0]", "reel-1.mp4"));
    assert_eq!(clip.body["attachments"][0]["filename"], "reel-1.mp4");
    assert_eq!(uploaded.as_slice(), mp4.as_ref());
    let info = harness::probe_upload(uploaded);
    assert_eq!(
        (info.video_codec.as_str(), info.width, info.height),
        ("h264", 64, 64)
    );

    let job = h.store.job(1).await.unwrap();
    assert_eq!(job.state, JobState::Delivered);
    let receipt = Receipt::parse(job.delivery_receipt.as_deref().unwrap()).unwrap();
    assert_eq!(
        (receipt.message_id, receipt.via, receipt.bytes),
        (message, Via::Webhook, mp4.len() as u64)
    );

    // A retried post (a crash after Discord took it) posts nothing more.
    let again = h
        .sink()
        .post_clip(&job, &clip_file(&mp4), "caption")
        .await
        .unwrap();
    assert_eq!(Receipt::parse(&again), Some(receipt));
    assert!(!h.poster().post_next().await.unwrap());
    assert_eq!(h.fake.calls_to("PATCH", &webhook(1001)).len(), 4);
    assert!(h.fake.calls_to("POST", "/channels/").is_empty());
    h.stop().await;
}

fn clip_file(data: &Bytes) -> ClipFile {
    ClipFile {
        key: "clips/1/x.mp4".into(),
        data: data.clone(),
        local_path: None,
    }
}

#[tokio::test]
async fn buttons_reroll_cancel_and_delete() {
    let h = Harness::start().await;
    h.fake
        .interaction(video(1001, &ann(), "a dog", &[("duration", json!(1))]));
    let first = h.wait_for_job(1).await;
    let first = h.deliver(first.id).await;
    let clip_message = ReplyHandle::parse(&first.reply_handle)
        .unwrap()
        .message_id
        .unwrap();

    // Someone else's press changes nothing.
    h.fake
        .interaction(button(2001, &bob(), "reel:delete:1", clip_message));
    assert_eq!(
        callback(&h, 2001).await.body["type"],
        6,
        "a deferred update"
    );
    assert_eq!(told(&h, 2001).await, wording::not_yours(1));
    assert!(h.store.job(1).await.unwrap().clip_key.is_some());

    h.fake
        .interaction(button(2002, &ann(), "reel:reroll:1", clip_message));
    assert_eq!(callback(&h, 2002).await.body["type"], 6);
    let queued = h.fake.wait_for("POST", &webhook(2002), 1).await.remove(0);
    assert!(
        queued.content().starts_with("#2 queued"),
        "{}",
        queued.content()
    );
    assert_eq!(queued.flags() & EPHEMERAL, 0);
    assert_eq!(queued.buttons(), ["reel:cancel:2"]);
    assert_eq!(
        queued.body["allowed_mentions"]["parse"],
        json!([]),
        "nobody pinged"
    );
    let reroll = h.wait_for_job(2).await;
    assert_eq!((reroll.prompt.as_str(), reroll.duration_s), ("a dog", 1));
    let reroll_handle = ReplyHandle::parse(&reroll.reply_handle).unwrap();
    assert_eq!(reroll_handle.token, token_of(2002));
    let reroll_message = reroll_handle.message_id.unwrap();

    h.fake
        .interaction(button(2003, &ann(), "reel:cancel:2", reroll_message));
    assert_eq!(told(&h, 2003).await, wording::cancelled_before_start(2));
    assert_eq!(h.store.job(2).await.unwrap().state, JobState::Cancelled);
    // The queued message (the one pressed) says so and loses its button.
    let edited = h.fake.wait_for("PATCH", &webhook(2003), 1).await.remove(0);
    assert_eq!(edited.path, format!("{}/messages/@original", webhook(2003)));
    assert_eq!(edited.content(), wording::cancelled_before_start(2));
    assert_eq!(edited.body["components"], json!([]));
    assert!(
        !h.poster().post_next().await.unwrap(),
        "nothing more to post"
    );

    h.fake
        .interaction(button(2004, &ann(), "reel:delete:1", clip_message));
    assert!(told(&h, 2004).await.starts_with("#1 deleted"));
    let deleted = h.fake.wait_for("DELETE", &webhook(2004), 1).await.remove(0);
    assert_eq!(
        deleted.path,
        format!("{}/messages/@original", webhook(2004))
    );
    let job = h.store.job(1).await.unwrap();
    assert_eq!((job.state, job.clip_key), (JobState::Delivered, None));
    assert!(
        h.clips.get(&first.clip_key.unwrap()).await.is_err(),
        "the clip data is gone"
    );

    // Stale and forged buttons: a clear answer only the presser sees, nothing changed.
    let before = h.jobs().await;
    h.fake
        .interaction(button(2005, &ann(), "reel:reroll:999", clip_message));
    assert_eq!(told(&h, 2005).await, wording::not_yours(999));
    h.fake
        .interaction(button(2006, &ann(), "zz:1", clip_message));
    let junk = callback(&h, 2006).await;
    assert_eq!(
        (junk.body["type"].as_u64(), junk.flags()),
        (Some(4), EPHEMERAL)
    );
    assert_eq!(junk.body["data"]["content"], STALE_BUTTON);
    h.fake
        .interaction(button(2007, &ann(), "reel:delete:1", clip_message));
    assert!(told(&h, 2007).await.contains("no clip to delete"));
    assert_eq!(h.jobs().await, before);
    h.stop().await;
}

/// The type-4 ephemeral answer to interaction `id`.
async fn refused_at_once(h: &Harness, id: u64) -> String {
    let answer = callback(h, id).await;
    assert_eq!(
        answer.body["type"], 4,
        "answered at once: {:?}",
        answer.body
    );
    assert_eq!(answer.flags(), EPHEMERAL, "only the sender sees it");
    answer.body["data"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn bad_input_is_refused_ephemerally_and_changes_nothing() {
    let h = Harness::start().await;
    let long_prompt = "a".repeat(501);
    let cases = [
        (
            slash(1, &ann(), "frobnicate", json!([])),
            wording::unknown_command("frobnicate"),
        ),
        (
            slash(2, &ann(), "video", json!([])),
            wording::EMPTY_PROMPT.into(),
        ),
        (
            video(3, &ann(), &long_prompt, &[]),
            wording::prompt_too_long(501, 500),
        ),
        (
            video(4, &ann(), "a cat", &[("duration", json!(99))]),
            wording::duration_out_of_range("99", &(1..=10)),
        ),
        (
            video(5, &ann(), "a cat", &[("aspect", json!("diagonal"))]),
            wording::not_an_aspect("diagonal"),
        ),
        (
            video(6, &ann(), "a cat", &[("duration", json!("long"))]),
            wording::WRONG_OPTION_KIND.into(),
        ),
        (
            slash(
                7,
                &ann(),
                "cancel",
                json!([{ "name": "job", "type": 4, "value": -3 }]),
            ),
            wording::NOT_A_JOB_NUMBER.into(),
        ),
        (
            video(8, &ann(), "a cat\u{202E}tac", &[]),
            wording::control_character('\u{202E}'),
        ),
    ];
    for (interaction, expected) in cases {
        let id: u64 = interaction["id"].as_str().unwrap().parse().unwrap();
        h.fake.interaction(interaction);
        let said = refused_at_once(&h, id).await;
        assert_eq!(said, expected);
    }
    assert!(h.jobs().await.is_empty());
    assert!(
        h.fake.calls_to("PATCH", "/webhooks/").is_empty(),
        "nothing deferred, nothing edited"
    );
    h.stop().await;
}

#[tokio::test]
async fn info_commands_are_ephemeral_and_dms_work() {
    let h = Harness::start().await;
    let dm = Place::dm(ANN, 6_000);
    h.fake.interaction(video(
        1,
        &dm,
        "a quiet lake",
        &[("aspect", json!("portrait"))],
    ));
    let deferred = callback(&h, 1).await;
    assert_eq!(
        (deferred.body["type"].as_u64(), deferred.flags()),
        (Some(5), 0)
    );
    let job = h.wait_for_job(1).await;
    assert_eq!((job.user_id.as_str(), job.chat_id.as_str()), ("77", "6000"));
    assert!(
        job.height > job.width,
        "portrait: {}×{}",
        job.width,
        job.height
    );
    assert_eq!(
        ReplyHandle::parse(&job.reply_handle).unwrap().guild_id,
        None
    );

    for (id, name, options, expected) in [
        (2, "status", json!([]), "#1 queued"),
        (
            3,
            "status",
            json!([{ "name": "job", "type": 4, "value": 1 }]),
            "#1 queued",
        ),
        (4, "history", json!([]), "a quiet lake"),
        (5, "help", json!([]), "reel turns a sentence"),
        (
            6,
            "status",
            json!([{ "name": "job", "type": 4, "value": 42 }]),
            "There is no job #42 of yours.",
        ),
    ] {
        h.fake.interaction(slash(id, &dm, name, options));
        let deferred = callback(&h, id).await;
        assert_eq!(
            (deferred.body["type"].as_u64(), deferred.flags()),
            (Some(5), EPHEMERAL),
            "/{name}"
        );
        let answer = h.fake.wait_for("PATCH", &webhook(id), 1).await.remove(0);
        assert!(
            answer.content().contains(expected),
            "/{name}: {expected:?} in {:?}",
            answer.content()
        );
    }
    // Bob cannot see or cancel Ann's job.
    h.fake.interaction(slash(
        7,
        &Place::dm(BOB, 6_001),
        "cancel",
        json!([{ "name": "job", "type": 4, "value": 1 }]),
    ));
    let answer = h.fake.wait_for("PATCH", &webhook(7), 1).await.remove(0);
    assert_eq!(answer.content(), wording::not_yours(1));
    h.fake.interaction(slash(8, &dm, "cancel", json!([])));
    let answer = h.fake.wait_for("PATCH", &webhook(8), 1).await.remove(0);
    assert_eq!(answer.content(), wording::cancelled_before_start(1));
    assert_eq!(h.store.job(1).await.unwrap().state, JobState::Cancelled);
    // The job's public message says so too, without its Cancel button.
    let queued_message = ReplyHandle::parse(&job.reply_handle)
        .unwrap()
        .message_id
        .unwrap();
    let settled = h
        .fake
        .wait_until("the queued message updated", || {
            h.fake
                .calls_to(
                    "PATCH",
                    &format!("{}/messages/{queued_message}", webhook(1)),
                )
                .pop()
        })
        .await;
    assert_eq!(settled.content(), "#1 was cancelled.");
    assert_eq!(settled.body["components"], json!([]));
    h.stop().await;
}

#[tokio::test]
async fn a_refusal_after_the_defer_replaces_the_public_message() {
    let h = Harness::start().await;
    // Fill Ann's quota for active jobs (100 in the harness) from the store.
    for _ in 0..100 {
        let new = reel_store::NewJob {
            platform: "discord".into(),
            user_id: ANN.to_string(),
            chat_id: CHANNEL.to_string(),
            reply_handle: "{}".into(),
            prompt: "filler".into(),
            duration_s: 1,
            width: 64,
            height: 64,
            fps: 4,
            seed: 1,
            cameo_ids: Vec::new(),
            request_key: None,
            picture: None,
            say_line: None,
        };
        h.store.enqueue(&new).await.unwrap();
    }
    let before = h.jobs().await;
    h.fake.interaction(video(1, &ann(), "one too many", &[]));
    assert_eq!(callback(&h, 1).await.body["type"], 5);
    let deleted = h.fake.wait_for("DELETE", &webhook(1), 1).await.remove(0);
    assert_eq!(deleted.path, format!("{}/messages/@original", webhook(1)));
    let said = h.fake.wait_for("POST", &webhook(1), 1).await.remove(0);
    assert_eq!(said.flags(), EPHEMERAL);
    assert!(
        said.content().contains("Nothing was queued"),
        "{}",
        said.content()
    );
    assert_eq!(h.jobs().await, before);
    h.stop().await;
}

#[tokio::test]
async fn a_gateway_disconnect_is_resumed_and_interactions_keep_coming() {
    let h = Harness::start().await;
    h.fake.interaction(slash(1, &ann(), "help", json!([])));
    callback(&h, 1).await;
    let heartbeats = h.fake.wait_for_op(1, 1).await;
    assert!(!heartbeats.is_empty(), "heartbeats are sent (and ACKed)");

    h.fake.disconnect();
    let resume = h.fake.wait_for_op(6, 1).await.remove(0);
    assert_eq!(resume.d["session_id"], "session-1");
    assert!(resume.d["seq"].as_u64().unwrap_or(0) >= 2, "{:?}", resume.d);
    assert!(resume.d["token"]
        .as_str()
        .unwrap_or("")
        .ends_with(fake_discord::TOKEN));

    // Sent while the socket is down: delivered on the resumed session.
    h.fake.interaction(video(2, &ann(), "after the storm", &[]));
    assert_eq!(callback(&h, 2).await.body["type"], 5);
    h.wait_for_job(1).await;
    assert_eq!(
        h.fake.gateway_ops(2).len(),
        1,
        "resumed, not identified again"
    );
    assert_eq!(h.fake.connections(), 2);
    h.stop().await;
}

#[tokio::test]
async fn a_restart_mid_job_posts_once_and_buttons_still_work() {
    let mut h = Harness::start().await;
    h.fake
        .interaction(video(1, &ann(), "a lighthouse", &[("duration", json!(1))]));
    let job = h.wait_for_job(1).await;
    let message = ReplyHandle::parse(&job.reply_handle)
        .unwrap()
        .message_id
        .unwrap();
    h.start_render(1, 1, 4).await;
    h.finish_render(1).await;

    // The first process took the clip for posting, then died before the post.
    let lease = Duration::from_secs(3);
    let taken = h
        .store
        .delivery()
        .claim(&["discord"], "dead-poster", lease)
        .await
        .unwrap();
    assert_eq!(taken.map(|j| j.id), Some(1));
    let restarting = std::time::Instant::now();
    h.restart().await;
    let restarted = restarting.elapsed();
    assert!(restarted < lease, "restarted in {restarted:?}");
    assert!(
        !h.poster().post_next().await.unwrap(),
        "the dead poster's lease holds"
    );
    tokio::time::sleep(lease).await;
    assert!(h.poster().post_next().await.unwrap());
    assert!(!h.poster().post_next().await.unwrap());
    let uploads: Vec<Call> = h
        .fake
        .calls()
        .into_iter()
        .filter(|c| !c.files.is_empty())
        .collect();
    assert_eq!(uploads.len(), 1, "posted exactly once");
    assert_eq!(
        uploads[0].path,
        format!("{}/messages/{message}", webhook(1))
    );
    assert_eq!(h.store.job(1).await.unwrap().state, JobState::Delivered);

    // Buttons made before the restart work after it.
    h.fake
        .interaction(button(2, &ann(), "reel:reroll:1", message));
    let queued = h.fake.wait_for("POST", &webhook(2), 1).await.remove(0);
    assert!(
        queued.content().starts_with("#2 queued"),
        "{}",
        queued.content()
    );
    h.stop().await;
}

#[tokio::test]
async fn global_registration_without_a_dev_guild() {
    let h = Harness::start_with(None, 4).await;
    let put = h.fake.wait_for("PUT", "/applications/", 1).await.remove(0);
    assert_eq!(put.path, format!("/applications/{APP_ID}/commands"));
    let contexts: Vec<Value> = put
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["contexts"].clone())
        .collect();
    assert!(
        contexts.iter().all(|c| c == &json!([0, 1, 2])),
        "{contexts:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn shutdown_lets_the_answer_in_progress_finish() {
    let mut h = Harness::start().await;
    // Discord is slow to take the "queued" edit; the stop comes meanwhile.
    h.fake
        .delay_next("PATCH", &webhook(1), Duration::from_millis(800));
    h.fake.interaction(video(1, &ann(), "a slow river", &[]));
    callback(&h, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.fake.calls_to("PATCH", &webhook(1)).is_empty(),
        "the edit is still in flight"
    );
    h.shutdown().await;
    let edit = h.fake.calls_to("PATCH", &webhook(1));
    assert_eq!(
        edit.len(),
        1,
        "the edit finished before the adapter stopped"
    );
    assert!(edit[0].content().starts_with("#1 queued"));
    let job = h.store.job(1).await.unwrap();
    assert!(ReplyHandle::parse(&job.reply_handle)
        .unwrap()
        .message_id
        .is_some());
    assert_eq!(job.state, JobState::Queued, "the job stays in the queue");
}

#[tokio::test]
async fn clip_posts_a_delivered_clip_again() {
    let h = Harness::start().await;
    h.fake
        .interaction(video(1, &ann(), "a red kite", &[("duration", json!(1))]));
    h.wait_for_job(1).await;
    h.deliver(1).await;
    let mp4 = harness::tiny_mp4().await;
    h.fake
        .interaction(video(2, &ann(), "still waiting", &[("duration", json!(1))]));
    h.wait_for_job(2).await;
    let job = |id: i64| json!([{ "name": "job", "type": 4, "value": id }]);

    let elsewhere = Place::guild(ANN, 5_001, GUILD);
    h.fake.interaction(slash(10, &elsewhere, "clip", job(1)));
    let deferred = callback(&h, 10).await;
    assert_eq!(
        (deferred.body["type"].as_u64(), deferred.flags()),
        (Some(5), 0)
    );
    let posted = h.fake.wait_for("PATCH", &webhook(10), 1).await.remove(0);
    assert_eq!(posted.path, format!("{}/messages/@original", webhook(10)));
    assert!(
        posted.content().contains("a red kite"),
        "{}",
        posted.content()
    );
    assert_eq!(posted.buttons(), ["reel:reroll:1", "reel:delete:1"]);
    assert_eq!(posted.files[0].2.as_slice(), mp4.as_ref());

    // Not Bob's; not finished; no number: the sender alone is told.
    let before = h.jobs().await;
    h.fake.interaction(slash(11, &bob(), "clip", job(1)));
    h.fake.wait_for("DELETE", &webhook(11), 1).await;
    let said = h.fake.wait_for("POST", &webhook(11), 1).await.remove(0);
    assert_eq!(
        (said.flags(), said.content()),
        (EPHEMERAL, wording::not_yours(1).as_str())
    );
    h.fake.interaction(slash(12, &ann(), "clip", job(2)));
    let said = h.fake.wait_for("POST", &webhook(12), 1).await.remove(0);
    assert!(
        said.content().contains("not finished yet"),
        "{}",
        said.content()
    );
    h.fake.interaction(slash(13, &ann(), "clip", json!([])));
    assert_eq!(refused_at_once(&h, 13).await, wording::WHICH_CLIP);
    assert_eq!(h.jobs().await, before);
    assert_eq!(
        h.fake
            .calls()
            .iter()
            .filter(|c| !c.files.is_empty())
            .count(),
        2,
        "the delivery and the one re-post"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_interaction_delivered_twice_queues_one_job() {
    let h = Harness::start().await;
    let first = video(1, &ann(), "a paper boat", &[]);
    h.fake.interaction(first.clone());
    h.wait_for_job(1).await;
    // A replayed gateway event: Discord refuses the second defer (40060).
    h.fake.interaction(first);
    let answers = h.fake.wait_for("PATCH", &webhook(1), 2).await;
    let callbacks = h.fake.calls_to("POST", "/interactions/1/");
    assert_eq!(
        callbacks.iter().map(|c| c.status).collect::<Vec<_>>(),
        [204, 400]
    );
    assert!(
        answers[1].content().starts_with("#1 queued"),
        "{}",
        answers[1].content()
    );
    assert_eq!(h.jobs().await.len(), 1, "one job for one interaction");
    h.stop().await;
}
