"""Reference LTX-2 audio path: the audio VAE (encode, decode) and the vocoders.

Run from the repository root (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/ltx2_audio.py

Tiny random-weight AutoencoderKLLTX2Audio configurations:
  audio_vae          LTX-2's layout (pixel norm, causal along time = "height", three
                     levels, 4x down in time and mel bins), no attention
  audio_vae_attn     not causal, attention in the mid block and at one level
  audio_vae_width    causal along the mel axis ("width"), two levels
and vocoders:
  vocoder            LTX2Vocoder as LTX-2.0 ships it (leaky ReLU, tanh out), two resnet
                     kernels, 160 samples per mel frame
  vocoder_bwe        LTX2VocoderWithBWE as LTX-2.3 ships it (SnakeBeta with anti-aliasing,
                     mel STFT of the first stage, bandwidth extension, Hann resampler)

Writes engine/tests/fixtures/ltx2/audio/<name>/ (save_pretrained) and
reference.safetensors: <vae>.mel (input spectrogram), <vae>.posterior (encoder output,
mean and log-variance channels), <vae>.latents, <vae>.decoded; <vocoder>.mel, <vocoder>.waveform.
"""

import math
import os
import sys

import torch
from safetensors.torch import save_file

from diffusers import AutoencoderKLLTX2Audio
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import contiguous, fixture_dir, randomize  # noqa: E402

OUT = fixture_dir("audio")

VAES = {
    "audio_vae": dict(
        # The pipeline normalises packed latents (channels x latent mel bins) with
        # statistics sized base_channels: 2 x 16/4 = 8, as LTX-2's 8 x 64/4 = 128.
        base_channels=8,
        output_channels=2,
        ch_mult=(1, 1, 2),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=32,
        latent_channels=2,
        norm_type="pixel",
        causality_axis="height",
        mid_block_add_attention=False,
        mel_bins=16,
    ),
    "audio_vae_attn": dict(
        base_channels=4,
        output_channels=2,
        ch_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=(16,),
        in_channels=2,
        resolution=32,
        latent_channels=2,
        norm_type="pixel",
        causality_axis="none",
        mid_block_add_attention=True,
        mel_bins=8,
    ),
    "audio_vae_width": dict(
        base_channels=4,
        output_channels=1,
        ch_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=1,
        resolution=32,
        latent_channels=3,
        norm_type="pixel",
        causality_axis="width",
        mid_block_add_attention=False,
        mel_bins=12,
    ),
}

# Time frames of the input spectrogram per VAE (odd, so the causal trim shows).
MEL_FRAMES = {"audio_vae": 37, "audio_vae_attn": 16, "audio_vae_width": 21}


def build_vae(name, seed):
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Audio(**VAES[name], sample_rate=16000, mel_hop_length=160, is_causal=True)
    randomize(vae, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    # Statistics as a trained checkpoint has them (the buffers start as 0 and 1).
    vae.latents_mean.copy_(torch.randn(vae.latents_mean.shape, generator=g) * 0.3)
    vae.latents_std.copy_(torch.rand(vae.latents_std.shape, generator=g) + 0.5)
    return vae.eval()


# 160 samples per mel frame (hop 160 at 16 kHz), so the tiny pipeline's sound lasts as
# long as its picture.
VOCODER = dict(
    in_channels=2 * 16,
    hidden_channels=32,
    out_channels=2,
    upsample_kernel_sizes=[12, 8, 8],
    upsample_factors=[10, 4, 4],
    resnet_kernel_sizes=[3, 5],
    resnet_dilations=[[1, 3, 5], [1, 2]],
    leaky_relu_negative_slope=0.1,
    output_sampling_rate=16000,
)

VOCODER_BWE = dict(
    in_channels=2 * 16,
    hidden_channels=32,
    out_channels=2,
    upsample_kernel_sizes=[7, 4],
    upsample_factors=[5, 2],
    resnet_kernel_sizes=[3],
    resnet_dilations=[[1, 3]],
    act_fn="snakebeta",
    antialias=True,
    antialias_ratio=2,
    antialias_kernel_size=12,
    final_act_fn=None,
    final_bias=False,
    bwe_in_channels=2 * 8,
    bwe_hidden_channels=16,
    bwe_out_channels=2,
    bwe_upsample_kernel_sizes=[7, 5, 4],
    bwe_upsample_factors=[5, 3, 2],
    bwe_resnet_kernel_sizes=[3, 5],
    bwe_resnet_dilations=[[1, 3], [1]],
    bwe_act_fn="snakebeta",
    bwe_antialias=True,
    bwe_final_act_fn=None,
    bwe_final_bias=False,
    # A 20-sample STFT hop: the first stage makes 10 samples per mel frame, so frames
    # are padded to a whole hop only when their count is odd.
    filter_length=32,
    hop_length=10,
    window_length=32,
    num_mel_channels=8,
    input_sampling_rate=16000,
    output_sampling_rate=48000,
)


def stft_bases(filter_length, window_length):
    """Hann-windowed DFT bases as LTX-2's CausalSTFT buffers hold them ([2F, 1, n])."""
    n = torch.arange(filter_length, dtype=torch.float64)
    window = torch.hann_window(window_length, periodic=True, dtype=torch.float64)
    freqs = torch.arange(filter_length // 2 + 1, dtype=torch.float64)
    angle = 2 * math.pi * freqs[:, None] * n[None, :] / filter_length
    forward = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window]).float()
    inverse = torch.cat([torch.cos(angle), -torch.sin(angle)]).float() / filter_length
    return forward[:, None, :], inverse[:, None, :]


def build_vocoder_bwe(seed):
    torch.manual_seed(0)
    vocoder = randomize(LTX2VocoderWithBWE(**VOCODER_BWE), seed=seed, norm_std=0.3)
    forward, inverse = stft_bases(VOCODER_BWE["filter_length"], VOCODER_BWE["window_length"])
    vocoder.mel_stft.stft_fn.forward_basis.copy_(forward)
    vocoder.mel_stft.stft_fn.inverse_basis.copy_(inverse)
    g = torch.Generator().manual_seed(seed + 1)
    mel_basis = torch.rand(vocoder.mel_stft.mel_basis.shape, generator=g) * 0.2
    vocoder.mel_stft.mel_basis.copy_(mel_basis)
    return vocoder.eval()


@torch.no_grad()
def main():
    reference = {}
    g = torch.Generator().manual_seed(7)
    for i, name in enumerate(VAES):
        vae = build_vae(name, seed=20 + i)
        vae.save_pretrained(os.path.join(OUT, name))
        cfg = VAES[name]
        mel = torch.randn(2, cfg["in_channels"], MEL_FRAMES[name], cfg["mel_bins"], generator=g)
        posterior = vae.encoder(mel)
        latents = vae.encode(mel).latent_dist.mode()
        decoded = vae.decode(latents).sample
        reference[f"{name}.mel"] = mel
        reference[f"{name}.posterior"] = posterior
        reference[f"{name}.latents"] = latents
        reference[f"{name}.decoded"] = decoded
        print(name, tuple(mel.shape), "->", tuple(latents.shape), "->", tuple(decoded.shape))

    torch.manual_seed(0)
    vocoder = randomize(LTX2Vocoder(**VOCODER), seed=30).eval()
    vocoder.save_pretrained(os.path.join(OUT, "vocoder"))
    mel = torch.randn(2, 2, 9, 16, generator=g)
    reference["vocoder.mel"] = mel
    reference["vocoder.waveform"] = vocoder(mel)

    bwe = build_vocoder_bwe(seed=31)
    bwe.save_pretrained(os.path.join(OUT, "vocoder_bwe"))
    mel = torch.randn(1, 2, 8, 16, generator=g)
    reference["vocoder_bwe.mel"] = mel
    reference["vocoder_bwe.waveform"] = bwe(mel)
    print("vocoders", tuple(reference["vocoder.waveform"].shape), tuple(reference["vocoder_bwe.waveform"].shape))

    save_file(contiguous(reference), os.path.join(OUT, "reference.safetensors"))
    print("wrote", os.path.normpath(OUT))


if __name__ == "__main__":
    sys.exit(main())
