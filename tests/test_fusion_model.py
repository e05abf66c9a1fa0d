"""core.fusion_model: learned per-modality weights, missing modalities, stale calibrations."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import FusionSettings
from core.detector import Evidence
from core.errors import BadInputError
from core.fusion import fuse
from core.fusion_model import fit_fusion
from tests.test_detector import make_spec

DATA = {"manifest": "m.csv", "manifest_sha256": "0" * 64, "root": "r"}


def record(label: int, dets: dict[str, tuple[str, float]]) -> dict:
    return {
        "label": label,
        "status": "ok",
        "detectors": {
            name: {
                "modality": name.split(".")[0],
                "status": "ok",
                "llr": llr,
                "raw": llr,
                "calibrated": True,
                "calibration_version": version,
            }
            for name, (version, llr) in dets.items()
        },
    }


def correlated_records(n: int = 400, seed: int = 0) -> list[dict]:
    """visual.a and visual.b see the same cue (b is a noisy copy); audio.c is independent.

    Each is a well-calibrated LLR on its own: N(±m, 2m) is the distribution of a true LLR.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        y = i % 2
        cue = rng.normal(2.0 if y else -2.0, 2.0)
        dets = {"visual.a": ("cal-a", cue), "visual.b": ("cal-b", cue + rng.normal(0, 0.2))}
        if i % 3:  # audio is missing for a third of the files
            dets["audio.c"] = ("cal-c", rng.normal(1.0 if y else -1.0, np.sqrt(2.0)))
        out.append(record(y, dets))
    return out


def test_correlated_detectors_share_weight() -> None:
    model = fit_fusion(correlated_records(), DATA)
    visual = model.modalities["visual"].weights
    # two near-copies of one cue: together they should count about once, not twice
    assert 0.6 < visual["visual.a"] + visual["visual.b"] < 1.6
    assert set(model.modalities) == {"visual", "audio"}
    # a lone calibrated detector keeps a weight near 1
    assert model.modalities["audio"].weights["audio.c"] == pytest.approx(1.0, abs=0.3)
    assert model.version.startswith("lr-")


def test_fused_result_uses_learned_weights_and_handles_missing_modality() -> None:
    model = fit_fusion(correlated_records(), DATA)
    a = make_spec("visual.a", calibrated=True)
    b = make_spec("visual.b", calibrated=True)

    def ev(spec, version, llr):
        return spec, Evidence.from_llr(spec, raw_score=llr, llr=llr).model_copy(
            update={"calibrated": True, "calibration_version": version}
        )

    result = fuse([ev(a, "cal-a", 2.0), ev(b, "cal-b", 2.0)], FusionSettings(), model)
    expected = 2.0 * (
        model.weight("visual", "visual.a", "cal-a") + model.weight("visual", "visual.b", "cal-b")
    )
    assert result.llr == pytest.approx(expected)
    assert result.rule == f"lr-fusion-v1:{model.version}"
    # a recalibrated detector is not weighted by a model fitted on its old calibration
    stale = fuse([ev(a, "cal-a2", 2.0)], FusionSettings(), model)
    assert stale.contributions[0].weight == 1.0


def test_fusion_needs_calibrated_detectors() -> None:
    records = [record(i % 2, {"visual.a": ("cal", 0.0)}) for i in range(3)]
    with pytest.raises(BadInputError, match="calibrate the detectors first"):
        fit_fusion(records, DATA)
