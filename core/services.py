"""Use cases shared by the CLI, the dashboard and the workers.

Each function is one user action and one transaction: the rows it writes and the custody event that
records it commit together or not at all, and a file it put in the store is taken back if the rows
do not commit. Callers never write SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from core import artifacts
from core.analysis_digest import analysis_digest
from core.app import Verity
from core.calibration import CalibrationStore
from core.chunks import ChunkPlan
from core.credentials import Credentials, read_credentials
from core.custody import (
    Action,
    CustodyReport,
    append_event,
    verify_analysis_recorded,
    verify_custody,
)
from core.db import Analysis, Case, CaseMedia, DetectorResult, MediaItem
from core.detector import Detector, MediaInput
from core.engine import EngineRun, build_analysis, run_detectors
from core.errors import (
    MIN_ID_PREFIX,
    AnalysisNotFoundError,
    BadInputError,
    CaseNotFoundError,
    MediaError,
    display_name,
)
from core.hooks import Hook, null_hook
from core.media import MediaInfo, probe, screen
from core.results import analysis_json

DEFAULT_CASE = "default"
# Writers of one case's custody chain collide on (chain, seq) instead of forking it; the loser
# starts its transaction again. Workers and `verity analyze` may write the same case at once.
WRITE_ATTEMPTS = 5


# ------------------------------------------------------------------------------------------ cases


def _find_case(session: Session, ref: str) -> Case | None:
    case = session.get(Case, ref)
    if case is None:
        case = session.scalars(select(Case).where(Case.name == ref)).first()
    return case


def resolve_case(session: Session, ref: str) -> Case:
    case = _find_case(session, ref)
    if case is None:
        raise CaseNotFoundError(ref)
    return case


def _create_case(session: Session, app: Verity, name: str, description: str) -> Case:
    case = Case(name=name, description=description, created_by=app.settings.actor)
    session.add(case)
    session.flush()
    append_event(
        session,
        actor=app.settings.actor,
        action=Action.CASE_CREATE,
        case_id=case.id,
        details={"name": name, "description": description},
    )
    return case


MAX_CASE_NAME = 200
MAX_CASE_DESCRIPTION = 10_000  # characters: it is stored in the case and in its custody event


@dataclass(frozen=True)
class NewCase:
    """A case to be created in the transaction that files the first file in it.

    The Analyze page names a new case for a batch; created up front, a batch of which nothing
    could be filed (a truncated upload, a store that cannot be written) left an empty case and
    its ``case.create`` event behind.
    """

    name: str
    description: str = ""

    def checked(self) -> NewCase:
        return NewCase(*_checked_case(self.name, self.description))


CaseRef = str | NewCase | None


def _checked_case(name: str, description: str) -> tuple[str, str]:
    name = name.strip()
    if not name or len(name) > MAX_CASE_NAME or not name.isprintable():
        raise BadInputError(f"a case name must be 1 to {MAX_CASE_NAME} printable characters")
    if len(description) > MAX_CASE_DESCRIPTION:
        raise BadInputError(
            f"a case description may hold at most {MAX_CASE_DESCRIPTION:,} characters, "
            f"this one has {len(description):,}"
        )
    return name, description


def create_case(app: Verity, name: str, description: str = "") -> dict[str, Any]:
    name, description = _checked_case(name, description)
    try:
        with app.db.session() as session:
            return case_json(_create_new_case(session, app, NewCase(name, description)), 0)
    except IntegrityError:
        raise BadInputError(f"a case named {name!r} already exists") from None


def check_case_name_free(app: Verity, name: str) -> None:
    """Refuse a name a case already has (or an id that is a case's)."""
    with app.db.session() as session:
        _refuse_taken_name(session, name)


def _refuse_taken_name(session: Session, name: str) -> None:
    if _find_case(session, name) is not None:
        raise BadInputError(f"a case named {name!r} already exists")


def find_case_id(app: Verity, ref: str) -> str | None:
    with app.db.session() as session:
        case = _find_case(session, ref)
        return None if case is None else case.id


def _create_new_case(session: Session, app: Verity, new: NewCase) -> Case:
    _refuse_taken_name(session, new.name)
    return _create_case(session, app, new.name, new.description)


def list_cases(app: Verity) -> list[dict[str, Any]]:
    with app.db.session() as session:
        counts = dict(
            session.execute(
                select(CaseMedia.case_id, func.count()).group_by(CaseMedia.case_id)
            ).all()
        )
        cases = session.scalars(select(Case).order_by(Case.created_at)).all()
        return [case_json(c, counts.get(c.id, 0)) for c in cases]


def case_json(case: Case, media_count: int) -> dict[str, Any]:
    return {
        "id": case.id,
        "name": case.name,
        "description": case.description,
        "created_at": case.created_at.isoformat(),
        "created_by": case.created_by,
        "media_count": media_count,
    }


# ----------------------------------------------------------------------------------------- ingest


@dataclass(frozen=True)
class Ingested:
    case_id: str
    media_id: str
    sha256: str
    info: MediaInfo
    original_name: str
    new_in_case: bool
    new_object: bool

    def media_input(self, app: Verity) -> MediaInput:
        return MediaInput(
            path=app.store.path_for(self.sha256),
            sha256=self.sha256,
            info=self.info,
            original_name=self.original_name,
        )


def ingest(
    app: Verity,
    path: Path,
    case_ref: CaseRef,
    hook: Hook = null_hook,
    *,
    original_name: str | None = None,
) -> Ingested:
    """Hash, store and file ``path`` in a case, with its custody event; all or nothing.

    The probe runs on the stored copy, so what is analysed is exactly the bytes that were hashed.
    ``original_name`` is the client's name for an upload staged under a random name (core.uploads);
    it is kept as metadata only. A :class:`NewCase` is created with the filing, in its
    transaction.
    """
    limits = app.settings.limits
    screen(path, limits)  # garbage is refused before it is copied and hashed
    with app.db.session() as session:  # fail on a bad case id before touching the store
        if isinstance(case_ref, NewCase):
            case_ref = case_ref.checked()
            _refuse_taken_name(session, case_ref.name)
        elif case_ref is not None:
            resolve_case(session, case_ref)
    hook("hash", detail=display_name(path.name))
    try:
        stored = app.store.put(path)
    except PermissionError:
        raise MediaError(path, "permission denied") from None
    except OSError as exc:
        raise MediaError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        hook("probe", detail=stored.sha256[:12])
        try:
            info = probe(stored.path, limits)
        except MediaError as exc:
            raise type(exc)(path, exc.problem) from None
        original_name = display_name(original_name or path.name)
        hook("credentials", detail=stored.sha256[:12])
        credentials = read_credentials(stored.path, info, app.settings.c2pa_trust_anchors)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with app.db.session() as session:
                    result = _file_in_case(
                        session, app, stored.sha256, info, original_name, case_ref, credentials
                    )
                break
            except IntegrityError:  # a concurrent writer took the custody position: again
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
        return Ingested(**result, new_object=stored.created)
    except BaseException:
        if stored.created:
            _take_back(app, stored.sha256)
        raise


def _take_back(app: Verity, sha256: str) -> None:
    """Remove an object this ingest stored and could not file, unless a media row holds it.

    Another ingest of the same bytes finds them stored (``created`` false) and may file them
    while this one is still probing: removing the object then took away that case's evidence.
    When the database cannot even be read, the object stays: an unreferenced copy is a smaller
    harm than a filed one gone.
    """
    try:
        with app.db.session() as session:
            held = session.scalars(select(MediaItem.id).where(MediaItem.sha256 == sha256)).first()
    except SQLAlchemyError:
        return
    if held is None:
        app.store.remove(sha256)


def _uncited(app: Verity, created: list[str]) -> list[str]:
    """The figures this analysis stored that no recorded evidence cites, to take back after its
    write failed. Another analysis of the same media makes the same figures (same bytes, same
    hash) and may have recorded evidence citing them meanwhile, relying on this one's copies.
    When the database cannot be read, every figure stays (an unreferenced copy is the smaller
    harm)."""
    if not created:
        return []
    try:
        with app.db.session() as session:
            cited = {
                sha
                for sha in created
                if session.scalars(
                    select(DetectorResult.id)
                    .where(cast(DetectorResult.evidence, Text).contains(sha))
                    .limit(1)
                ).first()
                is not None
            }
    except SQLAlchemyError:
        return []
    return [sha for sha in created if sha not in cited]


def _file_in_case(
    session: Session,
    app: Verity,
    sha256: str,
    info: MediaInfo,
    original_name: str,
    case_ref: CaseRef,
    credentials: Credentials,
) -> dict[str, Any]:
    if case_ref is None:
        case = _find_case(session, DEFAULT_CASE) or _create_case(
            session, app, DEFAULT_CASE, "media analysed without --case"
        )
    elif isinstance(case_ref, NewCase):
        case = _create_new_case(session, app, case_ref)
    else:
        case = resolve_case(session, case_ref)
    item = session.scalars(select(MediaItem).where(MediaItem.sha256 == sha256)).first()
    if item is None:
        item = MediaItem(
            sha256=sha256,
            size_bytes=info.size_bytes,
            kind=info.kind.value,
            duration_s=info.duration_s,
            probe=info.model_dump(mode="json"),
            c2pa=credentials.model_dump(mode="json"),
        )
        session.add(item)
        session.flush()
    link = session.scalars(
        select(CaseMedia).where(CaseMedia.case_id == case.id, CaseMedia.media_id == item.id)
    ).first()
    new_in_case = link is None
    if link is None:
        session.add(
            CaseMedia(
                case_id=case.id,
                media_id=item.id,
                original_name=original_name,
                added_by=app.settings.actor,
            )
        )
        append_event(
            session,
            actor=app.settings.actor,
            action=Action.INGEST,
            case_id=case.id,
            object_sha256=sha256,
            details={
                "media_id": item.id,
                "original_name": original_name,
                "size_bytes": info.size_bytes,
                "kind": info.kind.value,
                "c2pa_state": credentials.state,
            },
        )
    return {
        "case_id": case.id,
        "media_id": item.id,
        "sha256": sha256,
        "info": info,
        "original_name": original_name,
        "new_in_case": new_in_case,
    }


# --------------------------------------------------------------------------------------- analysis


def analyze(
    app: Verity,
    path: Path,
    case_ref: CaseRef = None,
    detectors: list[str] | None = None,
    hook: Hook = null_hook,
    model_dirs: dict[str, Path] | None = None,
    *,
    original_name: str | None = None,
) -> dict[str, Any]:
    """Ingest ``path`` if needed, run the detectors, store and return the JSON-contract result.

    ``model_dirs`` gives local checkpoint folders by detector name (``visual.hf``…), on top of
    those configured in ``settings.models``.
    """
    if detectors is not None:
        for name in detectors:
            app.registry.spec(name)  # unknown names fail before anything is written
    options = detector_options(app, model_dirs, detectors)
    ingested = ingest(app, path, case_ref, hook, original_name=original_name)
    run = compute_evidence(
        app, ingested.media_input(app), detectors, hook, options=options, chunked=False
    )
    hook("store")
    created = artifacts.persist(app.artifact_store, run.artifacts)
    try:
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with app.db.session() as session:
                    analysis = store_analysis(
                        session, app, run, case_id=ingested.case_id, media_id=ingested.media_id
                    )
                    media = session.get(MediaItem, ingested.media_id)
                    assert media is not None
                    return analysis_json(analysis, media, ingested.original_name)
            except IntegrityError:  # a concurrent writer (a worker) took the custody position
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")
    except BaseException:
        artifacts.discard(app.artifact_store, _uncited(app, created))
        raise


def compute_evidence(
    app: Verity,
    media: MediaInput,
    detectors: list[str] | None,
    hook: Hook = null_hook,
    instances: Mapping[str, Detector] | None = None,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    chunked: bool = False,
) -> EngineRun:
    """Run the detectors on stored media, outside any transaction (this may take minutes).

    ``options`` default to the configured ones (``settings.models``). ``chunked`` splits long
    videos into time chunks for detectors that can merge them (core.chunks); the merged evidence
    equals the whole-file evidence, so this only changes how long it takes.
    """
    jobs = app.settings.jobs
    return run_detectors(
        app.registry,
        media,
        names=detectors,
        fusion_settings=app.settings.fusion,
        calibrations=CalibrationStore(app.settings.home),
        hook=hook,
        options=options if options is not None else detector_options(app),
        instances=instances,
        chunking=ChunkPlan(jobs.chunk_s, jobs.chunk_workers) if chunked else None,
    )


def store_analysis(
    session: Session, app: Verity, run: EngineRun, *, case_id: str, media_id: str
) -> Analysis:
    """Write one engine run as an Analysis with its custody event, in the caller's transaction.

    The caller owns the transaction so that a job can commit its own completion with it: either
    both land or neither does. Figures the run cites are persisted by the caller beforehand.
    """
    media = session.get(MediaItem, media_id)
    if media is None:
        raise BadInputError(f"no media item {media_id!r}")
    analysis = build_analysis(
        run,
        case_id=case_id,
        media_id=media_id,
        actor=app.settings.actor,
        fusion_settings=app.settings.fusion,
    )
    session.add(analysis)
    session.flush()
    append_event(
        session,
        actor=app.settings.actor,
        action=Action.ANALYZE,
        case_id=case_id,
        object_sha256=media.sha256,
        details={
            "analysis_id": analysis.id,
            "verdict": analysis.verdict,
            "digest": analysis_digest(analysis),
        },
    )
    return analysis


def detector_options(
    app: Verity, model_dirs: dict[str, Path] | None = None, names: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Constructor options per detector: configured checkpoints, then the caller's folders.

    Every checkpoint folder, configured or given, and every detector in ``names`` that needs
    one, is checked here, before anything is stored: a missing checkpoint is the user's input,
    not a detector failure to be filed as an analysis with an error in it.
    """
    options = app.settings.models.detector_options()
    for name, given in options.items():
        folder = given.get("model_dir")
        if folder is not None and not Path(folder).is_dir():
            raise BadInputError(
                f"setting models.{name.replace('.', '_')}_dir: {display_name(folder)} is not a "
                "folder (give a local checkpoint)"
            )
    for name, folder in (model_dirs or {}).items():
        spec = app.registry.spec(name)
        if spec.requires != "model_dir":
            raise BadInputError(f"{name} takes no --model-dir (it ships its own weights)")
        if not folder.is_dir():
            raise BadInputError(f"{display_name(folder)}: not a folder (give a local checkpoint)")
        options.setdefault(name, {})["model_dir"] = str(folder)
    for name in names or []:
        if app.registry.spec(name).requires == "model_dir" and "model_dir" not in options.get(
            name, {}
        ):
            raise BadInputError(
                f"{name} needs a local checkpoint: give --model-dir {name}=DIR or set "
                f"models.{name.replace('.', '_')}_dir (nothing is ever downloaded)"
            )
    return options


def _resolve_analysis_id(session: Session, ref: str) -> str:
    """A full id, or a unique prefix of at least 8 hex digits as printed in tables."""
    ref = ref.strip().lower()
    is_hex = all(ch in "0123456789abcdef" for ch in ref)
    if len(ref) == 32 or len(ref) < MIN_ID_PREFIX or not is_hex:
        return ref
    matches = session.scalars(
        select(Analysis.id).where(Analysis.id.startswith(ref, autoescape=True)).limit(2)
    ).all()
    if len(matches) > 1:
        raise BadInputError(f"analysis id prefix {ref!r} is ambiguous; give more digits")
    return matches[0] if matches else ref


def get_analysis(app: Verity, analysis_id: str, *, via: str = "cli") -> dict[str, Any]:
    """An analysis as JSON; reading evidence is itself a custody event."""
    with app.db.session() as session:
        analysis = session.get(
            Analysis,
            _resolve_analysis_id(session, analysis_id),
            options=[selectinload(Analysis.results), selectinload(Analysis.media)],
        )
        if analysis is None:
            raise AnalysisNotFoundError(analysis_id)
        verify_analysis_recorded(session, analysis)  # never show an altered verdict as found
        link = session.scalars(
            select(CaseMedia).where(
                CaseMedia.case_id == analysis.case_id, CaseMedia.media_id == analysis.media_id
            )
        ).first()
        append_event(
            session,
            actor=app.settings.actor,
            action=Action.READ,
            case_id=analysis.case_id,
            object_sha256=analysis.media.sha256,
            details={"analysis_id": analysis.id, "via": via},
        )
        return analysis_json(analysis, analysis.media, link.original_name if link else "")


def check_custody(app: Verity, case_ref: str | None = None) -> CustodyReport:
    with app.db.session() as session:
        case_id = resolve_case(session, case_ref).id if case_ref is not None else None
        return verify_custody(session, case_id)


# -------------------------------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class StoredArtifact:
    detector: str
    kind: str
    sha256: str
    media_type: str
    path: Path


def analysis_artifacts(
    app: Verity, analysis_id: str, *, via: str | None = None
) -> list[StoredArtifact]:
    """The figures an analysis cites, each checked against its SHA-256 before it is handed out.

    With ``via`` the read is recorded in the case's custody chain, as for ``get_analysis``.
    """
    with app.db.session() as session:
        analysis = session.get(
            Analysis,
            _resolve_analysis_id(session, analysis_id),
            options=[selectinload(Analysis.results), selectinload(Analysis.media)],
        )
        if analysis is None:
            raise AnalysisNotFoundError(analysis_id)
        verify_analysis_recorded(session, analysis)
        cited = [
            (result.detector, ref)
            for result in analysis.results
            for ref in (result.evidence or {}).get("artifacts", [])
        ]
        store = app.artifact_store
        for _detector, ref in cited:  # before the read is recorded: a damaged figure is not read
            store.verify(ref["sha256"])
        if via is not None:
            append_event(
                session,
                actor=app.settings.actor,
                action=Action.READ,
                case_id=analysis.case_id,
                object_sha256=analysis.media.sha256,
                details={"analysis_id": analysis.id, "via": via, "artifacts": len(cited)},
            )
    out = []
    for detector, ref in cited:
        out.append(
            StoredArtifact(
                detector,
                ref["kind"],
                ref["sha256"],
                ref["media_type"],
                store.path_for(ref["sha256"]),
            )
        )
    return out
