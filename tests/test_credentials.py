"""core.credentials: C2PA fixtures signed inside the test with a CA made inside the test."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from core.cli import main
from core.config import MediaLimits
from core.credentials import read_credentials
from core.media import probe


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Verity tests"),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("c2pa")
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test CA"))
        .issuer_name(_name("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("Test signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None)
    )
    manifest = {
        "claim_generator_info": [{"name": "verity-tests", "version": "1"}],
        "title": "photo.jpg",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                        }
                    ]
                },
            }
        ],
    }
    source = io.BytesIO()
    Image.new("RGB", (96, 64), (30, 140, 200)).save(source, "JPEG")
    source.seek(0)
    out = io.BytesIO()
    c2pa.Builder(json.dumps(manifest)).sign(signer, "image/jpeg", source, out)
    paths = {
        "signed": folder / "signed.jpg",
        "anchors": folder / "anchors.pem",
        "plain": folder / "plain.jpg",
        "tampered": folder / "tampered.jpg",
    }
    paths["signed"].write_bytes(out.getvalue())
    paths["anchors"].write_bytes(ca.public_bytes(pem))
    source.seek(0)
    paths["plain"].write_bytes(source.getvalue())
    tampered = bytearray(out.getvalue())
    tampered[-200] ^= 0xFF
    paths["tampered"].write_bytes(bytes(tampered))
    return paths


def read(path: Path, anchors: Path | None = None):
    return read_credentials(path, probe(path, MediaLimits()), anchors)


def test_the_four_states(signed) -> None:
    assert read(signed["signed"], signed["anchors"]).state == "Trusted"
    valid = read(signed["signed"])
    assert valid.state == "Valid" and "signingCredential.untrusted" in valid.failure_codes
    assert valid.validation_results and valid.manifest_store["active_manifest"]
    invalid = read(signed["tampered"], signed["anchors"])
    assert invalid.state == "Invalid" and "assertion.dataHash.mismatch" in invalid.failure_codes
    none = read(signed["plain"])
    assert none.state == "None" and none.reason == "no C2PA manifest"


def test_ingest_keeps_credentials_and_cli(home: Path, capsys, signed, monkeypatch, tone) -> None:
    monkeypatch.setenv("VERITY_C2PA_TRUST_ANCHORS", str(signed["anchors"]))
    assert main(["analyze", str(signed["signed"]), "--json"]) == 0
    media = json.loads(capsys.readouterr().out)["media"]
    assert media["c2pa_state"] == "Trusted" and media["c2pa_failures"] == []
    assert main(["c2pa", str(signed["tampered"])]) == 0
    out = capsys.readouterr().out
    assert "C2PA: Invalid" in out and "assertion.dataHash.mismatch" in out
    assert main(["c2pa", str(tone), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "None"
