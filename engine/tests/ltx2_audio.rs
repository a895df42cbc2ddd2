//! LTX-2's audio VAE and vocoders against diffusers (fixtures by
//! scripts/golden/ltx2_audio.py): the encoder's posterior, the decoded
//! spectrogram and the waveforms of both vocoders.

mod ltx2_parity;

use candle_core::{DType, Device};
use ltx2_parity::{fixture_dir, get, max_abs, max_abs_diff, reference};
use reel_engine::ltx2::audio_vae::AudioAutoencoder;
use reel_engine::ltx2::vocoder::{AnyVocoder, Vocoder, VocoderWithBwe};

/// f32 convolutions over O(1) values: rounding only.
const VAE_TOL: f32 = 1e-4;
/// Waveforms in −1..1 after a few hundred accumulated convolution taps.
const WAVE_TOL: f32 = 1e-4;

#[test]
fn audio_vae_encodes_and_decodes_as_diffusers() {
    let reference = reference("audio");
    for name in ["audio_vae", "audio_vae_attn", "audio_vae_width"] {
        let vae =
            AudioAutoencoder::load(&fixture_dir("audio").join(name), DType::F32, &Device::Cpu)
                .unwrap();
        let mel = get(&reference, &format!("{name}.mel"));
        let posterior = vae.encode_posterior(&mel).unwrap();
        let want = get(&reference, &format!("{name}.posterior"));
        let err = max_abs_diff(&posterior, &want);
        eprintln!(
            "{name}: posterior max abs error {err} (max value {})",
            max_abs(&want)
        );
        assert!(
            err < VAE_TOL,
            "{name}: posterior error {err} (max {})",
            max_abs(&want)
        );
        let latents = vae.encode(&mel).unwrap();
        let err = max_abs_diff(&latents, &get(&reference, &format!("{name}.latents")));
        assert!(
            err < VAE_TOL,
            "{name}: latents (the posterior's mean) error {err}"
        );
        let decoded = vae
            .decode(&get(&reference, &format!("{name}.latents")))
            .unwrap();
        let want = get(&reference, &format!("{name}.decoded"));
        let err = max_abs_diff(&decoded, &want);
        eprintln!(
            "{name}: decoded max abs error {err} (max value {})",
            max_abs(&want)
        );
        assert!(
            err < VAE_TOL,
            "{name}: decode error {err} (max {})",
            max_abs(&want)
        );
    }
}

#[test]
fn vocoder_waveform_matches_ltx2_vocoder() {
    let reference = reference("audio");
    let vocoder = Vocoder::load(
        &fixture_dir("audio").join("vocoder"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let wave = vocoder.forward(&get(&reference, "vocoder.mel")).unwrap();
    let err = max_abs_diff(&wave, &get(&reference, "vocoder.waveform"));
    eprintln!("vocoder: waveform max abs error {err}");
    assert!(err < WAVE_TOL, "waveform error {err}");
    assert_eq!(vocoder.config().upsampling(), 160);
}

#[test]
fn bandwidth_extended_waveform_matches_ltx2_vocoder_with_bwe() {
    let reference = reference("audio");
    let vocoder = VocoderWithBwe::load(
        &fixture_dir("audio").join("vocoder_bwe"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let wave = vocoder
        .forward(&get(&reference, "vocoder_bwe.mel"))
        .unwrap();
    let err = max_abs_diff(&wave, &get(&reference, "vocoder_bwe.waveform"));
    eprintln!("vocoder_bwe: waveform max abs error {err}");
    assert!(err < WAVE_TOL, "waveform error {err}");
}

#[test]
fn the_vocoder_class_is_read_from_the_config() {
    let plain = AnyVocoder::load(
        &fixture_dir("audio").join("vocoder"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    assert!(matches!(plain, AnyVocoder::Plain(_)));
    assert_eq!(plain.sample_rate(), 16000);
    let bwe = AnyVocoder::load(
        &fixture_dir("audio").join("vocoder_bwe"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    assert!(matches!(bwe, AnyVocoder::WithBwe(_)));
    assert_eq!(bwe.sample_rate(), 48000);
}

#[test]
fn a_misshapen_weight_names_the_folder() {
    // The attention fixture's weights under the plain config: widths differ.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audio_vae");
    std::fs::create_dir(&dir).unwrap();
    let src = fixture_dir("audio");
    std::fs::copy(src.join("audio_vae/config.json"), dir.join("config.json")).unwrap();
    std::fs::copy(
        src.join("audio_vae_width/diffusion_pytorch_model.safetensors"),
        dir.join("diffusion_pytorch_model.safetensors"),
    )
    .unwrap();
    let err = AudioAutoencoder::load(&dir, DType::F32, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("audio_vae"), "{err}");
    assert!(
        err.contains("shape") || err.contains("cannot find"),
        "{err}"
    );
}
