"""Content Credentials for what the red-team lab makes: synthetic media labelled at birth.

Every lab output carries a C2PA manifest whose ``c2pa.actions`` assertion says ``c2pa.created``
with the IPTC digital source type ``trainedAlgorithmicMedia`` and names the generator, signed
with the lab's own ES256 key. The lab's certificate chain (a self-made CA and a signing leaf) is
made on first use under ``VERITY_HOME/keys/lab/`` and reused after: readers see the signature as
``Valid`` (not ``Trusted``, unless an analyst adds ``keys/lab/ca.pem`` to the trust anchors).

Formats: c2pa-rs embeds manifests in JPEG, PNG, WebP, TIFF, WAV, MP3, MP4 and more; the lab
writes JPEG and PNG pictures and WAV speech, all covered. Signing never touches the network
(no timestamp authority).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import ProvenanceError

TRAINED_ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MEDIA_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MEDIA_TYPES.update({".wav": "audio/wav", ".mp3": "audio/mpeg", ".mp4": "video/mp4"})
LAB_KEYS = ("ca.pem", "chain.pem", "key.pem")
VALID_DAYS = 3650


def _write_private(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Verity red-team lab"),
        ]
    )


def _usage(*, ca: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=ca, crl_sign=ca, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def ensure_lab_keys(keys_dir: Path) -> Path:
    """The lab's CA, chain and key under ``keys_dir/lab``, made once (ES256, P-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    folder = keys_dir / "lab"
    if all((folder / name).is_file() for name in LAB_KEYS):
        return folder
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Verity lab CA"))
        .issuer_name(_name("Verity lab CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Verity lab generator"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # the CA key is not kept: the lab's chain is fixed, a new one is made by deleting the folder
    _write_private(folder / "key.pem", private, 0o600)
    _write_private(folder / "chain.pem", leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)
    _write_private(folder / "ca.pem", ca.public_bytes(pem), 0o644)
    return folder


def manifest_for(title: str, generator: dict[str, Any], version: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": "verity-lab", "version": version}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": TRAINED_ALGORITHMIC,
                            "softwareAgent": {"name": "verity-lab", "version": version},
                            "parameters": {"generator": generator},
                        }
                    ]
                },
            }
        ],
    }


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl+C while c2pa's native code runs, and let it through when it returns.

    c2pa reads and writes the streams through Python callbacks; a KeyboardInterrupt raised in
    one is swallowed by ctypes ("Exception ignored on calling ctypes callback function"), so
    an interrupted `verity lab make-fakes` printed a traceback, went on, and exited 0. While
    signing, SIGINT only notes that it came; the interruption is raised once c2pa returns.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # Python runs signal handlers in the main thread only
        return
    came: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if came and previous is not signal.SIG_IGN:
            if callable(previous):
                previous(signal.SIGINT, None)  # Python's own handler raises KeyboardInterrupt
            else:
                raise KeyboardInterrupt


def sign_synthetic(
    data: bytes, suffix: str, *, keys_dir: Path, title: str, generator: dict[str, Any]
) -> bytes:
    """``data`` (a whole JPEG, PNG, WAV… file) with an embedded, signed lab manifest."""
    import c2pa

    from core import __version__

    media_type = MEDIA_TYPES.get(suffix.lower())
    if media_type is None:
        raise ProvenanceError(f"the lab cannot embed Content Credentials in {suffix} files")
    folder = ensure_lab_keys(keys_dir)
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256,
            (folder / "chain.pem").read_bytes(),
            (folder / "key.pem").read_bytes(),
            None,  # no timestamp authority: signing stays offline
        )
    )
    out = io.BytesIO()
    try:
        builder = c2pa.Builder(json.dumps(manifest_for(title, generator, __version__)))
        with _interrupts_held():
            builder.sign(signer, media_type, io.BytesIO(data), out)
    except c2pa.C2paError as exc:
        raise ProvenanceError(f"signing {title}: {exc}") from None
    return out.getvalue()


def is_lab_output(manifest_store: dict[str, Any] | None) -> bool:
    """True when the active manifest says ``c2pa.created`` by a trained algorithm (any signer:
    the dashboard shows it as synthetic either way, and the signer's state beside it)."""
    if not manifest_store:
        return False
    active = (manifest_store.get("manifests") or {}).get(manifest_store.get("active_manifest"))
    for assertion in (active or {}).get("assertions", []):
        if not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        for action in (assertion.get("data") or {}).get("actions", []):
            if (
                action.get("action") == "c2pa.created"
                and action.get("digitalSourceType") == TRAINED_ALGORITHMIC
            ):
                return True
    return False
