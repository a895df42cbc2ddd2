//! What labelling, encoding within a 10 MiB budget and signing cost per
//! clip, stage by stage: the work a worker adds after the model renders.
//!
//! cargo run --release -p reel-provenance --example finish_bench -- 768x512 5 3
//!
//! Frames are a synthetic moving pattern with grain (the encoder has real
//! work); the key is made fresh by `generate_keys`.

use std::time::{Duration, Instant};

use reel_media::{encode_within, watermark_clip, Audio, EncodeOptions, Rendered, RgbImage};
use reel_provenance::{generate_keys, ClipFacts, ClipSigner};

const FPS: u32 = 24;
const BUDGET: u64 = 10 * 1024 * 1024;

fn pattern(width: u32, height: u32, frames: u32) -> Rendered {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let images = (0..frames)
        .map(|t| {
            let mut image = RgbImage::new(width, height);
            for y in 0..height {
                for x in 0..width {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let grain = (state % 16) as u32;
                    let r = ((x + t * 3) * 255 / width) + grain;
                    let g = ((y + t) * 255 / height) + grain;
                    let b = (((x + y) / 4 + t * 5) % 256) + grain;
                    image.set_pixel(x, y, [r.min(255) as u8, g.min(255) as u8, b.min(255) as u8]);
                }
            }
            image
        })
        .collect();
    let samples = (0..u64::from(frames) * 48_000 / u64::from(FPS) * 2)
        .map(|n| (0.2 * (n as f64 * 0.03).sin()) as f32)
        .collect();
    Rendered {
        width,
        height,
        fps: FPS,
        frames: images,
        audio: Audio {
            sample_rate: 48_000,
            channels: 2,
            samples,
        },
        notes: Vec::new(),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = args.first().map(String::as_str).unwrap_or("768x512");
    let (width, height) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or("size must be WIDTHxHEIGHT")?;
    let seconds: u32 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let reps: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(3);

    let keys = generate_keys("bench")?;
    let signer = ClipSigner::from_pem(
        keys.signing_cert_pem.as_bytes(),
        keys.signing_key_pem.as_bytes(),
    )?;
    let facts = ClipFacts {
        title: "bench.mp4".into(),
        model: "ltx-video".into(),
        checkpoint: "bench".into(),
        cameo_ids: vec!["cameo-1".into()],
    };
    let dir = tempfile::tempdir()?;
    let (unsigned, signed) = (
        dir.path().join("unsigned.mp4"),
        dir.path().join("signed.mp4"),
    );
    let source = pattern(width, height, seconds * FPS);
    let (mut label, mut encode, mut sign) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..reps {
        let mut clip = source.clone();
        let started = Instant::now();
        watermark_clip(&mut clip, "AI · reel");
        label.push(started.elapsed());
        let started = Instant::now();
        let fitted = encode_within(&clip, &unsigned, &EncodeOptions::default(), Some(BUDGET))?;
        encode.push(started.elapsed());
        let started = Instant::now();
        signer.sign_created(&unsigned, &signed, &facts)?;
        sign.push(started.elapsed());
        bytes = std::fs::metadata(&signed)?.len();
        assert_eq!(fitted.encodes, 1, "the first encode missed the budget");
    }
    let (label, encode, sign) = (median(label), median(encode), median(sign));
    let total = label + encode + sign;
    println!(
        "{width}x{height}, {seconds} s at {FPS} fps, {reps} reps (median): label {:.3} s, encode {:.3} s, sign {:.3} s, total {:.3} s; {bytes} bytes signed",
        label.as_secs_f64(),
        encode.as_secs_f64(),
        sign.as_secs_f64(),
        total.as_secs_f64()
    );
    Ok(())
}
