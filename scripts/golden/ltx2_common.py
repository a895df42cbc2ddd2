"""What the LTX-2 golden scripts share: output folders, seeding and weight randomisation."""

import math
import os

import torch

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx2")


def fixture_dir(component):
    path = os.path.join(FIXTURES, component)
    os.makedirs(path, exist_ok=True)
    return path


@torch.no_grad()
def randomize(module, seed, norm_std=0.2):
    """Every parameter random, so no zero-initialised gate or norm hides a wrong path.

    Weights with a fan-in get N(0, 1/fan_in) (outputs keep their scale through the
    layers), vectors (biases, norm weights, tables) N(0, norm_std).
    """
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(module.named_parameters()):
        if p.ndim >= 2:
            fan_in = p[0].numel()
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
        else:
            p.copy_(torch.randn(p.shape, generator=g) * norm_std)
    return module


def contiguous(tensors):
    return {k: v.detach().float().contiguous() for k, v in tensors.items()}
