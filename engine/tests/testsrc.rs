//! The testsrc renderer: shape of its output, determinism, motion, the
//! "test pattern" label, progress, cancellation and request validation.

mod common;

use std::time::Duration;

use common::{render, request};
use reel_engine::testsrc::{self, banner_placement, glyph_mask, TEXT_BACKGROUND, TEXT_COLOUR};
use reel_engine::{
    Audio, CancelToken, Progress, RenderError, RenderRequest, Renderer, RgbImage, TestPattern,
};

#[test]
fn renders_requested_frames_sizes_and_audio_length() {
    let req = request(160, 96, 30, 24, 7);
    let clip = render(&req);
    assert_eq!((clip.width, clip.height, clip.fps), (160, 96, 24));
    assert_eq!(clip.frames.len(), 30);
    for frame in &clip.frames {
        assert_eq!((frame.width, frame.height), (160, 96));
        assert_eq!(frame.data.len(), 160 * 96 * 3);
    }
    let expected = 30.0 / 24.0 * f64::from(clip.audio.sample_rate);
    let samples_per_frame = f64::from(clip.audio.sample_rate) / 24.0;
    assert!(clip.audio.sample_rate == testsrc::SAMPLE_RATE && clip.audio.channels >= 1);
    let got = clip.audio.frames() as f64;
    assert!(
        (got - expected).abs() <= samples_per_frame,
        "audio has {got} samples per channel, expected {expected}"
    );
    let peak = clip
        .audio
        .samples
        .iter()
        .fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.1 && peak <= 1.0, "audio peak {peak}");
}

#[test]
fn same_seed_same_clip_different_seed_different_frames() {
    let a = render(&request(64, 48, 3, 24, 42));
    let b = render(&request(64, 48, 3, 24, 42));
    let c = render(&request(64, 48, 3, 24, 43));
    assert_eq!(a.frames, b.frames);
    assert_eq!(a.audio, b.audio);
    for (frame_a, frame_c) in a.frames.iter().zip(&c.frames) {
        assert_ne!(frame_a, frame_c);
    }
}

#[test]
fn consecutive_frames_differ() {
    let clip = render(&request(96, 64, 6, 24, 1));
    for pair in clip.frames.windows(2) {
        let changed = pair[0]
            .data
            .chunks_exact(3)
            .zip(pair[1].data.chunks_exact(3))
            .filter(|(a, b)| a != b)
            .count();
        // More than the frame counter's digits: the pattern itself moves.
        assert!(changed > 96 * 64 / 50, "only {changed} pixels changed");
    }
}

/// Checks that the first banner glyph, 'T', is drawn where the layout says.
fn assert_banner_glyph(frame: &RgbImage) {
    let place = banner_placement(frame.width, frame.height);
    let mask = glyph_mask(testsrc::BANNER_TEXT.chars().next().expect("banner text"));
    assert_eq!(mask, glyph_mask('T'));
    let mut lit = 0;
    for (row, bits) in (0u32..).zip(mask) {
        for col in 0..8u32 {
            let on = bits & (1 << col) != 0;
            for dy in 0..place.scale {
                for dx in 0..place.scale {
                    let x = place.x + col * place.scale + dx;
                    let y = place.y + row * place.scale + dy;
                    let pixel = frame.pixel(x, y).expect("glyph inside the frame");
                    let want = if on { TEXT_COLOUR } else { TEXT_BACKGROUND };
                    assert_eq!(pixel, want, "pixel ({x}, {y}) of 'T'");
                    lit += usize::from(on);
                }
            }
        }
    }
    assert!(lit > 0);
}

#[test]
fn banner_is_drawn_in_every_frame() {
    let small = render(&request(160, 96, 4, 24, 3));
    for frame in &small.frames {
        assert_banner_glyph(frame);
    }
    // A larger frame uses scaled-up glyphs.
    let large = render(&request(640, 360, 1, 24, 3));
    assert!(banner_placement(640, 360).scale > 1);
    assert_banner_glyph(&large.frames[0]);
}

#[test]
fn progress_reports_each_step_in_order() {
    let req = request(32, 32, 48, 24, 5);
    let mut seen = Vec::new();
    TestPattern::new()
        .render(&req, &mut |p| seen.push(p), &CancelToken::new())
        .expect("render");
    let total = seen
        .first()
        .map(|p| p.total)
        .expect("progress was reported");
    assert_eq!(total, 20);
    let expected: Vec<Progress> = (1..=total).map(|step| Progress { step, total }).collect();
    assert_eq!(seen, expected);

    let mut few = Vec::new();
    TestPattern::new()
        .render(
            &request(32, 32, 3, 24, 5),
            &mut |p| few.push(p.step),
            &CancelToken::new(),
        )
        .expect("render");
    assert_eq!(few, vec![1, 2, 3]);
}

#[test]
fn cancelling_after_first_step_stops_the_render() {
    let req = request(32, 32, 40, 24, 5);
    let cancel = CancelToken::new();
    let mut steps = 0;
    let result = TestPattern::new().render(
        &req,
        &mut |_| {
            steps += 1;
            cancel.cancel();
        },
        &cancel,
    );
    assert!(matches!(result, Err(RenderError::Cancelled)), "{result:?}");
    assert_eq!(steps, 1);
}

#[test]
fn cancel_interrupts_a_step_delay() {
    let renderer = TestPattern::with_step_delay(Duration::from_secs(30));
    let cancel = CancelToken::new();
    let remote = cancel.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        remote.cancel();
    });
    let started = std::time::Instant::now();
    let result = renderer.render(&request(16, 16, 2, 24, 0), &mut |_| {}, &cancel);
    canceller.join().expect("canceller thread");
    assert!(matches!(result, Err(RenderError::Cancelled)), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn rejection(req: &RenderRequest) -> String {
    match TestPattern::new().render(req, &mut |_| {}, &CancelToken::new()) {
        Err(RenderError::InvalidRequest(message)) => message,
        other => panic!(
            "expected InvalidRequest, got {:?}",
            other.map(|r| r.frames.len())
        ),
    }
}

#[test]
fn invalid_requests_name_the_field() {
    let ok = request(64, 64, 2, 24, 0);
    let cases: Vec<(RenderRequest, &str)> = vec![
        (
            RenderRequest {
                width: 0,
                ..ok.clone()
            },
            "width",
        ),
        (
            RenderRequest {
                width: 65,
                ..ok.clone()
            },
            "width",
        ),
        (
            RenderRequest {
                width: 4098,
                ..ok.clone()
            },
            "width",
        ),
        (
            RenderRequest {
                height: 14,
                ..ok.clone()
            },
            "height",
        ),
        (
            RenderRequest {
                height: 8192,
                ..ok.clone()
            },
            "height",
        ),
        (
            RenderRequest {
                frames: 0,
                ..ok.clone()
            },
            "frames",
        ),
        (
            RenderRequest {
                frames: 2001,
                ..ok.clone()
            },
            "frames",
        ),
        (
            RenderRequest {
                fps: 0,
                ..ok.clone()
            },
            "fps",
        ),
        (
            RenderRequest {
                reference_image: Some(RgbImage {
                    width: 4,
                    height: 4,
                    data: vec![0; 47],
                }),
                ..ok.clone()
            },
            "reference_image",
        ),
        (
            RenderRequest {
                reference_voice: Some(Audio {
                    sample_rate: 0,
                    channels: 1,
                    samples: vec![],
                }),
                ..ok.clone()
            },
            "reference_voice",
        ),
        (
            RenderRequest {
                width: 4096,
                height: 4096,
                frames: 2000,
                ..ok.clone()
            },
            "too large",
        ),
    ];
    for (req, field) in cases {
        let message = rejection(&req);
        assert!(message.contains(field), "{message:?} should name {field}");
    }
    // The message also gives the allowed range.
    assert!(rejection(&RenderRequest {
        frames: 0,
        ..ok.clone()
    })
    .contains("1 to 2000"));
    assert!(rejection(&RenderRequest { width: 15, ..ok }).contains("16 to 4096"));
}

#[test]
fn tiny_frames_render() {
    for (width, height) in [(16, 16), (64, 64), (16, 64), (64, 16)] {
        let clip = render(&request(width, height, 3, 24, 9));
        assert_eq!(clip.frames.len(), 3);
        assert!(clip
            .frames
            .iter()
            .all(|f| f.data.len() == (width * height * 3) as usize));
    }
    // 64x64 still shows the banner's first glyph.
    assert_banner_glyph(&render(&request(64, 64, 1, 24, 9)).frames[0]);
}

#[test]
fn long_unicode_prompt_and_reference_image_render() {
    let prompt = "🦊 Ünïcödé — 東京の夜景、ネオン ".repeat(40) + "\n\ttabs\0nul";
    let mut req = request(160, 96, 2, 24, 11);
    req.prompt = prompt;
    let face = RgbImage {
        width: 3,
        height: 5,
        data: vec![200; 3 * 5 * 3],
    };
    req.reference_image = Some(face);
    let with_face = render(&req);
    req.reference_image = None;
    let without_face = render(&req);
    assert_eq!(with_face.frames.len(), 2);
    assert_ne!(with_face.frames[0], without_face.frames[0]);
}

#[test]
fn renderer_is_named_testsrc() {
    assert_eq!(TestPattern::new().name(), "testsrc");
}
