//! LTX-2's text → video + audio pipeline against diffusers' LTX2Pipeline
//! (fixtures by scripts/golden/ltx2_pipeline.py, from the committed tiny
//! components): from the same initial noise, the denoised latents of both
//! streams, the decoded frames and the waveform, with guidance off (the
//! distilled schedule) and with every guidance term on; then the same through
//! the `Renderer` interface, the soundtrack fitted to the video.

mod ltx2_parity;

use candle_core::{DType, Device, Tensor};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx::pipeline::frames::video_to_unit_frames;
use reel_engine::ltx2::pipeline::{
    pack_audio, unpack_audio, Generation, Guidance, Ltx2Options, Ltx2Pipeline, Ltx2Video,
    StreamGuidance, TextEncoderPlacement,
};
use reel_engine::ltx2::scheduler::{Schedule, DISTILLED_SIGMAS};
use reel_engine::{CancelToken, RenderRequest, Renderer, RgbImage};

/// Errors relative to the reference's largest value. Everything is f32; the
/// guided case adds up to six scaled differences per step and rescales, so
/// rounding grows with it.
const LATENT_TOL: f32 = 1e-4;
/// Frames: the VAE decode amplifies the latents' rounding (up to 1e-4 seen).
const FRAME_TOL: f32 = 3e-4;
const WAVE_TOL: f32 = 1e-4;

fn meta() -> serde_json::Value {
    let path = fixture_dir("pipeline").join("cases.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model_dir() -> std::path::PathBuf {
    fixture_dir("pipeline").join("model")
}

/// The fixture's tiny pipeline on the CPU in f32.
fn tiny_pipeline(placement: TextEncoderPlacement) -> Ltx2Pipeline {
    Ltx2Pipeline::load(&model_dir(), &Device::Cpu, DType::F32, placement).unwrap()
}

fn check(name: &str, got: &Tensor, want: &Tensor, tol: f32) {
    let err = max_abs_diff(got, want);
    let scale = max_abs(want).max(1e-6);
    eprintln!("{name}: max abs error {err} (max value {scale})");
    assert!(
        err <= tol * scale,
        "{name}: error {err} over {tol} x {scale}"
    );
}

fn case_job(
    pipeline: &Ltx2Pipeline,
    case: &str,
    reference: &std::collections::HashMap<String, Tensor>,
) -> Generation {
    let m = meta();
    let video = pipeline
        .normalize_video(&get(reference, "video_noise"))
        .unwrap();
    let audio_noise = get(reference, "audio_noise");
    let (_, _, frames, mel) = audio_noise.dims4().unwrap();
    let audio = unpack_audio(
        &pipeline
            .normalize_audio(&pack_audio(&audio_noise).unwrap())
            .unwrap(),
        frames,
        mel,
    )
    .unwrap();
    let (schedule, guidance) = match case.trim_start_matches("i2av_") {
        "distilled" => (Schedule::Sigmas(DISTILLED_SIGMAS.to_vec()), Guidance::off()),
        _ => (
            Schedule::Steps(3),
            Guidance {
                video: StreamGuidance {
                    cfg: 3.0,
                    stg: 1.0,
                    modality: 3.0,
                    rescale: 0.7,
                },
                audio: StreamGuidance {
                    cfg: 7.0,
                    stg: 1.0,
                    modality: 3.0,
                    rescale: 0.7,
                },
                stg_blocks: vec![1],
            },
        ),
    };
    Generation {
        prompt: m["prompt"].as_str().unwrap().into(),
        negative_prompt: m["negative_prompt"].as_str().unwrap().into(),
        frames: m["frames"].as_u64().unwrap() as usize,
        fps: m["fps"].as_f64().unwrap(),
        schedule,
        guidance,
        video_noise: video,
        audio_noise: audio,
        first_frame: None,
        audio_condition: None,
        max_prompt_tokens: m["max_sequence_length"].as_u64().unwrap() as usize,
    }
}

/// Both streams' latents, then the decoded frames and waveform, against the case's reference.
fn check_against_reference(
    pipeline: &Ltx2Pipeline,
    case: &str,
    latents: &reel_engine::ltx2::pipeline::Latents,
    reference: &std::collections::HashMap<String, Tensor>,
) {
    let want = |what: &str| get(reference, &format!("{case}.{what}"));
    check(
        &format!("{case} video latents"),
        &latents.video,
        &want("video_latents"),
        LATENT_TOL,
    );
    check(
        &format!("{case} audio latents"),
        &latents.audio,
        &want("audio_latents"),
        LATENT_TOL,
    );
    let decoded = pipeline.decode(latents).unwrap();
    assert_eq!(decoded.sample_rate, 16_000);
    let frames = video_to_unit_frames(&decoded.video).unwrap();
    check(
        &format!("{case} frames"),
        &frames,
        &want("frames"),
        FRAME_TOL,
    );
    check(
        &format!("{case} waveform"),
        &decoded.waveform,
        &want("waveform"),
        WAVE_TOL,
    );
}

#[test]
fn text_to_video_and_audio_matches_diffusers() {
    let reference = reference("pipeline");
    let pipeline = tiny_pipeline(TextEncoderPlacement::PerJob);
    for case in ["distilled", "guided"] {
        let job = case_job(&pipeline, case, &reference);
        let mut steps = Vec::new();
        let latents = pipeline
            .denoise(&job, &mut |p| steps.push(p.step), &CancelToken::new())
            .unwrap();
        assert_eq!(steps, (1..=job.schedule.steps() as u32).collect::<Vec<_>>());
        check_against_reference(&pipeline, case, &latents, &reference);
    }
}

/// diffusers' RGB image [H, W, 3] (u8 stored as f32) as an `RgbImage`.
fn fixture_image(reference: &std::collections::HashMap<String, Tensor>) -> RgbImage {
    let image = get(reference, "image");
    let (h, w, _) = image.dims3().unwrap();
    let data = image
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v.round() as u8)
        .collect();
    RgbImage {
        width: w as u32,
        height: h as u32,
        data,
    }
}

#[test]
fn image_to_video_and_audio_matches_diffusers() {
    let reference = reference("pipeline");
    let pipeline = tiny_pipeline(TextEncoderPlacement::Resident);
    let image = fixture_image(&reference);
    for case in ["i2av_distilled", "i2av_guided"] {
        let mut job = case_job(&pipeline, case, &reference);
        // LTX2ImageToVideoPipeline draws its noise unnormalised; the fixture replaced that draw.
        job.video_noise = get(&reference, "video_noise");
        job.first_frame = Some(pipeline.encode_first_frame(&image, 64, 64).unwrap());
        let latents = pipeline
            .denoise(&job, &mut |_| {}, &CancelToken::new())
            .unwrap();
        check_against_reference(&pipeline, case, &latents, &reference);
    }
    // The picture matters: the first frame is not the text-only one.
    let t2v = get(&reference, "distilled.frames").get(0).unwrap();
    let i2v = get(&reference, "i2av_distilled.frames").get(0).unwrap();
    assert!(max_abs_diff(&t2v, &i2v) > 0.05);
}

#[test]
fn the_renderer_gives_the_reference_clip_with_its_soundtrack() {
    let reference = reference("pipeline");
    let m = meta();
    let image = fixture_image(&reference);
    // The image-to-video fixture drew its noise in the transformer's space;
    // given latents are in the VAE's, so hand the renderer the denormalised draw.
    let vae_space_noise = {
        let pipeline = tiny_pipeline(TextEncoderPlacement::PerJob);
        let stat = |t: &Tensor| t.reshape((1, 8, 1, 1, 1)).unwrap();
        get(&reference, "video_noise")
            .broadcast_mul(&stat(pipeline.vae().latents_std()))
            .unwrap()
            .broadcast_add(&stat(pipeline.vae().latents_mean()))
            .unwrap()
    };
    for (case, steps) in [
        ("distilled", None),
        ("guided", Some(3)),
        ("i2av_distilled", None),
    ] {
        let picture = case.starts_with("i2av");
        let mut options = Ltx2Options::auto();
        options.steps = steps;
        options.negative_prompt = m["negative_prompt"].as_str().unwrap().into();
        options.image_crf = 0;
        options.video_latents = Some(if picture {
            vae_space_noise.clone()
        } else {
            get(&reference, "video_noise")
        });
        options.audio_latents = Some(get(&reference, "audio_noise"));
        options.max_prompt_tokens = m["max_sequence_length"].as_u64().unwrap() as usize;
        let renderer = Ltx2Video::load(&model_dir(), options).unwrap();
        assert_eq!(renderer.name(), "ltx-2");
        let request = RenderRequest {
            prompt: m["prompt"].as_str().unwrap().into(),
            seed: 7,
            frames: 17,
            width: 64,
            height: 64,
            fps: 17,
            reference_image: picture.then(|| image.clone()),
            reference_voice: None,
            speech: None,
        };
        let mut last = None;
        let clip = renderer
            .render(&request, &mut |p| last = Some(p), &CancelToken::new())
            .unwrap();
        let last = last.unwrap();
        assert_eq!(last.step, last.total, "progress ends with the decode");
        assert_eq!(clip.frames.len(), 17);
        // Frames: the reference's 0..1 values as bytes, one step of rounding.
        let want = get(&reference, &format!("{case}.frames"));
        let want = want
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let got: Vec<u8> = clip
            .frames
            .iter()
            .flat_map(|f| f.data.iter().copied())
            .collect();
        assert_eq!(got.len(), want.len());
        let worst = got
            .iter()
            .zip(&want)
            .map(|(&g, &w)| (f32::from(g) - (w * 255.0).round()).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1.0, "{case}: a frame byte is {worst} off");
        // Audio: the vocoder's stereo waveform, then silence to the video's length.
        assert_eq!((clip.audio.sample_rate, clip.audio.channels), (16_000, 2));
        assert_eq!(clip.audio.frames(), 16_000, "one second, as the video");
        let wave = get(&reference, &format!("{case}.waveform"))
            .to_vec2::<f32>()
            .unwrap();
        let n = wave[0].len();
        for (c, channel) in wave.iter().enumerate() {
            for (i, want) in channel.iter().enumerate() {
                let got = clip.audio.samples[i * 2 + c];
                assert!(
                    (got - want).abs() < 1e-4,
                    "{case}: sample {i}/{c}: {got} vs {want}"
                );
            }
        }
        assert!(clip.audio.samples[n * 2..].iter().all(|&s| s == 0.0));
    }
}

#[test]
fn a_model_directory_missing_a_component_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(model_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == "vocoder" {
            continue;
        }
        let target = std::fs::canonicalize(entry.path()).unwrap();
        std::os::unix::fs::symlink(target, tmp.path().join(entry.file_name())).unwrap();
    }
    let err = Ltx2Pipeline::load(
        tmp.path(),
        &Device::Cpu,
        DType::F32,
        TextEncoderPlacement::Resident,
    )
    .err()
    .expect("a directory without vocoder/ must not load")
    .to_string();
    assert!(err.contains("vocoder"), "{err}");
    // A component that does not fit the others: an audio VAE of another width.
    std::os::unix::fs::symlink(
        std::fs::canonicalize(model_dir().join("vocoder")).unwrap(),
        tmp.path().join("vocoder"),
    )
    .unwrap();
    std::fs::remove_file(tmp.path().join("audio_vae")).unwrap();
    std::os::unix::fs::symlink(
        std::fs::canonicalize(fixture_dir("audio").join("audio_vae_width")).unwrap(),
        tmp.path().join("audio_vae"),
    )
    .unwrap();
    let err = Ltx2Pipeline::load(
        tmp.path(),
        &Device::Cpu,
        DType::F32,
        TextEncoderPlacement::Resident,
    )
    .err()
    .expect("an audio VAE of the wrong width must not load")
    .to_string();
    assert!(err.contains("audio_vae"), "{err}");
}

/// One second of the mel fixture's stereo test signal, mono at 16 kHz.
fn test_speech(channel: usize) -> reel_engine::Audio {
    let path = fixture_dir("audio").join("mel.safetensors");
    let tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let wave = tensors["waveform"].to_vec2::<f32>().unwrap();
    reel_engine::Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: wave[channel][..16_000].to_vec(),
    }
}

#[test]
fn audio_to_video_keeps_the_soundtrack_and_the_picture_follows_it() {
    let reference = reference("pipeline");
    let pipeline = tiny_pipeline(TextEncoderPlacement::Resident);
    let run = |speech: Option<&reel_engine::Audio>| {
        let mut job = case_job(&pipeline, "distilled", &reference);
        job.audio_condition = speech.map(|s| pipeline.encode_speech(s, 25).unwrap());
        let condition = job.audio_condition.clone();
        let latents = pipeline
            .denoise(&job, &mut |_| {}, &CancelToken::new())
            .unwrap();
        (latents, condition)
    };
    let (plain, _) = run(None);
    let (voiced, condition) = run(Some(&test_speech(0)));
    let (voiced_again, _) = run(Some(&test_speech(0)));
    let (other, _) = run(Some(&test_speech(1)));
    // The soundtrack's latents come out as they went in (denormalised).
    let condition = condition.unwrap();
    assert_eq!(condition.dims(), &[1, 2, 25, 4]);
    let renormalised = unpack_audio(
        &pipeline
            .normalize_audio(&pack_audio(&voiced.audio).unwrap())
            .unwrap(),
        25,
        4,
    )
    .unwrap();
    assert!(max_abs_diff(&renormalised, &condition) < 1e-5);
    // The picture depends on the sound, reproducibly.
    assert_eq!(max_abs_diff(&voiced.video, &voiced_again.video), 0.0);
    assert!(max_abs_diff(&voiced.video, &plain.video) > 1e-3);
    assert!(max_abs_diff(&voiced.video, &other.video) > 1e-3);
}

#[test]
fn the_renderer_keeps_the_given_speech_and_refuses_bad_tracks() {
    let m = meta();
    let render = |speech: reel_engine::Audio, frames: u32| {
        let mut options = Ltx2Options::auto();
        options.max_prompt_tokens = m["max_sequence_length"].as_u64().unwrap() as usize;
        options.speech = Some(speech);
        let renderer = Ltx2Video::load(&model_dir(), options).unwrap();
        let request = RenderRequest {
            prompt: "someone speaking".into(),
            seed: 3,
            frames,
            width: 64,
            height: 64,
            fps: 17,
            reference_image: None,
            reference_voice: None,
            speech: None,
        };
        renderer.render(&request, &mut |_| {}, &CancelToken::new())
    };
    let mut short = test_speech(0);
    short.samples.truncate(12_000);
    let clip = render(short.clone(), 17).unwrap();
    assert_eq!((clip.audio.sample_rate, clip.audio.channels), (16_000, 1));
    assert_eq!(
        clip.audio.samples.len(),
        16_000,
        "padded to the clip's second"
    );
    assert_eq!(&clip.audio.samples[..12_000], &short.samples[..]);
    assert!(clip.audio.samples[12_000..].iter().all(|&s| s == 0.0));

    // Two seconds of speech for a one-second clip.
    let mut long = test_speech(0);
    long.samples.extend(test_speech(1).samples);
    let err = render(long, 17).expect_err("too long").to_string();
    assert!(err.contains("the speech is 2.00 s long"), "{err}");
    let silent = reel_engine::Audio {
        sample_rate: 16_000,
        channels: 1,
        samples: vec![0.0; 8000],
    };
    let err = render(silent, 17).expect_err("silent").to_string();
    assert!(err.contains("silent"), "{err}");
    let mut other_rate = test_speech(0);
    other_rate.sample_rate = 44_100;
    other_rate.samples.truncate(20_000);
    let err = render(other_rate, 17).expect_err("rate").to_string();
    assert!(err.contains("44100 Hz"), "{err}");
}
