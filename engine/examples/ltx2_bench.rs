//! LTX-2's components at LTX-2's real widths on the CPU (candle's half of
//! `scripts/bench/ltx2_small.sh`): one transformer forward, the video VAE
//! decode, and the audio VAE decode plus the vocoder, on the inputs
//! `scripts/bench/ltx2_small.py` saved beside the weights.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release -p reel-engine --example ltx2_bench -- \
//!     DIR [frames=25] [width=384] [height=256] [runs=3]
//! ```
//!
//! Prints one JSON object per run, then the medians.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use reel_engine::ltx2::audio_vae::AudioAutoencoder;
use reel_engine::ltx2::pipeline::{pack_audio, pack_video};
use reel_engine::ltx2::transformer::{ForwardOptions, LatentShape, Timesteps, Transformer};
use reel_engine::ltx2::vae::VideoAutoencoder;
use reel_engine::ltx2::vocoder::AnyVocoder;

const FPS: f64 = 24.0;

fn arg(n: usize, default: usize) -> Result<usize, Box<dyn std::error::Error>> {
    Ok(match std::env::args().nth(n) {
        Some(v) => v.parse()?,
        None => default,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    reel_engine::single_cpu_pool();
    if let Some(blas) = reel_engine::cpu_blas::load_from_env().expect("REEL_BLAS_LIBRARY") {
        eprintln!("products on {}", blas.display());
    }
    let root = PathBuf::from(std::env::args().nth(1).ok_or("usage: ltx2_bench DIR ...")?);
    let (frames, width, height, runs) = (arg(2, 25)?, arg(3, 384)?, arg(4, 256)?, arg(5, 3)?);
    let device = Device::Cpu;
    // As the renderers do on the CPU.
    reel_engine::keep_freed_memory();
    reel_engine::flush_denormals();
    let inputs = candle_core::safetensors::load(
        root.join(format!("inputs-{frames}x{width}x{height}.safetensors")),
        &device,
    )?;
    let get = |name: &str| inputs.get(name).cloned().ok_or(format!("no {name} input"));
    let (video, audio_latents, captions) = (get("video")?, get("audio")?, get("captions")?);
    // REEL_BENCH_PARTS=audio (say) loads and times only those parts, e.g.
    // under a profiler, or in a folder made with only those parts' weights.
    let parts = std::env::var("REEL_BENCH_PARTS").unwrap_or_else(|_| "step,decode,audio".into());
    let wanted = |part: &str| parts.split(',').any(|p| p.trim() == part);
    let transformer = wanted("step")
        .then(|| Transformer::load(&root.join("transformer"), DType::F32, &device))
        .transpose()?;
    let vae = wanted("decode")
        .then(|| VideoAutoencoder::load(&root.join("vae"), DType::F32, &device))
        .transpose()?;
    let audio = wanted("audio")
        .then(|| -> Result<_, Box<dyn std::error::Error>> {
            Ok((
                AudioAutoencoder::load(&root.join("audio_vae"), DType::F32, &device)?,
                AnyVocoder::load(&root.join("vocoder"), DType::F32, &device)?,
            ))
        })
        .transpose()?;
    let (_, _, f, h, w) = video.dims5()?;
    let audio_frames = audio_latents.dim(2)?;
    let hidden = pack_video(&video, 1, 1)?;
    let audio_hidden = pack_audio(&audio_latents)?;
    let mask = Tensor::ones((1, captions.dim(1)?), DType::F32, &device)?;
    let t = Tensor::new(&[500f32], &device)?;
    let shape = LatentShape {
        frames: f,
        height: h,
        width: w,
        audio_frames,
        fps: FPS,
    };
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let (mut steps, mut decodes, mut audios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let start = Instant::now();
        let out = transformer.as_ref().map(|transformer| {
            transformer.forward(
                &hidden,
                &audio_hidden,
                &captions,
                &captions,
                Some(&mask),
                &Timesteps {
                    video: t.clone(),
                    audio: None,
                    sigma: Some(t.clone()),
                    audio_sigma: None,
                },
                &shape,
                &ForwardOptions::default(),
            )
        });
        drop(out.transpose()?);
        let step = start.elapsed().as_secs_f64();
        let start = Instant::now();
        if let Some(vae) = &vae {
            drop(vae.decode(&video)?);
        }
        let decode = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let mut mel_s = 0.0;
        if let Some((audio_vae, vocoder)) = &audio {
            let mel = audio_vae.decode(&audio_latents)?;
            mel_s = start.elapsed().as_secs_f64();
            drop(vocoder.forward(&mel)?);
        }
        let audio_s = start.elapsed().as_secs_f64();
        println!(
            "{{\"impl\": \"candle\", \"threads\": \"{threads}\", \"step_s\": {step:.4}, \"decode_s\": {decode:.4}, \"audio_s\": {audio_s:.4}, \"audio_vae_s\": {mel_s:.4}}}"
        );
        steps.push(step);
        decodes.push(decode);
        audios.push(audio_s);
    }
    println!(
        "{{\"impl\": \"candle\", \"threads\": \"{threads}\", \"median\": true, \"step_s\": {:.4}, \"decode_s\": {:.4}, \"audio_s\": {:.4}}}",
        median(steps),
        median(decodes),
        median(audios)
    );
    Ok(())
}
