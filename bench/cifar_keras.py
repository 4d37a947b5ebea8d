"""The tutorials' Keras CNN against ``cnndesk train --backbone simple-cnn`` on the same CIFAR-10 JPEGs.

    python bench/cifar_keras.py [--tfvenv /tmp/tfvenv] [--epochs 15] [--threads 2]
                                [--workdir DIR] [--skip-keras] [--skip-cnndesk]

Keras (tensorflow-cpu, in a SEPARATE venv: ``--tfvenv``, created with ``pip install
tensorflow-cpu`` when missing): Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dense10 with
``padding="same"``, Adam, sparse categorical cross-entropy, ``epochs=15, batch_size=64,
validation_split=0.2``, the training images shuffled once first (``validation_split`` takes the
last 20 %, which would otherwise be whole classes). Its wall time includes reading the JPEGs.

cnndesk: ``cnndesk import DIR --classes-from-folders`` into a fresh library (the ``train``/``test``
folders become the splits; with no ``val`` folder, training holds out every 5th training image,
like ``validation_split=0.2``), then ``cnndesk train --backbone simple-cnn --mode full
--image-size 32 --epochs 15``. Its wall time is the train command's (the import is reported
apart: in the app, images are imported once and trained on many times).

Both use ``--threads`` CPU threads (TensorFlow's intra/inter-op threads; cnndesk's ``--threads``).
Prints test accuracy and wall time for both, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
CIFAR = SHARED / "data" / "cifar10-jpeg.tar.gz"

KERAS_SCRIPT = r"""
import json, os, sys, time
started = time.perf_counter()
root, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
from tensorflow import keras
from tensorflow.keras import layers

def load(split):
    classes = sorted(os.listdir(os.path.join(root, split)))
    xs, ys = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, split, name)
        for file in sorted(os.listdir(folder)):
            data = tf.io.read_file(os.path.join(folder, file))
            xs.append(tf.io.decode_jpeg(data, channels=3).numpy())
            ys.append(label)
    return np.stack(xs).astype("float32") / 255.0, np.array(ys)

x_train, y_train = load("train")
x_test, y_test = load("test")
order = np.random.default_rng(0).permutation(len(x_train))
x_train, y_train = x_train[order], y_train[order]
loaded = time.perf_counter()
model = keras.Sequential([
    keras.Input((32, 32, 3)),
    layers.Conv2D(32, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(),
    layers.Conv2D(64, 3, activation="relu", padding="same"),
    layers.MaxPooling2D(),
    layers.Conv2D(64, 3, activation="relu", padding="same"),
    layers.Flatten(),
    layers.Dense(64, activation="relu"),
    layers.Dense(10),
])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=epochs, batch_size=64, validation_split=0.2,
                    verbose=2)
_, test_acc = model.evaluate(x_test, y_test, verbose=0)
print(json.dumps({"test_accuracy": float(test_acc),
                  "val_accuracy": float(history.history["val_accuracy"][-1]),
                  "load_seconds": loaded - started,
                  "seconds": time.perf_counter() - started}))
"""


def ensure_tfvenv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with tensorflow-cpu (a few minutes)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tensorflow-cpu"], check=True)
    return python


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tfvenv", type=Path, default=Path("/tmp/tfvenv"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-keras", action="store_true")
    parser.add_argument("--skip-cnndesk", action="store_true")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cnndesk-cifar-"))
    data = work / "cifar10"
    if not (data / "train").is_dir():
        print(f"extracting {CIFAR} into {data}...", file=sys.stderr)
        data.mkdir(parents=True, exist_ok=True)
        with tarfile.open(CIFAR) as tar:
            tar.extractall(data, filter="data")
        inner = [p for p in data.iterdir() if p.is_dir()]
        if not (data / "train").is_dir() and len(inner) == 1:
            data = inner[0]
    results: dict[str, dict] = {}

    if not args.skip_keras:
        python = ensure_tfvenv(args.tfvenv)
        script = work / "keras_cnn.py"
        script.write_text(KERAS_SCRIPT)
        started = time.perf_counter()
        done = subprocess.run(
            [str(python), str(script), str(data), str(args.epochs), str(args.threads)],
            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"keras failed:\n{done.stderr[-3000:]}")
        results["keras"] = {**last_json(done.stdout), "wall": wall}
        print(f"keras: {results['keras']}", file=sys.stderr)

    if not args.skip_cnndesk:
        env = {**os.environ, "CNNDESK_HOME": str(work / "home")}
        library = work / "cifar.cnndesk"
        cli = [sys.executable, "-m", "cnndesk", "--library", str(library)]
        started = time.perf_counter()
        subprocess.run([*cli, "import", str(data), "--classes-from-folders"], env=env, check=True,
                       cwd=HERE.parent, stdout=subprocess.DEVNULL)  # fmt: skip
        imported = time.perf_counter() - started
        started = time.perf_counter()
        done = subprocess.run(
            [*cli, "train", "--backbone", "simple-cnn", "--mode", "full", "--image-size", "32",
             "--epochs", str(args.epochs), "--threads", str(args.threads), "--json"],
            env=env, cwd=HERE.parent, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"cnndesk failed:\n{done.stderr[-3000:]}")
        sys.stderr.write(done.stderr[-2500:])
        results["cnndesk"] = {**last_json(done.stdout), "wall": wall, "import_seconds": imported}

    print()
    print("| | test accuracy | wall time | notes |")
    print("|---|---|---|---|")
    if "keras" in results:
        k = results["keras"]
        print(f"| Keras (tensorflow-cpu) | {k['test_accuracy']:.4f} | {k['wall']:.0f} s |"
              f" reading JPEGs {k['load_seconds']:.0f} s included |")  # fmt: skip
    if "cnndesk" in results:
        c = results["cnndesk"]
        print(f"| cnndesk simple-cnn full | {c['test_accuracy']:.4f} | {c['wall']:.0f} s |"
              f" {c['epochs']} epochs, best {c['best_epoch']}, {c['device']};"
              f" library import {c['import_seconds']:.0f} s not included |")  # fmt: skip
    if len(results) == 2:
        k, c = results["keras"], results["cnndesk"]
        print(f"\naccuracy cnndesk - keras: {c['test_accuracy'] - k['test_accuracy']:+.4f};"
              f" wall time cnndesk / keras: {c['wall'] / k['wall']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
