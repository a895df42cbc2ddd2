"""Face detect + landmarks + embed per image, dlib side (the reference for
engine/examples/faces_bench.rs; scripts/bench/faces.sh runs both). Same
images, same work: cnn_face_detection_model_v1(img, 0), the 5-point
shape_predictor per face, compute_face_descriptor(img, shape, 0).

    python faces_dlib.py MODEL_DIR IMAGE...   (MODEL_DIR: the .dat files)
"""

import os
import sys
import time

import dlib
import numpy as np
from PIL import Image

RUNS = 5


def main():
    models = sys.argv[1]
    det = dlib.cnn_face_detection_model_v1(os.path.join(models, "mmod_human_face_detector.dat"))
    sp = dlib.shape_predictor(os.path.join(models, "shape_predictor_5_face_landmarks.dat"))
    rec = dlib.face_recognition_model_v1(os.path.join(models, "dlib_face_recognition_resnet_model_v1.dat"))

    def analyze(img):
        out = []
        for d in det(img, 0):
            shape = sp(img, d.rect)
            out.append(rec.compute_face_descriptor(img, shape, 0))
        return out

    for path in sys.argv[2:]:
        img = np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))
        faces = analyze(img)
        whole, detect = [], []
        for _ in range(RUNS):
            t = time.perf_counter()
            det(img, 0)
            detect.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            analyze(img)
            whole.append((time.perf_counter() - t) * 1e3)
        print(f"dlib {path} {img.shape[1]}x{img.shape[0]} faces={len(faces)} "
              f"analyze_ms={sorted(whole)[RUNS // 2]:.1f} detect_ms={sorted(detect)[RUNS // 2]:.1f}")


if __name__ == "__main__":
    main()
