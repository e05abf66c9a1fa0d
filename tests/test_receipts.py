"""provenance.receipts and the ledger CLI: offline receipts that fail on any one-byte change."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.errors import ProvenanceError
from provenance import ledger
from provenance.keys import KeyRing
from provenance.receipts import ReceiptError, check_receipt, verify_receipt
from tests.races import LosesRace


@pytest.fixture
def registered(home: Path, capsys, photo: Path, clip: Path, tmp_path: Path) -> Path:
    assert main(["register", str(photo), str(clip), "--note", "checked by desk"]) == 0
    out = tmp_path / "receipt.json"
    assert main(["receipt", str(photo), "-o", str(out)]) == 0
    capsys.readouterr()
    return out


def test_receipt_verifies_offline_with_the_file(registered: Path, photo: Path, capsys) -> None:
    verify_receipt(registered.read_bytes(), media=photo)
    assert main(["verify-receipt", str(registered), "--media", str(photo)]) == 0
    out = capsys.readouterr().out
    for name in ("receipt format", "media hash", "inclusion proof", "checkpoint signature"):
        assert f"ok   {name}" in out
    # its own key vouches only for itself: the verdict line says what would tie it to the log
    assert "receipt valid (consistent with the key it carries: pass --key" in out
    key = verify_receipt_key(registered)
    assert main(["verify-receipt", str(registered), "--key", key]) == 0
    assert capsys.readouterr().out.rstrip().endswith("\nreceipt valid")
    # the key as `verity keys export` writes it (PEM) or in a file, as verify-report takes it
    pem = registered.parent / "log-key.pem"
    pem.write_bytes(
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key)).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert main(["verify-receipt", str(registered), "--key", str(pem)]) == 0
    capsys.readouterr()
    # a malformed key is bad input (exit 2), not a receipt that failed (it was exit 3)
    for bad in ("zzz", "ab" * 31, str(registered)):
        assert main(["verify-receipt", str(registered), "--key", bad]) == 2, bad
        assert capsys.readouterr().err.startswith("verity: error: --key:")


def verify_receipt_key(path: Path) -> str:
    """The public key a receipt carries (as the log's owner would publish it)."""
    return str(json.loads(path.read_text())["public_key"])


def test_every_one_byte_change_fails(registered: Path, photo: Path, tmp_path: Path) -> None:
    data = registered.read_bytes()
    for position in range(0, len(data), max(1, len(data) // 300)):
        changed = bytearray(data)
        changed[position] = (changed[position] + 1) % 256
        with pytest.raises(ReceiptError):
            verify_receipt(bytes(changed), media=photo)
    media = bytearray(photo.read_bytes())
    media[len(media) // 2] ^= 1
    other = tmp_path / "changed.jpg"
    other.write_bytes(bytes(media))
    with pytest.raises(ReceiptError, match="media hash"):
        verify_receipt(data, media=other)


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (lambda r: r.__setitem__("leaf_index", 10**30), "receipt format"),
        (lambda r: r.__setitem__("leaf_index", "0"), "receipt format"),
        (lambda r: r["inclusion_proof"].append("ab" * 32), "inclusion proof"),
        (lambda r: r.__setitem__("inclusion_proof", []), "inclusion proof"),
        (lambda r: r["inclusion_proof"].__setitem__(0, "abc"), "receipt format"),
        (lambda r: r["checkpoint"]["checkpoint"].__setitem__("tree_size", 3), "inclusion proof"),
        (lambda r: r.__setitem__("public_key", "00" * 32), "checkpoint signature"),
        (lambda r: r["record"].__setitem__("note", "changed"), "inclusion proof"),
        (lambda r: r.__setitem__("extra", 1), "receipt format"),
    ],
)
def test_malformed_or_tampered_receipts_name_the_check(registered: Path, mutate, check) -> None:
    receipt = json.loads(registered.read_text())
    mutate(receipt)
    checks = check_receipt(json.dumps(receipt).encode())
    assert not checks[-1].ok and checks[-1].name == check


def test_unreadable_receipts_exit_3_without_traceback(tmp_path: Path, capsys, registered) -> None:
    too_deep = b"[" * 20_000 + b"]" * 20_000  # past the JSON parser's recursion limit
    for content in (
        b"",
        b"{",
        registered.read_bytes()[:200],
        b"\xff\xfe",
        b"[]",
        b"x" * 2_000_000,
        too_deep,
    ):
        bad = tmp_path / "bad.json"
        bad.write_bytes(content)
        assert main(["verify-receipt", str(bad)]) == 3
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err and "receipt invalid" in captured.err
    assert main(["verify-receipt", str(tmp_path / "missing.json")]) == 2


def test_a_receipt_that_says_two_things_does_not_verify(
    registered: Path, photo: Path, tmp_path: Path, capsys
) -> None:
    """A repeated key is read as its last value by Python and as its first by many readers; a
    number without a canonical form cannot hash as signed. Neither may verify or crash."""
    text = registered.read_text()
    assert '"note": "checked by desk"' in text
    for old, new in (
        ('"note": "checked by desk"', '"note": "FORGED", "note": "checked by desk"'),
        ('"leaf_index": 0', '"leaf_index": 7, "leaf_index": 0'),
        ('"note": "checked by desk"', '"note": NaN'),
        ('"note": "checked by desk"', '"note": 1e400'),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(text.replace(old, new, 1))
        assert main(["verify-receipt", str(bad), "--media", str(photo)]) == 3, new
        out = capsys.readouterr().out
        assert "FAIL receipt format" in out and "Traceback" not in out


def test_receipt_fields_are_printed_as_text_not_markup(
    registered: Path, tmp_path: Path, capsys
) -> None:
    """A receipt is attacker-supplied: its text must not forge a passing line nor crash Rich."""
    receipt = json.loads(registered.read_text())
    receipt["[/]"] = 1
    receipt["x\n[green]ok[/]   everything\nreceipt valid"] = 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(receipt))
    assert main(["verify-receipt", str(bad)]) == 3
    captured = capsys.readouterr()
    assert "internal error" not in captured.err
    assert "\nreceipt valid" not in captured.out and "[/]" in captured.out


def test_receipt_output_must_be_a_file(
    registered: Path, photo: Path, tmp_path: Path, capsys
) -> None:
    assert main(["receipt", str(photo), "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a directory" in err and len(err.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["receipt", str(photo), "-o", str(blocker / "r.json")]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "receipt.json", "verity-home"]


def test_deep_nesting_cannot_crash_a_verifier_whose_recursion_limit_was_raised(
    tmp_path: Path,
) -> None:
    """py_ecc (imported by the anchoring code) raises the recursion limit to 100,000; the JSON
    parser then recurses until the C stack overflows and the process dies (SIGSEGV) on a 200 KB
    receipt. The depth is checked before parsing; run in a child process so that a regression
    fails this test instead of killing the test run."""
    import subprocess
    import sys

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 99_000 + "]" * 99_000)
    program = (
        "import sys; sys.setrecursionlimit(100_000)\n"
        "from core.cli import main\n"
        f"sys.exit(main(['verify-receipt', {str(deep)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, (done.returncode, done.stderr[-500:])
    assert "nested deeper than 100 levels" in done.stdout


def test_pinned_key_and_rotation(registered: Path, home: Path, photo: Path, capsys) -> None:
    ring = KeyRing(home / "keys")
    old = ring.active()
    verify_receipt(registered.read_bytes(), pinned_key=old.public_hex)
    with pytest.raises(ReceiptError, match="signer key"):
        verify_receipt(registered.read_bytes(), pinned_key="11" * 32)
    assert main(["keys", "rotate"]) == 0
    new = ring.active()
    assert new.key_id != old.key_id and set(ring.public_keys()) == {old.key_id, new.key_id}
    verify_receipt(registered.read_bytes(), pinned_key=old.public_hex)  # old receipts still verify
    assert main(["register", str(photo.parent / "tone.wav")]) in (0, 2)
    assert main(["ledger", "audit"]) == 0
    private = list((home / "keys").glob("*.key"))
    assert private and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in private)
    assert main(["keys", "export"]) == 0
    out = capsys.readouterr().out
    assert "PRIVATE" not in out and old.public_hex in out


def test_same_media_same_leaf(home: Path, photo: Path, tmp_path: Path) -> None:
    app = Verity.open(load_settings())
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(photo.read_bytes())
    first = ledger.register(app, photo, None)
    second = ledger.register(app, copy, None)
    assert first["new"] and not second["new"]
    assert first["leaf_index"] == second["leaf_index"] == 0


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        (
            "UPDATE ledger_leaves SET record = replace(record, 'checked', 'CHECKED') WHERE idx = 0",
            "leaf #0: record was altered",
        ),
        ("DELETE FROM ledger_leaves WHERE idx = 0", "leaf #0 is missing"),
        (
            "UPDATE ledger_leaves SET leaf_hash = '" + "0" * 64 + "' WHERE idx = 1",
            "leaf #1: record was altered",
        ),
        (
            "UPDATE ledger_checkpoints SET root_hash = '" + "0" * 64 + "' WHERE tree_size = 2",
            "checkpoint of size 2",
        ),
        ("DELETE FROM ledger_checkpoints WHERE tree_size = 2", "not covered by a checkpoint"),
        # the newest leaf and its checkpoint together: a consistent smaller log, which only
        # the register event in the custody chain still remembers
        (
            "DELETE FROM ledger_leaves WHERE idx = 1; DELETE FROM ledger_checkpoints "
            "WHERE tree_size = 2",
            "ledger leaf #1 it registered is missing",
        ),
        ("DELETE FROM ledger_checkpoints WHERE tree_size = 1", "checkpoint of size 1 it recorded"),
        ("UPDATE ledger_leaves SET record = '[NaN]' WHERE idx = 1", "not canonical JSON"),
        (
            "UPDATE ledger_leaves SET record = '[]', leaf_hash = "
            "'" + hashlib.sha256(b"\x00[]").hexdigest() + "' WHERE idx = 1",
            "record was altered (not an object)",
        ),
        (
            "INSERT INTO ledger_leaves (idx, media_sha256, leaf_hash, record, created_at) VALUES "
            "(2, '" + "a" * 64 + "', '" + "b" * 64 + "', '{}', '2026-01-01 00:00:00+00')",
            "leaf #2: record was altered",
        ),
    ],
)
def test_audit_names_edited_rows(backend: str, capsys, photo: Path, clip: Path, sql, words) -> None:
    assert main(["register", str(photo), str(clip), "--note", "checked"]) == 0
    assert main(["ledger", "audit"]) == 0
    app = Verity.open(load_settings())
    with app.db.session() as session:
        for statement in sql.split("; "):
            session.execute(text(statement))
    app.close()
    capsys.readouterr()
    assert main(["ledger", "audit"]) == 3
    assert words in capsys.readouterr().err


def test_custody_names_a_leaf_whose_register_event_was_removed(
    backend: str, capsys, photo: Path, clip: Path
) -> None:
    assert main(["register", str(photo), str(clip)]) == 0
    assert main(["custody", "verify"]) == 0
    app = Verity.open(load_settings())
    with app.db.session() as session:  # the newest event of its chain: no link breaks
        session.execute(
            text("DELETE FROM custody_events WHERE action = 'register' AND details LIKE :p"),
            {"p": '%"leaf_index":1,%'},
        )
    app.close()
    capsys.readouterr()
    assert main(["custody", "verify"]) == 3
    assert "ledger leaf #1 has no matching register event" in capsys.readouterr().err


def test_a_damaged_public_key_fails_the_audit(home: Path, capsys, photo: Path) -> None:
    assert main(["register", str(photo)]) == 0
    (pub,) = (home / "keys").glob("checkpoint-*.pub")
    pub.write_text("zz\n")
    capsys.readouterr()
    assert main(["ledger", "audit"]) == 3
    err = capsys.readouterr().err
    assert "unusable key" in err and "internal error" not in err


def test_hash_command(home: Path, capsys, photo: Path) -> None:
    assert main(["hash", str(photo)]) == 0
    assert capsys.readouterr().out.split()[0] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert main(["hash", str(photo.parent)]) == 2
    # a name longer than the file system allows is bad input, for every command reading a path
    long_name = str(photo.parent / ("a" * 300 + ".png"))
    capsys.readouterr()
    for args in (["hash", long_name], ["lookup", long_name], ["analyze", long_name]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "file name too long" in err and "internal error" not in err, (args, err)


def test_a_registration_that_loses_the_race_for_a_leaf_tries_again(
    verity: Verity, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of one ledger race for the next leaf index; the loser retries, whole."""
    collide = LosesRace(ledger.append_records, "INSERT INTO ledger_leaves", times=2)
    monkeypatch.setattr(ledger, "append_records", collide)
    monkeypatch.setattr(ledger.time, "sleep", lambda _s: None)
    result = ledger.register(verity, photo, None)
    assert result["new"] and result["leaf_index"] == 0 and collide.calls == 3
    collide.times, collide.calls = 10**6, 0
    other = photo.with_name("other.jpg")
    other.write_bytes(photo.read_bytes() + b"\0")
    with pytest.raises(ProvenanceError, match="5 times; retry"):
        ledger.register(verity, other, None)
    assert collide.calls == ledger.REGISTER_ATTEMPTS
    with verity.db.session() as session:  # nothing half-written: one leaf, the first file's
        assert session.execute(text("SELECT count(*) FROM ledger_leaves")).scalar() == 1
