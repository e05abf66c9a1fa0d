"""core.cards: shipped cards load, are cited by analyses, and their numbers are reproducible."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from core import cards
from core.cli import main
from core.detector import REGISTRY
from core.errors import BadInputError

SPEC = REGISTRY.spec("visual.metadata")
MEDIA_DEV = Path(
    os.environ.get("VERITY_MEDIA_DEV", Path(__file__).resolve().parents[2] / "shared" / "media-dev")
)


def test_shipped_card_describes_this_version() -> None:
    loaded = cards.load_card(SPEC)
    assert loaded is not None
    card, digest = loaded
    assert card["detector"] == "visual.metadata" and card["version"] == SPEC.version
    assert len(digest) == 64
    for key in ("detects", "cannot_detect", "training_data", "calibration_data", "limitations"):
        assert card[key]
    assert card["evaluation"]["manifest_sha256"] and card["metrics"]


def test_analyses_cite_the_card(home: Path, capsys, photo: Path) -> None:
    assert main(["analyze", str(photo), "--json"]) == 0
    detectors = json.loads(capsys.readouterr().out)["detectors"]
    assert detectors and all(d["card_sha256"] for d in detectors)
    assert all(d["options"] == {} for d in detectors)  # built with their defaults: none recorded
    for det in detectors:
        assert det["card_sha256"] == cards.load_card(REGISTRY.spec(det["name"]))[1]


def test_update_card_from_an_eval_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "card.json"
    shutil.copy(cards.card_path(SPEC), card)
    monkeypatch.setattr(cards, "card_path", lambda spec: card)
    run = tmp_path / "eval"
    run.mkdir()
    with pytest.raises(BadInputError, match=r"metrics\.json"):
        cards.update_card_metrics(SPEC, run)
    overall = {
        "n_real": 3,
        "n_fake": 2,
        "auc": 0.75,
        "auc_ci": [0.2, 0.98],
        "eer": 0.25,
        "cllr": 0.9,
        "ece": 0.1,
        "fpr": 0.0,
        "fpr_ci": [0, 0.7],
        "fnr": 0.5,
        "fnr_ci": [0.01, 0.99],
    }
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "threshold_p_fake": 0.9,
                "info": {"manifest": "x/m.csv", "manifest_sha256": "ab" * 32, "signature": "s"},
                "groups": {
                    "image": {
                        "systems": {
                            "visual.metadata": {"overall": overall, "by_category": {"c": overall}}
                        }
                    }
                },
            }
        )
    )
    cards.update_card_metrics(SPEC, run)
    written = json.loads(card.read_text())
    assert written["metrics"]["image"]["auc"] == 0.75
    assert written["metrics"]["image"]["auc_ci"] == [0.2, 0.98]
    assert written["evaluation"]["manifest_sha256"] == "ab" * 32


def _flat(tree: object, prefix: str = "") -> dict[str, object]:
    """Nested metrics as one flat mapping, so each number can be compared with a tolerance."""
    if isinstance(tree, dict):
        flat: dict[str, object] = {}
        for key, value in tree.items():
            flat.update(_flat(value, f"{prefix}{key}/"))
        return flat
    if isinstance(tree, list | tuple):
        return {f"{prefix}{i}": v for i, v in enumerate(tree)} if tree else {prefix: "[]"}
    return {prefix: tree}


@pytest.mark.slow
@pytest.mark.skipif(not (MEDIA_DEV / "manifest.csv").is_file(), reason="media-dev not present")
def test_card_numbers_are_what_verity_eval_reproduces(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert (
        main(
            [
                "eval",
                "--manifest",
                str(MEDIA_DEV / "manifest.csv"),
                "--root",
                str(MEDIA_DEV),
                "--out",
                str(out),
                "-j",
                "2",
            ]
        )
        == 0
    )
    checked = 0
    for spec in REGISTRY.specs():
        loaded = cards.load_card(spec)
        if loaded is None:
            continue
        card, _ = loaded
        fresh = cards.metrics_from_eval(out, spec)
        assert fresh["evaluation"]["manifest_sha256"] == card["evaluation"]["manifest_sha256"]
        # same numbers up to float rounding (BLAS threading may move the 8th digit)
        fresh_flat, card_flat = _flat(fresh["metrics"]), _flat(card["metrics"])
        assert fresh_flat.keys() == card_flat.keys(), spec.name
        for key, expected in card_flat.items():
            got = fresh_flat[key]
            if isinstance(expected, float) and isinstance(got, float):
                assert got == pytest.approx(expected, rel=1e-6, abs=1e-9), (spec.name, key)
            else:
                assert got == expected, (spec.name, key)
        checked += 1
    # every detector that ships with Verity has a card; a user's local checkpoint brings its own
    assert checked == len([s for s in REGISTRY.specs() if s.requires is None])


def _eval_run(tmp_path: Path, signature: str, overall: dict[str, object]) -> Path:
    run = tmp_path / "eval"
    run.mkdir(exist_ok=True)
    systems = {SPEC.name: {"overall": overall, "by_category": {}}}
    metrics = {
        "threshold_p_fake": 0.9,
        "info": {"manifest": "m.csv", "manifest_sha256": "ab" * 32, "signature": signature},
        "groups": {"image": {"systems": systems}},
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.mark.parametrize(
    ("signature", "overall", "words"),
    [
        (
            f"{SPEC.name}=0.0.9/none;normalize=True;{{}}",
            "full",
            "scored visual.metadata 0.0.9, not",
        ),
        (
            f"{SPEC.name}={SPEC.version}/none;normalize=True;{{}}",
            {"n_real": 3},
            "lacks n_fake, auc",
        ),
        (f"{SPEC.name}={SPEC.version}/none;normalize=True;{{}}", {}, "'overall' lacks n_real"),
    ],
)
def test_an_eval_of_another_version_or_without_metrics_leaves_the_card_alone(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    signature: str,
    overall: object,
    words: str,
) -> None:
    card = tmp_path / "card.json"
    shutil.copy(cards.card_path(SPEC), card)
    before = card.read_bytes()
    monkeypatch.setattr(cards, "card_path", lambda spec: card)
    full = {k: 0.5 for k in cards.METRIC_KEYS}
    run = _eval_run(tmp_path, signature, full if overall == "full" else overall)
    assert main(["detectors", "card", SPEC.name, "--from-eval", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err and words in err, err
    assert card.read_bytes() == before
    # the same run of this version, with every metric, updates the card
    _eval_run(tmp_path, f"{SPEC.name}={SPEC.version}/none;normalize=True;{{}}", full)
    assert main(["detectors", "card", SPEC.name, "--from-eval", str(run)]) == 0
    assert json.loads(card.read_text())["metrics"]["image"]["auc"] == 0.5
