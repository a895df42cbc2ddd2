"""LTX-Video 2B at full size on a GPU, PyTorch/diffusers side (run by scripts/gpu-check).

  python scripts/bench/ltx_gpu.py make DIR   # random weights of the full 2B configuration, bf16
  python scripts/bench/ltx_gpu.py run DIR    # 768x512, 121 frames, 8 steps; prints one JSON line

GPU_CHECK_DEVICE=cpu and GPU_CHECK_SHAPE="FRAMES WIDTH HEIGHT STEPS" run the
same code on the CPU at a small shape, for scripts/gpu-check's rehearsal on a
machine without a GPU (see its header).

Real weights cannot reach the GPU machine, so the transformer (28 layers, 32
heads of 64, the released 2B configuration) and the VAE (diffusers' default
AutoencoderKLLTXVideo, the 0.9.0/0.9.1 layout) have random weights of the real
shapes. The text encoder is a one-layer stand-in of T5 XXL's width (4096): the
full encoder runs once per render, before the steps, so neither the step nor the
decode figure depends on it. Nor does reel's peak GPU memory: on a GPU reel keeps
T5 on the CPU (the memory plan, docs/architecture.md). diffusers keeps it on the
GPU, where the stand-in takes 0.4 GB of PyTorch's peak and the real one 9.5 GB.
"""
import json
import os
import statistics
import sys
import time

import torch

PROMPT = "a red ball bouncing in a green park"
DEVICE = os.environ.get("GPU_CHECK_DEVICE", "cuda")
FRAMES, WIDTH, HEIGHT, STEPS = (int(v) for v in os.environ.get("GPU_CHECK_SHAPE", "121 768 512 8").split())
ON_GPU = DEVICE == "cuda"


def sync():
    if ON_GPU:
        torch.cuda.synchronize()


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
    with torch.device(DEVICE):
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
    pipe = LTXPipeline.from_pretrained(d, torch_dtype=torch.bfloat16).to(DEVICE)
    marks = []

    def mark(*_):
        # Returns None: a hook that returns something replaces the inputs or the output.
        sync()
        marks.append(time.perf_counter())

    pipe.transformer.register_forward_pre_hook(mark)
    pipe.transformer.register_forward_hook(mark)
    gen = torch.Generator(DEVICE).manual_seed(0)
    with torch.no_grad():
        # Warm-up (kernels chosen, memory pools made): two steps at full size (one
        # step makes the scheduler's terminal shift divide by zero).
        pipe(prompt=PROMPT, height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=2,
             guidance_scale=1.0, output_type="latent", generator=gen)
        marks.clear()
        if ON_GPU:
            torch.cuda.reset_peak_memory_stats()
        sync(); t0 = time.perf_counter()
        # diffusers' default decode (untiled) at the end, as a user gets it.
        video = pipe(prompt=PROMPT, height=HEIGHT, width=WIDTH, num_frames=FRAMES, num_inference_steps=STEPS,
                     guidance_scale=1.0, output_type="pt", generator=gen).frames
        sync(); t1 = time.perf_counter()
        peak_gib = torch.cuda.max_memory_allocated() / 2**30 if ON_GPU else None
    step_s = statistics.median(marks[k + 1] - marks[k] for k in range(0, len(marks), 2))
    print(json.dumps({
        "engine": "pytorch", "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if ON_GPU else None, "threads": torch.get_num_threads(),
        "frames": FRAMES, "width": WIDTH, "height": HEIGHT, "steps": STEPS,
        "step_s": step_s, "text_and_steps_s": marks[-1] - t0, "decode_and_frames_s": t1 - marks[-1],
        "end_to_end_s": t1 - t0, "peak_gib": peak_gib,
        "video_shape": list(video.shape),
    }))


if __name__ == "__main__":
    make(sys.argv[2]) if sys.argv[1] == "make" else run(sys.argv[2])
