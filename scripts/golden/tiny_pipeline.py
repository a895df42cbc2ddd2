"""Tiny LTX-Video pipeline fixtures: a whole random-weight pipeline saved with
`save_pretrained`, and diffusers' frames from fixed initial latents.

Run from the repository root:

    /work/golden-venv/bin/python scripts/golden/tiny_pipeline.py

Writes engine/tests/fixtures/ltx/pipeline/:
  tiny/              the model directory (model_index.json, text_encoder/,
                     tokenizer/, transformer/, vae/, scheduler/)
  t2v.safetensors    text-to-video with classifier-free guidance (LTXPipeline)
  i2v.safetensors    image-to-video, first frame conditioned (LTXImageToVideoPipeline)
  t2v_long.safetensors  25 frames (4 latent frames: more than one temporal tile), decoded
                     whole as diffusers does by default; `tiny_pipeline.py long` writes
                     only this one, from the committed tiny/ directory

Each reference holds the initial noise (`latents`, unpacked [B, C, F, H, W]),
the decode noise (`decode_noise`) and diffusers' frames (`frames`, [F, H, W, 3]
f16 in 0..1); the i2v one also the condition image (`image`, [H, W, 3] u8).
The parameters (prompt, steps, guidance, ...) are in the safetensors metadata
(whose key order is the only thing that changes when the script runs again).

The components come from the other tiny_*.py scripts when they are importable
(same geometry), else from the minimal builders below.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
OUT = HERE.parent.parent / "engine" / "tests" / "fixtures" / "ltx" / "pipeline"

from diffusers import (  # noqa: E402
    AutoencoderKLLTXVideo,
    FlowMatchEulerDiscreteScheduler,
    LTXImageToVideoPipeline,
    LTXPipeline,
    LTXVideoTransformer3DModel,
)
from diffusers.pipelines.ltx import pipeline_ltx, pipeline_ltx_image2video  # noqa: E402

# 9 frames at 9 fps: what `reel render --duration 1` asks for with render.fps = 9,
# so the CLI test can start from these latents too.
FRAMES, HEIGHT, WIDTH, FPS = 9, 64, 64, 9
# Our default negative prompt (diffusers' docs), so the CLI run matches too.
NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"


def randomize_(module: torch.nn.Module, seed: int) -> None:
    """Every parameter random (diffusers zero-inits some), scaled by fan-in."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("timestep_scale_multiplier"):
                continue  # a constant (1000), not a weight
            if p.ndim <= 1:
                centre = 1.0 if ("norm" in name and name.endswith("weight")) else 0.0
                p.copy_(centre + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in**0.5)


def build_text(seed: int = 0):
    """(tokenizer, encoder): tiny_text.py's encoder when importable, with a
    small fixed-vocabulary tokenizer (tiny_text.py's sentencepiece model
    carries a 240 KB normalisation table; this one is 4 KB)."""
    from transformers import T5Config, T5EncoderModel

    tokenizer = build_tokenizer()
    try:
        from tiny_text import build  # type: ignore

        _, model = build()
        return tokenizer, model
    except ImportError:
        pass
    config = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16,
        feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    )
    torch.manual_seed(seed)
    model = T5EncoderModel(config).eval()
    randomize_(model, seed)
    return tokenizer, model


def build_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    # A fixed Unigram vocabulary (training one is not reproducible): whole
    # words for the fixtures' prompts, single characters for anything else.
    words = (
        "a the cat dog walks runs on through beach snow in city night worst quality "
        "inconsistent motion blurry jittery distorted"
    ).split()
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0)]
    vocab += [("\u2581" + w, -2.0 - 0.01 * i) for i, w in enumerate(words)]
    vocab += [(ch, -8.0) for ch in "abcdefghijklmnopqrstuvwxyz,.'"]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer = T5TokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        extra_ids=0, model_max_length=128,
    )
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return tokenizer


def build_transformer(seed: int = 1):
    try:
        from tiny_transformer import build  # type: ignore

        return build(seed)
    except ImportError:
        pass
    model = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=16, cross_attention_dim=32, num_layers=2, caption_channels=32,
    ).eval()
    randomize_(model, seed)
    return model


# The 0.9.5 layout (0.9.6/0.9.8 distilled use it) at tiny width, as tiny_vae.py
# has it, but without the decoder's noise injection: diffusers draws that from
# torch's global RNG inside the decoder, which a pipeline run can't hand over.
TINY_VAE = dict(
    latent_channels=8, block_out_channels=(8, 8, 16, 16, 16),
    down_block_types=("LTXVideo095DownBlock3D",) * 4, decoder_block_out_channels=(4, 8, 16),
    layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 2),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_spatio_temporal_scaling=(True, True, True),
    decoder_inject_noise=(False, False, False, False),
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    upsample_residual=(False, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True,
    patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    spatial_compression_ratio=32, temporal_compression_ratio=8,
)


def build_vae(seed: int = 2):
    try:
        from tiny_vae import TINY_095, build  # type: ignore

        return build(dict(TINY_095, decoder_inject_noise=(False, False, False, False)), seed)
    except ImportError:
        pass
    model = AutoencoderKLLTXVideo(**TINY_VAE).eval()
    randomize_(model, seed)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        model.latents_mean.copy_(0.1 * torch.randn(8, generator=gen))
        model.latents_std.copy_(0.5 + torch.rand(8, generator=gen))
    return model


def build_scheduler():
    try:
        from tiny_scheduler import build  # type: ignore

        return build()
    except ImportError:
        pass
    # LTX-Video's own scheduler config (0.9.1).
    return FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
        max_image_seq_len=4096, shift_terminal=0.1,
    )


class FixedNoise:
    """Stands in for diffusers' randn_tensor: hands out the given tensors in order."""

    def __init__(self, *tensors):
        self.tensors = list(tensors)

    def __call__(self, shape, generator=None, device=None, dtype=None, layout=None):
        t = self.tensors.pop(0)
        assert tuple(t.shape) == tuple(shape), (t.shape, shape)
        return t.clone().to(dtype=dtype or t.dtype)


def frames_of(video) -> torch.Tensor:
    """[B, F, C, H, W] or [B, F, H, W, C] output to [F, H, W, 3] float16 (keeps the fixture small)."""
    v = torch.as_tensor(np.asarray(video))[0]
    if v.shape[-1] != 3:
        v = v.permute(0, 2, 3, 1)
    return v.to(torch.float16).contiguous()


def main():
    torch.set_num_threads(1)
    tokenizer, text_encoder = build_text()
    transformer, vae, scheduler = build_transformer(), build_vae(), build_scheduler()
    pipe = LTXPipeline(
        scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        transformer=transformer,
    )
    model_dir = OUT / "tiny"
    # Weights stored as f16 (half the bytes); both sides compute in f32 from
    # the same rounded values.
    for module in (text_encoder, transformer, vae):
        module.to(torch.float16)
    pipe.save_pretrained(model_dir, safe_serialization=True)
    # Reload as our Rust code will: from the saved directory.
    pipe = LTXPipeline.from_pretrained(model_dir, dtype=torch.float32)

    c = pipe.transformer.config.in_channels
    lf = (FRAMES - 1) // 8 + 1
    shape = (1, c, lf, HEIGHT // 32, WIDTH // 32)
    gen = torch.Generator().manual_seed(1234)

    # Text to video, with CFG, a timestep-conditioned decode with saved noise.
    latents = torch.randn(shape, generator=gen)
    decode_noise = torch.randn(shape, generator=gen)
    params = dict(
        prompt="a cat walks on the beach", negative_prompt=NEGATIVE,
        steps=3, guidance_scale=3.0, decode_timestep=0.05, decode_noise_scale=0.025,
    )
    pipeline_ltx.randn_tensor = FixedNoise(decode_noise)
    with torch.no_grad():
        video = pipe(
            prompt=params["prompt"], negative_prompt=params["negative_prompt"],
            height=HEIGHT, width=WIDTH, num_frames=FRAMES, frame_rate=FPS,
            num_inference_steps=params["steps"], guidance_scale=params["guidance_scale"],
            latents=pipe._pack_latents(latents), decode_timestep=params["decode_timestep"],
            decode_noise_scale=params["decode_noise_scale"], output_type="pt",
        ).frames
    meta = {k: str(v) for k, v in dict(params, frames=FRAMES, height=HEIGHT, width=WIDTH, fps=FPS).items()}
    save_file(
        {"latents": latents, "decode_noise": decode_noise, "frames": frames_of(video)},
        OUT / "t2v.safetensors", metadata=meta,
    )

    # Image to video: the first latent frame is the encoded image (posterior
    # mean; diffusers samples it, which the caller can't seed from outside).
    i2v = LTXImageToVideoPipeline.from_pipe(pipe)
    image = (torch.rand(HEIGHT, WIDTH, 3, generator=gen) * 255).round().to(torch.uint8)
    latents = torch.randn(shape, generator=gen)
    decode_noise = torch.randn(shape, generator=gen)
    pixels = image.permute(2, 0, 1).float().div(127.5).sub(1.0)[None, :, None]  # [1, 3, 1, H, W]
    with torch.no_grad():
        cond = pipe.vae.encode(pixels).latent_dist.mode()
    cond = pipe._normalize_latents(cond, pipe.vae.latents_mean, pipe.vae.latents_std)
    mask = torch.zeros((1, 1) + shape[2:])
    mask[:, :, 0] = 1.0
    start = cond.repeat(1, 1, lf, 1, 1) * mask + latents * (1 - mask)
    params = dict(
        prompt="a dog runs through the snow", negative_prompt="", steps=3, guidance_scale=1.0,
        decode_timestep=0.05, decode_noise_scale=0.025, strength=1.0,
    )
    pipeline_ltx_image2video.randn_tensor = FixedNoise(decode_noise)
    # This pipeline draws its decode noise with torch.randn: swapped for the call only.
    randn = torch.randn
    torch.randn = FixedNoise(decode_noise)
    try:
        with torch.no_grad():
            video = i2v(
                image=None, prompt=params["prompt"], height=HEIGHT, width=WIDTH, num_frames=FRAMES,
                frame_rate=FPS, num_inference_steps=params["steps"],
                guidance_scale=params["guidance_scale"], latents=pipe._pack_latents(start),
                decode_timestep=params["decode_timestep"],
                decode_noise_scale=params["decode_noise_scale"], output_type="pt",
                ).frames
    finally:
        torch.randn = randn
    meta = {k: str(v) for k, v in dict(params, frames=FRAMES, height=HEIGHT, width=WIDTH, fps=FPS).items()}
    save_file(
        {"latents": latents, "decode_noise": decode_noise, "image": image, "frames": frames_of(video)},
        OUT / "i2v.safetensors", metadata=meta,
    )
    sizes = {p.name: p.stat().st_size for p in OUT.rglob("*") if p.is_file()}
    print(json.dumps(sizes, indent=1))


def long():
    """25 frames from the committed tiny/ model: more latent frames (4) than one
    temporal tile (2), decoded whole (diffusers' default, no enable_tiling())."""
    torch.set_num_threads(1)
    pipe = LTXPipeline.from_pretrained(OUT / "tiny", dtype=torch.float32)
    frames = 25
    c = pipe.transformer.config.in_channels
    shape = (1, c, (frames - 1) // 8 + 1, HEIGHT // 32, WIDTH // 32)
    gen = torch.Generator().manual_seed(4321)
    latents = torch.randn(shape, generator=gen)
    decode_noise = torch.randn(shape, generator=gen)
    params = dict(
        prompt="a cat walks in the city at night", negative_prompt="",
        steps=2, guidance_scale=1.0, decode_timestep=0.05, decode_noise_scale=0.025,
    )
    assert not pipe.vae.use_tiling and not pipe.vae.use_framewise_decoding
    pipeline_ltx.randn_tensor = FixedNoise(decode_noise)
    with torch.no_grad():
        video = pipe(
            prompt=params["prompt"], height=HEIGHT, width=WIDTH, num_frames=frames, frame_rate=FPS,
            num_inference_steps=params["steps"], guidance_scale=params["guidance_scale"],
            latents=pipe._pack_latents(latents), decode_timestep=params["decode_timestep"],
            decode_noise_scale=params["decode_noise_scale"], output_type="pt",
        ).frames
    meta = {k: str(v) for k, v in dict(params, frames=frames, height=HEIGHT, width=WIDTH, fps=FPS).items()}
    save_file(
        {"latents": latents, "decode_noise": decode_noise, "frames": frames_of(video)},
        OUT / "t2v_long.safetensors", metadata=meta,
    )
    print((OUT / "t2v_long.safetensors").stat().st_size, "bytes")


if __name__ == "__main__":
    long() if sys.argv[1:] == ["long"] else main()
