"""Local Hugging Face checkpoints as detectors: loaded from a folder the user gives, never a hub.

``audio.hf`` and ``visual.hf`` wrap any audio- or image-classification checkpoint saved with
``save_pretrained``. Three things make such a model usable as evidence:

* **identity**: the checkpoint is hashed file by file into one SHA-256 (the "weights" every score
  cites), and its model card (``README.md``) is hashed and quoted, so a report names exactly
  which model spoke;
* **no network**: only an existing folder is accepted (a hub id is refused with a clear error),
  loading uses ``local_files_only`` and never runs code shipped with the checkpoint;
* **meaning of the output**: the labels that mean "fake" are found in ``id2label`` (spoof,
  fake, synthetic…) or named by the user; a checkpoint whose labels say nothing is refused
  rather than guessed.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.detector import DetectorSpec, Evidence, Finding, SeriesPoint, WeightsRef
from core.errors import DetectorError

FAKE_WORDS = ("fake", "spoof", "synthetic", "deepfake", "generated", "artificial", "manipulated")
MAX_CHECKPOINT_FILES = 200


def checkpoint_digest(model_dir: Path) -> str:
    """One SHA-256 over every file of the checkpoint: sorted relative names and their hashes."""
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and ".cache" not in p.parts)
    if len(files) > MAX_CHECKPOINT_FILES:
        raise DetectorError(f"{model_dir} holds {len(files)} files; is it a checkpoint folder?")
    outer = hashlib.sha256()
    for path in files:
        if path.is_symlink() and not path.resolve().is_relative_to(model_dir.resolve()):
            raise DetectorError(f"{path} links outside the checkpoint folder")
        inner = hashlib.sha256()
        with path.open("rb") as reader:
            while block := reader.read(1 << 20):
                inner.update(block)
        outer.update(f"{path.relative_to(model_dir).as_posix()}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    model: Any
    processor: Any
    labels: dict[int, str]
    fake_indices: tuple[int, ...]
    sha256: str
    card_sha256: str | None
    card_excerpt: str
    model_type: str

    def weights_ref(self, model_dir: Path) -> WeightsRef:
        return WeightsRef(
            path=str(model_dir), sha256=self.sha256, source="local Hugging Face checkpoint"
        )

    def p_fake(self, logits: np.ndarray) -> np.ndarray:
        """Probability mass on the fake labels, per row of logits."""
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return np.asarray(probs[:, list(self.fake_indices)].sum(axis=1))

    def findings(self) -> list[Finding]:
        out = [
            Finding(code="model_type", value=self.model_type, message="architecture"),
            Finding(
                code="fake_labels",
                value=", ".join(self.labels[i] for i in self.fake_indices),
                message="labels read as fake among " + ", ".join(self.labels.values()),
            ),
        ]
        if self.card_sha256:
            out.append(
                Finding(
                    code="model_card_sha256",
                    value=self.card_sha256,
                    message=f"model card: {self.card_excerpt}",
                )
            )
        else:
            out.append(
                Finding(code="model_card", value=None, message="the checkpoint has no README.md")
            )
        return out


def _fake_indices(labels: dict[int, str], fake_label: str | None) -> tuple[int, ...]:
    if fake_label is not None:
        chosen = tuple(i for i, name in labels.items() if name.lower() == fake_label.lower())
        if not chosen:
            raise DetectorError(f"label {fake_label!r} is not one of {sorted(labels.values())}")
        return chosen
    chosen = tuple(
        i for i, name in labels.items() if any(word in name.lower() for word in FAKE_WORDS)
    )
    if not chosen or len(chosen) == len(labels):
        raise DetectorError(
            f"cannot tell which of the labels {sorted(labels.values())} means fake; "
            "name it with fake_label"
        )
    return chosen


def load_checkpoint(
    model_dir: Path | str | None, *, task: str, name: str, fake_label: str | None = None
) -> Checkpoint:
    """Load an ``audio`` or ``image`` classification checkpoint from a local folder."""
    if model_dir is None:
        raise DetectorError(
            f"{name} needs a local checkpoint folder: --model-dir {name}=DIR or "
            f"VERITY_MODELS__{'AUDIO' if task == 'audio' else 'VISUAL'}_HF_DIR (Verity never "
            "downloads models)"
        )
    folder = Path(model_dir).expanduser()
    if not folder.is_dir():
        raise DetectorError(
            f"{name}: {model_dir} is not a folder; hub ids are not fetched (no network), "
            "download the checkpoint yourself and give its folder"
        )
    if not (folder / "config.json").is_file():
        raise DetectorError(f"{name}: {folder} has no config.json; not a saved checkpoint")
    sha = checkpoint_digest(folder)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        if task == "audio":
            model = transformers.AutoModelForAudioClassification.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False
            )
            processor = transformers.AutoFeatureExtractor.from_pretrained(  # type: ignore[no-untyped-call]
                folder, local_files_only=True, trust_remote_code=False
            )
        else:
            model = transformers.AutoModelForImageClassification.from_pretrained(
                folder, local_files_only=True, trust_remote_code=False
            )
            processor = transformers.AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
                folder, local_files_only=True, trust_remote_code=False, use_fast=False
            )
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DetectorError(f"{name}: cannot load the checkpoint in {folder}: {first}") from None
    model.eval()  # inference runs under torch.inference_mode; global grad mode is left alone
    labels = {int(i): str(v) for i, v in model.config.id2label.items()}
    card = folder / "README.md"
    card_sha = hashlib.sha256(card.read_bytes()).hexdigest() if card.is_file() else None
    excerpt = ""
    if card_sha:
        lines = [ln.strip() for ln in card.read_text("utf-8", "replace").splitlines()]
        excerpt = " ".join(ln for ln in lines if ln and not ln.startswith("---"))[:300]
    return Checkpoint(
        model=model,
        processor=processor,
        labels=labels,
        fake_indices=_fake_indices(labels, fake_label),
        sha256=sha,
        card_sha256=card_sha,
        card_excerpt=excerpt,
        model_type=str(model.config.model_type),
    )


def instance_spec(spec: DetectorSpec, checkpoint: Checkpoint, model_dir: Path) -> DetectorSpec:
    """The registered spec with this checkpoint's identity as its weights."""
    return spec.model_copy(update={"weights": checkpoint.weights_ref(model_dir)})


def logit(p: float, eps: float = 1e-6) -> float:
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


def top_k_mean(values: np.ndarray, share: float = 0.25) -> float:
    """Mean of the highest quarter: one strongly manipulated stretch is not averaged away."""
    k = max(1, math.ceil(len(values) * share))
    return float(np.sort(values)[-k:].mean())


def load_for(
    spec: DetectorSpec, model_dir: Path | str | None, *, task: str, fake_label: str | None
) -> tuple[Checkpoint, DetectorSpec]:
    """The checkpoint in ``model_dir`` and ``spec`` with its identity as the weights: what
    ``audio.hf`` and ``visual.hf`` load when built."""
    checkpoint = load_checkpoint(model_dir, task=task, name=spec.name, fake_label=fake_label)
    assert model_dir is not None  # load_checkpoint refuses None
    return checkpoint, instance_spec(spec, checkpoint, Path(model_dir))


def scores(checkpoint: Checkpoint, logits: np.ndarray) -> np.ndarray:
    """Per window or frame: the logit of the checkpoint's probability of "fake"."""
    return np.array([logit(float(v)) for v in checkpoint.p_fake(logits)])


def checkpoint_evidence(
    spec: DetectorSpec,
    checkpoint: Checkpoint,
    values: np.ndarray,
    series: tuple[SeriesPoint, ...],
    *,
    unit: str,
    counted: str,
) -> Evidence:
    """Uncalibrated evidence (LLR 0 until the user calibrates this checkpoint): the mean logit of
    the most suspicious quarter of the ``unit``s, the checkpoint's findings, the series."""
    raw = top_k_mean(values)
    return Evidence.from_llr(
        spec,
        raw_score=raw,
        llr=0.0,
        findings=tuple(checkpoint.findings()),
        series=series,
        summary=f"{checkpoint.model_type} checkpoint: top-quarter {unit} logit {raw:+.2f} "
        f"over {counted}",
    )
