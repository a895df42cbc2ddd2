"""LTX-Video 2B at full size on a GPU, PyTorch/diffusers side (run by scripts/gpu-check).

  python scripts/bench/ltx_gpu.py make DIR   # random weights of the full 2B configuration, bf16
  python scripts/bench/ltx_gpu.py run DIR    # 768x512, 121 frames, 8 steps; prints one JSON line

Real weights cannot reach the GPU machine, so the transformer (28 layers, 32
heads of 64, the released 2B configuration) and the VAE (diffusers' default
AutoencoderKLLTXVideo, the 0.9.0/0.9.1 layout) have random weights of the real
shapes. The text encoder is a one-layer stand-in of T5 XXL's width (4096): the
full encoder runs once per render, before the steps, and the memory plan frees
it before the transformer runs, so neither the step nor the decode figure
depends on it.
"""
import json
import statistics
import sys
import time

import torch

PROMPT = "a red ball bouncing in a green park"
FRAMES, HEIGHT, WIDTH, STEPS = 121, 512, 768, 8


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
    with torch.device("cuda"):
        te = T5EncoderModel(T5Config(vocab_size=tok.get_vocab_size(), d_model=4096, d_kv=64, d_ff=10240,
                                     num_layers=1, num_heads=64, feed_forward_proj="gated-gelu",
                                     is_encoder_decoder=False, use_cache=False, pad_token_id=0, eos_token_id=1))
        tr = LTXVideoTransformer3DModel()  # the 2B configuration
        vae = AutoencoderKLLTXVideo()
    sch = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                          base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    pipe = LTXPipeline(scheduler=sch, vae=vae, text_encoder=te, tokenizer=tokenizer, transformer=tr)
    pipe.to(torch.bfloat16)
    pipe.save_pretrained(out, safe_serialization=True)
    print(json.dumps({"made": out, "transformer_params": sum(p.numel() for p in tr.parameters())}))


def run(d):
    from diffusers import LTXPipeline
    pipe = LTXPipeline.from_pretrained(d, torch_dtype=torch.bfloat16).to("cuda")
    marks = []
    sync = torch.cuda.synchronize
    pipe.transformer.register_forward_pre_hook(lambda *_: (sync(), marks.append(time.perf_counter())))
    pipe.transformer.register_forward_hook(lambda *_: (sync(), marks.append(time.perf_counter())))
    gen = torch.Generator("cuda").manual_seed(0)
    with torch.no_grad():
        # Warm-up (kernels chosen, memory pools made): one step at full size.
        pipe(prompt=PROMPT, height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=1,
             guidance_scale=1.0, output_type="latent", generator=gen)
        marks.clear()
        torch.cuda.reset_peak_memory_stats()
        sync(); t0 = time.perf_counter()
        # diffusers' default decode (untiled) at the end, as a user gets it.
        video = pipe(prompt=PROMPT, height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=STEPS,
                     guidance_scale=1.0, output_type="pt", generator=gen).frames
        sync(); t1 = time.perf_counter()
        peak = torch.cuda.max_memory_allocated()
    step_s = statistics.median(marks[k + 1] - marks[k] for k in range(0, len(marks), 2))
    print(json.dumps({
        "engine": "pytorch", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0),
        "frames": FRAMES, "width": WIDTH, "height": HEIGHT, "steps": STEPS,
        "step_s": step_s, "text_and_steps_s": marks[-1] - t0, "decode_and_frames_s": t1 - marks[-1],
        "end_to_end_s": t1 - t0, "peak_gib": peak / 2**30,
        "video_shape": list(video.shape),
    }))


if __name__ == "__main__":
    make(sys.argv[2]) if sys.argv[1] == "make" else run(sys.argv[2])
