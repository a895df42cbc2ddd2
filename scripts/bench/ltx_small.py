"""LTX-Video at a small-but-real shape, PyTorch/diffusers side, part by part.

  python scripts/bench/ltx_small.py make DIR          # random-weight 'small' pipeline (diffusers layout)
  THREADS=2 python scripts/bench/ltx_small.py run DIR [STEPS] [RUNS]

The model is the one in ../shared/bench/ltx_small.py: a 4-layer transformer
(8 heads of 64) with the real LTX-Video VAE family (patch 4, 32x spatial and
8x temporal compression, decoder widths 64-128-256-256), rendered at 384x256,
25 frames. `run` times the whole render (pipe(...) to float frames, as that
script does) and then each part on its own: prompt encoding, one transformer
forward (the per-step cost, from hooks during the render), the VAE decode whole
(diffusers' default) and tiled (enable_tiling + framewise), and the conversion
to 8-bit frames. One JSON line per run, then the medians. The candle side is
engine/examples/ltx_render_bench.rs; scripts/bench/ltx_small.sh runs both.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

PROMPT = "a red ball bouncing in a green park"
FRAMES, HEIGHT, WIDTH = 25, 256, 384


def make(out):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)
    torch.manual_seed(1)
    tok = Tokenizer(models.Unigram()); tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(); tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(["a red ball bouncing in a green park . a boy throws a ball . " * 50],
                            trainers.UnigramTrainer(vocab_size=60, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    tok.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    tokenizer = T5TokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                extra_ids=0, model_max_length=128)
    te = T5EncoderModel(T5Config(vocab_size=tok.get_vocab_size(), d_model=256, d_kv=32, d_ff=512, num_layers=2,
                                 num_heads=8, feed_forward_proj="gated-gelu", is_encoder_decoder=False,
                                 use_cache=False, pad_token_id=0, eos_token_id=1))
    tr = LTXVideoTransformer3DModel(in_channels=128, out_channels=128, patch_size=1, patch_size_t=1,
                                    num_attention_heads=8, attention_head_dim=64, cross_attention_dim=512,
                                    num_layers=4, caption_channels=256)
    vae = AutoencoderKLLTXVideo(in_channels=3, out_channels=3, latent_channels=128,
                                block_out_channels=(32, 64, 128, 128), decoder_block_out_channels=(64, 128, 256, 256),
                                layers_per_block=(2, 2, 2, 2, 2), decoder_layers_per_block=(2, 2, 2, 2, 2),
                                spatio_temporal_scaling=(True, True, True, False),
                                decoder_spatio_temporal_scaling=(True, True, True, False),
                                decoder_inject_noise=(False, False, False, False, False),
                                upsample_residual=(False, False, False, False), upsample_factor=(1, 1, 1, 1),
                                timestep_conditioning=False, patch_size=4, patch_size_t=1,
                                encoder_causal=True, decoder_causal=False)
    sch = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                          base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    LTXPipeline(scheduler=sch, vae=vae, text_encoder=te, tokenizer=tokenizer,
                transformer=tr).save_pretrained(out, safe_serialization=True)
    print("made", out, sum(p.numel() for p in tr.parameters()), "transformer params")


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(d, steps, runs):
    from diffusers import LTXPipeline
    if os.environ.get("THREADS"):
        torch.set_num_threads(int(os.environ["THREADS"]))
    pipe = LTXPipeline.from_pretrained(d)
    forwards = []
    pipe.transformer.register_forward_pre_hook(lambda *_: forwards.append(time.perf_counter()))
    pipe.transformer.register_forward_hook(lambda *_: forwards.append(time.perf_counter()))
    vae = pipe.vae
    latents = torch.randn((1, 128, (FRAMES - 1) // 8 + 1, HEIGHT // 32, WIDTH // 32),
                          generator=torch.Generator().manual_seed(7))
    rows = []
    with torch.no_grad():
        for i in range(runs):
            forwards.clear()
            render_s, _ = timed(lambda: pipe(
                prompt=PROMPT, height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=steps,
                guidance_scale=1.0, max_sequence_length=128, output_type="np",
                generator=torch.Generator().manual_seed(0)))
            step_s = statistics.median(forwards[k + 1] - forwards[k] for k in range(0, len(forwards), 2))
            text_s, _ = timed(lambda: pipe.encode_prompt(PROMPT, do_classifier_free_guidance=False,
                                                         max_sequence_length=128))
            vae.disable_tiling(); vae.use_framewise_decoding = False
            decode_s, video = timed(lambda: vae.decode(latents, return_dict=False)[0])
            vae.enable_tiling(); vae.use_framewise_decoding = True
            tiled_s, _ = timed(lambda: vae.decode(latents, return_dict=False)[0])
            vae.disable_tiling(); vae.use_framewise_decoding = False
            frames_s, _ = timed(lambda: (pipe.video_processor.postprocess_video(video, output_type="np") * 255)
                                .round().clip(0, 255).astype(np.uint8))
            row = dict(run=i, threads=torch.get_num_threads(), render_s=render_s, text_s=text_s, step_s=step_s,
                       decode_whole_s=decode_s, decode_tiled_s=tiled_s, frames_s=frames_s)
            print(json.dumps(row), flush=True)
            rows.append(row)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k not in ("run", "threads")}
    print(json.dumps(dict(median_of=runs, threads=torch.get_num_threads(), engine="pytorch",
                          torch=torch.__version__, **med)))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 4, int(sys.argv[4]) if len(sys.argv) > 4 else 3)
