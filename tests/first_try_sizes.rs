//! Clips bound for Discord (10 MiB) and Telegram (50 MB) arrive within the
//! budget on the first encode: 5 s and 10 s at 768×512 and 1216×704, for
//! the test pattern and for per-pixel noise (which does not compress).
//! Each case leaves `SIGNING_ROOM` free for the manifest signed in after.

use reel_engine::{CancelToken, RenderRequest, Renderer, TestPattern};
use reel_media::{encode_within, Audio, EncodeOptions, Rendered, RgbImage, SIGNING_ROOM};

const DISCORD: u64 = 10 * 1024 * 1024;
const TELEGRAM: u64 = 50_000_000;
const FPS: u32 = 24;
const SHAPES: [(u32, u32); 2] = [(768, 512), (1216, 704)];
const SECONDS: [u32; 2] = [5, 10];

fn testsrc(width: u32, height: u32, seconds: u32) -> Rendered {
    let request = RenderRequest {
        prompt: "a lighthouse in a storm".into(),
        seed: 7,
        frames: seconds * FPS,
        width,
        height,
        fps: FPS,
        reference_image: None,
        reference_voice: None,
        speech: None,
    };
    TestPattern::new()
        .render(&request, &mut |_| {}, &CancelToken::new())
        .expect("testsrc renders")
}

/// Every pixel of every frame random (xorshift), with a stereo noise track:
/// the worst case for the encoder.
fn noise(width: u32, height: u32, seconds: u32) -> Rendered {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let frames = (0..seconds * FPS)
        .map(|_| {
            let mut image = RgbImage::new(width, height);
            for chunk in image.data.chunks_mut(8) {
                let bytes = next().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            image
        })
        .collect();
    let samples = (0..seconds as usize * 48_000 * 2)
        .map(|_| (next() % 2000) as f32 / 1000.0 - 1.0)
        .collect();
    Rendered {
        width,
        height,
        fps: FPS,
        frames,
        audio: Audio {
            sample_rate: 48_000,
            channels: 2,
            samples,
        },
        notes: Vec::new(),
    }
}

fn check_first_try(name: &str, make: fn(u32, u32, u32) -> Rendered) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("clip.mp4");
    let mut report = Vec::new();
    for (width, height) in SHAPES {
        for seconds in SECONDS {
            let clip = make(width, height, seconds);
            for budget in [DISCORD, TELEGRAM] {
                let fitted = encode_within(&clip, &out, &EncodeOptions::default(), Some(budget))
                    .expect("encode");
                let line = format!(
                    "{name} {width}x{height} {seconds}s budget {budget}: {} bytes, {} encode(s)",
                    fitted.clip.bytes, fitted.encodes
                );
                assert_eq!(fitted.encodes, 1, "{line}");
                assert!(fitted.fits, "{line}");
                assert!(fitted.clip.bytes + SIGNING_ROOM <= budget, "{line}");
                report.push(line);
            }
        }
    }
    println!("{}", report.join("\n"));
}

#[test]
fn testsrc_clips_fit_discord_and_telegram_on_the_first_encode() {
    check_first_try("testsrc", testsrc);
}

#[test]
fn noise_clips_fit_discord_and_telegram_on_the_first_encode() {
    check_first_try("noise", noise);
}
