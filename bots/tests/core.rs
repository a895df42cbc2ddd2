//! `CommandCore` against a real store, once on SQLite and once on PostgreSQL.

#[macro_use]
mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reel_bots::core::{wording, CommandCore, RenderSettings, ReplyKind, Requester};
use reel_consent::{ConsentDecision, ConsentError, ConsentGate, ConsentRequest};
use reel_store::{Job, JobState, Limits, RenderFailure};

use common::{claim, core, requester, roomy, Db, LEASE};

on_both_backends!(
    bad_input_changes_nothing,
    queued_reply_names_the_job_and_its_place,
    limits_refuse_with_a_retry_time_and_queue_nothing,
    status_lists_active_jobs,
    cancel_without_a_number_takes_the_newest_active_job,
    cancel_of_a_rendering_or_finished_job,
    history_lists_own_jobs_newest_first,
    reroll_keeps_prompt_and_options_with_a_new_seed,
    jobs_belong_to_one_user_on_one_platform,
    consent_gate_decides_about_cameos,
    a_broken_store_reads_as_an_internal_error,
    answers_in_a_group_never_show_prompts,
    reposts_are_limited_per_user,
);

fn has_invisible(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && c != '\n') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
    })
}

async fn bad_input_changes_nothing(db: Db) {
    let core = core(&db, roomy());
    let me = requester("terminal", "alice");
    let other = requester("terminal", "bob");
    // Both users have a job, so "nothing changed" covers existing jobs too.
    let mine = core
        .handle(&me, "/video my own clip", false)
        .await
        .job_id()
        .unwrap();
    let theirs = core
        .handle(&other, "/video bob's clip", false)
        .await
        .job_id()
        .unwrap();
    let unknown = theirs + 1000;

    let long = "a".repeat(501);
    let not_yours = wording::not_yours(theirs);
    let rows: Vec<(String, bool, Vec<String>)> = vec![
        ("".into(), false, vec![wording::EMPTY_MESSAGE.into()]),
        ("   ".into(), true, vec![wording::EMPTY_MESSAGE.into()]),
        ("/video".into(), false, vec![wording::EMPTY_PROMPT.into()]),
        (
            "/video duration:3".into(),
            false,
            vec![wording::EMPTY_PROMPT.into()],
        ),
        (
            "/video  \t \u{a0}  ".into(),
            false,
            vec![wording::EMPTY_PROMPT.into()],
        ),
        (
            format!("/video {long}"),
            false,
            vec![wording::prompt_too_long(501, 500)],
        ),
        (
            "/video a cat\u{0007} jumps".into(),
            false,
            vec![wording::control_character('\u{0007}'), "U+0007".into()],
        ),
        (
            "/video a cat \u{202E}spmuj".into(),
            false,
            vec![wording::control_character('\u{202E}'), "U+202E".into()],
        ),
        (
            "/video a cat foo:bar".into(),
            false,
            vec![wording::unknown_option("foo")],
        ),
        (
            "/video a cat duration:2 duration:3".into(),
            false,
            vec![wording::option_twice("duration")],
        ),
        (
            "/video a cat duration:0".into(),
            false,
            vec![wording::duration_out_of_range("0", &(1..=10))],
        ),
        (
            "/video a cat duration:11".into(),
            false,
            vec![wording::duration_out_of_range("11", &(1..=10))],
        ),
        (
            "/video a cat duration:abc".into(),
            false,
            vec![wording::duration_not_a_number("abc", &(1..=10))],
        ),
        (
            "/video a cat duration:-1".into(),
            false,
            vec![wording::duration_not_a_number("-1", &(1..=10))],
        ),
        (
            "/video a cat seed:-1".into(),
            false,
            vec![wording::not_a_seed("-1", 4294967295)],
        ),
        (
            "/video a cat seed:4294967296".into(),
            false,
            vec![wording::not_a_seed("4294967296", 4294967295)],
        ),
        (
            "/video a cat seed:x".into(),
            false,
            vec![wording::not_a_seed("x", 4294967295)],
        ),
        (
            "/video a cat aspect:diagonal".into(),
            false,
            vec![wording::not_an_aspect("diagonal")],
        ),
        (
            "/video a cat aspect:\u{202E}tall".into(),
            false,
            vec![
                wording::not_an_aspect("\u{202E}tall"),
                "aspect:?tall".into(),
            ],
        ),
        (
            "/video a cat size:10x10".into(),
            false,
            vec![wording::not_a_size("10x10", 64, 1280, 1280)],
        ),
        (
            "/video a cat size:5000x5000".into(),
            false,
            vec![wording::not_a_size("5000x5000", 64, 1280, 1280)],
        ),
        (
            "/video a cat size:abc".into(),
            false,
            vec![wording::not_a_size("abc", 64, 1280, 1280)],
        ),
        (
            "/video a cat size:640x".into(),
            false,
            vec![wording::not_a_size("640x", 64, 1280, 1280)],
        ),
        (
            "/video a cat cameo:bad!name".into(),
            false,
            vec![wording::not_a_cameo_name("bad!name")],
        ),
        (
            "/video a cat cameo:@".into(),
            false,
            vec![wording::not_a_cameo_name("@")],
        ),
        (
            "/video a cat cameo:alice".into(),
            false,
            vec![
                "there is no cameo `alice`".into(),
                "Nothing was queued".into(),
            ],
        ),
        (
            "a cat cameo:carol".into(),
            true,
            vec!["there is no cameo `carol`".into()],
        ),
        (
            "/video a b c cameo:a cameo:b cameo:c".into(),
            false,
            vec!["at most 2 cameos".into()],
        ),
        (
            "/bogus".into(),
            false,
            vec![wording::unknown_command("bogus")],
        ),
        (
            "/bo\u{202E}gus now".into(),
            false,
            vec![wording::unknown_command("bo\u{202E}gus"), "/bo?gus".into()],
        ),
        (
            "a cat on a wall".into(),
            false,
            vec![wording::NOT_A_COMMAND.into()],
        ),
        (
            "/status abc".into(),
            false,
            vec![wording::not_a_job_number("abc")],
        ),
        (
            "/cancel 0".into(),
            false,
            vec![wording::not_a_job_number("0")],
        ),
        (
            "/cancel -3".into(),
            false,
            vec![wording::not_a_job_number("-3")],
        ),
        (
            format!("/status {unknown}"),
            false,
            vec![wording::not_yours(unknown)],
        ),
        (
            format!("/cancel {unknown}"),
            false,
            vec![wording::not_yours(unknown)],
        ),
        (format!("/status {theirs}"), false, vec![not_yours.clone()]),
        (format!("/cancel {theirs}"), false, vec![not_yours.clone()]),
        (format!("/cancel #{theirs}"), false, vec![not_yours.clone()]),
    ];
    assert!(rows.len() >= 30);
    for (input, plain, fragments) in &rows {
        let before = db.jobs().await;
        let reply = core.handle(&me, input, *plain).await;
        assert_eq!(reply.kind(), ReplyKind::Refused, "{input:?} → {reply:?}");
        assert_eq!(reply.job_id(), None, "{input:?} → {reply:?}");
        for fragment in fragments {
            assert!(
                reply.text().contains(fragment.as_str()),
                "{input:?}: expected {fragment:?} in {:?}",
                reply.text()
            );
        }
        assert!(
            !has_invisible(reply.text()),
            "{input:?}: reply echoes an invisible character: {:?}",
            reply.text()
        );
        assert_eq!(db.jobs().await, before, "{input:?} changed the store");
    }
    // The jobs the table poked at are as they were.
    assert_eq!(db.store.job(mine).await.unwrap().state, JobState::Queued);
    assert_eq!(db.store.job(theirs).await.unwrap().state, JobState::Queued);
    assert_eq!(db.jobs().await.len(), 2);
}

async fn queued_reply_names_the_job_and_its_place(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("terminal", "alice");
    let reply = core
        .handle(
            &alice,
            "/video a red ball bounces duration:2 seed:42",
            false,
        )
        .await;
    assert_eq!(reply.kind(), ReplyKind::Queued, "{reply:?}");
    let id = reply.job_id().expect("a queued reply carries the job id");
    assert!(
        reply.text().contains(&format!("#{id} queued, position 1")),
        "{}",
        reply.text()
    );
    assert!(reply.text().contains("ready in about"), "{}", reply.text());

    let job = db.store.job(id).await.unwrap();
    let s = RenderSettings::default();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.prompt, "a red ball bounces");
    assert_eq!(
        (job.duration_s, job.seed, job.width, job.height, job.fps),
        (2, 42, s.width, s.height, s.fps)
    );
    assert_eq!(
        (
            job.platform.as_str(),
            job.user_id.as_str(),
            job.chat_id.as_str(),
            job.reply_handle.as_str()
        ),
        (
            alice.platform.as_str(),
            alice.user_id.as_str(),
            alice.chat_id.as_str(),
            alice.reply_handle.as_str()
        )
    );

    // A second user's job waits behind the first, and notes reach the reply.
    let bob = requester("discord", "bob");
    let second = core.handle(&bob, "/video a cat size:650x390", false).await;
    let second_id = second.job_id().unwrap();
    assert!(second_id > id);
    assert!(
        second
            .text()
            .contains(&format!("#{second_id} queued, position 2")),
        "{}",
        second.text()
    );
    assert!(second.text().contains("640×384"), "{}", second.text());
    let job = db.store.job(second_id).await.unwrap();
    assert_eq!((job.width, job.height), (640, 384));
    assert!(job.seed <= u64::from(u32::MAX));

    // Plain text is a prompt where the adapter says so.
    let plain = core.handle(&alice, "waves on a beach", true).await;
    assert_eq!(plain.kind(), ReplyKind::Queued, "{plain:?}");
    assert_eq!(
        db.store.job(plain.job_id().unwrap()).await.unwrap().prompt,
        "waves on a beach"
    );
}

async fn limits_refuse_with_a_retry_time_and_queue_nothing(db: Db) {
    // One active clip per user.
    let one_active = core(
        &db,
        Limits {
            max_active_per_user: 1,
            ..roomy()
        },
    );
    let alice = requester("terminal", "alice");
    assert_eq!(
        one_active
            .handle(&alice, "/video first", false)
            .await
            .kind(),
        ReplyKind::Queued
    );
    let before = db.jobs().await;
    let reply = one_active.handle(&alice, "/video second", false).await;
    assert_eq!(reply.kind(), ReplyKind::Refused, "{reply:?}");
    assert!(
        reply.text().contains("You already have 1 clip on the way"),
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("Try again") && reply.text().contains("Nothing was queued"),
        "{}",
        reply.text()
    );
    assert_eq!(db.jobs().await, before);
    // Another user is not affected.
    assert_eq!(
        one_active
            .handle(&requester("terminal", "bob"), "/video hi", false)
            .await
            .kind(),
        ReplyKind::Queued
    );

    // An hourly quota.
    let hourly = core(
        &db,
        Limits {
            max_per_user_per_hour: 1,
            ..roomy()
        },
    );
    let carol = requester("terminal", "carol");
    assert_eq!(
        hourly.handle(&carol, "/video one", false).await.kind(),
        ReplyKind::Queued
    );
    db.clock.advance(Duration::from_secs(20 * 60));
    let before = db.jobs().await;
    let reply = hourly.handle(&carol, "/video two", false).await;
    assert_eq!(reply.kind(), ReplyKind::Refused, "{reply:?}");
    assert!(
        reply.text().contains("in the last hour"),
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("Try again in about 40 min"),
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("Nothing was queued"),
        "{}",
        reply.text()
    );
    assert_eq!(db.jobs().await, before);

    // A full queue.
    let queued = db
        .store
        .list_jobs(Some(JobState::Queued), 1000)
        .await
        .unwrap()
        .len() as u32;
    let full = core(
        &db,
        Limits {
            max_queue_length: queued,
            ..roomy()
        },
    );
    let reply = full
        .handle(&requester("telegram", "dave"), "/video three", false)
        .await;
    assert_eq!(reply.kind(), ReplyKind::Refused, "{reply:?}");
    assert!(
        reply
            .text()
            .contains(&format!("The queue is full ({queued} clips waiting)")),
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("Try again") && reply.text().contains("Nothing was queued"),
        "{}",
        reply.text()
    );
    assert_eq!(db.jobs().await, before);
}

async fn status_lists_active_jobs(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("terminal", "alice");
    let empty = core.handle(&alice, "/status", false).await;
    assert_eq!(
        (empty.kind(), empty.text()),
        (ReplyKind::Info, wording::NO_ACTIVE_JOBS)
    );

    let a = core
        .handle(&alice, "/video first clip", false)
        .await
        .job_id()
        .unwrap();
    let b = core
        .handle(&alice, "/video second clip", false)
        .await
        .job_id()
        .unwrap();
    let c = core
        .handle(&alice, "/video third clip", false)
        .await
        .job_id()
        .unwrap();
    core.handle(&requester("terminal", "bob"), "/video bob's clip", false)
        .await
        .job_id()
        .unwrap();

    // a renders with progress; c is cancelled and so no longer listed.
    claim(&db.store, a, "w1").await;
    db.store
        .render_queue()
        .heartbeat(a, "w1", LEASE, Some((3, 10)))
        .await
        .unwrap();
    assert_eq!(
        core.handle(&alice, &format!("/cancel {c}"), false)
            .await
            .kind(),
        ReplyKind::Cancelled
    );

    let reply = core.handle(&alice, "/status", false).await;
    assert_eq!(reply.kind(), ReplyKind::Info, "{reply:?}");
    assert_eq!(reply.job_id(), None);
    let lines: Vec<&str> = reply.text().lines().collect();
    assert_eq!(lines.len(), 2, "{}", reply.text());
    assert!(
        lines[0].starts_with(&format!("#{b} queued, position 1")),
        "{}",
        reply.text()
    );
    assert!(
        lines[1].starts_with(&format!("#{a} rendering")),
        "{}",
        reply.text()
    );
    assert!(
        lines[1].contains("step 3/10") && lines[1].contains("30%"),
        "{}",
        reply.text()
    );

    // One job by number, including a finished one.
    let one = core.handle(&alice, &format!("/status {b}"), false).await;
    assert_eq!(one.kind(), ReplyKind::Info);
    assert!(
        one.text().starts_with(&format!("#{b} queued")),
        "{}",
        one.text()
    );
    let done = core.handle(&alice, &format!("/status {c}"), false).await;
    assert_eq!(done.kind(), ReplyKind::Info, "{done:?}");
    assert!(
        done.text().contains(&format!("#{c} cancelled")) && done.text().contains("third clip"),
        "{}",
        done.text()
    );
}

async fn cancel_without_a_number_takes_the_newest_active_job(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("telegram", "alice");
    let a = core
        .handle(&alice, "/video first", false)
        .await
        .job_id()
        .unwrap();
    let b = core
        .handle(&alice, "/video second", false)
        .await
        .job_id()
        .unwrap();
    let bob = core
        .handle(&requester("telegram", "bob"), "/video bob's", false)
        .await
        .job_id()
        .unwrap();

    let reply = core.handle(&alice, "/cancel", false).await;
    assert_eq!(
        (reply.kind(), reply.job_id()),
        (ReplyKind::Cancelled, Some(b)),
        "{reply:?}"
    );
    assert_eq!(reply.text(), format!("#{b} cancelled; it never started."));
    assert_eq!(db.store.job(b).await.unwrap().state, JobState::Cancelled);
    assert_eq!(db.store.job(a).await.unwrap().state, JobState::Queued);

    let reply = core.handle(&alice, "/cancel@reelbot", false).await;
    assert_eq!(reply.job_id(), Some(a), "{reply:?}");
    assert_eq!(db.store.job(a).await.unwrap().state, JobState::Cancelled);

    let before = db.jobs().await;
    let reply = core.handle(&alice, "/cancel", false).await;
    assert_eq!(
        (reply.kind(), reply.text()),
        (ReplyKind::Refused, wording::NO_ACTIVE_JOBS)
    );
    assert_eq!(db.jobs().await, before);
    assert_eq!(
        db.store.job(bob).await.unwrap().state,
        JobState::Queued,
        "bob's job is untouched"
    );
    let events = db.store.events(a).await.unwrap();
    let cancel = events
        .iter()
        .find(|e| e.kind == "cancelled")
        .expect("a cancel event");
    assert_eq!(cancel.actor, "telegram:alice");
}

async fn cancel_of_a_rendering_or_finished_job(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("terminal", "alice");
    let a = core
        .handle(&alice, "/video rendering one", false)
        .await
        .job_id()
        .unwrap();
    claim(&db.store, a, "w1").await;
    let reply = core.handle(&alice, &format!("/cancel {a}"), false).await;
    assert_eq!(
        (reply.kind(), reply.job_id()),
        (ReplyKind::Cancelled, Some(a)),
        "{reply:?}"
    );
    assert!(
        reply.text().contains(&format!("#{a} is stopping")),
        "{}",
        reply.text()
    );
    let job = db.store.job(a).await.unwrap();
    assert_eq!(
        (job.state, job.cancel_requested),
        (JobState::Rendering, true)
    );

    db.store
        .render_queue()
        .end(a, "w1", &RenderFailure::Cancelled)
        .await
        .unwrap();
    let before = db.jobs().await;
    let reply = core.handle(&alice, &format!("/cancel {a}"), false).await;
    assert_eq!(reply.kind(), ReplyKind::Refused, "{reply:?}");
    assert!(
        reply.text().contains(&format!("#{a} is already cancelled")),
        "{}",
        reply.text()
    );
    assert_eq!(db.jobs().await, before);
}

async fn history_lists_own_jobs_newest_first(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("discord", "alice");
    let empty = core.handle(&alice, "/history", false).await;
    assert_eq!(
        (empty.kind(), empty.text()),
        (ReplyKind::Info, wording::NO_HISTORY)
    );

    let a = core
        .handle(&alice, "/video failing clip", false)
        .await
        .job_id()
        .unwrap();
    claim(&db.store, a, "w").await;
    db.store
        .render_queue()
        .end(
            a,
            "w",
            &RenderFailure::Fatal("the model ran out of memory".into()),
        )
        .await
        .unwrap();
    let b = core
        .handle(&alice, "/video waiting clip", false)
        .await
        .job_id()
        .unwrap();
    core.handle(&requester("discord", "bob"), "/video not alice's", false)
        .await;

    let reply = core.handle(&alice, "/history", false).await;
    assert_eq!(reply.kind(), ReplyKind::Info);
    let lines: Vec<&str> = reply.text().lines().collect();
    assert_eq!(lines.len(), 2, "{}", reply.text());
    assert!(
        lines[0].starts_with(&format!("#{b} queued")) && lines[0].contains("waiting clip"),
        "{}",
        reply.text()
    );
    assert!(
        lines[1].starts_with(&format!("#{a} failed (the model ran out of memory)")),
        "{}",
        reply.text()
    );
    assert!(!reply.text().contains("not alice's"), "{}", reply.text());

    // At most ten, newest first.
    let mut ids = Vec::new();
    for i in 0..11 {
        ids.push(
            core.handle(&alice, &format!("/video clip number {i}"), false)
                .await
                .job_id()
                .unwrap(),
        );
    }
    let reply = core.handle(&alice, "/history", false).await;
    let lines: Vec<&str> = reply.text().lines().collect();
    assert_eq!(lines.len(), 10, "{}", reply.text());
    assert!(
        lines[0].starts_with(&format!("#{} ", ids[10])),
        "{}",
        reply.text()
    );
    assert!(
        lines[9].starts_with(&format!("#{} ", ids[1])),
        "{}",
        reply.text()
    );
}

async fn reroll_keeps_prompt_and_options_with_a_new_seed(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("terminal", "alice");
    let first = core
        .handle(
            &alice,
            "/video a fox in snow size:320x192 duration:3 seed:7",
            false,
        )
        .await;
    let original = db.store.job(first.job_id().unwrap()).await.unwrap();

    let mut seeds = vec![original.seed];
    for _ in 0..3 {
        let reply = core.reroll(&alice, original.id).await;
        assert_eq!(reply.kind(), ReplyKind::Queued, "{reply:?}");
        let id = reply.job_id().unwrap();
        assert_ne!(id, original.id);
        assert!(
            reply.text().contains(&format!("#{id} queued")),
            "{}",
            reply.text()
        );
        let again = db.store.job(id).await.unwrap();
        let same = |j: &Job| {
            (
                j.prompt.clone(),
                j.duration_s,
                j.width,
                j.height,
                j.fps,
                j.cameo_ids.clone(),
                j.user_id.clone(),
            )
        };
        assert_eq!(same(&again), same(&original));
        assert_eq!((again.width, again.height, again.duration_s), (320, 192, 3));
        assert!(again.seed <= u64::from(u32::MAX));
        seeds.push(again.seed);
    }
    assert!(
        seeds[1..].iter().any(|&s| s != original.seed),
        "re-rolls kept seed {}: {seeds:?}",
        original.seed
    );
    assert_eq!(
        db.store.job(original.id).await.unwrap(),
        original,
        "the original job is untouched"
    );

    // Only the owner may re-roll; others see "no job of yours" and nothing is queued.
    let before = db.jobs().await;
    for stranger in [requester("terminal", "bob"), requester("discord", "alice")] {
        let reply = core.reroll(&stranger, original.id).await;
        assert_eq!(
            (reply.kind(), reply.text()),
            (ReplyKind::Refused, wording::not_yours(original.id).as_str())
        );
    }
    let reply = core.reroll(&alice, original.id + 1000).await;
    assert_eq!(reply.kind(), ReplyKind::Refused);
    assert_eq!(db.jobs().await, before);

    // Re-rolls obey the limits.
    let strict = CommandCore::new(
        db.store.with_limits(Limits {
            max_active_per_user: 1,
            ..roomy()
        }),
        db.clips(),
        Arc::new(reel_consent::NoCameoRegistry),
        RenderSettings::default(),
    );
    let reply = strict.reroll(&alice, original.id).await;
    assert_eq!(reply.kind(), ReplyKind::Refused, "{reply:?}");
    assert!(
        reply.text().contains("Nothing was queued"),
        "{}",
        reply.text()
    );
    assert_eq!(db.jobs().await, before);
}

async fn jobs_belong_to_one_user_on_one_platform(db: Db) {
    let core = core(&db, roomy());
    let owner = requester("discord", "1234");
    let id = core
        .handle(&owner, "/video the owner's clip", false)
        .await
        .job_id()
        .unwrap();
    // Same user id on another platform, another user on the same platform.
    let strangers = [
        requester("telegram", "1234"),
        requester("terminal", "1234"),
        requester("discord", "5678"),
    ];
    for stranger in &strangers {
        let before = db.jobs().await;
        for command in [format!("/status {id}"), format!("/cancel {id}")] {
            let reply = core.handle(stranger, &command, false).await;
            assert_eq!(reply.kind(), ReplyKind::Refused, "{stranger:?} {command}");
            assert_eq!(
                reply.text(),
                wording::not_yours(id),
                "{stranger:?} {command}"
            );
        }
        let status = core.handle(stranger, "/status", false).await;
        assert_eq!(status.text(), wording::NO_ACTIVE_JOBS, "{stranger:?}");
        let history = core.handle(stranger, "/history", false).await;
        assert_eq!(history.text(), wording::NO_HISTORY, "{stranger:?}");
        let cancel = core.handle(stranger, "/cancel", false).await;
        assert_eq!(cancel.kind(), ReplyKind::Refused, "{stranger:?}");
        assert_eq!(db.jobs().await, before, "{stranger:?} changed something");
    }
    // The owner sees and controls it.
    let status = core.handle(&owner, &format!("/status {id}"), false).await;
    assert!(
        status.text().starts_with(&format!("#{id} queued")),
        "{}",
        status.text()
    );
    assert!(core
        .handle(&owner, "/history", false)
        .await
        .text()
        .contains("the owner's clip"));
    let cancel = core.handle(&owner, &format!("/cancel {id}"), false).await;
    assert_eq!(
        (cancel.kind(), cancel.job_id()),
        (ReplyKind::Cancelled, Some(id))
    );
    assert_eq!(db.store.job(id).await.unwrap().state, JobState::Cancelled);
}

/// Allows every cameo except those named `withdrawn…`; errors when `broken`.
struct TestGate {
    broken: bool,
}

#[async_trait]
impl ConsentGate for TestGate {
    async fn check(&self, request: &ConsentRequest<'_>) -> Result<ConsentDecision, ConsentError> {
        if self.broken {
            return Err(ConsentError::Unavailable("registry timed out".into()));
        }
        match request
            .cameo_ids
            .iter()
            .find(|c| c.starts_with("withdrawn"))
        {
            Some(c) => Ok(ConsentDecision::Refused(format!("{c} withdrew consent"))),
            None => Ok(ConsentDecision::Allowed),
        }
    }
}

async fn consent_gate_decides_about_cameos(db: Db) {
    let alice = requester("terminal", "alice");
    let gate = |broken| {
        CommandCore::new(
            db.store.clone(),
            db.clips(),
            Arc::new(TestGate { broken }),
            RenderSettings::default(),
        )
    };

    let allowed = gate(false)
        .handle(
            &alice,
            "/video two friends wave cameo:Ann cameo:@bob",
            false,
        )
        .await;
    assert_eq!(allowed.kind(), ReplyKind::Queued, "{allowed:?}");
    let job = db.store.job(allowed.job_id().unwrap()).await.unwrap();
    assert_eq!(job.cameo_ids, vec!["ann".to_string(), "bob".to_string()]);

    let before = db.jobs().await;
    let refused = gate(false)
        .handle(&alice, "/video a wave cameo:withdrawn_1", false)
        .await;
    assert_eq!(refused.kind(), ReplyKind::Refused, "{refused:?}");
    assert_eq!(
        refused.text(),
        "withdrawn_1 withdrew consent. Nothing was queued."
    );
    // A registry outage is "try again later" (the consent policy), not an
    // internal error; nothing is queued.
    let broken = gate(true)
        .handle(&alice, "/video a wave cameo:ann", false)
        .await;
    assert_eq!(
        (broken.kind(), broken.text()),
        (ReplyKind::Refused, wording::CONSENT_UNCONFIRMED)
    );
    assert_eq!(db.jobs().await, before);
    // A prompt naming nobody does not need the registry.
    let nobody = gate(true).handle(&alice, "/video a wave", false).await;
    assert_eq!(nobody.kind(), ReplyKind::Queued, "{nobody:?}");
}

async fn a_broken_store_reads_as_an_internal_error(db: Db) {
    let core = core(&db, roomy());
    let alice: Requester = requester("terminal", "alice");
    db.store.close().await;
    for command in [
        "/video a cat",
        "/status",
        "/cancel",
        "/history",
        "/status 1",
    ] {
        let reply = core.handle(&alice, command, false).await;
        assert_eq!(
            (reply.kind(), reply.text()),
            (ReplyKind::Refused, wording::INTERNAL_ERROR),
            "{command}"
        );
    }
    // Help needs no database.
    let help = core.handle(&alice, "/help", false).await;
    assert_eq!(
        (help.kind(), help.text()),
        (ReplyKind::Info, wording::help().as_str())
    );
}

/// Fault 18: on main `/status` and `/history` in a Telegram group showed
/// the sender's prompts to everyone there.
async fn answers_in_a_group_never_show_prompts(db: Db) {
    let core = core(&db, roomy());
    let private = requester("telegram", "alice");
    let in_group = Requester {
        shared_chat: true,
        ..private.clone()
    };
    let id = core
        .handle(&private, "/video my secret birthday surprise", false)
        .await
        .job_id()
        .unwrap();
    for command in ["/status", "/history", &format!("/status {id}")] {
        let group = core.handle(&in_group, command, false).await;
        assert_eq!(group.kind(), ReplyKind::Info, "{command}: {group:?}");
        assert!(
            group.text().contains(&format!("#{id}")),
            "{command}: {}",
            group.text()
        );
        assert!(
            !group.text().contains("secret"),
            "{command}: {}",
            group.text()
        );
    }
    // Privately the history shows prompts as before.
    let alone = core.handle(&private, "/history", false).await;
    assert!(alone.text().contains("secret"), "{}", alone.text());
}

/// Fault 8: on main `/clip` had no limit (each call may run three FFmpeg
/// re-encodes on Discord).
async fn reposts_are_limited_per_user(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("discord", "alice");
    let (job, _) = common::encoded_job(
        &db,
        &db.clips(),
        &common::new_job("discord", "alice", "a wave"),
        "testsrc",
    )
    .await;
    let id = job.id;
    common::deliver(&db, id).await;
    for _ in 0..reel_bots::core::REPOSTS_PER_USER {
        let again = core.handle(&alice, &format!("/clip {id}"), false).await;
        assert_eq!(again.kind(), ReplyKind::Repost, "{again:?}");
    }
    let refused = core.handle(&alice, &format!("/clip {id}"), false).await;
    assert_eq!(refused.kind(), ReplyKind::Refused, "{refused:?}");
    assert!(
        refused.text().contains("Try again in about"),
        "{}",
        refused.text()
    );
}
