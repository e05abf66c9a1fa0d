"""Verity's settings, validated once.

Precedence, lowest first: built-in defaults < ``$VERITY_HOME/config.toml`` (or the file named by
``VERITY_CONFIG``) < environment variables (``VERITY_*``, nested groups with ``__``, for example
``VERITY_LIMITS__MAX_PIXELS``) < values passed by the caller (the CLI). Runtime objects (engines,
stores) are built from a :class:`Settings` explicitly; nothing reads the environment behind
its back.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError, display_name, first_validation_problem, path_problem


def _default_home() -> Path:
    return Path(os.environ.get("VERITY_HOME") or Path.home() / ".verity").expanduser()


def _default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. in a container
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


class MediaLimits(BaseModel):
    """Hard limits checked before any decoding, so hostile files cannot exhaust the machine."""

    model_config = {"frozen": True, "extra": "forbid"}

    max_file_bytes: int = Field(default=8 * 1024**3, gt=0, description="largest file accepted")
    max_pixels: int = Field(
        default=8192 * 8192, gt=0, description="largest frame (width × height) accepted"
    )
    max_duration_s: float = Field(default=4 * 3600.0, gt=0, description="longest media accepted")
    max_upload_bytes: int = Field(
        default=1024**3,
        gt=0,
        description="largest file accepted through the dashboard (held in memory while it "
        "arrives); the smaller of this and max_file_bytes applies",
    )

    @property
    def upload_limit_bytes(self) -> int:
        return min(self.max_upload_bytes, self.max_file_bytes)


class FusionSettings(BaseModel):
    """Thresholds of the verdict; see core.fusion for the rule."""

    model_config = {"frozen": True, "extra": "forbid"}

    manipulated_at: float = Field(default=0.9, gt=0.5, lt=1.0)
    authentic_at: float = Field(default=0.1, gt=0.0, lt=0.5)
    uncalibrated_weight: float = Field(default=0.5, ge=0.0, le=1.0)


class ChainSettings(BaseModel):
    """Where checkpoints of the provenance log are anchored (used by the ledger)."""

    model_config = {"frozen": True, "extra": "forbid"}

    backend: str = Field(default="json-rpc", pattern=r"^(eth-tester|json-rpc)$")
    confirmations: int = Field(default=1, ge=1, le=1000)
    rpc_url: str = "http://127.0.0.1:8545"
    chain_id: int | None = Field(default=None, ge=1)
    private_key: SecretStr | None = None
    contract_address: str | None = None

    @field_validator("rpc_url", mode="before")
    @classmethod
    def _usable_rpc_url(cls, value: Any) -> Any:
        """A URL web3 cannot use is a bad setting now (exit 2), not an unreachable node later."""
        if isinstance(value, str):
            value = value.strip()
            if problem := rpc_url_problem(value):
                raise PydanticCustomError("rpc_url", "{problem}", {"problem": problem})
        return value

    @field_validator("contract_address", mode="before")
    @classmethod
    def _checksummed_address(cls, value: Any) -> Any:
        """Any-case hex of 40 digits, stored with its EIP-55 checksum; an empty value is unset."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            address, problem = checksum_address(value)
            if problem is not None:
                raise PydanticCustomError("contract_address", "{problem}", {"problem": problem})
            return address
        return value


class ModelSettings(BaseModel):
    """Local checkpoints for the detectors that need one; Verity never downloads a model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audio_hf_dir: Path | None = Field(default=None, description="audio.hf checkpoint folder")
    audio_hf_fake_label: str | None = Field(default=None, description="its label meaning fake")
    visual_hf_dir: Path | None = Field(default=None, description="visual.hf checkpoint folder")
    visual_hf_fake_label: str | None = Field(default=None, description="its label meaning fake")
    audio_vad: str = Field(
        default="energy",
        pattern=r"^(energy|silero)$",
        description="voice activity detector of the audio detectors; the shipped calibrations "
        "were made with 'energy'",
    )
    audio_feature_backend: str = Field(
        default="numpy",
        pattern=r"^(auto|numpy|torchaudio)$",
        description="LFCC/log-mel backend of audio.lfcc_gmm and audio.cnn; 'auto' uses "
        "torchaudio where it imports (optional extra 'gpu')",
    )

    lipsync_coverage: str = Field(
        default="spread",
        pattern=r"^(spread|whole)$",
        description="how much of a video longer than two minutes the lip-sync detectors read: "
        "'spread' (twelve 10-s passages from start to end, bounded cost) or 'whole' (every "
        "second, a cost that grows with the length and 0.65 GB per hour of video)",
    )

    def detector_options(self) -> dict[str, dict[str, Any]]:
        """Constructor options per detector name, for the detectors configured here."""
        out: dict[str, dict[str, Any]] = {}
        if self.lipsync_coverage != "spread":
            for name in ("lipsync.av_offset", "lipsync.syncnet"):
                out[name] = {"coverage": self.lipsync_coverage}
        # audio front end: only a non-default choice is passed, so default analyses are unchanged
        for name in ("audio.lfcc_gmm", "audio.cnn", "audio.artifacts"):
            if self.audio_vad != "energy":
                out.setdefault(name, {})["vad"] = self.audio_vad
            if self.audio_feature_backend != "numpy" and name != "audio.artifacts":
                out.setdefault(name, {})["feature_backend"] = self.audio_feature_backend
        for name, folder, label in (
            ("audio.hf", self.audio_hf_dir, self.audio_hf_fake_label),
            ("visual.hf", self.visual_hf_dir, self.visual_hf_fake_label),
        ):
            if folder is not None:
                out[name] = {"model_dir": str(folder.expanduser())}
                if label:
                    out[name]["fake_label"] = label
        return out


class JobSettings(BaseModel):
    """How queued analyses run (core.jobs). Without a broker, jobs run in the submitting process."""

    model_config = {"frozen": True, "extra": "forbid"}

    lease_s: float = Field(
        default=60.0,
        gt=0,
        description="a queued job nobody took, or a running job without a heartbeat, for this "
        "long is published again (the database, not the broker, is the record of what is owed)",
    )
    heartbeat_s: float = Field(default=5.0, gt=0, description="how often a running job beats")
    sweep_s: float = Field(default=15.0, gt=0, description="how often a worker looks for lost jobs")
    visibility_timeout_s: int = Field(
        default=3600, gt=0, description="Redis broker: an unacknowledged message returns after this"
    )
    max_retries: int = Field(default=5, ge=0, le=100, description="retries of transient errors")
    chunk_s: float = Field(
        default=4.0, gt=0, description="time chunk of long videos for detectors that can split"
    )
    chunk_workers: int = Field(default=2, ge=1, le=64, description="chunks analysed at once")
    queue_prefix: str = Field(
        default="",
        pattern=r"^[a-z0-9_.-]{0,40}$",
        description="prefix of the queue names, so several installations can share one broker",
    )
    plugins: tuple[str, ...] = Field(
        default=(),
        description="extra modules imported by `verity worker` and `verity submit` to register "
        "more detectors (third-party detectors)",
    )


class Settings(BaseSettings):
    """Every setting Verity reads. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="VERITY_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    home: Path = Field(default_factory=_default_home)
    database_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL; default is SQLite in VERITY_HOME"
    )
    broker_url: SecretStr | None = Field(
        default=None,
        description="Celery broker (redis:// or amqp://); none: jobs run in the submitting process",
    )
    actor: str = Field(default_factory=_default_actor, min_length=1, max_length=200)
    c2pa_trust_anchors: Path | None = Field(
        default=None, description="PEM file of C2PA trust anchors (none: nothing is Trusted)"
    )
    limits: MediaLimits = MediaLimits()
    fusion: FusionSettings = FusionSettings()
    chain: ChainSettings = ChainSettings()
    models: ModelSettings = ModelSettings()
    jobs: JobSettings = JobSettings()

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url")
    @classmethod
    def _parsable_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A URL that cannot even be parsed is a typo: say so now, as a bad setting, rather than
        as a database failure when the first command opens it."""
        if value is not None:
            problem = database_url_problem(value.get_secret_value())
            if problem is not None:
                raise PydanticCustomError("database_url", problem)
        return value

    @field_validator("broker_url", mode="before")
    @classmethod
    def _usable_broker_url(cls, value: Any) -> Any:
        """An empty value means no broker (jobs run in process), as an unset one does: Celery
        would read "" as its default, the RabbitMQ on localhost. A URL Celery cannot use (an
        unknown scheme, a port or Redis database that is not a number) is a bad setting now,
        before ``submit`` files anything, not an internal error at publish time."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return None
        if isinstance(raw, str) and (problem := broker_url_problem(raw.strip())):
            raise PydanticCustomError("broker_url", problem)
        return value

    @field_validator("c2pa_trust_anchors")
    @classmethod
    def _readable_trust_anchors(cls, value: Path | None) -> Path | None:
        """Checked when the settings load so that a wrong path fails every command at once, not
        the first ingest of a file that happens to carry Content Credentials."""
        if value is None:
            return None
        value = value.expanduser()
        problem = path_problem(value)
        if problem is not None:
            raise PydanticCustomError(
                "trust_anchors",
                "{path}: {problem}",
                {"path": display_name(value), "problem": problem},
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )

    # Derived locations. They live under home so that one folder holds a whole installation.
    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def sqlite_path(self) -> Path:
        return self.home / "verity.db"

    @property
    def effective_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.sqlite_path}"

    @property
    def is_embedded_database(self) -> bool:
        return self.database_url is None

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, with every secret masked."""
        data: dict[str, Any] = {
            "home": str(self.home),
            "config_file": str(config_file_path()),
            "database_url": mask_url(self.effective_database_url),
            "broker_url": mask_url(self.broker_url.get_secret_value()) if self.broker_url else None,
            "actor": self.actor,
            "c2pa_trust_anchors": str(self.c2pa_trust_anchors) if self.c2pa_trust_anchors else None,
            "limits": self.limits.model_dump(),
            "fusion": self.fusion.model_dump(),
            "jobs": self.jobs.model_dump(mode="json"),
            "models": self.models.model_dump(mode="json"),
            "chain": {
                **self.chain.model_dump(exclude={"private_key"}),
                "private_key": "********" if self.chain.private_key else None,
            },
        }
        return data


def config_file_path() -> Path:
    explicit = os.environ.get("VERITY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return _default_home() / "config.toml"


def database_url_problem(url: str) -> str | None:
    """Say why ``url`` cannot be parsed as a database URL, or None when it can be tried.

    Only the syntax is checked (no driver is imported, nothing is contacted); the message masks
    the password, since the URL usually holds one.
    """
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        return (
            f"cannot parse {mask_url(url)!r} as a database URL "
            "(expected dialect+driver://user:password@host:port/name)"
        )
    return None


BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


def broker_url_problem(url: str) -> str | None:
    """Say why Celery could not use ``url`` as a broker, or None when it can be tried (nothing
    is contacted: an unreachable broker is a runtime matter, reported when publishing)."""
    from urllib.parse import urlsplit

    shown = mask_url(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return f"cannot parse {shown!r} as a broker URL (port not a number?)"
    if parts.scheme not in BROKER_SCHEMES:
        return (
            f"{shown!r}: a broker URL starts with redis://, rediss:// or amqp:// "
            f"(got {parts.scheme + '://' if parts.scheme else 'no scheme'})"
        )
    if parts.scheme.startswith("redis"):
        db = parts.path.strip("/")
        if db and not db.isdigit():
            return f"{shown!r}: the Redis database after the last / must be a number, not {db!r}"
    return None


RPC_SCHEMES = ("http", "https")


def rpc_url_problem(url: str) -> str | None:
    """Say why ``url`` cannot be a JSON-RPC node's URL, or None when it can be tried (nothing
    is contacted: an unreachable node is a runtime matter, reported when it is used)."""
    from urllib.parse import urlsplit

    shown = mask_url(url) if "@" in url else display_name(url)[:200]  # user:password@ only
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return f"cannot parse {shown!r} as a JSON-RPC URL (port not a number?)"
    if parts.scheme.lower() not in RPC_SCHEMES:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        return f"{shown!r}: a JSON-RPC URL starts with http:// or https:// (got {got})"
    if not parts.hostname:
        return f"{shown!r}: a JSON-RPC URL names a host (http://HOST:PORT)"
    return None


def checksum_address(text: str) -> tuple[str, str | None]:
    """``(EIP-55 address, None)`` for ``0x`` and 40 hex digits in one case, or a mixed-case one
    whose checksum holds; ``(text, why not)`` otherwise (a mixed case that fails is a typo)."""
    from eth_utils.address import to_checksum_address

    value = text.strip()
    digits = value[2:] if value[:2] in ("0x", "0X") else None
    shown = display_name(value)[:80]
    if (
        digits is None
        or len(digits) != 40
        or any(c not in "0123456789abcdefABCDEF" for c in digits)
    ):
        return value, f"{shown!r} is not an address (0x and 40 hex digits)"
    address = str(to_checksum_address("0x" + digits.lower()))
    if digits not in (digits.lower(), digits.upper()) and "0x" + digits != address:
        return value, (
            f"{shown!r}: its mixed upper and lower case is not the address's EIP-55 checksum "
            f"({address}): a mistyped digit?"
        )
    return address, None


def mask_url(url: str) -> str:
    """Hide the password of a URL; keep everything a person needs to recognise it."""
    try:
        parsed = make_url(url)
    except Exception:  # not a URL SQLAlchemy understands: hide all of it but the scheme
        scheme, sep, _rest = url.partition("://")
        return f"{scheme}{sep}********" if sep else "********"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings once; bad values raise one :class:`ConfigError`."""
    path = config_file_path()
    if os.environ.get("VERITY_CONFIG") and not path.exists():
        # a file named on purpose and missing is a mistake; only the default location is optional
        raise ConfigError(f"VERITY_CONFIG {display_name(path)}: no such file")
    if path.exists():
        try:
            with path.open("rb") as handle:
                tomllib.load(handle)
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path}: not UTF-8 text") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    try:
        settings = Settings(**overrides)
    except SettingsError as exc:  # a list or group in the environment that is not JSON
        raise ConfigError(_unparsable_environment(exc)) from None
    except ValidationError as exc:
        raise ConfigError(
            f"invalid setting {first_validation_problem(exc, 'settings')} "
            f"({exc.error_count()} problem(s); environment VERITY_*, file {path})"
        ) from None
    if settings.home.exists() and not settings.home.is_dir():
        raise ConfigError(f"VERITY_HOME {display_name(settings.home)}: is a file, not a folder")
    return settings


def _unparsable_environment(exc: SettingsError) -> str:
    """The message for a value pydantic-settings could not parse from the environment.

    It parses lists and groups (``VERITY_LIMITS``, ``VERITY_JOBS__PLUGINS``) as JSON and names
    only the top-level field that failed; the user needs the variable, so find the ones that feed
    that field and are not JSON.
    """
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else "settings"
    prefix = f"VERITY_{field.upper()}"
    feeding = sorted(
        name
        for name in os.environ
        if name.upper() == prefix or name.upper().startswith(f"{prefix}__")
    )
    broken = [name for name in feeding if not _is_json(os.environ[name])] or feeding
    if not broken:
        return f"invalid setting {field}: cannot read it from the environment"
    return (
        f"invalid setting {field}: {' or '.join(broken)} is not valid JSON (lists and groups set "
        'in the environment are written in JSON, for example ["a", "b"])'
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
