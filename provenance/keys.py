"""Ed25519 signing keys, in ``VERITY_HOME/keys/``: one ring per purpose.

Private keys are written with mode 0600 and never printed or logged. ``rotate`` makes a new key
active while the old public keys stay listed, so checkpoints and receipts signed by them still
verify. A key's id is the first 16 hex digits of the SHA-256 of its raw public key. Keys and the
log id are made on first use only: a lost pointer or log id is refused, never quietly remade.

Purposes keep keys apart: ``checkpoint`` signs the ledger's checkpoints (files ``checkpoint-*``,
pointer ``active``), ``report`` signs forensic reports (files ``report-*``, pointer
``report.active``), so a key handed to a court for reports vouches for nothing else.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import ProvenanceError, display_name

ACTIVE = "active"
PURPOSES = ("checkpoint", "report")


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_public(hex_key: str) -> Ed25519PublicKey:
    try:
        raw = bytes.fromhex(hex_key)
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise ProvenanceError(f"not an Ed25519 public key: {exc}") from None


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_hex(self) -> str:
        return public_raw(self.private.public_key()).hex()

    @property
    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


class LazySigningKey:
    """The ring's active key, loaded (or made, on first use) only when something is signed.

    A report that fails before it is signed (an unknown case) then leaves no key behind.
    """

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._key: SigningKey | None = None

    def _active(self) -> SigningKey:
        if self._key is None:
            self._key = self._ring.active()
        return self._key

    @property
    def key_id(self) -> str:
        return self._active().key_id

    @property
    def public_hex(self) -> str:
        return self._active().public_hex

    def sign(self, message: bytes) -> bytes:
        return self._active().sign(message)


class KeyRing:
    """The signing keys of one installation for one purpose (``checkpoint`` or ``report``)."""

    def __init__(self, folder: Path, purpose: str = "checkpoint") -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}")
        self.folder = folder
        self.purpose = purpose
        # the checkpoint ring predates purposes: its pointer keeps its old name
        self._pointer = ACTIVE if purpose == "checkpoint" else f"{purpose}.{ACTIVE}"

    def _private_path(self, kid: str) -> Path:
        return self.folder / f"{self.purpose}-{kid}.key"

    def _write_new(self) -> SigningKey:
        """A new key pair made active; on a folder that cannot be written, one clear error and
        no half-made key (a private key without its public half or pointer is taken back)."""
        written: list[Path] = []
        try:
            return self._write_new_files(written)
        except OSError as exc:
            for path in written:
                path.unlink(missing_ok=True)
            raise ProvenanceError(
                f"{display_name(self.folder)}: a new {self.purpose} key cannot be written there "
                f"({exc.strerror or type(exc).__name__})"
            ) from None

    def _write_new_files(self, written: list[Path]) -> SigningKey:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        private = Ed25519PrivateKey.generate()
        kid = key_id(public_raw(private.public_key()))
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self._private_path(kid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        written.append(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        public = self.folder / f"{self.purpose}-{kid}.pub"
        written.append(public)
        public.write_text(public_raw(private.public_key()).hex() + "\n")
        tmp = self.folder / f".{self._pointer}.tmp"
        written.append(tmp)
        tmp.write_text(kid + "\n")
        tmp.replace(self.folder / self._pointer)
        return SigningKey(kid, private)

    def active(self, *, create: bool = True) -> SigningKey:
        """The active signing key, made on first use only.

        A ring that already holds keys of its purpose never makes a new one because its pointer
        is gone: a key remade by itself would sign on as if nothing happened, and nobody could
        tell its checkpoints from a forger's. The caller passes ``create=False`` once something
        was signed (the ledger has checkpoints), so a lost key folder is not remade either.
        """
        pointer = self.folder / self._pointer
        if not pointer.is_file():
            if not create or self.public_keys():
                raise self._missing(self._pointer, self._restore_pointer())
            return self._write_new()
        kid = pointer.read_text().strip()
        path = self._private_path(kid)
        try:
            mode = path.stat().st_mode
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ProvenanceError(f"signing key {kid} cannot be loaded: {exc}") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ProvenanceError(f"signing key {kid} is not an Ed25519 key")
        self._check_key(kid, path, mode, private)
        return SigningKey(kid, private)

    def _check_key(self, kid: str, path: Path, mode: int, private: Ed25519PrivateKey) -> None:
        """Refuse a key that is not the one its name says, or that others can read.

        A private key file replaced by another key (a backup of the wrong installation) signed
        checkpoints that its listed public key cannot verify, and once one was committed the
        log could not be extended again; a report signed with it can never verify. A private
        key readable by others may have been copied: it signs nothing until that is fixed
        (as ssh refuses such a key).
        """
        public = public_raw(private.public_key())
        if key_id(public) != kid:
            raise ProvenanceError(
                f"{display_name(path)} holds another key (its id is {key_id(public)}, not {kid}): "
                "restore this key's file from a backup"
            )
        listed = self.public_keys().get(kid)
        if listed is not None and listed != public.hex():
            raise ProvenanceError(
                f"{display_name(self.folder / f'{self.purpose}-{kid}.pub')} does not hold the "
                "public half of its private key: restore it from a backup"
            )
        if mode & 0o077:
            raise ProvenanceError(
                f"{display_name(path)} can be read or written by others (mode "
                f"{mode & 0o777:04o}): make it private with `chmod 600` before it signs again"
            )

    def rotate(self) -> SigningKey:
        """Make a new key active on purpose; also the way on when the pointer was lost."""
        if not self.public_keys():
            self.active()  # a first key, so that an old key exists and stays listed
        return self._write_new()

    def log_id(self, expected: str | None = None) -> str:
        """A stable name for this installation's log, made with the first checkpoint.

        ``expected`` is the log id the newest checkpoint names, once there is one: the file must
        then hold it and is never made again, since a new name would start another log over the
        old one's leaves (and another installation's key folder would sign on as this log).
        """
        path = self.folder / "log_id"
        if not path.is_file():
            if expected is not None:
                raise self._missing("log_id", f"restore it from a backup (one line: {expected})")
            self.active()
            try:
                path.write_text(f"verity-log:{uuid.uuid4().hex}\n")
            except OSError as exc:
                path.unlink(missing_ok=True)
                raise ProvenanceError(
                    f"{display_name(path)}: cannot be written ({exc.strerror or exc})"
                ) from None
        found = path.read_text().strip()
        if expected is not None and found != expected:
            raise ProvenanceError(
                f"{path} names {found!r}, but this log's checkpoints name "
                f"{expected!r}: these keys belong to another log; restore this log's keys folder"
            )
        return found

    def _restore_pointer(self) -> str:
        known = ", ".join(self.public_keys()) or "none left"
        flag = "" if self.purpose == "checkpoint" else f" --{self.purpose}"
        return (
            f"restore it from a backup (one line: the id of the active key; keys here: {known}) "
            f"or start a new key on purpose with `verity keys rotate{flag}`"
        )

    def _missing(self, name: str, remedy: str) -> ProvenanceError:
        return ProvenanceError(
            f"{self.folder / name} is missing and will not be made again by itself: {remedy}"
        )

    def public_keys(self) -> dict[str, str]:
        """key id → public key hex, every key this installation ever signed with."""
        if not self.folder.is_dir():
            return {}
        out = {}
        for path in sorted(self.folder.glob(f"{self.purpose}-*.pub")):
            out[path.stem.removeprefix(f"{self.purpose}-")] = path.read_text().strip()
        return out
