//! Speech-to-text real-time factor, candle side: loads a Whisper model
//! directory, transcribes a clip (raw 16 kHz mono f32 little-endian) RUNS
//! times after a warm-up, and prints the median wall time over the clip's
//! length, split into front end + encoder and the whole call.
//! `scripts/bench/whisper.sh` runs this and transformers on the same CPU
//! in one go.
//!
//! ```text
//! cargo run --release -p reel-engine --example whisper_bench -- MODEL_DIR CLIP.f32 MAX_NEW_TOKENS
//! ```

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use reel_engine::perception::speech::{SpeechToText, Whisper, WhisperOptions};

const RUNS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let usage = "usage: whisper_bench MODEL_DIR CLIP.f32 MAX_NEW_TOKENS";
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let clip = PathBuf::from(args.next().ok_or(usage)?);
    let max_new_tokens: usize = args.next().ok_or(usage)?.parse()?;
    let samples: Vec<f32> = std::fs::read(&clip)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let seconds = samples.len() as f64 / 16_000.0;
    let options = WhisperOptions {
        max_new_tokens,
        ..WhisperOptions::default()
    };
    let whisper = Whisper::load(&dir, &Device::Cpu, options)?;
    let decoded = whisper.decode_window(&samples, None)?; // warm-up
    let mut encode = Vec::new();
    let mut whole = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let features = whisper.features(&samples);
        whisper.encode(&features)?;
        encode.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        whisper.transcribe(&samples)?;
        whole.push(start.elapsed().as_secs_f64());
    }
    let (encode, whole) = (median(&mut encode), median(&mut whole));
    println!(
        "candle {} audio_s={seconds:.2} tokens={} mel+encoder_s={encode:.3} transcribe_s={whole:.3} rtf={:.3}",
        dir.display(),
        decoded.tokens.len(),
        whole / seconds
    );
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
