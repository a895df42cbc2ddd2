"""Text-to-speech real-time factor, transformers side (see csm.sh).

    python scripts/bench/csm_torch.py MODEL_DIR FRAMES

Times, after a warm-up, the median of RUNS calls of: greedy generate of FRAMES
frames for a line in the default voice, then the codec's decode of them, as
reel's `speak` does. Real-time factor = that time / the audio's length
(FRAMES / 12.5 s).
"""

import os
import statistics
import sys
import time

import torch
import transformers
from transformers import CsmForConditionalGeneration

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "golden"))
import csm  # noqa: E402

RUNS = 3
LINE = "hello there, this is a benchmark"


def main():
    model_dir, frames = sys.argv[1], int(sys.argv[2])
    transformers.logging.set_verbosity_error()
    model = CsmForConditionalGeneration.from_pretrained(model_dir).eval()
    proc = csm.processor(csm.tiny_tokenizer())
    ids = proc(text=[csm.turn(0, LINE, False)])["input_ids"]

    def speak():
        codes = model.generate(input_ids=ids, do_sample=False, depth_decoder_do_sample=False,
                               max_new_tokens=frames)
        audio = model.codec_model.decode(codes[0].transpose(0, 1)[None]).audio_values
        return codes, audio

    with torch.inference_mode():
        codes, audio = speak()  # warm-up
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            speak()
            times.append(time.perf_counter() - start)
    took = statistics.median(times)
    seconds = frames / 12.5
    print(
        f"torch  {model_dir} frames={codes.shape[1]} audio_s={seconds:.2f} speak_s={took:.3f} "
        f"rtf={took / seconds:.3f} first_frame={codes[0, 0].tolist()} (torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {torch.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()
