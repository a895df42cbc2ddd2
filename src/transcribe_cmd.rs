//! `reel transcribe FILE`: what Whisper hears in an audio or video file, as
//! JSON {text, language, avg_logprob}. How an operator checks a Whisper
//! model directory, and how tests reach the model through the binary.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::Device;
use reel::config::Config;
use reel_engine::perception::speech::{SpeechToText, Whisper};
use serde_json::json;

#[derive(clap::Args)]
pub struct TranscribeArgs {
    /// An audio or video file (OGG/Opus, MP3, M4A, WAV, MP4, MOV, WebM, …).
    file: PathBuf,
}

pub fn run(config: &Config, args: TranscribeArgs) -> anyhow::Result<()> {
    let perception = &config.perception;
    // The upload is checked before the model is loaded: a bad file costs
    // nothing.
    let speech = reel_media::decode_speech(&args.file, &perception.decode_limits())?;
    let whisper = Whisper::load(
        &perception.whisper_model_dir,
        &Device::Cpu,
        perception.whisper_options(),
    )?;
    let transcript = whisper
        .transcribe(&speech.samples)
        .with_context(|| format!("cannot transcribe {}", args.file.display()))?;
    let out = json!({
        "text": transcript.text,
        "language": transcript.language,
        "avg_logprob": transcript.avg_logprob,
        "seconds": speech.seconds(),
        "model": whisper.model_version(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
