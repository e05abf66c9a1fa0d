"""Recipe for ``visual.blend``: real faces against self-blended pseudo-fakes of themselves.

1. Faces: every real image (and sampled frames of every real video) in the data folders is run
   through the face pipeline; the largest reliable face becomes an aligned 144-px crop with its
   landmarks in crop pixels.
2. Sources named in ``HOLD_OUT`` (whole photo collections / video sets) are set aside. The network
   trains on the rest: each step sees faces both as they are and self-blended (synthesis/
   self_blend.py), with the same random degradation on both.
3. Validation: every held-out face once real and once self-blended (fixed seeds); AUC and EER
   overall and per held-out source go into the card. The shipped network is the one validated:
   it never saw the held-out sources.

Extra fakes (``--extra-fakes DIR``, a folder whose manifest.csv lists fakes, e.g. what ``verity lab
make-fakes --methods faceswap`` wrote): their faces take the fake side of a share (``extra_share``)
of each batch, so the network also learns what a real generator leaves. Used with ``--init`` (start
from trained weights) and ``--steps`` to fine-tune; the same call without ``--extra-fakes`` is the
control arm of that measurement (same steps, seeds and real faces).

Ships uncalibrated: a calibration fitted on pseudo-fakes says nothing about real face swaps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from core import metrics
from core.errors import BadInputError
from core.pools import spawn_pool
from core.training import (
    data_file,
    read_folder,
    read_picture,
    staged_output,
    write_card,
    write_descriptor,
)
from modalities.visual import blend_net, faces
from modalities.visual.synthesis import self_blend

HOLD_OUT = ("faces94", "deepface", "att", "visualvoice")
VIDEO_FPS = 4.0
VIDEO_FRAMES = 24
PER_SOURCE = 1200  # images per photo source at most: LFW and AAF would otherwise dominate
DEFAULTS: dict[str, Any] = {
    "steps": 1600,
    "batch_faces": 24,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "width": 16,
    "mask_weight": 1.0,
    "extra_share": 0.5,
}
FINE_TUNE_LR = 5e-4  # when starting from trained weights: a gentler peak than from scratch
EXTRA_VIDEO_FPS = 25.0  # generator fakes are scarce: every frame of their videos is used
EXTRA_VIDEO_FRAMES = 150
CARD_TEXT = {
    "detects": "Faces pasted into a picture or a video frame (face swaps such as Deepfakes, "
    "FaceSwap, DFDC-style; reenactment that re-renders the inner face and blends it back): "
    "the seam where the pasted face meets the original one, seen as a blending boundary and a "
    "local mismatch of colour, sharpness or noise.",
    "cannot_detect": "Fully synthetic pictures without a seam (GAN and diffusion faces: see "
    "visual.spectrum), lip-sync that only re-renders the mouth in a way that leaves no boundary, "
    "faces the face pipeline does not find (strong profile, heavy occlusion) and faces smaller "
    "than 64 px (reported out of domain).",
    "limitations": "Trained only on self-blended pseudo-fakes made from real photos and talking-"
    "head video frames, never on a real generator's output: its numbers on real face swaps are "
    "those of the media-dev evaluation below, not of the validation. Heavy compression or "
    "down-scaling blurs seams. Photo sources are few and one colour source (All-Age-Faces) is "
    "mostly East Asian; half the photos are grayscale.",
    "licence": {
        "code": "Apache-2.0",
        "data": "LFW, All-Age-Faces, Faces94, AT&T, deepface photos and GRID / VisualVoice video "
        "from train-corpus: research and internal use",
        "weights": "research use (derived from research data, see training_data)",
        "face_landmarks": faces.LANDMARK_LICENCE,
    },
}
CALIBRATION_NOTE = (
    "Images: calibration.json (Platt, shrunk by family and source hold-out; `verity calibrate "
    "visual.blend --hold-out-by category`), fitted apart from training on a lab set "
    "(bench/visual_calibration_set.py, every picture re-encoded once as JPEG q90): 441 "
    "in-domain fakes of 4 lab families (face swap, GAN at 256 px, self-blend, up-sampling) made "
    "from photo sources blend never trained on, and 617 reals of 5 sources (Faces94, AT&T, "
    "deepface, GRID and VisualVoice frames; GRID frames are training reals). A fit without each "
    "(family, source) pair scored that pair at Cllr 0.946; shrunk by s = 0.557 it is 0.910, so "
    "its LLRs stay within about ±2 for ordinary scores. On media-dev's 4 face images it is "
    "neutral (Cllr 1.002). Videos (a top-k mean over frames, another scale): "
    "calibration-video.json, the same method on a lab video set (bench/video_calibration_set.py): "
    "the 12 real talking-head clips of train-corpus (GRID clips are training reals) and 132 fakes "
    "of 6 lab families made from them (two face-swap models, plain and converter-sharpened; "
    "re-mouthed; mouth-warped), every clip through one H.264 encoder. AUC per family 1.000 on "
    "three swap families, 0.537 on the better model's sharpened swaps, 0.55-0.56 on re-made "
    "mouths; held out by family Cllr 0.954, shrunk by s = 0.746 to 0.950: LLR about +0.85 at "
    "raw 3 and +2.6 at raw 10, with wide intervals. Real face-swap outputs of many generators "
    "would calibrate it better."
)


def _source(file: str) -> str:
    parts = Path(file).parts
    return parts[1] if len(parts) > 2 else parts[0]


def collect(folders: list[Path]) -> tuple[list[tuple[str, str, str]], list[dict[str, str]]]:
    """(path, kind, source) of every real image or video, and the folders' provenance."""
    items, provenance = [], []
    for folder in folders:
        rows, origin = read_folder(folder)
        provenance.append(origin)
        for row in rows:
            kind = row.get("kind")
            if kind not in ("image", "video") or (row.get("label") or "real") != "real":
                continue
            items.append((str(data_file(folder, row["file"])), kind, _source(row["file"])))
    if not items:
        raise BadInputError("no real images or videos found in the given folders")
    return items, provenance


def collect_fakes(folders: list[Path]) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    """(path, kind) of every fake image or video listed in the folders' manifests."""
    items, provenance = [], []
    for folder in folders:
        rows, origin = read_folder(folder)
        provenance.append(origin)
        items += [
            (str(data_file(folder, row["file"])), str(row.get("kind")))
            for row in rows
            if (row.get("label") or "").strip().lower() == "fake"
            and row.get("kind") in ("image", "video")
        ]
    if not items:
        raise BadInputError("--extra-fakes: no fake images or videos in the given folders")
    return items, provenance


def extra_fake_crops(folders: list[Path]) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Aligned crops of every face in the extra fakes (every frame of their videos)."""
    items, provenance = collect_fakes(folders)
    crops = [
        crop
        for path, kind in items
        for crop, _ in face_crops((path, kind), fps=EXTRA_VIDEO_FPS, max_frames=EXTRA_VIDEO_FRAMES)
    ]
    if not crops:
        raise BadInputError("--extra-fakes: the face pipeline found no face in the fakes")
    return np.stack(crops), provenance


def extra_fake(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A generator fake through the same flip, degradation and window as the pseudo-fakes."""
    if rng.random() < 0.5:
        crop = np.ascontiguousarray(crop[:, ::-1])
    fake = self_blend.degrade(crop, rng)
    span = crop.shape[0] - blend_net.INPUT_SIZE
    ox, oy = rng.integers(0, span + 1, size=2)
    return fake[oy : oy + blend_net.INPUT_SIZE, ox : ox + blend_net.INPUT_SIZE]


def face_crops(
    job: tuple[str, str], fps: float = VIDEO_FPS, max_frames: int = VIDEO_FRAMES
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Aligned crops and crop-space landmarks of the reliable faces in one file."""
    from core import media

    path, kind = job
    if kind == "image":
        frames = [read_picture(Path(path))]
        upsample = 1 if max(frames[0].shape[:2]) < 250 else 0
    else:
        frames = [
            f.rgb
            for f in media.iter_frames(Path(path), fps=fps, max_frames=max_frames, max_side=960)
        ]
        upsample = 0
    out = []
    for rgb in frames:
        found = [f for f in faces.detect_faces(rgb, upsample=upsample) if not f.tiny]
        for face in found[: 1 if kind == "image" else 2]:
            matrix = faces.crop_transform(face, blend_net.CROP_SIZE, blend_net.CROP_ZOOM)
            crop = cv2.warpAffine(
                faces.as_rgb(rgb),
                matrix,
                (blend_net.CROP_SIZE, blend_net.CROP_SIZE),
                flags=cv2.INTER_AREA,
                borderMode=cv2.BORDER_REFLECT,
            )
            out.append((crop, faces.transform_points(face.landmarks, matrix)))
    return out


def prepare(
    folders: list[Path], seed: int, jobs: int, report: Callable[[str, int, int], None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, str]], dict[str, int]]:
    items, provenance = collect(folders)
    rng = np.random.default_rng(seed)
    by_source: dict[str, list[tuple[str, str]]] = {}
    for path, kind, source in items:
        by_source.setdefault(source, []).append((path, kind))
    chosen: list[tuple[tuple[str, str], str]] = []
    for source, files in sorted(by_source.items()):
        pick = sorted(rng.permutation(len(files))[:PER_SOURCE])
        chosen += [(files[i], source) for i in pick]
    crops, marks, sources = [], [], []
    with ExitStack() as stack:
        jobs_in = [job for job, _ in chosen]
        if jobs > 1:
            pool = stack.enter_context(spawn_pool(jobs))
            results: Iterator[list[tuple[np.ndarray, np.ndarray]]] = pool.map(
                face_crops, jobs_in, chunksize=8
            )
        else:
            results = map(face_crops, jobs_in)
        for i, found in enumerate(results):
            report("faces", i + 1, len(chosen))
            for crop, lm in found:
                crops.append(crop)
                marks.append(lm)
                sources.append(chosen[i][1])
    if not crops:
        raise BadInputError("the face pipeline found no usable face in the given folders")
    counts = {str(s): sources.count(s) for s in sorted(set(sources))}
    return np.stack(crops), np.stack(marks), np.array(sources), provenance, counts


def make_pair(
    crop: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, *, train: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(real 128-px crop, self-blended fake crop, fake's 16×16 boundary map) from one face."""
    size = crop.shape[0]
    if train and rng.random() < 0.5:
        crop = np.ascontiguousarray(crop[:, ::-1])
        landmarks = landmarks.copy()
        landmarks[:, 0] = size - 1 - landmarks[:, 0]
    fake, boundary = self_blend.self_blend(crop, landmarks, rng)
    real = self_blend.degrade(crop, rng)
    fake = self_blend.degrade(fake, rng)
    span = size - blend_net.INPUT_SIZE
    ox, oy = rng.integers(0, span + 1, size=2) if train else (span // 2, span // 2)
    window = (slice(oy, oy + blend_net.INPUT_SIZE), slice(ox, ox + blend_net.INPUT_SIZE))
    real, fake, boundary = real[window], fake[window], boundary[window]
    if train and rng.random() < 0.1:  # grayscale is a property of the picture, not of the class
        real = np.repeat(cv2.cvtColor(real, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
        fake = np.repeat(cv2.cvtColor(fake, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    small = cv2.resize(boundary, (16, 16), interpolation=cv2.INTER_AREA)
    return real, fake, np.clip(small, 0, 1)


class PairSet(torch.utils.data.Dataset[tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """Item i: a real/fake pair from face ``i % n``, its randomness fixed by (seed, i)."""

    def __init__(self, crops: np.ndarray, marks: np.ndarray, seed: int, length: int) -> None:
        self.crops, self.marks, self.seed, self.length = crops, marks, seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, i])
        j = int(rng.integers(len(self.crops)))
        return make_pair(self.crops[j], self.marks[j], rng)


def validate(
    model: blend_net.BlendNet, crops: np.ndarray, marks: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of every face once real and once self-blended (fixed seeds)."""
    reals, fakes = [], []
    for i in range(len(crops)):
        real, fake, _ = make_pair(
            crops[i], marks[i], np.random.default_rng([seed, 7, i]), train=False
        )
        reals.append(real)
        fakes.append(fake)
    model.eval()
    scores, _ = blend_net.predict(model, np.stack(reals + fakes))
    return scores, np.r_[np.zeros(len(reals)), np.ones(len(fakes))].astype(int)


def fit(
    crops: np.ndarray,
    marks: np.ndarray,
    *,
    seed: int,
    config: dict[str, Any],
    report: Callable[[str, int, int], None],
    extra: np.ndarray | None = None,
    init: Path | None = None,
) -> blend_net.BlendNet:
    torch.manual_seed(seed)
    model = blend_net.BlendNet(width=int(config["width"]))
    if init is not None:
        model.load_state_dict(blend_net.load(init).state_dict())
    steps, per_batch = int(config["steps"]), int(config["batch_faces"])
    data = PairSet(crops, marks, seed, steps * per_batch)
    loader = torch.utils.data.DataLoader(
        data, batch_size=per_batch, shuffle=False, num_workers=int(config.get("workers", 1))
    )
    opt = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"]
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config["lr"], total_steps=steps, pct_start=0.1
    )
    bce = nn.BCEWithLogitsLoss()
    pixel_bce = nn.BCEWithLogitsLoss(reduction="none")
    model.train()
    for step, (real, fake, boundary) in enumerate(loader):
        weight = torch.ones(2 * len(real))
        if extra is not None:  # the first fakes of the batch come from the real generator
            rng = np.random.default_rng([seed, 99, step])
            k = round(len(fake) * float(config["extra_share"]))
            picks = rng.integers(len(extra), size=k)
            fake = fake.clone()
            fake[:k] = torch.from_numpy(np.stack([extra_fake(extra[j], rng) for j in picks]))
            weight[len(real) : len(real) + k] = 0.0  # no boundary map known for them
        x = blend_net.to_tensor(torch.cat([real, fake]).numpy())
        y = torch.cat([torch.zeros(len(real)), torch.ones(len(fake))])
        target = torch.cat([torch.zeros_like(boundary), boundary]).float()[:, None]
        logit, mask = model(x)
        per_face = pixel_bce(mask, target).mean(dim=(1, 2, 3))
        mask_loss = (per_face * weight).sum() / weight.sum()
        loss = bce(logit, y) + config["mask_weight"] * mask_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        report(f"training (loss {loss.item():.3f})", step + 1, steps)
    return model.eval()


def train(
    folders: list[Path],
    out: Path,
    *,
    seed: int = 0,
    jobs: int = 2,
    progress: Callable[[str, int, int], None] | None = None,
    config: dict[str, Any] | None = None,
    hold_out: tuple[str, ...] = HOLD_OUT,
    extra_fakes: list[Path] | None = None,
    init: Path | None = None,
) -> dict[str, Any]:
    """Train, validate on held-out sources, write weights, descriptor and card into ``out``.

    ``extra_fakes``: folders of generator fakes mixed into the fake side of each batch;
    ``init``: a weights folder (or ``blend.npz``) to fine-tune from."""
    from modalities.visual import blend

    report = progress or (lambda step, done, total: None)
    init_file = None
    if init is not None:
        init_file = init / "blend.npz" if init.is_dir() else init
        if not init_file.is_file():
            raise BadInputError(f"--init {init}: no blend.npz there")
    cfg = {**DEFAULTS, **({"lr": FINE_TUNE_LR} if init_file else {}), **(config or {})}
    torch.set_num_threads(int(cfg.get("threads", 1)))
    started = time.monotonic()
    extra, extra_provenance = extra_fake_crops(extra_fakes) if extra_fakes else (None, [])
    crops, marks, sources, provenance, counts = prepare(folders, seed, jobs, report)
    held = np.isin(sources, hold_out)
    if held.all() or not held.any():
        raise BadInputError(
            f"need faces both inside and outside the held-out sources {list(hold_out)}; "
            f"found {counts}"
        )
    model = fit(
        crops[~held], marks[~held], seed=seed, config=cfg, report=report, extra=extra,
        init=init_file,
    )  # fmt: skip
    scores, labels = validate(model, crops[held], marks[held], seed)
    held_sources = np.r_[sources[held], sources[held]]
    by_source = {
        str(s): {
            "n_faces": int((sources[held] == s).sum()),
            "auc": metrics.auc(scores[m], labels[m]),
        }
        for s in sorted(set(sources[held]))
        for m in [held_sources == s]
    }
    with staged_output(out, blend.NAME) as folder:
        weights = folder / "blend.npz"
        blend_net.save(model, weights)
        recipe = {
            "seed": seed,
            **{k: v for k, v in cfg.items() if k not in ("threads", "workers")},
            "per_source": PER_SOURCE,
            "hold_out": list(hold_out),
            "crop": {
                "size": blend_net.CROP_SIZE,
                "zoom": blend_net.CROP_ZOOM,
                "input": blend_net.INPUT_SIZE,
            },
            "video": {"fps": VIDEO_FPS, "max_frames": VIDEO_FRAMES},
            "synthesis": "modalities/visual/synthesis/self_blend.py (SBI + Face X-ray boundary)",
        }
        if extra is not None:
            recipe["extra_fakes"] = {"faces": len(extra), "trained_on": extra_provenance}
        if init_file is not None:
            from core.store import sha256_file

            recipe["init_sha256"] = sha256_file(init_file)
        descriptor = write_descriptor(
            folder,
            detector=blend.NAME,
            version=blend.VERSION,
            weights=weights,
            recipe=recipe,
            provenance=provenance,
        )
        validation = {
            "method": "held-out sources (never seen in training): each face once real, once "
            "self-blended, same degradations",
            "faces_per_source": counts,
            "n_real": int((labels == 0).sum()),
            "n_fake": int((labels == 1).sum()),
            "auc": metrics.auc(scores, labels),
            "eer": metrics.eer(scores, labels)[0],
            "by_held_out_source": by_source,
            "train_wall_s": round(time.monotonic() - started, 1),
        }
        write_card(
            folder,
            descriptor,
            f"real faces only (images at most {PER_SOURCE} per source, video frames at "
            f"{VIDEO_FPS} fps); "
            "pseudo-fakes made by modalities/visual/synthesis/self_blend.py; "
            f"sources {sorted(map(str, set(sources[~held])))} trained, "
            f"{sorted(map(str, set(sources[held])))} held out",
            calibration_data=CALIBRATION_NOTE,
            validation=validation,
            **CARD_TEXT,
        )
        for written in (weights, folder / "weights.json", folder / "card.json"):
            written.chmod(0o644)
        return validation
