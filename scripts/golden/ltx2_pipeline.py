"""Reference LTX-2 pipelines (diffusers' LTX2Pipeline) from given initial latents.

Run from the repository root after the component scripts (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/ltx2_pipeline.py

The pipeline is assembled from the committed tiny components (ltx2_text.py's Gemma 3,
tokenizer and 2.0 connectors, ltx2_transformer.py's 2.0 transformer, ltx2_vae.py's VAE,
ltx2_audio.py's audio VAE and vocoder, ltx2_scheduler.py's scheduler config), so the
whole-pipeline test checks the same weights the unit tests do. The model directory
engine/tests/fixtures/ltx2/pipeline/model/ links those folders (relative symlinks)
beside a model_index.json, as a diffusers repository lays them out.

Cases (reference.safetensors, <case>.*):
  distilled  guidance off, the distilled checkpoints' 8 sigmas
  guided     3 steps with every guidance term of LTX2Pipeline's defaults on: CFG (video 3,
             audio 7), STG at block 1, modality isolation 3, rescale 0.7
  i2av_distilled, i2av_guided
             LTX2ImageToVideoPipeline, the same settings, with `image` (64x64 uint8, at
             the clip's size so resizing is the identity) as the first frame, H.264
             re-compression off (image_crf=0); the video noise is video_noise (the
             pipeline's own draw is replaced by it), the audio noise given.
Each from the same noise (video_noise [1, C, F, H, W], audio_noise [1, C, L, M], given
unpacked as diffusers then normalises them): <case>.video_latents and <case>.audio_latents
(output_type="latent": denormalised, unpacked), <case>.frames ([F, H, W, 3] in 0..1) and
<case>.waveform ([channels, samples] at the vocoder's rate).
"""

import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Gemma3ForConditionalGeneration, GemmaTokenizer

from diffusers import (
    AutoencoderKLLTX2Audio,
    AutoencoderKLLTX2Video,
    FlowMatchEulerDiscreteScheduler,
    LTX2VideoTransformer3DModel,
)
import diffusers.pipelines.ltx2.pipeline_ltx2_image2video as i2v_module
from diffusers.pipelines.ltx2 import LTX2ImageToVideoPipeline, LTX2Pipeline, LTX2TextConnectors
from PIL import Image
from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import FIXTURES, contiguous, fixture_dir  # noqa: E402

OUT = fixture_dir("pipeline")
MODEL = os.path.join(OUT, "model")

# Component folder in the model directory -> committed fixture folder.
COMPONENTS = {
    "text_encoder": "text/text_encoder",
    "tokenizer": "text/tokenizer",
    "connectors": "text/connectors_2_0",
    "transformer": "transformer/transformer",
    "vae": "vae/vae",
    "audio_vae": "audio/audio_vae",
    "vocoder": "audio/vocoder",
    "scheduler": "scheduler/ltx2",
}

PROMPT = "a robot dancing"
NEGATIVE = "blurry"
WIDTH, HEIGHT, FRAMES, FPS = 64, 64, 17, 17.0
MAX_TOKENS = 1024  # diffusers' default, what reel pads to
DISTILLED_SIGMAS = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]

CASES = {
    "distilled": dict(
        sigmas=DISTILLED_SIGMAS,
        num_inference_steps=len(DISTILLED_SIGMAS),
        guidance_scale=1.0,
        audio_guidance_scale=1.0,
        stg_scale=0.0,
        audio_stg_scale=0.0,
        modality_scale=1.0,
        audio_modality_scale=1.0,
        guidance_rescale=0.0,
        audio_guidance_rescale=0.0,
    ),
    "guided": dict(
        num_inference_steps=3,
        guidance_scale=3.0,
        audio_guidance_scale=7.0,
        stg_scale=1.0,
        audio_stg_scale=1.0,
        modality_scale=3.0,
        audio_modality_scale=3.0,
        guidance_rescale=0.7,
        audio_guidance_rescale=0.7,
        spatio_temporal_guidance_blocks=[1],
    ),
}


def link_model_dir():
    os.makedirs(MODEL, exist_ok=True)
    for name, source in COMPONENTS.items():
        link = os.path.join(MODEL, name)
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(os.path.join("..", "..", source), link)
    index = {
        "_class_name": "LTX2Pipeline",
        "_diffusers_version": "0.42.1",
        "audio_vae": ["diffusers", "AutoencoderKLLTX2Audio"],
        "connectors": ["ltx2", "LTX2TextConnectors"],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "Gemma3ForConditionalGeneration"],
        "tokenizer": ["transformers", "GemmaTokenizer"],
        "transformer": ["diffusers", "LTX2VideoTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLLTX2Video"],
        "vocoder": ["ltx2", "LTX2Vocoder"],
    }
    with open(os.path.join(MODEL, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


def load_pipeline(cls=LTX2Pipeline):
    path = lambda name: os.path.join(FIXTURES, COMPONENTS[name])  # noqa: E731
    return cls(
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(path("scheduler")),
        vae=AutoencoderKLLTX2Video.from_pretrained(path("vae")).eval(),
        audio_vae=AutoencoderKLLTX2Audio.from_pretrained(path("audio_vae")).eval(),
        text_encoder=Gemma3ForConditionalGeneration.from_pretrained(path("text_encoder")).eval(),
        tokenizer=GemmaTokenizer.from_pretrained(path("tokenizer")),
        connectors=LTX2TextConnectors.from_pretrained(path("connectors")).eval(),
        transformer=LTX2VideoTransformer3DModel.from_pretrained(path("transformer")).eval(),
        vocoder=LTX2Vocoder.from_pretrained(path("vocoder")).eval(),
    )


@torch.no_grad()
def main():
    link_model_dir()
    pipe = load_pipeline()
    g = torch.Generator().manual_seed(20261202)
    latent_frames = (FRAMES - 1) // pipe.vae_temporal_compression_ratio + 1
    latent_side = HEIGHT // pipe.vae_spatial_compression_ratio
    video_noise = torch.randn(
        (1, pipe.transformer.config.in_channels, latent_frames, latent_side, WIDTH // pipe.vae_spatial_compression_ratio),
        generator=g,
    )
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / pipe.audio_vae_temporal_compression_ratio
    audio_frames = round(FRAMES / FPS * per_second)
    mel_bins = pipe.audio_vae.config.mel_bins // pipe.audio_vae_mel_compression_ratio
    audio_noise = torch.randn((1, pipe.audio_vae.config.latent_channels, audio_frames, mel_bins), generator=g)
    out = {"video_noise": video_noise, "audio_noise": audio_noise}
    meta = {"prompt": PROMPT, "negative_prompt": NEGATIVE, "width": WIDTH, "height": HEIGHT,
            "frames": FRAMES, "fps": FPS, "max_sequence_length": MAX_TOKENS, "cases": {}}
    for case, kwargs in CASES.items():
        common = dict(
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            width=WIDTH,
            height=HEIGHT,
            num_frames=FRAMES,
            frame_rate=FPS,
            max_sequence_length=MAX_TOKENS,
            latents=video_noise.clone(),
            audio_latents=audio_noise.clone(),
            return_dict=False,
            **kwargs,
        )
        video_latents, audio_latents = pipe(output_type="latent", **common)
        frames, waveform = pipe(output_type="np", **common)
        out[f"{case}.video_latents"] = video_latents
        out[f"{case}.audio_latents"] = audio_latents
        out[f"{case}.frames"] = torch.from_numpy(np.asarray(frames[0]))
        out[f"{case}.waveform"] = waveform[0]
        meta["cases"][case] = {k: v for k, v in kwargs.items()}
        print(case, tuple(video_latents.shape), tuple(audio_latents.shape), tuple(out[f"{case}.frames"].shape),
              tuple(waveform.shape))
    # Image to video + audio: the pipeline's noise draw replaced by video_noise.
    i2v = load_pipeline(LTX2ImageToVideoPipeline)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack(
        [(x * 4) % 256, (y * 4) % 256, ((x + y) * 2 + 40 * ((x // 8 + y // 8) % 2)) % 256], axis=-1
    ).astype(np.uint8)
    out["image"] = torch.from_numpy(image.copy())

    def fixed_noise(shape, generator=None, device=None, dtype=None, layout=None):
        if tuple(shape) == tuple(video_noise.shape):
            return video_noise.clone().to(dtype=dtype or torch.float32)
        return torch.zeros(shape, dtype=dtype or torch.float32)

    i2v_module.randn_tensor = fixed_noise
    for case, kwargs in CASES.items():
        common = dict(
            image=Image.fromarray(image),
            image_crf=0,
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            width=WIDTH,
            height=HEIGHT,
            num_frames=FRAMES,
            frame_rate=FPS,
            max_sequence_length=MAX_TOKENS,
            audio_latents=audio_noise.clone(),
            return_dict=False,
            **kwargs,
        )
        video_latents, audio_latents = i2v(output_type="latent", **common)
        frames, waveform = i2v(output_type="np", **common)
        name = f"i2av_{case}"
        out[f"{name}.video_latents"] = video_latents
        out[f"{name}.audio_latents"] = audio_latents
        out[f"{name}.frames"] = torch.from_numpy(np.asarray(frames[0]))
        out[f"{name}.waveform"] = waveform[0]
        print(name, tuple(video_latents.shape), tuple(waveform.shape))
    save_file(contiguous(out), os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
