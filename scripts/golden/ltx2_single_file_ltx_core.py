"""ltx-core's own models take the names of the tiny original-layout file (engine/tests/fixtures/
ltx2/single_file/tiny.safetensors, written by ltx2_single_file_keys.py from diffusers' mapping
inverted): the transformer (LTXModelConfigurator) and both text connectors
(Embeddings1DConnectorConfigurator, AudioEmbeddings1DConnectorConfigurator), under the prefixes
ltx-core's loaders strip, with no name missing or left over. A check, no fixture.

ltx-core 1.0.0 needs torch ~2.7, so it runs in its own venv:
    python3 -m venv /work/venv-ltx27
    /work/venv-ltx27/bin/pip install "torch==2.7.*" "torchaudio==2.7.*" ltx-core==1.0.0
    /work/venv-ltx27/bin/python scripts/golden/ltx2_single_file_ltx_core.py

Not checked here, because ltx-core cannot build the tiny components as the fixtures configure
them: its connector configurator hard-codes 128 learnable registers (the tiny ones have 4;
patched below to check the names), its vocoder's ResBlock1 hard-codes three dilations (the tiny
vocoder's second kernel has two), and its video VAE is configured by a block list this script
does not derive. The video VAE, audio VAE and vocoder names are diffusers' mapping, asserted
by ltx2_single_file_keys.py.
"""

import json
import os

import torch
from safetensors.torch import load_file

from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
from ltx_core.text_encoders.gemma.embeddings_connector import (
    AudioEmbeddings1DConnectorConfigurator,
    Embeddings1DConnectorConfigurator,
)

F = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "ltx2")


def ltx_core_config(fixtures=F):
    """ltx-core's model config for the tiny transformer and connectors (also used by
    ltx2_a2v_ltx_core.py), from the fixture's diffusers configs."""
    t = json.load(open(fixtures + "/transformer/transformer/config.json"))
    c = json.load(open(fixtures + "/text/connectors_2_0/config.json"))
    return {"transformer": dict(
        num_attention_heads=t["num_attention_heads"], attention_head_dim=t["attention_head_dim"],
        in_channels=t["in_channels"], out_channels=t["out_channels"], num_layers=t["num_layers"],
        cross_attention_dim=t["cross_attention_dim"], audio_num_attention_heads=t["audio_num_attention_heads"],
        audio_attention_head_dim=t["audio_attention_head_dim"], audio_in_channels=t["audio_in_channels"],
        audio_out_channels=t["audio_out_channels"], audio_cross_attention_dim=t["audio_cross_attention_dim"],
        caption_channels=t["caption_channels"], rope_type="split", frequencies_precision="float64",
        connector_num_attention_heads=c["video_connector_num_attention_heads"],
        connector_attention_head_dim=c["video_connector_attention_head_dim"],
        connector_num_layers=c["video_connector_num_layers"],
        audio_connector_num_attention_heads=c["audio_connector_num_attention_heads"],
        audio_connector_attention_head_dim=c["audio_connector_attention_head_dim"],
        audio_connector_num_layers=c["audio_connector_num_layers"],
        connector_num_learnable_registers=c["video_connector_num_learnable_registers"],
        dropout=0.0, attention_bias=True, num_vector_embeds=None, activation_fn="gelu-approximate",
        num_embeds_ada_norm=1000, use_linear_projection=False, only_cross_attention=False,
        cross_attention_norm=True, double_self_attention=False, upcast_attention=False,
        standardization_norm="rms_norm", norm_elementwise_affine=False, qk_norm="rms_norm",
        positional_embedding_type="rope", use_audio_video_cross_attention=True, share_ff=False,
        av_cross_ada_norm=True, use_middle_indices_grid=True,
        # diffusers' name for it; ltx-core's default (1) is not the model's
        av_ca_timestep_scale_multiplier=t["cross_attn_timestep_scale_multiplier"],
        timestep_scale_multiplier=t["timestep_scale_multiplier"],
    )}


if __name__ == "__main__":
    sd = load_file(F + "/single_file/tiny.safetensors")
    cfg = ltx_core_config()
    P = "model.diffusion_model."
    def strict(name, model, prefix, exclude=()):
        part = {k[len(prefix):]: x for k, x in sd.items() if k.startswith(prefix) and not k[len(prefix):].startswith(exclude)}
        model = model.to_empty(device="cpu") if any(p.is_meta for p in model.parameters()) else model
        if hasattr(model, "learnable_registers"):  # ltx-core's configurator hard-codes 128
            model.learnable_registers = torch.nn.Parameter(torch.empty(part["learnable_registers"].shape))
        missing, unexpected = model.load_state_dict(part, strict=False)
        assert not missing and not unexpected, (name, missing[:8], unexpected[:8])
        print(f"{name}: all {len(part)} names taken")
    conn = ("video_embeddings_connector.", "audio_embeddings_connector.")
    strict("transformer", LTXModelConfigurator.from_config(cfg), P, conn)
    strict("video connector", Embeddings1DConnectorConfigurator.from_config(cfg), P + "video_embeddings_connector.")
    strict("audio connector", AudioEmbeddings1DConnectorConfigurator.from_config(cfg), P + "audio_embeddings_connector.")
