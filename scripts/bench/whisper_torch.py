"""Speech-to-text real-time factor, transformers side (see whisper.sh).

    python scripts/bench/whisper_torch.py MODEL_DIR CLIP.f32 MAX_NEW_TOKENS

Times, after a warm-up, the median of RUNS calls of: WhisperFeatureExtractor +
encoder, and feature extraction + generate (language detection, greedy,
timestamps off), as reel's `transcribe` does.
"""

import statistics
import sys
import time

import numpy as np
import torch
import transformers
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

RUNS = 3


def main():
    model_dir, clip, max_new = sys.argv[1], sys.argv[2], int(sys.argv[3])
    transformers.logging.set_verbosity_error()
    samples = np.fromfile(clip, dtype="<f4")
    seconds = len(samples) / 16000
    model = WhisperForConditionalGeneration.from_pretrained(model_dir).eval()
    fe = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)

    def encode():
        features = fe(samples, sampling_rate=16000, return_tensors="pt").input_features
        model.model.encoder(features)

    def transcribe():
        features = fe(samples, sampling_rate=16000, return_tensors="pt").input_features
        return model.generate(
            features,
            task="transcribe",
            max_new_tokens=max_new,
            return_dict_in_generate=True,
            output_scores=True,
        )

    with torch.inference_mode():
        out = transcribe()  # warm-up
        enc, whole = [], []
        for _ in range(RUNS):
            start = time.perf_counter()
            encode()
            enc.append(time.perf_counter() - start)
            start = time.perf_counter()
            transcribe()
            whole.append(time.perf_counter() - start)
    enc, whole = statistics.median(enc), statistics.median(whole)
    # One score per generated token (transformers 5 strips the prompt from
    # the sequences, so their length says nothing about the prompt).
    generated = len(out.scores)
    print(
        f"torch  {model_dir} audio_s={seconds:.2f} tokens={generated} mel+encoder_s={enc:.3f} "
        f"transcribe_s={whole:.3f} rtf={whole / seconds:.3f} (torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {torch.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()
