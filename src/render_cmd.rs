//! `reel render`: one clip straight to a file, no queue, with a progress bar.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressStyle};
use reel::config::Config;
use reel::provenance::{ClipFinisher, ClipJob};
use reel::voice::{make_soundtrack, speak_line, speech_condition, voice_from_file};
use reel::wiring::{make_renderer, model_for, RenderOverrides};
use reel_bots::core::{validate, wording, VideoRequest};
use reel_engine::voice::check_line;
use reel_engine::{CancelToken, RenderRequest, RgbImage};
use reel_media::read_image;

#[derive(clap::Args)]
pub struct RenderArgs {
    /// What to film.
    prompt: String,
    /// Where to write the MP4.
    #[arg(short, long)]
    output: PathBuf,
    /// Length in seconds.
    #[arg(long)]
    duration: Option<String>,
    #[arg(long)]
    seed: Option<String>,
    /// landscape, portrait or square.
    #[arg(long)]
    aspect: Option<String>,
    /// WIDTHxHEIGHT.
    #[arg(long)]
    size: Option<String>,
    /// Render from this model directory (overrides engine.model/model_dir):
    /// LTX-2 when it has an audio_vae/, LTX-Video otherwise.
    #[arg(long, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// Start from these initial latents (a safetensors file with a `latents`
    /// tensor [1, C, F, H, W], optionally `decode_noise`, or for LTX-2
    /// `audio_latents`) instead of the seed's noise.
    #[arg(long, value_name = "FILE.safetensors")]
    latents: Option<PathBuf>,
    /// LTX-2: start the soundtrack from these audio latents [1, C, L, M]
    /// (the file's `latents` tensor or its only one).
    #[arg(long, value_name = "FILE.safetensors")]
    audio_latents: Option<PathBuf>,
    /// LTX-2, audio to video: this speech (any audio file FFmpeg reads, at
    /// most the clip's length) is the soundtrack and the picture follows it.
    #[arg(long, value_name = "FILE")]
    speech: Option<PathBuf>,
    /// A reference image (PNG, JPEG, ...) that fixes the first frame (image-to-video).
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    /// Also write every decoded frame, losslessly, as DIR/frame-NNNNN.ppm.
    #[arg(long, value_name = "DIR")]
    frames_out: Option<PathBuf>,
    /// Also write the soundtrack as rendered, losslessly (32-bit float WAV).
    #[arg(long, value_name = "FILE.wav")]
    audio_out: Option<PathBuf>,
    /// A line to speak as the clip's soundtrack (the speech model in [voice]);
    /// with LTX-2 the picture follows it (audio → video), so not with --speech.
    #[arg(long, value_name = "TEXT", conflicts_with = "speech")]
    say: Option<String>,
    /// Speak it in the voice of this recording (audio or video file)...
    #[arg(long, value_name = "FILE", requires_all = ["say", "voice_text"])]
    voice: Option<PathBuf>,
    /// ...in which this is said.
    #[arg(long, value_name = "TEXT", requires = "voice")]
    voice_text: Option<String>,
}

pub async fn run(config: &Config, args: RenderArgs) -> anyhow::Result<()> {
    // The same validation as a chat /video, so limits and messages match.
    let options = [
        ("duration", args.duration),
        ("seed", args.seed),
        ("aspect", args.aspect),
        ("size", args.size),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    let video = validate(
        &VideoRequest {
            prompt: args.prompt,
            options,
        },
        &config.render_settings(),
    )
    .map_err(|e| anyhow!(e.0))?;
    for note in &video.notes {
        eprintln!("note: {note}");
    }
    let reference_image = args.image.as_deref().map(read_image).transpose()?;
    // The line and the voice are checked, and the voice decoded, before any rendering.
    let line_to_say = match &args.say {
        Some(line) => {
            check_line(line)?;
            let voice = match (&args.voice, &args.voice_text) {
                (Some(path), Some(text)) => Some(voice_from_file(
                    path,
                    text,
                    &config.perception.decode_limits(),
                )?),
                _ => None,
            };
            let model = tokio::task::block_in_place(|| reel::voice::load_model(&config.voice))?;
            Some((line.clone(), voice, model))
        }
        None => None,
    };
    let frames = video.duration_s * video.fps;
    // The line is spoken first: with LTX-2 it is also the audio → video
    // condition, so the lips follow it (fitted at the audio VAE's 16 kHz).
    let spoken = match line_to_say {
        Some((line, voice, mut model)) => Some(tokio::task::block_in_place(|| {
            speak_line(&mut model, &line, voice.as_ref(), video.seed, &config.voice)
        })?),
        None => None,
    };
    let (model, _) = model_for(config, args.model_dir.as_deref());
    let speech_track = spoken
        .as_ref()
        .and_then(|line| speech_condition(model, line, frames, video.fps));
    let overrides = RenderOverrides {
        model_dir: args.model_dir,
        latents: args.latents,
        audio_latents: args.audio_latents,
        speech: args.speech,
        speech_track,
    };
    let renderer = tokio::task::block_in_place(|| make_renderer(config, overrides))?;
    // Before rendering: a missing or bad signing key fails at once.
    let finisher =
        tokio::task::block_in_place(|| ClipFinisher::from_config(config, renderer.name()))?;
    let clip_job = ClipJob {
        title: args
            .output
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "clip.mp4".into()),
        budget: None,
        requester: None,
        cameo_ids: Vec::new(),
    };
    let renderer_label = wording::renderer_label(Some(renderer.name()));
    let request = RenderRequest {
        prompt: video.prompt.clone(),
        seed: video.seed,
        frames,
        width: video.width,
        height: video.height,
        fps: video.fps,
        reference_image,
        reference_voice: None,
        speech: None,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} steps ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("rendering with {renderer_label}"));
    let output = args.output.clone();
    let frames_out = args.frames_out.clone();
    let audio_out = args.audio_out.clone();
    let started = Instant::now();
    let task_bar = bar.clone();
    let (finished, width, height) = tokio::task::spawn_blocking(move || {
        let mut rendered = renderer.render(
            &request,
            &mut |p| {
                task_bar.set_length(u64::from(p.total));
                task_bar.set_position(u64::from(p.step));
            },
            &CancelToken::new(),
        )?;
        if let Some(line) = &spoken {
            make_soundtrack(&mut rendered, line);
        }
        for note in &rendered.notes {
            task_bar.suspend(|| eprintln!("note: {note}"));
        }
        if let Some(dir) = &frames_out {
            write_frames(&rendered.frames, dir)?;
        }
        if let Some(path) = &audio_out {
            std::fs::write(path, float_wav(&rendered.audio))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        task_bar.set_message("encoding and signing");
        let finished = finisher.finish(&mut rendered, &clip_job, &output)?;
        anyhow::Ok((finished, rendered.width, rendered.height))
    })
    .await
    .context("the render task crashed")?
    .with_context(|| format!("rendering to {}", args.output.display()))?;
    bar.finish_and_clear();
    println!(
        "wrote {} ({} bytes, {} frames, {:.1} s of video, {}×{}, seed {}{}) in {:.1} s — rendered by {}",
        args.output.display(),
        finished.bytes,
        finished.encoded.frames,
        finished.encoded.duration_ms as f64 / 1000.0,
        width,
        height,
        video.seed,
        if finished.signed { ", signed" } else { ", NOT signed" },
        started.elapsed().as_secs_f64(),
        renderer_label
    );
    if let Some(dir) = &args.frames_out {
        println!("frames in {}", dir.display());
    }
    Ok(())
}

/// A WAV of IEEE float samples (format 3), as interleaved in `audio`.
fn float_wav(audio: &reel_engine::Audio) -> Vec<u8> {
    let channels = audio.channels.max(1);
    let data_bytes = (audio.samples.len() * 4) as u32;
    let frame_bytes = u32::from(channels) * 4;
    let mut out = Vec::with_capacity(44 + audio.samples.len() * 4);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&3u16.to_le_bytes()); // IEEE float
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&audio.sample_rate.to_le_bytes());
    out.extend_from_slice(&(audio.sample_rate * frame_bytes).to_le_bytes());
    out.extend_from_slice(&(frame_bytes as u16).to_le_bytes());
    out.extend_from_slice(&32u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_bytes.to_le_bytes());
    for sample in &audio.samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// Frames as binary PPM (lossless, readable by ffmpeg and most viewers).
fn write_frames(frames: &[RgbImage], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, frame) in frames.iter().enumerate() {
        let path = dir.join(format!("frame-{i:05}.ppm"));
        let mut bytes = format!("P6\n{} {}\n255\n", frame.width, frame.height).into_bytes();
        bytes.extend_from_slice(&frame.data);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
