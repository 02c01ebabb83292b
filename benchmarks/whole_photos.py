"""Whole photos end to end: FER2013 PublicTest faces pasted into larger photos, scored before and after
``fer-explain landmarks --boxes``, against the same faces as FER2013 ships them.

    python benchmarks/whole_photos.py /tmp/fer2013 [--n 3589] [--margins 0,0.05,0.1,0.15,0.2] [--keep DIR]

The FER2013 folder (``train/``, ``test/``) may also come from ``FER_EXPLAIN_FER2013_DIR``. Each
PublicTest face (48x48 grey) is upscaled 3-4x (bicubic, 144-192 px) and pasted at a random place
into a 192-256 px square background, alternately white noise and a "scene" (smooth multi-scale
noise over a brightness gradient: an out-of-focus texture; no outside image is used). The photos are
written as an ImageFolder-like tree in FER2013's folder layout (``test/<class>/PublicTest_<id>.png``,
a temporary folder unless ``--keep``) and read back with the FER2013 adapter. The shipped
``fer2013/vgg_fer`` is scored with :func:`fer_explain.train.evaluate_checkpoint` on

* the faces as FER2013 ships them (the reference),
* the whole photos (no box: the photo is resized to 48 px),
* the photos cropped exactly at each face's true 48 px frame (the oracle: what resampling costs),
* the photos after :func:`fer_explain.faces.landmarks.extract_landmarks` with ``boxes=True`` (what
  ``fer-explain landmarks --boxes`` runs): ``FaceDataset`` crops each stored face box grown by its
  default ``crop_margin``; photos without a detection stay whole.

It prints the detection share, where the stored face box lies in FER2013's 48 px frame, the table,
and the accuracy on the detected faces for each ``--margins`` value (``CheckpointInput.dataset(...,
crop_margin=m)``) and for dlib's own box (without ``face_box``'s upward shift). Acceptance: with
boxes, accuracy on the detected faces within 5 points of the same faces un-pasted. Everything runs
on one CPU thread (about 10 minutes for all 3,589 faces on a shared 2-core machine; ``--n`` for less).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from fer_explain.data.io import load_image
from fer_explain.data.manifest import Manifest
from fer_explain.data.sources import build_manifest
from fer_explain.data.splits import subsample_indices
from fer_explain.faces.landmarks import FER2013_BOX_SHIFT, FER2013_CROP_MARGIN, extract_landmarks
from fer_explain.train import (
    CheckpointInput,
    evaluate,
    evaluate_checkpoint,
    load_checkpoint,
    shipped_checkpoint,
)

FACE = 48


def scene(rng: np.random.Generator, side: int) -> np.ndarray:
    """A smooth grey texture: bicubic-upscaled random grids at three scales over a linear gradient."""
    out = np.zeros((side, side), np.float64)
    for cells, weight in ((3, 0.5), (8, 0.3), (24, 0.2)):
        grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
        out += weight * np.asarray(grid.resize((side, side), Image.Resampling.BICUBIC), np.float64)
    ramp = np.linspace(-40, 40, side)
    angle = rng.uniform(0, 2 * np.pi)
    out += np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    return np.clip(out, 0, 255).astype(np.uint8)


def paste(face: np.ndarray, rng: np.random.Generator, kind: str) -> tuple[np.ndarray, tuple[int, int, float]]:
    """The face upscaled 3-4x into a 192-256 px background; returns the photo and (x0, y0, scale)."""
    side = int(rng.integers(3 * FACE, 4 * FACE + 1))  # 144..192 px
    scale = side / FACE
    bg = int(rng.integers(max(192, side), 257))
    photo = rng.integers(0, 256, (bg, bg), dtype=np.uint8) if kind == "noise" else scene(rng, bg)
    big = np.asarray(Image.fromarray(face).resize((side, side), Image.Resampling.BICUBIC))
    x0, y0 = (int(v) for v in rng.integers(0, bg - side + 1, 2))
    photo[y0:y0 + side, x0:x0 + side] = big
    return photo, (x0, y0, scale)


def accuracy(preds: np.ndarray, labels: np.ndarray, mask: np.ndarray | None = None) -> float:
    ok = preds == labels
    return float(ok[mask].mean() if mask is not None else ok.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=os.environ.get("FER_EXPLAIN_FER2013_DIR"))
    ap.add_argument("--n", type=int, default=None, help="a stratified subset of PublicTest (default: all 3,589)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--upsample", type=int, default=1, help="detector upsampling (the CLI's default, 1)")
    ap.add_argument("--margins", default="0,0.05,0.1,0.15,0.2",
                    help="crop margins to compare on the detected faces (comma-separated)")
    ap.add_argument("--checkpoint", default="fer2013/vgg_fer")
    ap.add_argument("--keep", help="write the photos and manifests here instead of a temporary folder")
    args = ap.parse_args()
    if not args.root:
        ap.error("give the FER2013 folder (train/, test/) or set FER_EXPLAIN_FER2013_DIR")
    torch.set_num_threads(1)
    t_start = time.perf_counter()

    original = build_manifest("fer2013", args.root, progress=False).select("publictest")
    if args.n is not None and args.n < len(original):
        idx = subsample_indices(len(original), args.n, original.label_indices(), args.seed)
        original = original.replace(original.df.iloc[idx])
    n = len(original)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="whole_photos_"))
    photos_root = work / "photos"

    # ---- the photos, in FER2013's folder layout
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    frames: dict[str, tuple[int, int, float]] = {}
    df = original.df
    for i in range(n):
        image = str(df["image"].iat[i])
        face = load_image(original.root, image)
        face = face if face.ndim == 2 else face[..., 0]
        photo, frame = paste(face, rng, ("noise", "scene")[i % 2])
        rel = Path(image).with_suffix(".png")
        (photos_root / rel.parent).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).save(photos_root / rel)
        frames[rel.stem] = frame
    t_write = time.perf_counter() - t0
    photos = build_manifest("fer2013", photos_root, progress=False).select("publictest")
    stems = [Path(p).stem for p in photos.df["image"]]
    order = {s: k for k, s in enumerate(Path(p).stem for p in original.df["image"])}
    photos = photos.replace(photos.df.iloc[np.argsort([order[s] for s in stems], kind="stable")])
    assert [Path(p).stem for p in photos.df["image"]] == list(order), "photos and faces do not line up"
    assert list(photos.df["label"]) == list(original.df["label"])
    pasted = np.array([frames[s] for s in order])  # (n, 3): x0, y0, scale of each face in its photo
    photos.df["paste_x"], photos.df["paste_y"], photos.df["paste_scale"] = pasted.T  # carried along, unused
    photos_csv = photos.save(work / "photos")
    original_csv = original.save(work / "faces")

    # ---- face boxes (what `fer-explain landmarks --boxes` runs)
    t0 = time.perf_counter()
    boxed, summary = extract_landmarks(photos, upsample=args.upsample, boxes=True, progress=False)
    t_boxes = time.perf_counter() - t0
    boxed_csv = boxed.save(work / "photos_boxes")
    b = boxed.boxes()
    detected = np.isfinite(b).all(axis=1)
    k = int(detected.sum())

    # where the detected box lies in FER2013's 48 px frame
    rel_boxes = []
    for i in np.flatnonzero(detected):
        x0, y0, s = frames[Path(str(boxed.df["image"].iat[i])).stem]
        rel_boxes.append(((b[i, 0] - x0) / s, (b[i, 1] - y0) / s, b[i, 2] / s, b[i, 3] / s))
    rb = np.array(rel_boxes) if rel_boxes else np.zeros((0, 4))

    # ---- scores
    ckpt = shipped_checkpoint(args.checkpoint) if not Path(args.checkpoint).exists() else Path(args.checkpoint)
    t0 = time.perf_counter()
    kw: dict[str, Any] = {"split": "publictest", "cache_dir": False, "progress": False}
    ref = evaluate_checkpoint(ckpt, original_csv, **kw)
    before = evaluate_checkpoint(ckpt, photos_csv, **kw)
    after = evaluate_checkpoint(ckpt, boxed_csv, **kw)
    # the oracle: the true 48 px frame as the box, no margin (what resampling alone costs)
    oracle_df = photos.df.copy()
    oracle_df["box_x"], oracle_df["box_y"] = pasted[:, 0], pasted[:, 1]
    oracle_df["box_w"] = oracle_df["box_h"] = pasted[:, 2] * FACE
    model, meta = load_checkpoint(ckpt)
    inp = CheckpointInput.from_checkpoint({**meta, "path": str(ckpt)}, model)
    oracle = evaluate(model, inp.dataset(photos.replace(oracle_df), crop_margin=0.0, cache_dir=False),
                      label_space=meta.get("classes"), target_space=photos.label_space)
    t_eval = time.perf_counter() - t0
    labels = ref.labels
    assert np.array_equal(labels, before.labels) and np.array_equal(labels, after.labels)

    rows = [
        ("FER2013 PublicTest faces as shipped", "all", n, accuracy(ref.preds, labels)),
        ("FER2013 PublicTest faces as shipped", "detected", k, accuracy(ref.preds, labels, detected)),
        ("whole photos, no box", "all", n, accuracy(before.preds, labels)),
        ("whole photos, no box", "detected", k, accuracy(before.preds, labels, detected)),
        ("whole photos, cropped at the true frame", "detected", k, accuracy(oracle.preds, labels, detected)),
        ("whole photos, --boxes", "all (misses: whole photo)", n, accuracy(after.preds, labels)),
        ("whole photos, --boxes", "detected", k, accuracy(after.preds, labels, detected)),
    ]
    table = pd.DataFrame(rows, columns=["faces", "rows", "n", "accuracy"])

    # ---- crop margins on the detected faces
    det_manifest: Manifest = boxed.replace(boxed.df[detected])
    unshifted_df = det_manifest.df.copy()  # dlib's own box: face_box's shift undone
    unshifted_df["box_y"] = unshifted_df["box_y"] + FER2013_BOX_SHIFT * unshifted_df["box_h"]
    variants = [("face_box (stored)", float(v), det_manifest) for v in args.margins.split(",") if v.strip()]
    variants.append(("dlib's box (no shift)", FER2013_CROP_MARGIN, det_manifest.replace(unshifted_df)))
    sweep = []
    for box, m, man in variants:
        res = evaluate(model, inp.dataset(man, crop_margin=m, cache_dir=False),
                       label_space=meta.get("classes"), target_space=man.label_space)
        sweep.append({"box": box, "crop_margin": m, "n": len(res.labels), "accuracy": res.accuracy})

    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    where = work if args.keep else "a temporary folder (removed; --keep DIR keeps them)"
    print(f"checkpoint {args.checkpoint}; {n} PublicTest faces (seed {args.seed}); photos in {where}")
    print(f"timings (one thread): photos {t_write:.0f} s, boxes {t_boxes:.0f} s "
          f"({1000 * t_boxes / max(n, 1):.1f} ms/photo, upsample {args.upsample}), 4 evaluations {t_eval:.0f} s")
    print(f"detection: {k} of {n} photos ({k / max(n, 1):.1%}) have a face box")
    print(summary.to_string())
    if len(rb):
        print("stored face box in FER2013's 48 px frame (x, y, w, h): mean "
              f"{np.round(rb.mean(0), 1).tolist()}, median {np.round(np.median(rb, 0), 1).tolist()}; "
              f"per side, as a fraction of the box: left {np.mean(rb[:, 0] / rb[:, 2]):.3f}, "
              f"right {np.mean((FACE - rb[:, 0] - rb[:, 2]) / rb[:, 2]):.3f}, "
              f"top {np.mean(rb[:, 1] / rb[:, 3]):.3f}, bottom {np.mean((FACE - rb[:, 1] - rb[:, 3]) / rb[:, 3]):.3f}")
    print()
    print(table.to_string(index=False, formatters={"accuracy": "{:.4f}".format}))
    print()
    print(f"accuracy on the detected faces by box and crop_margin (FaceDataset's default is {FER2013_CROP_MARGIN}):")
    print(pd.DataFrame(sweep).to_string(index=False, formatters={"accuracy": "{:.4f}".format}))
    gap = rows[-1][3] - rows[1][3]
    print(f"\nwith boxes vs the same faces as shipped: {100 * gap:+.1f} points "
          f"({'within' if abs(gap) <= 0.05 else 'NOT within'} 5 points); total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
