"""Reference LTX-2 schedules: the sigmas and timesteps LTX2Pipeline builds.

Run from the repository root (CPU only, no downloads):

    /work/venv/bin/python scripts/golden/ltx2_scheduler.py

LTX-2 samples with diffusers' FlowMatchEulerDiscreteScheduler (the Euler
step itself is proven by the LTX-Video fixtures); what is LTX-2's own is the
configuration, the sigma lists and how the pipeline calls set_timesteps:
`linspace(1, 1/steps, steps)` shifted by `mu` from the *video* token count,
the audio scheduler a copy of the video one (same mu), and the distilled
checkpoints' fixed lists.

Writes engine/tests/fixtures/ltx2/scheduler/:
  <config>/scheduler_config.json   saved with save_pretrained, loaded by the Rust test
  cases.json                       each case: config, kind, spec, video_tokens, mu
  schedules.safetensors            per case: "<i>.sigmas", "<i>.timesteps" (f32)
"""

import copy
import json
import os
import sys

import numpy as np

from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift, retrieve_timesteps
from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES, STAGE_2_DISTILLED_SIGMA_VALUES
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx2", "scheduler")

# scheduler/scheduler_config.json of the Lightricks/LTX-2 diffusers repository
# (ltx-core's LTX2Scheduler: shift anchored at 1024/4096 tokens, 0.95..2.05, terminal 0.1).
LTX2 = dict(
    use_dynamic_shifting=True,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
    shift_terminal=0.1,
    time_shift_type="exponential",
)

CONFIGS = {
    "ltx2": {},
    # What diffusers' docs switch to for the distilled stage-2 sigmas: used as given.
    "static": dict(use_dynamic_shifting=False, shift_terminal=None),
}


def build(**overrides):
    """The LTX-2 scheduler, with config overrides."""
    return FlowMatchEulerDiscreteScheduler(**{**LTX2, **overrides})


def pipeline_schedule(scheduler, steps, video_tokens, sigmas=None):
    """LTX2Pipeline.__call__ step 5, for the video scheduler and its audio copy."""
    sigmas = np.linspace(1.0, 1 / steps, steps) if sigmas is None else sigmas
    mu = calculate_shift(
        video_tokens,
        scheduler.config.get("base_image_seq_len", 1024),
        scheduler.config.get("max_image_seq_len", 4096),
        scheduler.config.get("base_shift", 0.95),
        scheduler.config.get("max_shift", 2.05),
    )
    audio_scheduler = copy.deepcopy(scheduler)
    retrieve_timesteps(audio_scheduler, steps, "cpu", None, sigmas=sigmas, mu=mu)
    retrieve_timesteps(scheduler, steps, "cpu", None, sigmas=sigmas, mu=mu)
    assert np.array_equal(scheduler.sigmas.numpy(), audio_scheduler.sigmas.numpy())
    return mu


def cases():
    """(config, kind, steps, sigma list or None, video tokens)."""
    out = []
    # Tiny (3 latent frames of 16x16: the pipeline fixture), 768x512x121 (16 x 16 x 24), 1216x704x121.
    for tokens in [768, 6144, 16 * 22 * 38]:
        for steps in [2, 8, 30, 40]:
            out.append(("ltx2", "linspace", steps, None, tokens))
        out.append(("ltx2", "sigmas", len(DISTILLED_SIGMA_VALUES), DISTILLED_SIGMA_VALUES, tokens))
    for tokens in [768, 6144]:
        out.append(("static", "sigmas", len(DISTILLED_SIGMA_VALUES), DISTILLED_SIGMA_VALUES, tokens))
        out.append(("static", "sigmas", len(STAGE_2_DISTILLED_SIGMA_VALUES), STAGE_2_DISTILLED_SIGMA_VALUES, tokens))
        out.append(("static", "linspace", 8, None, tokens))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, overrides in CONFIGS.items():
        build(**overrides).save_pretrained(os.path.join(OUT, name))

    manifest, tensors = [], {}
    for i, (name, kind, steps, sigmas, tokens) in enumerate(cases()):
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(os.path.join(OUT, name))
        mu = pipeline_schedule(scheduler, steps, tokens, sigmas)
        manifest.append(dict(config=name, kind=kind, steps=steps, sigmas=sigmas, video_tokens=tokens, mu=mu))
        tensors[f"{i}.sigmas"] = scheduler.sigmas.float().contiguous()
        tensors[f"{i}.timesteps"] = scheduler.timesteps.float().contiguous()
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    save_file(tensors, os.path.join(OUT, "schedules.safetensors"))
    print("wrote", os.path.normpath(OUT), "with", len(manifest), "cases")


if __name__ == "__main__":
    sys.exit(main())
