"""Reference schedules and Euler steps from diffusers' FlowMatchEulerDiscreteScheduler.

Run from the repository root (CPU only, no downloads):

    /work/golden-venv/bin/python scripts/golden/tiny_scheduler.py

Writes engine/tests/fixtures/ltx/scheduler/:
  <config>/scheduler_config.json   saved with save_pretrained, loaded by the Rust test
  cases.json                       each case: config, spec (steps/sigmas/timesteps), mu
  schedules.safetensors            per case: "<i>.sigmas", "<i>.timesteps" (f32)
  mu.json                          calculate_shift as LTXPipeline calls it, per seq_len
  steps.safetensors                step() inputs and outputs (plain, stochastic, per token)

`build(**overrides)` returns the scheduler LTX-Video ships (diffusers layout),
with config overrides; the pipeline script reuses it.
"""

import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift, retrieve_timesteps
from diffusers.pipelines.ltx.pipeline_ltx_condition import linear_quadratic_schedule

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx", "scheduler")

# scheduler/scheduler_config.json of the Lightricks/LTX-Video diffusers repositories.
LTX_VIDEO = dict(
    use_dynamic_shifting=True,
    base_shift=0.95,
    max_shift=2.05,
    base_image_seq_len=1024,
    max_image_seq_len=4096,
    shift_terminal=0.1,
    time_shift_type="exponential",
)

DISTILLED_TIMESTEPS = [1000, 993, 987, 981, 975, 909, 725, 0.03]
DISTILLED_UPSCALE_TIMESTEPS = [1000, 909, 725, 421, 0]
DISTILLED_SIGMAS = [1.0000, 0.9937, 0.9875, 0.9812, 0.9750, 0.9094, 0.7250, 0.4219]
DISTILLED_SECOND_PASS_SIGMAS = [0.9094, 0.7250, 0.4219]


def build(**overrides):
    """The LTX-Video scheduler, with config overrides."""
    return FlowMatchEulerDiscreteScheduler(**{**LTX_VIDEO, **overrides})


CONFIGS = {
    "ltx_video": {},
    # No dynamic shift (explicit timestep lists without mu, as LTXConditionPipeline passes them).
    "static_terminal": dict(use_dynamic_shifting=False),
    "static_plain": dict(use_dynamic_shifting=False, shift_terminal=None),
    "linear_shift": dict(time_shift_type="linear"),
    "shift3": dict(use_dynamic_shifting=False, shift=3.0, shift_terminal=None),
    "inverted": dict(invert_sigmas=True),
    "stochastic": dict(use_dynamic_shifting=False, shift_terminal=None, stochastic_sampling=True),
}


def ltx_mu(scheduler, seq_len):
    c = scheduler.config
    return calculate_shift(
        seq_len,
        c.get("base_image_seq_len", 256),
        c.get("max_image_seq_len", 4096),
        c.get("base_shift", 0.5),
        c.get("max_shift", 1.15),
    )


def cases():
    """(config, spec kind, values or step count, mu or None)."""
    out = []
    for seq_len in [8, 1024, 6144]:
        for steps in [1, 8, 30]:
            # LTXPipeline: sigmas = linspace(1, 1/steps, steps) with mu.
            sigmas = np.linspace(1.0, 1 / steps, steps).tolist()
            out.append(("ltx_video", "sigmas", sigmas, seq_len))
        out.append(("ltx_video", "steps", 20, seq_len))
        out.append(("linear_shift", "sigmas", np.linspace(1.0, 1 / 10, 10).tolist(), seq_len))
        out.append(("inverted", "steps", 6, seq_len))
    for name in ["static_terminal", "static_plain"]:
        out.append((name, "timesteps", DISTILLED_TIMESTEPS, None))
        out.append((name, "timesteps", DISTILLED_UPSCALE_TIMESTEPS, None))
        out.append((name, "sigmas", DISTILLED_SIGMAS, None))
        out.append((name, "sigmas", DISTILLED_SECOND_PASS_SIGMAS, None))
        out.append((name, "steps", 8, None))
        out.append((name, "timesteps", (linear_quadratic_schedule(12) * 1000).tolist(), None))
    out.append(("shift3", "steps", 10, None))
    out.append(("shift3", "sigmas", np.linspace(1.0, 1 / 7, 7).tolist(), None))
    out.append(("ltx_video", "timesteps", DISTILLED_TIMESTEPS, 1024))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, overrides in CONFIGS.items():
        build(**overrides).save_pretrained(os.path.join(OUT, name))

    manifest, tensors = [], {}
    for i, (name, kind, spec, seq_len) in enumerate(cases()):
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(os.path.join(OUT, name))
        mu = ltx_mu(scheduler, seq_len) if seq_len is not None else None
        kwargs = {} if mu is None else {"mu": mu}
        if kind == "steps":
            retrieve_timesteps(scheduler, spec, "cpu", **kwargs)
        elif kind == "sigmas":
            retrieve_timesteps(scheduler, None, "cpu", sigmas=spec, **kwargs)
        else:
            retrieve_timesteps(scheduler, None, "cpu", timesteps=spec, **kwargs)
        manifest.append(dict(config=name, kind=kind, spec=spec, mu=mu))
        tensors[f"{i}.sigmas"] = scheduler.sigmas.float().contiguous()
        tensors[f"{i}.timesteps"] = scheduler.timesteps.float().contiguous()
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    save_file(tensors, os.path.join(OUT, "schedules.safetensors"))

    mus = {}
    scheduler = build()
    for seq_len in [8, 256, 1024, 3000, 4096, 6144]:
        mus[str(seq_len)] = ltx_mu(scheduler, seq_len)
    with open(os.path.join(OUT, "mu.json"), "w") as f:
        json.dump(mus, f, indent=1)

    # step(): a few steps of a 12-step LTXPipeline schedule on [1, 8, 2, 2, 2] latents.
    g = torch.Generator().manual_seed(0)
    steps = {}
    scheduler = build()
    mu = ltx_mu(scheduler, 8)
    retrieve_timesteps(scheduler, None, "cpu", sigmas=np.linspace(1.0, 1 / 12, 12), mu=mu)
    steps["plain.mu"] = torch.tensor([mu], dtype=torch.float64)
    sample = torch.randn(1, 8, 2, 2, 2, generator=g)
    steps["plain.sample0"] = sample.clone()
    for i, t in enumerate(scheduler.timesteps):
        output = torch.randn(1, 8, 2, 2, 2, generator=g)
        steps[f"plain.output{i}"] = output
        sample = scheduler.step(output, t, sample, return_dict=False)[0]
        steps[f"plain.sample{i + 1}"] = sample.clone()

    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(os.path.join(OUT, "stochastic"))
    retrieve_timesteps(scheduler, None, "cpu", timesteps=DISTILLED_TIMESTEPS)
    sample = torch.randn(1, 8, 2, 2, 2, generator=g)
    steps["stochastic.sample0"] = sample.clone()
    for i, t in enumerate(scheduler.timesteps):
        output = torch.randn(1, 8, 2, 2, 2, generator=g)
        noise_gen = torch.Generator().manual_seed(100 + i)
        steps[f"stochastic.output{i}"] = output
        # The noise step() draws, drawn again from the same seed for the test.
        steps[f"stochastic.noise{i}"] = torch.randn(1, 8, 2, 2, 2, generator=torch.Generator().manual_seed(100 + i))
        sample = scheduler.step(output, t, sample, generator=noise_gen, return_dict=False)[0]
        steps[f"stochastic.sample{i + 1}"] = sample.clone()

    # Per-token timesteps (LTXConditionPipeline): some tokens less noisy than the step's t.
    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(os.path.join(OUT, "static_terminal"))
    retrieve_timesteps(scheduler, None, "cpu", timesteps=DISTILLED_TIMESTEPS)
    sample = torch.randn(2, 6, 8, generator=g)
    output = torch.randn(2, 6, 8, generator=g)
    t = scheduler.timesteps[5]
    per_token = t.expand(2, 6).clone()
    per_token[:, :2] = 0.0  # fully clean condition tokens
    per_token[1, 2] = 950.0  # between schedule entries
    per_token[0, 3] = float(scheduler.timesteps[0])
    steps["per_token.sample"] = sample
    steps["per_token.output"] = output
    steps["per_token.timesteps"] = per_token
    scheduler._step_index = 5
    steps["per_token.result"] = scheduler.step(output, t, sample, per_token_timesteps=per_token, return_dict=False)[0]
    save_file({k: v.contiguous() for k, v in steps.items()}, os.path.join(OUT, "steps.safetensors"))
    print("wrote", os.path.normpath(OUT), "with", len(manifest), "schedule cases")


if __name__ == "__main__":
    sys.exit(main())
