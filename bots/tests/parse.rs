//! The command language on its own: `parse` and `validate`, no database.

use reel_bots::core::{
    parse, validate, wording, Command, RenderSettings, UsageError, ValidVideo, VideoRequest,
};

fn video(text: &str) -> VideoRequest {
    match parse(text, false) {
        Ok(Command::Video(request)) => request,
        other => panic!("{text:?} should parse as /video, got {other:?}"),
    }
}

fn valid(text: &str, settings: &RenderSettings) -> ValidVideo {
    validate(&video(text), settings).unwrap_or_else(|e| panic!("{text:?} should be valid: {e}"))
}

fn options(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn telegram_style_commands_address_the_bot() {
    let request = video("/video@reelbot a cat duration:3");
    assert_eq!(
        request,
        VideoRequest {
            prompt: "a cat".into(),
            options: options(&[("duration", "3")])
        }
    );
    let video = validate(&request, &RenderSettings::default()).unwrap();
    assert_eq!((video.prompt.as_str(), video.duration_s), ("a cat", 3));

    assert_eq!(
        parse("/status@reelbot 7", false),
        Ok(Command::Status(Some(7)))
    );
    assert_eq!(parse("/cancel@reelbot", false), Ok(Command::Cancel(None)));
    assert_eq!(parse("/history@reelbot", false), Ok(Command::History));
    assert_eq!(parse("/HELP", false), Ok(Command::Help));
    assert_eq!(parse("/start", false), Ok(Command::Help));
    assert_eq!(
        parse("  /status   #12  ", false),
        Ok(Command::Status(Some(12)))
    );
    assert_eq!(parse("/cancel 3", false), Ok(Command::Cancel(Some(3))));
    assert_eq!(parse("/status", false), Ok(Command::Status(None)));
}

#[test]
fn options_come_at_the_end_in_any_order() {
    let s = RenderSettings::default();
    let a = valid(
        "/video a dog on a beach seed:7 aspect:square duration:2",
        &s,
    );
    let b = valid(
        "/video a dog on a beach duration:2 seed:7 aspect:square",
        &s,
    );
    assert_eq!(a, b);
    assert_eq!(a.prompt, "a dog on a beach");
    assert_eq!((a.seed, a.duration_s), (7, 2));
    let side = s.width.min(s.height);
    assert_eq!((a.width, a.height), (side, side));
    // Keys are case-insensitive.
    assert_eq!(valid("/video a dog Duration:4 SEED:9", &s).duration_s, 4);

    // An option of ours followed by prompt words is refused (fault 21),
    // not filmed as part of the prompt.
    assert!(parse("/video a dog seed:7 on a beach", false).is_err());
}

#[test]
fn colons_that_are_not_options_stay_in_the_prompt() {
    let s = RenderSettings::default();
    let v = valid("/video a clock at 10:30 duration:2", &s);
    assert_eq!(v.prompt, "a clock at 10:30");
    assert_eq!(v.duration_s, 2);
    assert_eq!(
        valid("/video a clock at 10:30", &s).prompt,
        "a clock at 10:30"
    );
    assert_eq!(
        valid("/video a 16:9 shot of rain", &s).prompt,
        "a 16:9 shot of rain"
    );
    // An empty value or key is not an option either.
    assert_eq!(valid("/video the word note:", &s).prompt, "the word note:");
    assert_eq!(valid("/video a smiley :)", &s).prompt, "a smiley :)");
}

#[test]
fn plain_text_is_a_prompt_only_when_allowed() {
    let s = RenderSettings::default();
    match parse("a cat on a wall duration:2", true) {
        Ok(Command::Video(request)) => {
            let v = validate(&request, &s).unwrap();
            assert_eq!((v.prompt.as_str(), v.duration_s), ("a cat on a wall", 2));
        }
        other => panic!("plain text should be a prompt, got {other:?}"),
    }
    let err = parse("a cat on a wall", false).unwrap_err();
    assert_eq!(err.0, wording::NOT_A_COMMAND);
    // Commands still work where plain text is a prompt.
    assert_eq!(parse("/history", true), Ok(Command::History));
}

#[test]
fn whitespace_in_prompts_is_collapsed() {
    let v = valid(
        "/video a   cat\n\tjumps \r\n high",
        &RenderSettings::default(),
    );
    assert_eq!(v.prompt, "a cat jumps high");
}

#[test]
fn prompt_length_limit_is_inclusive_and_counts_characters() {
    let s = RenderSettings {
        max_prompt_chars: 20,
        ..RenderSettings::default()
    };
    let exactly = "é".repeat(20);
    assert_eq!(valid(&format!("/video {exactly}"), &s).prompt, exactly);
    let err = validate(&video(&format!("/video {exactly}x")), &s).unwrap_err();
    assert_eq!(err.0, wording::prompt_too_long(21, 20));
}

#[test]
fn sizes_are_rounded_to_the_model_grid_with_a_note() {
    let s = RenderSettings::default();
    let v = valid("/video a cat size:650x390", &s);
    assert_eq!((v.width, v.height), (640, 384));
    assert_eq!(v.notes, vec![wording::size_rounded(640, 384, 32)]);

    let exact = valid("/video a cat size:640x384", &s);
    assert_eq!((exact.width, exact.height), (640, 384));
    assert!(exact.notes.is_empty(), "{:?}", exact.notes);

    let upper = valid("/video a cat size:320X192", &s);
    assert_eq!((upper.width, upper.height), (320, 192));
    let edge = valid(
        &format!(
            "/video a cat size:{}x{} duration:1",
            s.max_width, s.max_height
        ),
        &s,
    );
    assert_eq!((edge.width, edge.height), (s.max_width, s.max_height));
}

#[test]
fn aspects_pick_sizes_from_the_settings() {
    for s in [
        RenderSettings::default(),
        RenderSettings {
            width: 640,
            height: 384,
            ..RenderSettings::default()
        },
    ] {
        let no_aspect = valid("/video a cat", &s);
        assert_eq!((no_aspect.width, no_aspect.height), (s.width, s.height));
        for word in ["landscape", "wide", "16:9", "3:2"] {
            let v = valid(&format!("/video a cat aspect:{word}"), &s);
            assert_eq!((v.width, v.height), (s.width, s.height), "aspect:{word}");
        }
        for word in ["portrait", "tall", "9:16", "2:3", "PORTRAIT"] {
            let v = valid(&format!("/video a cat aspect:{word}"), &s);
            assert_eq!((v.width, v.height), (s.height, s.width), "aspect:{word}");
        }
        let side = s.width.min(s.height);
        for word in ["square", "1:1"] {
            let v = valid(&format!("/video a cat aspect:{word}"), &s);
            assert_eq!((v.width, v.height), (side, side), "aspect:{word}");
        }
    }
}

#[test]
fn durations_default_and_accept_seconds() {
    for default_duration in [3, 5] {
        let s = RenderSettings {
            default_duration,
            fps: 12,
            ..RenderSettings::default()
        };
        let v = valid("/video a cat", &s);
        assert_eq!((v.duration_s, v.fps), (default_duration, 12));
    }
    let s = RenderSettings::default();
    assert_eq!(valid("/video a cat duration:7s", &s).duration_s, 7);
    assert_eq!(
        valid(
            &format!("/video a cat duration:{}", s.durations.start()),
            &s
        )
        .duration_s,
        *s.durations.start()
    );
    assert_eq!(
        valid(&format!("/video a cat duration:{}", s.durations.end()), &s).duration_s,
        *s.durations.end()
    );
    let narrow = RenderSettings {
        durations: 2..=4,
        ..RenderSettings::default()
    };
    let err = validate(&video("/video a cat duration:5"), &narrow).unwrap_err();
    assert_eq!(err.0, wording::duration_out_of_range("5", &(2..=4)));
}

#[test]
fn seeds_in_range_are_kept_and_missing_ones_are_random() {
    let s = RenderSettings::default();
    assert_eq!(valid("/video a cat seed:0", &s).seed, 0);
    assert_eq!(valid("/video a cat seed:42", &s).seed, 42);
    assert_eq!(
        valid(&format!("/video a cat seed:{}", u32::MAX), &s).seed,
        u64::from(u32::MAX)
    );
    let seeds: Vec<u64> = (0..16).map(|_| valid("/video a cat", &s).seed).collect();
    assert!(
        seeds.iter().all(|&seed| seed <= u64::from(u32::MAX)),
        "{seeds:?}"
    );
    let mut distinct = seeds.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() > 1,
        "16 random seeds were all the same: {seeds:?}"
    );
}

#[test]
fn cameos_are_normalised_and_may_repeat() {
    let v = valid(
        "/video two friends wave cameo:@Alice cameo:bob_2",
        &RenderSettings::default(),
    );
    assert_eq!(v.cameo_ids, vec!["alice".to_string(), "bob_2".to_string()]);
    assert_eq!(v.prompt, "two friends wave");
}

#[test]
fn structured_requests_validate_like_typed_ones() {
    // Discord's slash command builds the request directly.
    let request = VideoRequest {
        prompt: "a clock at 10:30".into(),
        options: options(&[("duration", "4"), ("seed", "5")]),
    };
    let v = validate(&request, &RenderSettings::default()).unwrap();
    assert_eq!(
        (v.prompt.as_str(), v.duration_s, v.seed),
        ("a clock at 10:30", 4, 5)
    );
    let bad = VideoRequest {
        prompt: "x".into(),
        options: options(&[("loop", "yes")]),
    };
    let UsageError(message) = validate(&bad, &RenderSettings::default()).unwrap_err();
    assert_eq!(message, wording::unknown_option("loop"));
}

/// Fault 21: on main `/video duration:99 a cat` rendered "duration:99 a
/// cat" as the prompt.
#[test]
fn an_option_before_the_prompt_is_refused_not_filmed() {
    for (text, misplaced) in [
        ("/video duration:99 a cat", "duration:99"),
        ("/video a cat seed:4 on a skateboard", "seed:4"),
        ("a SIZE:640x384 cat", "SIZE:640x384"),
    ] {
        let error = parse(text, true).expect_err(text);
        assert_eq!(error.0, wording::options_go_at_the_end(misplaced), "{text}");
    }
    // Words with colons that are not our options stay where they are.
    let s = RenderSettings::default();
    assert_eq!(
        valid("/video a sign saying note:hello on a wall duration:2", &s).prompt,
        "a sign saying note:hello on a wall"
    );
}

/// Fault 16: on main zero-width and other format (Cf) characters passed
/// into prompts (and so into public captions).
#[test]
fn invisible_format_characters_are_refused_with_the_reason() {
    let s = RenderSettings::default();
    for bad in ['\u{200B}', '\u{FEFF}', '\u{2060}', '\u{E0041}', '\u{00AD}'] {
        let request = VideoRequest {
            prompt: format!("a cat{bad} on a skateboard"),
            options: Vec::new(),
        };
        let UsageError(message) = validate(&request, &s).expect_err("refused");
        assert_eq!(message, wording::format_character(bad));
    }
    // Emoji built with a zero-width joiner are ordinary text.
    assert_eq!(
        valid("/video a 👩\u{200D}💻 typing", &s).prompt,
        "a 👩\u{200D}💻 typing"
    );
}

/// Fault 7: on main any user could ask for 1280×1280 for 10 s (about 20 GB
/// in the frame conversion); the pixel × frame budget refuses it up front.
#[test]
fn a_clip_over_the_pixel_frame_budget_is_refused_clearly() {
    let s = RenderSettings::default();
    let request = video("/video a cat size:1280x1280 duration:10");
    let UsageError(message) = validate(&request, &s).expect_err("over budget");
    assert_eq!(message, wording::over_render_budget(1280, 1280, 10, 2));
    // Each bound alone is fine: the default size at the longest duration,
    // the largest size briefly.
    valid("/video a cat duration:10", &s);
    valid("/video a cat size:1280x1280 duration:2", &s);
    let tight = RenderSettings {
        max_pixel_frames: 768 * 512 * 24,
        ..RenderSettings::default()
    };
    assert!(validate(&video("/video a cat duration:2"), &tight).is_err());
}
