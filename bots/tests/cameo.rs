//! `/cameo` through the command core, on SQLite and PostgreSQL: owner
//! commands, who may use a cameo, withdrawal, the clip list and removal.
//! The core's consent gate is the registry, as in production.

#[macro_use]
mod common;

use reel_bots::core::wording::{self, cameo as words};
use reel_bots::core::{CommandCore, Reply, ReplyKind, Requester};
use reel_consent::{ApprovalMode, Audience, Person};

use common::cameos::registered;
use common::{cameo_core, cameo_registry as registry, core, deliver, encoded_job, new_job};
use common::{requester, roomy, Db};

on_both_backends!(
    without_a_master_key_every_cameo_command_is_refused,
    owner_commands_change_the_cameo_and_status_shows_it,
    nobody_but_the_owner_changes_a_cameo,
    audience_and_grants_decide_who_may_film_the_cameo,
    a_withdrawn_cameo_is_refused_and_an_erased_one_is_gone,
    the_name_may_be_left_out_only_with_one_cameo,
    clips_lists_every_clip_with_the_cameo_and_delete_removes_it,
    bad_input_is_refused_with_what_to_fix,
);

fn person(from: &Requester) -> Person {
    Person::new(&from.platform, &from.user_id)
}

async fn say(core: &CommandCore, from: &Requester, text: &str) -> Reply {
    core.handle(from, text, false).await
}

/// `text` answered with `kind`; the answer's text returned.
async fn expect(core: &CommandCore, from: &Requester, text: &str, kind: ReplyKind) -> String {
    let reply = say(core, from, text).await;
    assert_eq!(reply.kind(), kind, "{text}: {}", reply.text());
    reply.text().to_string()
}

async fn without_a_master_key_every_cameo_command_is_refused(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("terminal", "alice");
    assert!(!core.cameos_enabled());
    for text in [
        "/cameo register ana",
        "/cameo submit /tmp/recording.mp4",
        "/cameo status",
        "/cameo audience everyone",
        "/cameo allow bob",
        "/cameo clips",
        "/cameo withdraw",
        "/cameo erase ana",
    ] {
        let reply = say(&core, &alice, text).await;
        assert_eq!(
            (reply.kind(), reply.text()),
            (ReplyKind::Refused, words::NOT_ENABLED),
            "{text}"
        );
    }
    let pressed = core.remove_cameo_clip(&alice, 1).await;
    assert_eq!(pressed.text(), words::NOT_ENABLED);
    let submitted = core
        .submit_recording(&alice, "m1", false, std::path::Path::new("/nonexistent"))
        .await;
    assert_eq!(submitted.text(), words::NOT_ENABLED);
    assert!(words::NOT_ENABLED.contains("master key"));
}

async fn owner_commands_change_the_cameo_and_status_shows_it(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let alice = requester("terminal", "alice");
    registered(&registry, &person(&alice), "ana").await;

    let status = expect(&core, &alice, "/cameo status", ReplyKind::Info).await;
    assert!(status.contains("Cameo ana: active"), "{status}");
    assert!(status.contains("Audience: only you"), "{status}");

    expect(&core, &alice, "/cameo audience approved", ReplyKind::Info).await;
    let allowed = expect(&core, &alice, "/cameo allow bob", ReplyKind::Info).await;
    assert!(allowed.contains("bob"), "{allowed}");
    expect(&core, &alice, "/cameo allow carol", ReplyKind::Info).await;
    expect(&core, &alice, "/cameo deny carol", ReplyKind::Info).await;
    let restricted = expect(
        &core,
        &alice,
        "/cameo restrict Beach, red dress",
        ReplyKind::Info,
    )
    .await;
    assert!(restricted.contains("beach, red dress"), "{restricted}");
    expect(&core, &alice, "/cameo approval ask", ReplyKind::Info).await;

    let ana = registry.cameo(&person(&alice), "ana").await.unwrap();
    assert_eq!(ana.audience, Audience::Approved);
    assert_eq!(ana.approval, ApprovalMode::Ask);
    assert_eq!(ana.restrictions, ["beach", "red dress"]);
    assert_eq!(ana.approved_users, [Person::new("terminal", "bob")]);
    let status = expect(&core, &alice, "/cameo status ana", ReplyKind::Info).await;
    assert_eq!(status, words::status(&ana));
    for part in [
        "Approved users: bob",
        "beach, red dress",
        "ask (you approve",
    ] {
        assert!(status.contains(part), "{part}: {status}");
    }

    expect(&core, &alice, "/cameo restrict none", ReplyKind::Info).await;
    let ana = registry.cameo(&person(&alice), "ana").await.unwrap();
    assert!(ana.restrictions.is_empty());
    // `/cameo` alone explains itself; `/help` lists it.
    assert_eq!(
        expect(&core, &alice, "/cameo", ReplyKind::Info).await,
        words::help()
    );
    assert!(wording::help().contains("/cameo audience"));
}

async fn nobody_but_the_owner_changes_a_cameo(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let (alice, bob) = (requester("terminal", "alice"), requester("terminal", "bob"));
    let ana = registered(&registry, &person(&alice), "ana").await;
    let events = registry.events_of(ana.id.0).await.unwrap().len();
    let unknown = "You have no cameo ana.";
    for text in [
        "/cameo status ana",
        "/cameo audience everyone cameo:ana",
        "/cameo allow bob cameo:ana",
        "/cameo deny alice cameo:ana",
        "/cameo restrict cats cameo:ana",
        "/cameo approval ask cameo:ana",
        "/cameo clips ana",
        "/cameo withdraw ana",
        "/cameo erase ana",
    ] {
        let reply = say(&core, &bob, text).await;
        assert_eq!(
            (reply.kind(), reply.text()),
            (ReplyKind::Refused, unknown),
            "{text}"
        );
    }
    // Reads exactly like a name nobody holds.
    let missing = say(&core, &bob, "/cameo withdraw zed").await;
    assert_eq!(missing.text(), "You have no cameo zed.");
    // Without a name, bob's own (none) are meant.
    let own = say(&core, &bob, "/cameo audience everyone").await;
    assert_eq!(own.text(), words::NO_CAMEO);

    assert_eq!(registry.cameo(&person(&alice), "ana").await.unwrap(), ana);
    assert_eq!(registry.events_of(ana.id.0).await.unwrap().len(), events);
    // The same user on another platform is someone else.
    let alice_elsewhere = requester("telegram", "alice");
    let reply = say(&core, &alice_elsewhere, "/cameo withdraw ana").await;
    assert_eq!(reply.text(), unknown);
    assert_eq!(registry.cameo(&person(&alice), "ana").await.unwrap(), ana);
}

async fn video(core: &CommandCore, from: &Requester) -> Reply {
    say(core, from, "/video a dance on the beach cameo:ana").await
}

async fn audience_and_grants_decide_who_may_film_the_cameo(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let (alice, bob, carol) = (
        requester("terminal", "alice"),
        requester("terminal", "bob"),
        requester("terminal", "carol"),
    );
    registered(&registry, &person(&alice), "ana").await;

    assert_eq!(video(&core, &alice).await.kind(), ReplyKind::Queued);
    let refused = video(&core, &bob).await;
    assert_eq!(refused.kind(), ReplyKind::Refused);
    assert!(refused.text().contains("unavailable"), "{}", refused.text());

    expect(&core, &alice, "/cameo audience approved", ReplyKind::Info).await;
    assert_eq!(video(&core, &bob).await.kind(), ReplyKind::Refused);
    expect(&core, &alice, "/cameo allow bob", ReplyKind::Info).await;
    assert_eq!(video(&core, &bob).await.kind(), ReplyKind::Queued);
    assert_eq!(video(&core, &carol).await.kind(), ReplyKind::Refused);

    expect(&core, &alice, "/cameo deny bob", ReplyKind::Info).await;
    assert_eq!(video(&core, &bob).await.kind(), ReplyKind::Refused);

    expect(&core, &alice, "/cameo audience everyone", ReplyKind::Info).await;
    assert_eq!(video(&core, &carol).await.kind(), ReplyKind::Queued);

    // The owner's restrictions hold for everyone, with the reason.
    expect(&core, &alice, "/cameo restrict beach", ReplyKind::Info).await;
    let restricted = video(&core, &carol).await;
    assert_eq!(restricted.kind(), ReplyKind::Refused);
    assert!(restricted.text().contains("beach"), "{}", restricted.text());

    let queued: Vec<String> = db.jobs().await.iter().map(|j| j.user_id.clone()).collect();
    assert_eq!(queued, ["carol", "bob", "alice"], "newest first");
}

async fn a_withdrawn_cameo_is_refused_and_an_erased_one_is_gone(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let (alice, bob) = (requester("terminal", "alice"), requester("terminal", "bob"));
    registered(&registry, &person(&alice), "ana").await;
    expect(&core, &alice, "/cameo audience everyone", ReplyKind::Info).await;
    assert_eq!(video(&core, &bob).await.kind(), ReplyKind::Queued);

    let withdrawn = expect(&core, &alice, "/cameo withdraw", ReplyKind::Info).await;
    assert_eq!(withdrawn, words::withdrawn("ana"));
    for from in [&alice, &bob] {
        let reply = video(&core, from).await;
        assert_eq!(reply.kind(), ReplyKind::Refused, "{}", from.user_id);
    }
    // A withdrawn cameo's settings stay as they are.
    let change = say(&core, &alice, "/cameo audience only_me cameo:ana").await;
    assert_eq!(change.kind(), ReplyKind::Refused);
    assert!(change.text().contains("withdrawn"), "{}", change.text());
    let status = expect(&core, &alice, "/cameo status", ReplyKind::Info).await;
    assert!(status.contains("withdrawn"), "{status}");

    // Erasing it needs no name either: it is the only one held.
    assert_eq!(
        expect(&core, &alice, "/cameo erase", ReplyKind::Info).await,
        words::erased("ana")
    );
    assert_eq!(
        expect(&core, &alice, "/cameo status", ReplyKind::Info).await,
        words::NO_CAMEO
    );
    assert!(registry.reference_media("ana").await.is_err());
}

async fn the_name_may_be_left_out_only_with_one_cameo(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let alice = requester("terminal", "alice");
    registered(&registry, &person(&alice), "ana").await;
    registered(&registry, &person(&alice), "ana_voice").await;

    let which = say(&core, &alice, "/cameo audience everyone").await;
    assert_eq!(
        which.text(),
        words::which_cameo(&["ana".into(), "ana_voice".into()])
    );
    expect(
        &core,
        &alice,
        "/cameo audience everyone cameo:ana_voice",
        ReplyKind::Info,
    )
    .await;
    expect(
        &core,
        &alice,
        "/cameo audience ana approved",
        ReplyKind::Info,
    )
    .await;
    let owner = person(&alice);
    assert_eq!(
        registry.cameo(&owner, "ana_voice").await.unwrap().audience,
        Audience::Everyone
    );
    assert_eq!(
        registry.cameo(&owner, "ana").await.unwrap().audience,
        Audience::Approved
    );
    // Once one is withdrawn, the other is the only one to change.
    expect(&core, &alice, "/cameo withdraw ana", ReplyKind::Info).await;
    expect(&core, &alice, "/cameo approval ask", ReplyKind::Info).await;
    assert_eq!(
        registry.cameo(&owner, "ana_voice").await.unwrap().approval,
        ApprovalMode::Ask
    );
}

async fn clips_lists_every_clip_with_the_cameo_and_delete_removes_it(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let clips = db.clips();
    let (alice, bob, carol) = (
        requester("terminal", "alice"),
        requester("terminal", "bob"),
        requester("terminal", "carol"),
    );
    registered(&registry, &person(&alice), "ana").await;
    assert_eq!(
        expect(&core, &alice, "/cameo clips", ReplyKind::Info).await,
        words::NO_CLIPS
    );

    // Bob's clip with ana, made and recorded as the delivery side does.
    let mut with_ana = new_job("terminal", "bob", "ana dances");
    with_ana.cameo_ids = vec!["ana".into()];
    let (job, _) = encoded_job(&db, &clips, &with_ana, "testsrc").await;
    deliver(&db, job.id).await;
    let (other, _) = encoded_job(&db, &clips, &new_job("terminal", "bob", "a kite"), "x").await;
    deliver(&db, other.id).await;
    registry
        .record_clip(job.id, &person(&bob), &["ana".to_string()])
        .await
        .unwrap();
    let key = job.clip_key.clone().unwrap();

    let listed = say(&core, &alice, "/cameo clips").await;
    let Reply::CameoClips { text, job_ids } = &listed else {
        panic!("expected the clip list, got {listed:?}");
    };
    assert_eq!(job_ids, &[job.id]);
    assert!(
        text.contains(&format!("#{} with ana, asked by bob", job.id)),
        "{text}"
    );
    assert!(!text.contains(&format!("#{}", other.id)), "{text}");

    // Only the cameo's owner may remove it, and only clips with it.
    for (who, id) in [(&carol, job.id), (&bob, job.id), (&alice, other.id)] {
        let reply = core.remove_cameo_clip(who, id).await;
        assert_eq!(
            (reply.kind(), reply.text()),
            (ReplyKind::Refused, words::not_your_clip(id).as_str())
        );
    }
    assert!(clips.get(&key).await.is_ok(), "nothing removed yet");

    let removed = core.remove_cameo_clip(&alice, job.id).await;
    assert_eq!(removed.kind(), ReplyKind::Removed, "{}", removed.text());
    assert_eq!(removed.job_id(), Some(job.id));
    assert!(clips.get(&key).await.is_err(), "the stored clip is gone");
    assert_eq!(db.store.job(job.id).await.unwrap().clip_key, None);
    assert!(clips.get(other.clip_key.as_ref().unwrap()).await.is_ok());

    let again = core.remove_cameo_clip(&alice, job.id).await;
    assert_eq!(again.text(), words::clip_already_removed(job.id));
    let listed = say(&core, &alice, "/cameo clips ana").await;
    let Reply::CameoClips { text, job_ids } = &listed else {
        panic!("expected the clip list, got {listed:?}");
    };
    assert!(job_ids.is_empty(), "a removed clip has no Delete button");
    assert!(text.contains("(removed)"), "{text}");
}

async fn bad_input_is_refused_with_what_to_fix(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry);
    let alice = requester("telegram", "100");
    let ana = registered(&registry, &person(&alice), "ana").await;
    let events = registry.events_of(ana.id.0).await.unwrap().len();
    for (text, expected) in [
        ("/cameo allow @bob", words::not_a_user("telegram", "@bob")),
        ("/cameo audience friends", words::not_an_audience("friends")),
        (
            "/cameo approval later",
            words::not_an_approval_mode("later"),
        ),
        ("/cameo frobnicate", words::unknown_subcommand("frobnicate")),
        ("/cameo register", words::usage_of("register")),
        ("/cameo status Not-A-Name", String::new()),
    ] {
        let reply = say(&core, &alice, text).await;
        assert_eq!(reply.kind(), ReplyKind::Refused, "{text}");
        if !expected.is_empty() {
            assert_eq!(reply.text(), expected, "{text}");
        }
    }
    let too_many: Vec<String> = (0..60).map(|i| format!("word{i}")).collect();
    let reply = say(
        &core,
        &alice,
        &format!("/cameo restrict {}", too_many.join(", ")),
    )
    .await;
    assert_eq!(reply.kind(), ReplyKind::Refused);
    assert!(reply.text().contains("at most 50"), "{}", reply.text());
    assert_eq!(registry.cameo(&person(&alice), "ana").await.unwrap(), ana);
    assert_eq!(registry.events_of(ana.id.0).await.unwrap().len(), events);
    // A Discord mention names the user.
    // Only the terminal submits a path: a chat user can't make the server
    // read one of its files.
    let path = db.dir.path().join("somefile");
    std::fs::write(&path, "x").unwrap();
    let reply = say(&core, &alice, &format!("/cameo submit {}", path.display())).await;
    assert_eq!(
        (reply.kind(), reply.text()),
        (ReplyKind::Refused, words::how_to_answer("telegram"))
    );
    let discord = requester("discord", "7");
    registered(&registry, &person(&discord), "dan").await;
    expect(&core, &discord, "/cameo allow <@!42>", ReplyKind::Info).await;
    let dan = registry.cameo(&person(&discord), "dan").await.unwrap();
    assert_eq!(dan.approved_users, [Person::new("discord", "42")]);
}
