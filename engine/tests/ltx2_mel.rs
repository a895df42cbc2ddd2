//! LTX-2's audio front end against torchaudio (ltx-core's `AudioProcessor`
//! parameters; fixture by scripts/golden/ltx2_mel.py): the log-mel
//! spectrogram of a stereo waveform at the real VAE's 64 bins and the tiny
//! VAE's 16, and the tiny audio VAE's encoding of it against diffusers.

mod ltx2_parity;

use candle_core::{DType, Device};
use ltx2_parity::{fixture_dir, max_abs, max_abs_diff};
use reel_engine::ltx2::audio_vae::mel::{LogMel, N_FFT};
use reel_engine::ltx2::audio_vae::AudioAutoencoder;

/// Log magnitudes: f32 DFT by matmul against torch's FFT; the log amplifies
/// rounding only where the spectrum is tiny (near the 1e-5 floor).
const MEL_TOL: f32 = 2e-4;
/// The encoder on those inputs, relative to its largest value.
const LATENT_TOL: f32 = 1e-4;

#[test]
fn log_mel_and_encoding_match_the_reference() {
    let path = fixture_dir("audio").join("mel.safetensors");
    let reference = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let waveform = reference["waveform"].to_vec2::<f32>().unwrap();
    for (name, bins) in [("mel64", 64), ("mel16", 16)] {
        let front = LogMel::new(16_000, N_FFT, 160, bins).unwrap();
        let mel = front.spectrogram(&waveform, &Device::Cpu).unwrap();
        let want = &reference[name];
        let err = max_abs_diff(&mel, want);
        eprintln!("{name}: max abs error {err} (max value {})", max_abs(want));
        assert!(err < MEL_TOL, "{name}: error {err}");
    }
    let vae = AudioAutoencoder::load(
        &fixture_dir("audio").join("audio_vae"),
        DType::F32,
        &Device::Cpu,
    )
    .unwrap();
    let mel = LogMel::new(16_000, N_FFT, 160, 16)
        .unwrap()
        .spectrogram(&waveform, &Device::Cpu)
        .unwrap();
    let latents = vae.encode(&mel).unwrap();
    let want = &reference["latents"];
    let err = max_abs_diff(&latents, want);
    eprintln!("latents: max abs error {err} (max value {})", max_abs(want));
    assert!(
        err < LATENT_TOL * max_abs(want).max(1.0),
        "latents error {err}"
    );
}

#[test]
fn too_short_a_signal_is_refused() {
    let front = LogMel::new(16_000, N_FFT, 160, 64).unwrap();
    let err = front
        .spectrogram(&[vec![0.0; 100]], &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too few"), "{err}");
}
