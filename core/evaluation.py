"""The evaluation harness: score every file of a labelled manifest, then measure.

Scoring runs the same engine as ``verity analyze`` (detectors, calibrations, fusion) in worker
processes, without writing to the case database: an evaluation is a measurement, not evidence.
Each finished file is appended to ``scores.jsonl`` at once, keyed by the file's SHA-256 and the
exact detector and calibration versions, so an interrupted run resumes where it stopped and a
changed detector is re-scored. Metrics and plots are computed from that file (core.eval_report).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.attacks import Attack, apply_file_attack, pgd_from, supports_input_attack
from core.canonical import parse_untrusted_json
from core.config import MediaLimits
from core.errors import BadInputError, display_name, path_problem
from core.pools import spawn_pool

REQUIRED_COLUMNS = ("file", "label", "kind", "category")
LABELS = {"real": 0, "fake": 1}
KINDS = {"image", "video", "audio"}


@dataclass(frozen=True)
class ManifestRow:
    file: str
    label: int
    kind: str
    category: str
    path: str


def read_manifest(
    manifest: Path, root: Path, *, limits: MediaLimits | None = None
) -> tuple[list[ManifestRow], str]:
    """Rows of a manifest (``file,label,kind,category,...``) and the manifest's SHA-256.

    Every problem is reported with its line number; files must lie inside ``root``. Given
    ``limits``, each file is probed and must be of its row's kind (``probe``'s: a video file
    without a picture track is audio): an audio file listed as an image was scored and
    reported among the images, without the audio's codec normalisation. A file that cannot be
    probed is left to scoring, which records why.
    """
    if path_problem(manifest) is not None:
        raise BadInputError(f"{display_name(manifest)}: manifest not found")
    if path_problem(root) != "is a directory, not a file":
        raise BadInputError(f"{display_name(root)}: root is not a directory")
    data = manifest.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(f"{display_name(manifest)}: not UTF-8 text") from None
    reader = csv.DictReader(text.splitlines())
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise BadInputError(f"{display_name(manifest)} line 1: unreadable CSV ({exc})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise BadInputError(f"{display_name(manifest)}: missing column(s) {', '.join(missing)}")
    rows = []
    root_resolved = root.resolve()
    first_line: dict[Path, int] = {}  # a file listed twice would be scored once, under one label
    for line, record in enumerate(_records(reader, manifest), start=2):
        where = f"{display_name(manifest)} line {line}"
        if "\x00" in (record["file"] or ""):
            raise BadInputError(f"{where}: the file name holds a NUL byte")
        short = [c for c in REQUIRED_COLUMNS if record[c] is None]
        if short:
            quoted = "," in (record["file"] or "")  # the rest of the file read as one field
            raise BadInputError(
                f"{where}: no {', '.join(short)} field"
                + (" (a quote that is never closed runs on across lines)" if quoted else "")
            )
        label = LABELS.get((record["label"] or "").strip().lower())
        if label is None:
            raise BadInputError(f"{where}: label must be real or fake, not {record['label']!r}")
        kind = (record["kind"] or "").strip().lower()
        if kind not in KINDS:
            raise BadInputError(f"{where}: kind must be image, video or audio, not {kind!r}")
        try:
            path = (root / record["file"]).resolve()
        except (RuntimeError, OSError) as exc:  # a symlink loop: RuntimeError in Python 3.11
            reason = getattr(exc, "strerror", None) or "too many levels of symbolic links"
            raise BadInputError(f"{where}: {record['file']}: {reason.lower()}") from None
        if not path.is_relative_to(root_resolved):
            raise BadInputError(f"{where}: {record['file']!r} points outside the root")
        if (problem := path_problem(path)) is not None:
            problem = "not found" if problem == "no such file" else problem
            raise BadInputError(f"{where}: {display_name(path)} {problem}")
        if path in first_line:
            raise BadInputError(
                f"{where}: {record['file']!r} is already listed on line {first_line[path]}"
            )
        first_line[path] = line
        if limits is not None and (found := _probed_kind(path, limits)) not in {None, kind}:
            raise BadInputError(f"{where}: {record['file']} is {found}, not {kind}")
        rows.append(
            ManifestRow(record["file"], label, kind, (record["category"] or "").strip(), str(path))
        )
    if not rows:
        raise BadInputError(f"{display_name(manifest)}: no rows")
    return rows, digest


def _probed_kind(path: Path, limits: MediaLimits) -> str | None:
    """What ``probe`` calls ``path`` (image, video or audio); None when it cannot say."""
    from core.errors import VerityError
    from core.media import probe

    try:
        return probe(path, limits).kind.value
    except (VerityError, OSError, ValueError):
        return None


def _records(reader: csv.DictReader[str], manifest: Path) -> Iterator[dict[str, Any]]:
    """The reader's rows; a row the csv module refuses (a field over its size limit, a stray
    quote in strict dialects) is bad input naming its line, not an internal error."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BadInputError(
                f"{display_name(manifest)} line {reader.line_num + 1}: unreadable CSV ({exc})"
            ) from None


@dataclass(frozen=True)
class EvalConfig:
    detectors: list[str] | None
    normalize_codec: bool
    work_dir: str
    home: str
    limits: dict[str, Any]
    fusion: dict[str, Any]
    detector_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)  # candidate weights: name -> SHA-256


# ------------------------------------------------------------------------------ worker processes


def _init_worker() -> None:
    import modalities  # noqa: F401  registers the detectors in this worker


def normalize_audio(source: Path, target: Path, *, sample_rate: int = 16_000) -> Path:
    """Decode, downmix to 16 kHz mono and pass through one MP3 round trip at 64 kbit/s.

    Applied to every audio file alike, so a file's original format (fakes often MP3, reals
    often WAV) cannot stand in for evidence.
    """
    from core.sound import decode_audio, encode_mp3

    wave = decode_audio(source, sample_rate=sample_rate)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part.mp3")
    tmp.write_bytes(encode_mp3(wave[0], sample_rate=sample_rate))
    tmp.replace(target)
    return target


def _attack_folder(config: EvalConfig, attack: Attack) -> Path:
    safe = attack.label.replace(":", "_").replace("=", "-").replace("/", "_")
    return Path(config.work_dir) / "attacked" / safe


def _adversarial_instances(
    config: EvalConfig, kind: str, attack: Attack
) -> tuple[dict[str, Any], list[str]]:
    """Detectors built for one PGD scoring, the differentiable ones with the attack attached."""
    from core.detector import REGISTRY

    instances: dict[str, Any] = {}
    attacked = []
    for name in config.detectors or REGISTRY.names():
        spec = REGISTRY.spec(name)
        if kind not in {k.value for k in spec.media_kinds} or config.detector_options.get(name):
            continue
        try:
            detector = REGISTRY.create(name)
        except Exception:  # noqa: S112  the engine builds it again and records why it failed
            continue
        if supports_input_attack(detector):
            detector.adversary = pgd_from(attack)  # type: ignore[attr-defined]
            attacked.append(name)
        instances[name] = detector
    return instances, attacked


def score_row(row: ManifestRow, config: EvalConfig, attack: Attack | None = None) -> dict[str, Any]:
    """Run the engine on one manifest file, or on its attacked copy; never raises for a bad file
    (the record says why). PGD perturbs only fakes: it pushes them toward "real"."""
    from core.calibration import CalibrationStore
    from core.config import FusionSettings, MediaLimits
    from core.detector import REGISTRY, MediaInput
    from core.engine import run_detectors
    from core.errors import VerityError
    from core.media import probe
    from core.store import sha256_file

    record: dict[str, Any] = {**asdict(row)}
    record.pop("path")
    instances: dict[str, Any] = {}
    attacked: list[str] = []
    if attack is not None:
        record["attack"] = attack.label
        if not attack.applies_to(row.kind):
            record.update(status="n/a", error=f"{attack.name} does not apply to {row.kind}")
            return record
    try:
        path = Path(row.path)
        sha = sha256_file(path)
        record["sha256"] = sha
        if attack is not None and not attack.is_input_attack:
            folder = _attack_folder(config, attack)
            attacked_path = apply_file_attack(path, row.kind, sha, attack, folder)
            assert attacked_path is not None
            path = attacked_path
            sha = sha256_file(path)
            record["attacked_file"] = str(path.relative_to(Path(config.work_dir)))
            record["attacked_sha256"] = sha
        if config.normalize_codec and row.kind == "audio":
            path = normalize_audio(path, Path(config.work_dir) / "normalized" / f"{sha}.mp3")
        if attack is not None and attack.is_input_attack and row.label == LABELS["fake"]:
            instances, attacked = _adversarial_instances(config, row.kind, attack)
        limits = MediaLimits(**config.limits)
        media = MediaInput(path=path, sha256=sha, info=probe(path, limits))
        run = run_detectors(
            REGISTRY,
            media,
            names=config.detectors,
            fusion_settings=FusionSettings(**config.fusion),
            calibrations=CalibrationStore(Path(config.home)),
            options=config.detector_options,
            instances=instances,
        )
    except (VerityError, OSError, ValueError) as exc:
        record.update(status="error", error=" ".join(str(exc).split())[:500])
        return record
    detectors = {}
    for outcome in run.outcomes:
        ev = outcome.evidence
        detectors[outcome.spec.name] = {
            "modality": outcome.spec.modality.value,
            "status": outcome.status,
            "reason": outcome.reason,
            "raw": ev.raw_score if ev else None,
            "out_of_domain": ev.out_of_domain if ev else None,
            "llr": ev.llr if ev else None,
            "p": ev.p_fake if ev else None,
            "weighted_llr": next(
                (
                    c.weight * c.llr
                    for c in run.fusion.contributions
                    if c.detector == outcome.spec.name
                ),
                None,
            ),
            "calibrated": ev.calibrated if ev else None,
            "calibration_version": ev.calibration_version if ev else None,
            "version": outcome.spec.version,
        }
        if attack is not None and attack.is_input_attack:
            detectors[outcome.spec.name]["attacked"] = outcome.spec.name in attacked
    record.update(
        status="ok",
        detectors=detectors,
        fused={"llr": run.fusion.llr, "p": run.fusion.p_fake, "verdict": run.fusion.verdict.value},
    )
    return record


def check_labels_agree(rows: list[ManifestRow], digests: dict[str, str]) -> None:
    """The same bytes under two names must carry one label: a file cannot be both real and fake,
    and a metric computed over such a manifest would credit a detector for either answer."""
    seen: dict[str, ManifestRow] = {}
    for row in rows:
        other = seen.setdefault(digests[row.path], row)
        if other.label != row.label:
            names = {0: "real", 1: "fake"}
            raise BadInputError(
                f"{row.file!r} ({names[row.label]}) has the same content (SHA-256 "
                f"{digests[row.path][:12]}…) as {other.file!r} ({names[other.label]})"
            )


def _job_key(sha256: str, row: ManifestRow, signature: str, attack: Attack | None = None) -> str:
    """What a stored score may be reused for: the same file, bytes, versions, attack, and the
    same label and kind (the kind picks the codec handling, the label whether PGD applies).

    Without label and kind, a manifest corrected after a first run (a real row relabelled
    fake) resumed with the first run's labels, and its metrics and calibrations were fitted on
    them. The category changes no score, so a reused record takes it from the manifest as it
    is now (``score_manifest``).
    """
    attack_part = "" if attack is None else f"\0attack={attack.label}"
    text = f"{row.file}\0{sha256}\0{row.label}\0{row.kind}\0{signature}{attack_part}"
    return hashlib.sha256(text.encode()).hexdigest()


def run_signature(config: EvalConfig) -> str:
    """What makes two scorings comparable: detector and calibration versions, codec handling."""
    from core.calibration import CalibrationStore
    from core.detector import REGISTRY

    store = CalibrationStore(Path(config.home))
    names = config.detectors or REGISTRY.names()
    parts = []
    for name in sorted(names):
        spec = REGISTRY.spec(name)
        if name in config.weights:  # candidate weights: scores keyed by their hash
            parts.append(f"{name}={spec.version}/weights-{config.weights[name][:12]}")
            continue
        in_force = store.in_force(spec)
        versions = sorted({artifact.version for _path, artifact in in_force.values()})
        parts.append(f"{name}={spec.version}/{'+'.join(versions) or 'none'}")
    parts.append(f"normalize={config.normalize_codec}")
    parts.append(json.dumps(config.fusion, sort_keys=True))
    return ";".join(parts)


def contents_sha256(records: list[dict[str, Any]]) -> str:
    """The SHA-256 of the files a run scored, not of the manifest that named them:
    ``sha256sum``'s lines (``<sha256>  <file>``) sorted by file name, hashed. Built from the
    records' own ``sha256`` (``score_row`` hashed each file once), so no file is read again.

    A manifest names files; the same manifest can list other bytes (a lab set made again holds
    other videos under the same names when it is made on another computer: before engine
    0.2.5 the colour conversion, and still the AAC encoder, depend on the CPU), and a
    calibration fitted on one set must say which bytes it saw. In a shell, from the root:
    ``tail -n +2 manifest.csv | cut -d, -f1 | LC_ALL=C sort | xargs sha256sum | sha256sum``
    (for file names without commas, quotes or spaces)."""
    clean = [r for r in records if r.get("attack") is None]
    unhashed = [r["file"] for r in clean if not r.get("sha256")]
    if unhashed:  # a file that vanished while it was scored: no digest to vouch for
        raise BadInputError(f"{unhashed[0]}: not hashed in this run, so the run names no bytes")
    files = sorted({r["file"]: r["sha256"] for r in clean}.items())
    lines = "".join(f"{sha}  {name}\n" for name, sha in files)
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def load_done(scores: Path) -> dict[str, dict[str, Any]]:
    """Records already written, by job key; a torn last line from a crash is ignored."""
    done: dict[str, dict[str, Any]] = {}
    if not scores.exists():
        return done
    for line in scores.read_text(encoding="utf-8").splitlines():
        try:
            record = parse_untrusted_json(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("job"), str):
            done[record["job"]] = record
    return done


def _drop_torn_line(scores: Path) -> None:
    """Cut ``scores`` back to its last complete line: a record torn by a crash is ignored on
    resume (``load_done``), but the next record appended to it would be glued onto it and lost."""
    if not scores.is_file():
        return
    with scores.open("rb+") as handle:
        size = handle.seek(0, 2)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        tail = 0
        while tail < size:  # find the last newline, reading backwards in blocks
            step = min(65536, size - tail)
            handle.seek(size - tail - step)
            block = handle.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                handle.truncate(size - tail - step + cut + 1)
                return
            tail += step
        handle.truncate(0)


def score_manifest(
    rows: list[ManifestRow],
    config: EvalConfig,
    scores: Path,
    *,
    jobs: int,
    progress: Callable[[int, int], None] | None = None,
    attacks: list[Attack] | tuple[Attack, ...] = (),
) -> list[dict[str, Any]]:
    """Score every row, clean and under each attack, in ``jobs`` processes, appending to
    ``scores``; return all records (clean ones first, in row order; attacked ones carry
    ``attack``). A job is keyed by file, content, versions and attack, so a run resumes."""
    signature = run_signature(config)
    done = load_done(scores)
    from core.store import sha256_file

    digests = {r.path: sha256_file(Path(r.path)) for r in rows}
    check_labels_agree(rows, digests)
    variants: list[Attack | None] = [None, *attacks]
    keyed = [(_job_key(digests[r.path], r, signature, a), r, a) for a in variants for r in rows]
    todo = [(key, row, attack) for key, row, attack in keyed if key not in done]
    total, completed = len(keyed), len(keyed) - len(todo)
    if progress:
        progress(completed, total)
    if scores.parent.exists() and not scores.parent.is_dir():
        raise BadInputError(f"{display_name(scores.parent)}: is a file, not an output folder")
    scores.parent.mkdir(parents=True, exist_ok=True)
    _drop_torn_line(scores)
    with scores.open("a", encoding="utf-8") as sink:

        def keep(key: str, record: dict[str, Any]) -> None:
            nonlocal completed
            record["job"] = key
            record["signature"] = signature
            sink.write(json.dumps(record, sort_keys=True) + "\n")
            sink.flush()
            os.fsync(sink.fileno())
            done[key] = record
            completed += 1
            if progress:
                progress(completed, total)

        if jobs <= 1:
            _init_worker()
            for key, row, attack in todo:
                keep(key, score_row(row, config, attack))
        else:
            for key, record in _parallel(todo, config, jobs):
                keep(key, record)
    return [{**done[key], "category": row.category} for key, row, _ in keyed]


def _parallel(
    todo: list[tuple[str, ManifestRow, Attack | None]], config: EvalConfig, jobs: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    with spawn_pool(jobs, _init_worker) as pool:
        pending: dict[Future[dict[str, Any]], str] = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < jobs * 2:
                key, row, attack = queue.pop(0)
                pending[pool.submit(score_row, row, config, attack)] = key
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield pending.pop(future), future.result()
