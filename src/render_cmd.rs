//! `reel render`: one clip straight to a file, no queue, with a progress bar.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressStyle};
use reel::config::Config;
use reel::wiring::make_renderer;
use reel_bots::core::{validate, wording, VideoRequest};
use reel_engine::{encode_mp4, CancelToken, EncodeOptions, RenderRequest};

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
    let renderer = make_renderer(config);
    let request = RenderRequest {
        prompt: video.prompt.clone(),
        seed: video.seed,
        frames: video.duration_s * video.fps,
        width: video.width,
        height: video.height,
        fps: video.fps,
        reference_image: None,
        reference_voice: None,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} steps ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!(
        "rendering with {}",
        wording::renderer_label(Some(renderer.name()))
    ));
    let output = args.output.clone();
    let crf = config.render.crf;
    let started = Instant::now();
    let task_bar = bar.clone();
    let encoded = tokio::task::spawn_blocking(move || {
        let rendered = renderer.render(
            &request,
            &mut |p| {
                task_bar.set_length(u64::from(p.total));
                task_bar.set_position(u64::from(p.step));
            },
            &CancelToken::new(),
        )?;
        task_bar.set_message("encoding");
        let options = EncodeOptions {
            crf,
            comment: (renderer.name() == "testsrc")
                .then(|| "reel testsrc: test pattern, not a model".into()),
            ..EncodeOptions::default()
        };
        encode_mp4(&rendered, &output, &options).map_err(anyhow::Error::from)
    })
    .await
    .context("the render task crashed")?
    .with_context(|| format!("rendering to {}", args.output.display()))?;
    bar.finish_and_clear();
    println!(
        "wrote {} ({} bytes, {} frames, {:.1} s of video, {}×{}, seed {}) in {:.1} s — rendered by {}",
        args.output.display(),
        encoded.bytes,
        encoded.frames,
        encoded.duration_ms as f64 / 1000.0,
        video.width,
        video.height,
        video.seed,
        started.elapsed().as_secs_f64(),
        wording::renderer_label(Some(make_renderer(config).name()))
    );
    Ok(())
}
