"""Reference audio -> video denoising: stage 1 of ltx-pipelines' A2VidPipelineTwoStage, by hand.

ltx-pipelines 1.0.0's audio-to-video pipeline cannot be instantiated with tiny parts (it
hard-codes Gemma 3 12B, 128 connector registers, an 8x16 audio latent, reads configs from
checkpoint metadata), so this script runs the same stage-1 code on the tiny model:
ltx-core's own transformer (LTXModelConfigurator, loaded from the tiny single file
engine/tests/fixtures/ltx2/single_file/tiny.safetensors as ltx2_single_file_ltx_core.py does)
wrapped in X0Model, LTX2Scheduler's sigmas, GaussianNoiser, EulerDiffusionStep, and
ltx_pipelines.utils.helpers.denoise_video_only driving euler_denoising_loop with
multi_modal_guider_denoising_func(video guider with the negative context, audio guider with
default params), exactly as A2VidPipelineTwoStage.__call__ wires its first stage. Patched for
the tiny sizes, nothing else: the pipeline components' video latent channels (8, not 128), the
video scale factors (the tiny transformer's vae_scale_factors 8/16/16, for the latent grid and
VideoLatentTools' pixel positions, whose default is the real VAE's 8/32/32), and the audio
latent shape (2 channels x 4 mel bins, not 8 x 16). The transformer's config also names
av_ca_timestep_scale_multiplier (diffusers' cross_attn_timestep_scale_multiplier, 1000): ltx-core
defaults it to 1 where the checkpoint's metadata would set it.

Inputs (a2v/reference.safetensors):
  audio_latents [1, 2, 25, 4]  the clean speech latents, in the transformer's (normalised)
                               space: seeded N(0, 1) values, not an encoded track - the
                               comparison is about the loop; encoding and normalising are
                               proven elsewhere (ltx2_audio.rs, ltx2_mel.rs) and ltx-core
                               normalises as reel does (patchify to [B, L, C*M], per-feature
                               mean/std, unpatchify).
  video_noise  [1, 8, 3, 4, 4] the noise GaussianNoiser drew (seeded), unpatchified.
  text contexts                the tiny 2.0 connectors' outputs for the prompt "a robot
                               dancing" (positive) and "  a dancing robot  " (negative),
                               16 tokens, taken from text/reference.safetensors (rows 0 and
                               1 of connectors_2_0.*; diffusers' LTX2TextConnectors, which reel
                               matches in ltx2_text.rs): the Rust test runs its own Gemma and
                               connectors on the same strings.
  sigmas       LTX2Scheduler().execute(steps=4): the schedule both cases step through.
Cases (<case>.video_latents [1, 8, 3, 4, 4]: the stage-1 result, in the transformer's space;
guided.frames [3, 64, 64, 3]: frames 0, 8 and 16 of its decode by the tiny diffusers video VAE
(ltx2_vae.py's, which reel matches in ltx2_vae.rs; ltx-core cannot build that VAE from its
config), in 0..1 as LTX2Pipeline returns them - A2VidPipelineTwoStage decodes stage 2's latents,
not stage 1's, so this is the last step of a one-stage run, as reel's):
  guided  4 steps, the a2v CLI's video guider: CFG 3, STG 1 at block 1, modality 3,
          rescale 0.7 (audio guider: MultiModalGuiderParams(), i.e. off)
  plain   4 steps, no guidance
cases.json: prompts, sizes, steps and guidance.

ltx-core 1.0.0 needs torch ~2.7, so it runs in its own venv (CPU torch is enough):
    python3 -m venv /work/venv-ltx27
    /work/venv-ltx27/bin/pip install "torch==2.7.*" "torchaudio==2.7.*" ltx-core==1.0.0 \
        ltx-pipelines==1.0.0 diffusers==0.42.1 safetensors numpy
    /work/venv-ltx27/bin/python scripts/golden/ltx2_a2v_ltx_core.py
"""

import functools
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

import ltx_pipelines.utils.helpers as helpers
from diffusers import AutoencoderKLLTX2Video
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_core.components.guiders import MultiModalGuider, MultiModalGuiderParams
from ltx_core.components.noisers import GaussianNoiser
from ltx_core.components.schedulers import LTX2Scheduler
from ltx_core.model.transformer import X0Model
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
from ltx_core.tools import VideoLatentTools
from ltx_core.types import AudioLatentShape, SpatioTemporalScaleFactors, VideoLatentShape, VideoPixelShape
from ltx_pipelines.utils.samplers import euler_denoising_loop
from ltx_pipelines.utils.types import PipelineComponents

sys.path.insert(0, os.path.dirname(__file__))
from ltx2_common import FIXTURES, contiguous, fixture_dir  # noqa: E402
from ltx2_single_file_ltx_core import ltx_core_config  # noqa: E402

OUT = fixture_dir("a2v")
PROMPT, NEGATIVE = 0, 1  # rows of text/reference.safetensors
FRAMES, FPS, STEPS = 17, 17.0, 4
FRAME_PICKS = (0, 8, 16)  # one decoded frame per latent frame keeps the fixture small
STG_BLOCKS = [1]  # the tiny model has 2 blocks; the CLI's default is [29] of 48
CASES = {
    "guided": MultiModalGuiderParams(
        cfg_scale=3.0, stg_scale=1.0, rescale_scale=0.7, modality_scale=3.0, skip_step=0, stg_blocks=STG_BLOCKS
    ),
    "plain": MultiModalGuiderParams(),
}


def transformer():
    """ltx-core's LTXModel configured from the tiny fixture's configs, weights from the single file."""
    t = json.load(open(os.path.join(FIXTURES, "transformer/transformer/config.json")))
    cfg = ltx_core_config(FIXTURES)
    prefix = "model.diffusion_model."
    sd = load_file(os.path.join(FIXTURES, "single_file/tiny.safetensors"))
    part = {
        k[len(prefix):]: x for k, x in sd.items()
        if k.startswith(prefix) and not k[len(prefix):].startswith(("video_embeddings_connector.", "audio_embeddings_connector."))
    }
    model = LTXModelConfigurator.from_config(cfg)
    model = model.to_empty(device="cpu") if any(p.is_meta for p in model.parameters()) else model
    missing, unexpected = model.load_state_dict(part, strict=False)
    assert not missing and not unexpected, (missing[:8], unexpected[:8])
    return X0Model(model.float().eval()), t


def frames(latents):
    """The tiny diffusers VAE's decode of normalised latents, as LTX2Pipeline decodes: [F, H, W, 3] in 0..1."""
    vae = AutoencoderKLLTX2Video.from_pretrained(os.path.join(FIXTURES, "vae/vae")).eval()
    assert not vae.config.timestep_conditioning
    view = lambda x: x.view(1, -1, 1, 1, 1)  # noqa: E731
    latents = latents * view(vae.latents_std) / vae.config.scaling_factor + view(vae.latents_mean)
    video = vae.decode(latents, None, return_dict=False)[0]
    return (video / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 3, 0)


class TinyAudioShape:
    """ltx-core's AudioLatentShape with the tiny audio VAE's 2 channels x 4 mel bins."""

    @staticmethod
    def from_video_pixel_shape(shape):
        return AudioLatentShape.from_video_pixel_shape(shape, channels=2, mel_bins=4)


class RecordingNoiser(GaussianNoiser):
    """GaussianNoiser that keeps what it hands out (the first state is the video's)."""

    def __init__(self, generator):
        super().__init__(generator)
        self.states = []

    def __call__(self, latent_state, noise_scale=1.0):
        state = super().__call__(latent_state, noise_scale)
        self.states.append(state)
        return state


@torch.no_grad()
def main():
    model, t = transformer()
    text = load_file(os.path.join(FIXTURES, "text/reference.safetensors"))
    row = lambda name, i: text[f"connectors_2_0.{name}"][i : i + 1]  # noqa: E731
    assert text["connectors_2_0.mask"][[PROMPT, NEGATIVE]].min() == 1, "registers fill every position"
    v_context_p, a_context_p = row("video", PROMPT), row("audio", PROMPT)
    v_context_n = row("video", NEGATIVE)

    components = PipelineComponents(dtype=torch.float32, device=torch.device("cpu"))
    components.video_latent_channels = t["in_channels"]
    scale_factors = SpatioTemporalScaleFactors(*t["vae_scale_factors"])
    components.video_scale_factors = scale_factors
    # The video positions' pixel scale: VideoLatentTools' default is the real VAE's 8/32/32.
    helpers.VideoLatentTools = functools.partial(VideoLatentTools, scale_factors=scale_factors)
    helpers.AudioLatentShape = TinyAudioShape
    # Pixel sizes that give the 3 x 4 x 4 latent grid under those scale factors.
    side = 4 * t["vae_scale_factors"][1]
    shape = VideoPixelShape(batch=1, frames=FRAMES, height=side, width=side, fps=FPS)

    audio = torch.randn((1, 2, 25, 4), generator=torch.Generator().manual_seed(20261203))
    sigmas = LTX2Scheduler().execute(steps=STEPS).to(torch.float32)
    out = {"audio_latents": audio, "sigmas": sigmas}
    for case, params in CASES.items():
        noiser = RecordingNoiser(torch.Generator().manual_seed(20261202))

        def loop(sigmas, video_state, audio_state, stepper, params=params):
            # A2VidPipelineTwoStage's first_stage_denoising_loop.
            return euler_denoising_loop(
                sigmas=sigmas,
                video_state=video_state,
                audio_state=audio_state,
                stepper=stepper,
                denoise_fn=helpers.multi_modal_guider_denoising_func(
                    video_guider=MultiModalGuider(params=params, negative_context=v_context_n),
                    audio_guider=MultiModalGuider(params=MultiModalGuiderParams()),
                    v_context=v_context_p,
                    a_context=a_context_p,
                    transformer=model,
                ),
            )

        video_state = helpers.denoise_video_only(
            output_shape=shape,
            conditionings=[],
            noiser=noiser,
            sigmas=sigmas,
            stepper=EulerDiffusionStep(),
            denoising_loop_fn=loop,
            components=components,
            dtype=torch.float32,
            device=torch.device("cpu"),
            initial_audio_latent=audio,
        )
        noise = components.video_patchifier.unpatchify(noiser.states[0].latent, VideoLatentShape(*video_state.latent.shape))
        if "video_noise" in out:
            assert torch.equal(out["video_noise"], noise)
        out["video_noise"] = noise
        # The audio state the loop saw is the given latents (noise scale 0).
        audio_shape = TinyAudioShape.from_video_pixel_shape(shape)
        assert torch.equal(components.audio_patchifier.unpatchify(noiser.states[1].latent, audio_shape), audio)
        out[f"{case}.video_latents"] = video_state.latent
        if case == "guided":
            out["guided.frames"] = frames(video_state.latent)[list(FRAME_PICKS)]
        print(case, "video latents max", float(video_state.latent.abs().max()), "sigmas", sigmas.tolist())
    save_file(contiguous(out), os.path.join(OUT, "reference.safetensors"))
    meta = {
        "prompt": "a robot dancing",
        "negative_prompt": "  a dancing robot  ",
        "max_sequence_length": 16,
        "frames": FRAMES,
        "fps": FPS,
        "steps": STEPS,
        "cases": {
            case: dict(cfg=p.cfg_scale, stg=p.stg_scale, modality=p.modality_scale, rescale=p.rescale_scale,
                       stg_blocks=list(p.stg_blocks or []))
            for case, p in CASES.items()
        },
    }
    prompts = json.load(open(os.path.join(FIXTURES, "text/prompts.json")))["prompts"]
    assert prompts[PROMPT] == meta["prompt"] and prompts[NEGATIVE] == meta["negative_prompt"]
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
