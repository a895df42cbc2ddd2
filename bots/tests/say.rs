//! `/video … say:"…"` (issue 17): the line's parsing and bad-input rules,
//! the refusal where no speech model is configured, the job keeping its
//! line, and consent: a cameo the requester may not use never lends its
//! voice (the request is refused, nothing is queued).

#[macro_use]
mod common;

use reel_bots::core::{
    parse, validate, wording, Command, CommandCore, RenderSettings, ReplyKind, Requester,
    ValidVideo, VideoRequest, MAX_SAY_CHARS,
};
use reel_consent::Person;

use common::cameos::registered;
use common::{cameo_core, cameo_registry as registry, core, requester, roomy, Db};

on_both_backends!(
    a_line_is_queued_with_the_job_and_survives_a_restart,
    without_a_speech_model_say_is_refused_and_nothing_is_queued,
    a_cameo_the_requester_may_not_use_lends_no_voice,
    bad_lines_are_refused_and_nothing_is_queued,
);

fn request(text: &str) -> Result<VideoRequest, String> {
    match parse(text, false) {
        Ok(Command::Video(request)) => Ok(request),
        Ok(other) => panic!("{text:?} parsed as {other:?}"),
        Err(e) => Err(e.0),
    }
}

fn checked(text: &str) -> Result<ValidVideo, String> {
    validate(&request(text)?, &RenderSettings::default()).map_err(|e| e.0)
}

#[test]
fn a_quoted_line_keeps_its_spaces_and_the_other_options_still_work() {
    let video =
        checked(r#"/video a cat on a piano say:"hello there: it's me"  duration:3"#).unwrap();
    assert_eq!(video.prompt, "a cat on a piano");
    assert_eq!(video.say_line.as_deref(), Some("hello there: it's me"));
    assert_eq!(video.duration_s, 3);
    // Last, first among the options, in curly quotes (phones type them),
    // any case, one word unquoted; runs of spaces become one.
    for (text, line) in [
        (r#"/video a cat duration:2 say:"hi  you""#, "hi you"),
        (
            "/video a cat SAY:\u{201C}good morning\u{201D} seed:4",
            "good morning",
        ),
        ("/video a cat say:hello", "hello"),
    ] {
        assert_eq!(
            checked(text).unwrap().say_line.as_deref(),
            Some(line),
            "{text}"
        );
    }
    let quiet = checked(r#"/video a man says "hello" to a dog"#).unwrap();
    assert_eq!(
        quiet.say_line, None,
        "quotes in the prompt are the prompt's"
    );
    assert_eq!(quiet.prompt, r#"a man says "hello" to a dog"#);
}

#[test]
fn a_misplaced_unclosed_or_repeated_line_is_refused() {
    let misplaced = checked(r#"/video a cat say:"hello there" on a piano"#).unwrap_err();
    assert!(misplaced.contains("Options go at the end"), "{misplaced}");
    let open = checked(r#"/video a cat say:"hello there"#).unwrap_err();
    assert_eq!(open, wording::SAY_UNTERMINATED);
    let glued = checked(r#"/video a cat say:"hello"duration:3"#).unwrap_err();
    assert_eq!(glued, wording::SAY_UNTERMINATED);
    let twice = checked(r#"/video a cat say:"one" say:"two""#).unwrap_err();
    assert_eq!(twice, wording::option_twice("say"));
    let mixed = checked(r#"/video a cat say:one say:"two""#).unwrap_err();
    assert_eq!(mixed, wording::option_twice("say"));
}

#[test]
fn empty_long_and_invisible_lines_are_refused_like_prompts() {
    assert_eq!(
        checked(r#"/video a cat say:"   ""#).unwrap_err(),
        wording::EMPTY_SAY
    );
    let longest = "a".repeat(MAX_SAY_CHARS);
    assert!(checked(&format!(r#"/video a cat say:"{longest}""#)).is_ok());
    let over = checked(&format!(r#"/video a cat say:"{longest}b""#)).unwrap_err();
    assert_eq!(
        over,
        wording::say_too_long(MAX_SAY_CHARS + 1, MAX_SAY_CHARS)
    );
    for bad in ['\u{7}', '\u{202E}', '\u{200B}', '\u{1B}'] {
        let text = format!("/video a cat say:\"hi{bad}there\"");
        assert_eq!(
            checked(&text).unwrap_err(),
            wording::say_hidden_character(bad),
            "U+{:04X}",
            bad as u32
        );
    }
}

#[test]
fn the_chat_takes_exactly_the_lines_the_speech_model_takes() {
    assert_eq!(MAX_SAY_CHARS, reel_engine::voice::MAX_LINE_CHARS);
    for line in ["hello there", "a\tb", &"x".repeat(MAX_SAY_CHARS)] {
        let video = validate(
            &VideoRequest {
                prompt: "a cat".into(),
                options: vec![("say".into(), line.into())],
            },
            &RenderSettings::default(),
        )
        .unwrap();
        let spoken = reel_engine::voice::check_line(line).unwrap();
        assert_eq!(video.say_line.as_deref(), Some(spoken.as_str()));
    }
}

#[test]
fn help_and_the_unknown_option_message_name_say() {
    assert!(wording::help().contains("say:\""), "{}", wording::help());
    assert!(wording::unknown_option("x").contains("say:"));
}

async fn queue(core: &CommandCore, from: &Requester, text: &str) -> (ReplyKind, String) {
    let reply = core.handle(from, text, false).await;
    (reply.kind(), reply.text().to_string())
}

async fn a_line_is_queued_with_the_job_and_survives_a_restart(db: Db) {
    let core = core(&db, roomy()).with_speech(true);
    let alice = requester("terminal", "alice");
    let (kind, text) = queue(&core, &alice, r#"/video a cat say:"hello  there""#).await;
    assert_eq!(kind, ReplyKind::Queued, "{text}");
    let jobs = db.jobs().await;
    assert_eq!(jobs[0].say_line.as_deref(), Some("hello there"));
    assert!(
        jobs[0].cameo_ids.is_empty(),
        "no cameo: the model's own voice"
    );
    let reopened = db.reopen().await;
    let job = reopened.job(jobs[0].id).await.unwrap();
    assert_eq!(job.say_line.as_deref(), Some("hello there"));
    // A re-roll speaks the same line.
    let reroll = core.reroll(&alice, job.id).await;
    assert_eq!(reroll.kind(), ReplyKind::Queued, "{}", reroll.text());
    assert_eq!(db.jobs().await[0].say_line.as_deref(), Some("hello there"));
}

async fn without_a_speech_model_say_is_refused_and_nothing_is_queued(db: Db) {
    let core = core(&db, roomy());
    let alice = requester("terminal", "alice");
    let (kind, text) = queue(&core, &alice, r#"/video a cat say:"hello""#).await;
    assert_eq!(
        (kind, text.as_str()),
        (ReplyKind::Refused, wording::NO_SPEECH_MODEL)
    );
    assert!(db.jobs().await.is_empty());
    let (kind, _) = queue(&core, &alice, "/video a cat").await;
    assert_eq!(kind, ReplyKind::Queued, "without say: as before");
}

async fn a_cameo_the_requester_may_not_use_lends_no_voice(db: Db) {
    let registry = registry(&db);
    let core = cameo_core(&db, &registry).with_speech(true);
    let (alice, bob) = (requester("terminal", "alice"), requester("terminal", "bob"));
    registered(&registry, &Person::new("terminal", "alice"), "ana").await;
    let ask = r#"/video a toast cameo:ana say:"I approve this message""#;
    // Bob may not use Ana (audience: only her): refused, nothing queued, so
    // no job exists that could carry her voice.
    let (kind, text) = queue(&core, &bob, ask).await;
    assert_eq!(kind, ReplyKind::Refused, "{text}");
    assert!(db.jobs().await.is_empty());
    // Without a cameo Bob's line is queued with no cameo at all: the
    // worker speaks it in the model's own voice.
    let (kind, _) = queue(
        &core,
        &bob,
        r#"/video a toast say:"I approve this message""#,
    )
    .await;
    assert_eq!(kind, ReplyKind::Queued);
    let jobs = db.jobs().await;
    assert_eq!((jobs.len(), jobs[0].cameo_ids.len()), (1, 0));
    // Ana herself may: the job names her cameo, whose gated media are
    // the only place the worker takes a voice from.
    let (kind, text) = queue(&core, &alice, ask).await;
    assert_eq!(kind, ReplyKind::Queued, "{text}");
    let jobs = db.jobs().await;
    assert_eq!(jobs[0].cameo_ids, ["ana"]);
    assert_eq!(jobs[0].say_line.as_deref(), Some("I approve this message"));
}

async fn bad_lines_are_refused_and_nothing_is_queued(db: Db) {
    let core = core(&db, roomy()).with_speech(true);
    let alice = requester("terminal", "alice");
    let long = format!(r#"/video a cat say:"{}""#, "a".repeat(MAX_SAY_CHARS + 1));
    for text in [
        r#"/video a cat say:"""#,
        r#"/video a cat say:"unclosed"#,
        "/video a cat say:\"bell\u{7}\"",
        long.as_str(),
    ] {
        let (kind, reply) = queue(&core, &alice, text).await;
        assert_eq!(kind, ReplyKind::Refused, "{text}: {reply}");
    }
    assert!(db.jobs().await.is_empty());
}
