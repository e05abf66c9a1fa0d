"""``verity eval --attack``: attacked copies are scored, per-attack AUCs and drops are written,
the run resumes, PGD reaches only detectors with a network, and a bad spec is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.detector import REGISTRY, Evidence, MediaInput
from tests.test_detector import make_spec
from tests.test_evaluation import Brightness
from tests.test_evaluation import image_set as image_set  # the fixture, reused

GRADED = make_spec("visual.graded")


class Graded:
    """Mean brightness through a differentiable 'network', with an ``adversary`` slot."""

    spec = GRADED

    def __init__(self) -> None:
        self.adversary = None

    def analyze(self, media: MediaInput) -> Evidence:
        import torch

        pixels = next(iter(media.frames(max_frames=1))).rgb.astype(np.float32)[None]
        if self.adversary is not None:
            pixels = self.adversary(
                lambda x: x.mean(dim=(1, 2, 3)) / 255.0, pixels, scale=255.0, low=0.0, high=255.0
            )
        raw = float(torch.tensor(pixels).mean() / 255.0)
        return Evidence.from_llr(GRADED, raw_score=raw, llr=0.0)


@pytest.fixture
def test_detectors(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_evaluation import BRIGHT

    factories = dict(REGISTRY._factories)
    factories[BRIGHT.name] = (BRIGHT, Brightness)
    factories[GRADED.name] = (GRADED, Graded)
    monkeypatch.setattr(REGISTRY, "_factories", factories)


def _args(manifest: Path, root: Path, out: Path, attack: str) -> list[str]:
    return [
        "eval", "--manifest", str(manifest), "--root", str(root), "--out", str(out),
        "--detectors", "visual.brightness,visual.graded", "-j", "1", "--attack", attack,
    ]  # fmt: skip


def test_attacked_copies_are_scored_and_measured(
    home: Path,
    capsys,
    tmp_path: Path,
    image_set,
    test_detectors,
) -> None:
    manifest, root = image_set
    out = tmp_path / "eval"
    spec = "noise:0.3,resize:0.5,mp3:kbps=32,pgd:eps=0.25:steps=5"
    assert main(_args(manifest, root, out, spec)) == 0
    records = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(records) == 24 * 5
    noisy = [r for r in records if r.get("attack") == "noise:sigma=0.3"]
    assert all(r["status"] == "ok" for r in noisy)
    assert all(r["attacked_sha256"] != r["sha256"] for r in noisy)  # the bytes really changed
    assert all((out / r["attacked_file"]).is_file() for r in noisy)
    assert all(r["status"] == "n/a" for r in records if r.get("attack") == "mp3:kbps=32")

    robust = json.loads((out / "metrics.json").read_text())["robustness"]
    table = robust["groups"]["image"]
    clean = table["visual.brightness"]["clean"]["auc"]
    assert clean > 0.8
    noise = table["visual.brightness"]["noise:sigma=0.3"]
    assert noise["n_real"] == noise["n_fake"] == 12
    assert noise["drop"] == pytest.approx(noise["auc"] - clean)
    # down-scaling by area averaging keeps the mean brightness: AUC within a hair of clean
    assert abs(table["visual.brightness"]["resize:factor=0.5"]["drop"]) < 0.05
    assert table["visual.brightness"]["mp3:kbps=32"] == {"na": "mp3 does not apply to image"}
    # PGD: only the detector with a network is attacked, and it is beaten
    pgd = "pgd:eps=0.25:steps=5"
    assert table["visual.brightness"][pgd] == {"na": "not differentiable"}
    assert table["visual.graded"][pgd]["auc"] < 0.5 < table["visual.graded"]["clean"]["auc"]
    assert table["visual.graded"][pgd]["drop"] < -0.4
    summary = (out / "summary.md").read_text()
    assert "## Robustness" in summary and "not differentiable" in summary
    assert (out / "plots" / "robustness.png").stat().st_size > 10_000
    # resumable: nothing is scored again, and one more attack adds only its own rows
    assert main(_args(manifest, root, out, spec)) == 0
    assert len((out / "scores.jsonl").read_text().splitlines()) == 24 * 5
    assert main(_args(manifest, root, out, spec + ",blur:2")) == 0
    assert len((out / "scores.jsonl").read_text().splitlines()) == 24 * 6


def test_bad_attack_spec_is_one_line_exit_2(
    home: Path,
    capsys,
    tmp_path: Path,
    image_set,
) -> None:
    manifest, root = image_set
    out = tmp_path / "eval"
    code = main(_args(manifest, root, out, "jpeg:q=500"))
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "q must lie in [1, 100]" in err
    assert not out.exists()  # nothing written
