"""Audio over a long recording: its first 10 minutes (detectors 1.0.0) or passages (1.1.0).

Recordings are made of real speech (the manifest's real audio rows, 16 kHz mono, one after
another with 0.3-s pauses, repeated up to the length) in three variants: real throughout (the
control); the last 5 minutes replaced by synthetic speech (the manifest's fake audio rows, joined
the same way: a long synthetic stretch, as when the end of a call is a clone); and one 20-s
synthetic stretch at 80% of the length (a short insert). Every audio detector reads each
recording twice in the same run: as 1.0.0 did (the first 10 minutes, one passage:
``passages.plan`` replaced) and as 1.1.0 does (passages up to an hour, the worst deciding).
Printed per recording, reading and detector: raw score, calibrated LLR (shipped calibration),
the worst passage, where the timeline's highest segment lies, and the seconds taken (the front
end is shared by the three detectors, as in an analysis, and counted in the first).

    PYTHONPATH=. .venv/bin/python bench/audio_passages.py --manifest M --root R [--minutes 30] \
        [--fakes-manifest M2 --fakes-root R2]      # the fakes from another manifest
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
import soundfile

from core import __version__, evaluation
from core.calibration import CalibrationStore
from core.config import MediaLimits
from core.detector import MediaInput
from core.media import probe
from core.sound import decode_audio
from core.store import sha256_file
from modalities.audio import cnn, frontend, lfcc_gmm, passages, synthesis_traces

SR = frontend.SAMPLE_RATE
PAUSE = np.zeros(int(0.3 * SR), np.float32)
TAIL_S = 300.0
INSERT_S = 20.0


def joined(paths: list[Path], seconds: float) -> np.ndarray:
    """The files' speech one after another (0.3-s pauses), repeated up to ``seconds``."""
    parts, total, index = [], 0, 0
    while total < seconds * SR:
        wave = decode_audio(paths[index % len(paths)], sample_rate=SR)[0]
        parts += [wave, PAUSE]
        total += len(wave) + len(PAUSE)
        index += 1
    return np.concatenate(parts)[: int(seconds * SR)]


def first_10_min(duration_s: float | None) -> list[passages.Passage]:
    """1.0.0's reading: one passage from the start, whatever the length."""
    return [passages.Passage(0.0, passages.WHOLE_S)]


def read(path: Path, plan: object, detectors: list, store: CalibrationStore) -> list[str]:
    media = MediaInput(path=path, sha256=sha256_file(path), info=probe(path, MediaLimits()))
    out = []
    for detector in detectors:
        started = time.perf_counter()
        with mock.patch.object(passages, "plan", plan):
            evidence = detector.analyze(media)
        seconds = time.perf_counter() - started
        if evidence.out_of_domain:
            out.append(evidence.out_of_domain)
            continue
        calibration = store.in_force(detector.spec).get("audio")
        llr = calibration[1].llr(evidence.raw_score) if calibration else float("nan")
        worst = evidence.summary.split(":")[0] if "worst of" in evidence.summary else "one"
        peak = max(evidence.series, key=lambda p: p.score)
        out.append(
            f"raw {evidence.raw_score:+.2f}, LLR {float(llr):+.2f}; {worst}; "
            f"top segment {peak.start_s:.0f} s; {seconds:.0f} s"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fakes-manifest", type=Path, help="take the fakes from this manifest")
    parser.add_argument("--fakes-root", type=Path)
    parser.add_argument(
        "--passage-s", type=float, nargs="+", default=[passages.PASSAGE_S],
        help="passage lengths to compare (seconds)",
    )  # fmt: skip
    args = parser.parse_args()
    rows, digest = evaluation.read_manifest(args.manifest, args.root)
    reals = [Path(r.path) for r in rows if r.kind == "audio" and r.label == 0]
    if args.fakes_manifest:
        rows, fakes_digest = evaluation.read_manifest(args.fakes_manifest, args.fakes_root)
        print(f"fakes: {args.fakes_manifest} (sha256 {fakes_digest[:12]}…)")
    fakes = [Path(r.path) for r in rows if r.kind == "audio" and r.label == 1]
    length = args.minutes * 60
    bed = joined(reals, length)
    synthetic = joined(fakes, TAIL_S)
    at = int(0.8 * length * SR)
    variants = {
        "real throughout": bed,
        f"last {TAIL_S / 60:.0f} min synthetic": np.concatenate(
            [bed[: len(bed) - len(synthetic)], synthetic]
        ),
        f"{INSERT_S:.0f} s synthetic at {at / SR:.0f} s": np.concatenate(
            [bed[:at], synthetic[: int(INSERT_S * SR)], bed[at + int(INSERT_S * SR) :]]
        ),
    }
    detectors = [lfcc_gmm.build(), synthesis_traces.build(), cnn.build()]
    store = CalibrationStore(None)
    print(f"engine {__version__}; manifest sha256 {digest[:12]}…; {len(reals)} real and")
    print(f"{len(fakes)} fake audio rows; recordings of {args.minutes:.0f} min\n")
    names = " | ".join(d.spec.name + " " + d.spec.version for d in detectors)
    print(f"| recording | reading | {names} |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, wave in variants.items():
            path = Path(tmp) / "recording.flac"
            soundfile.write(path, wave, SR, subtype="PCM_16")
            cells = read(path, first_10_min, detectors, store)
            print(f"| {name} | first 10 min | " + " | ".join(cells) + " |", flush=True)
            for seconds in args.passage_s:
                with mock.patch.object(passages, "PASSAGE_S", seconds):
                    cells = read(path, passages.plan, detectors, store)
                reading = f"passages ≤ {seconds:.0f} s"
                print(f"| {name} | {reading} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
