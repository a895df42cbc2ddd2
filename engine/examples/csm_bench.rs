//! Text-to-speech real-time factor, candle side: loads a CSM model
//! directory, speaks a line in the default voice greedily for FRAMES
//! frames and decodes them, RUNS times after a warm-up, and prints the
//! median wall time over the audio's length. `scripts/bench/csm.sh` runs
//! this and transformers on the same CPU in one go.
//!
//! ```text
//! cargo run --release -p reel-engine --example csm_bench -- MODEL_DIR FRAMES
//! ```

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;
use reel_engine::voice::{SpeakOptions, SpeechModel};

const RUNS: usize = 3;
const LINE: &str = "hello there, this is a benchmark";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let usage = "usage: csm_bench MODEL_DIR FRAMES";
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let frames: usize = args.next().ok_or(usage)?.parse()?;
    let mut model = SpeechModel::load(&dir, &Device::Cpu)?;
    let seconds = frames as f64 / model.frame_rate();
    let options = SpeakOptions {
        seed: 0,
        temperature: Some(0.0),
        top_k: None,
        max_seconds: seconds as f32,
    };
    let mut speak = || -> Result<Vec<Vec<u32>>, Box<dyn std::error::Error>> {
        let prompt = model.prompt(None, LINE)?;
        let codes = model.generate(&prompt, &options)?;
        model.decode(&codes)?;
        Ok(codes)
    };
    let codes = speak()?; // warm-up
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        speak()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let took = times[RUNS / 2];
    println!(
        "candle {} frames={} audio_s={seconds:.2} speak_s={took:.3} rtf={:.3} first_frame={:?}",
        dir.display(),
        codes.len(),
        took / seconds,
        codes.first()
    );
    Ok(())
}
