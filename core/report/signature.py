"""Detached Ed25519 signatures of reports, and their verification with nothing but the files.

``REPORT.sig`` is a small JSON object: the algorithm, the signer's key id and public key, the
SHA-256 of the report's bytes with a signature over them, and the SHA-256 of the canonical JSON
document the report carries with a second signature over that. The JSON signature is what makes
an HTML page and a PDF of the same document provably the same findings; the byte signature is what
makes one flipped byte anywhere in the handed-over file fail.

Messages are domain-separated (``verity-report-v1`` + what is signed), so a report signature can
never be replayed as a checkpoint signature or the other way round. Keys come from the caller
(``provenance.keys`` keeps them); this module needs only ``cryptography`` and imports no database
code, so ``verity verify-report`` runs on a machine that has never seen the case.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.canonical import canonical_json, parse_untrusted_json
from core.errors import BadInputError, VerificationError
from core.report import html, pdf

SIG_SCHEMA = 1
ALGORITHM = "Ed25519"
DOCUMENT_DOMAIN = b"verity-report-v1\ndocument\n"
JSON_DOMAIN = b"verity-report-v1\ncanonical-json\n"
MAX_SIG_BYTES = 64_000


class Signer(Protocol):
    """What signs a report: ``provenance.keys.SigningKey`` is one."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_hex(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_id_of(public_raw: bytes) -> str:
    return sha256_hex(public_raw)[:16]


def sniff_format(data: bytes) -> str:
    if data.startswith(b"%PDF-"):
        return "pdf"
    head = data[:200].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    return "json"


def embedded_json(data: bytes, fmt: str | None = None) -> bytes:
    """The canonical JSON a report of any format carries (for JSON: the report itself)."""
    fmt = fmt or sniff_format(data)
    if fmt == "pdf":
        return pdf.extract_json(data)
    if fmt == "html":
        return html.extract_json(data)
    return data


def sign_report(report: bytes, fmt: str, json_bytes: bytes, signer: Signer) -> dict[str, Any]:
    """The detached signature object for ``report`` and the canonical JSON it carries."""
    return {
        "schema_version": SIG_SCHEMA,
        "algorithm": ALGORITHM,
        "key_id": signer.key_id,
        "public_key": signer.public_hex,
        "format": fmt,
        "signed_sha256": sha256_hex(report),
        "signature": signer.sign(DOCUMENT_DOMAIN + report).hex(),
        "embedded_json_sha256": sha256_hex(json_bytes),
        "embedded_json_signature": signer.sign(JSON_DOMAIN + json_bytes).hex(),
    }


def load_public_key(text: str, option: str = "--public-key") -> bytes:
    """Raw public key bytes from hex, PEM, or a file holding either (as ``keys export`` prints).

    ``option`` names the command-line option in messages (``verify-receipt`` calls it --key).
    """
    value = text.strip()
    if len(value) < 4096 and "\n" not in value and _is_file(Path(value)):
        try:
            value = Path(value).read_text(encoding="utf-8", errors="replace").strip()
        except OSError as exc:
            raise BadInputError(f"{option}: {value}: cannot be read ({exc.strerror})") from None
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(value.encode("ascii", errors="replace"))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise BadInputError(f"{option}: not a readable PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadInputError(f"{option}: the PEM key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BadInputError(f"{option}: give 64 hex digits, a PEM key, or a file") from None
    if len(raw) != 32:
        raise BadInputError(f"{option}: an Ed25519 public key is 32 bytes (64 hex digits)")
    return raw


def _is_file(path: Path) -> bool:
    """A key given inline may be longer than a file name may be (ENAMETOOLONG): not a file."""
    try:
        return path.is_file()
    except OSError:
        return False


_SIG_FIELDS = {  # field -> the form ``sign_report`` writes
    "algorithm": r".{1,40}",
    "key_id": r"[0-9a-f]{16}",
    "public_key": r"[0-9a-f]{64}",
    "format": r"pdf|html|json",
    "signed_sha256": r"[0-9a-f]{64}",
    "signature": r"[0-9a-f]{128}",
    "embedded_json_sha256": r"[0-9a-f]{64}",
    "embedded_json_signature": r"[0-9a-f]{128}",
}


def parse_signature(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_SIG_BYTES:
        raise VerificationError(f"signature file: larger than {MAX_SIG_BYTES} bytes")
    try:
        sig = parse_untrusted_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"signature file: not JSON ({exc})") from None
    if not isinstance(sig, dict) or type(sig.get("schema_version")) is not int:
        raise VerificationError(f"signature file: not a schema {SIG_SCHEMA} Verity signature")
    if sig["schema_version"] != SIG_SCHEMA:
        raise VerificationError(f"signature file: not a schema {SIG_SCHEMA} Verity signature")
    # as strict as a receipt: every field present, of its form, and nothing else
    unknown = sorted(set(sig) - set(_SIG_FIELDS) - {"schema_version"})
    if unknown:
        raise VerificationError(f"signature file: unknown field {unknown[0]!r}")
    for field, pattern in _SIG_FIELDS.items():
        value = sig.get(field)
        if not isinstance(value, str):
            raise VerificationError(f"signature file: field {field!r} is missing")
        if not re.fullmatch(pattern, value):
            raise VerificationError(f"signature file: field {field!r} is malformed")
    if sig["algorithm"] != ALGORITHM:
        raise VerificationError(f"signature file: algorithm {sig['algorithm']!r} is not Ed25519")
    return sig


def _valid(public: Ed25519PublicKey, signature_hex: str, message: bytes) -> bool:
    try:
        public.verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_report(
    report: bytes, sig_data: bytes, pinned_key: bytes | None = None
) -> tuple[list[Check], dict[str, Any] | None]:
    """Every check of a report against its detached signature, and the document it carries.

    Runs all checks it can and reports each (like a receipt check), so a failure names exactly
    what failed. The document is returned only when the embedded JSON verified.
    """
    checks: list[Check] = []

    def step(name: str, ok: bool, detail: str) -> bool:
        checks.append(Check(name, ok, detail))
        return ok

    try:
        sig = parse_signature(sig_data)
    except VerificationError as exc:
        step("signature file", False, str(exc))
        return checks, None
    step("signature file", True, f"{ALGORITHM}, key {sig['key_id']}")
    try:
        public_raw = bytes.fromhex(sig["public_key"])
        public = Ed25519PublicKey.from_public_bytes(public_raw)
    except ValueError:
        step("signer key", False, "the signature file's public key is not an Ed25519 key")
        return checks, None
    if key_id_of(public_raw) != sig["key_id"]:
        step("signer key", False, "the key id does not belong to the public key")
        return checks, None
    if pinned_key is None:
        step("signer key", True, f"{sig['key_id']} (not pinned: compare with the examiner's key)")
    elif pinned_key != public_raw:
        step("signer key", False, f"signed by {sig['key_id']}, not by the key given")
        return checks, None
    else:
        step("signer key", True, f"{sig['key_id']} is the key given")
    actual = sha256_hex(report)
    step(
        "report hash",
        actual == sig["signed_sha256"],
        f"sha256 {actual}"
        if actual == sig["signed_sha256"]
        else f"report bytes hash to {actual}, the signature covers {sig['signed_sha256']}",
    )
    step(
        "report signature",
        _valid(public, sig["signature"], DOCUMENT_DOMAIN + report),
        "valid over the report's bytes"
        if _valid(public, sig["signature"], DOCUMENT_DOMAIN + report)
        else "invalid: the report was altered or signed by another key",
    )
    fmt = sniff_format(report)
    try:
        if fmt != sig["format"]:
            raise VerificationError(f"the report is {fmt}, its signature file says {sig['format']}")
        json_bytes = embedded_json(report, fmt)
        document = parse_untrusted_json(json_bytes)
        if fmt == "json" and canonical_json(document) != json_bytes:
            raise VerificationError("the JSON report is not in canonical form")
    except (VerificationError, ValueError) as exc:
        step("embedded document", False, str(exc))
        return checks, None
    json_ok = sha256_hex(json_bytes) == sig["embedded_json_sha256"] and _valid(
        public, sig["embedded_json_signature"], JSON_DOMAIN + json_bytes
    )
    step(
        "embedded document",
        json_ok,
        f"{fmt} carries canonical JSON sha256 {sha256_hex(json_bytes)}, signature valid"
        if json_ok
        else f"the canonical JSON in the {fmt} does not match its signature",
    )
    named = document.get("signing_key_id") if isinstance(document, dict) else None
    if named is not None:  # a report made before the field existed names no key
        step(
            "signer named in the report",
            named == sig["key_id"],
            f"report key {named}"
            if named == sig["key_id"]
            else f"the report names report key {named} as its signer, "
            f"the signature is by {sig['key_id']}",
        )
    is_report = (
        isinstance(document, dict) and document.get("report_type") == "verity.forensic-report"
    )
    step(
        "document format",
        is_report
        and type(document.get("schema_version")) is int
        and document["schema_version"] == 1,
        "Verity forensic report, schema 1" if is_report else "not a Verity forensic report",
    )
    ok = all(c.ok for c in checks)
    return checks, document if ok else None
