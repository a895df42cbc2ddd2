"""Reference log-mel front end of LTX-2's audio VAE (ltx-core's
`AudioProcessor.waveform_to_mel`, whose parameters are copied here: it needs
torch ~2.7 and cannot be installed beside diffusers 0.42.1) and the tiny audio
VAE's encoding of it (diffusers' AutoencoderKLLTX2Audio, the latent mean).

    /work/venv/bin/pip install --no-deps torchaudio   # its MelSpectrogram is plain torch
    /work/venv/bin/python scripts/golden/ltx2_mel.py

Writes engine/tests/fixtures/ltx2/audio/mel.safetensors:
  waveform  [2, 20800] stereo at 16 kHz (a chirp, a tone and seeded noise)
  mel64     [1, 2, frames, 64]  the real VAE's front end (64 mel bins)
  mel16     [1, 2, frames, 16]  the tiny fixture VAE's (audio/audio_vae, 16 mel bins)
  latents   [1, C, L, M]        audio/audio_vae's encoding of mel16 (mean)
"""

import os
import sys

import torch
import torchaudio
from safetensors.torch import save_file

from diffusers import AutoencoderKLLTX2Audio

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import FIXTURES, contiguous  # noqa: E402

RATE, N_FFT, HOP = 16000, 1024, 160


def log_mel(waveform, mel_bins):
    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=RATE,
        n_fft=N_FFT,
        win_length=N_FFT,
        hop_length=HOP,
        f_min=0.0,
        f_max=RATE / 2.0,
        n_mels=mel_bins,
        window_fn=torch.hann_window,
        center=True,
        pad_mode="reflect",
        power=1.0,
        mel_scale="slaney",
        norm="slaney",
    )
    mel = transform(waveform.unsqueeze(0))
    mel = torch.log(torch.clamp(mel, min=1e-5))
    return mel.permute(0, 1, 3, 2).contiguous()


@torch.no_grad()
def main():
    g = torch.Generator().manual_seed(7)
    n = 20800
    t = torch.arange(n) / RATE
    chirp = torch.sin(2 * torch.pi * (200 + 1500 * t) * t)
    tone = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    waveform = torch.stack([0.6 * chirp + 0.05 * torch.randn(n, generator=g), tone + 0.05 * torch.randn(n, generator=g)])
    vae = AutoencoderKLLTX2Audio.from_pretrained(os.path.join(FIXTURES, "audio", "audio_vae")).eval()
    mel16 = log_mel(waveform, vae.config.mel_bins)
    out = {
        "waveform": waveform,
        "mel64": log_mel(waveform, 64),
        "mel16": mel16,
        "latents": vae.encode(mel16).latent_dist.mode(),
    }
    for k, v in out.items():
        print(k, tuple(v.shape))
    save_file(contiguous(out), os.path.join(FIXTURES, "audio", "mel.safetensors"))


if __name__ == "__main__":
    main()
