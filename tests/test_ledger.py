"""provenance.ledger on a damaged log: register, receipt, lookup and audit fail closed.

What is stored beside the leaves (a checkpoint's frontier, the key files) is not trusted: a
registration that extends a wrong frontier would sign a root the leaves do not have, and a log
whose identity or key is silently remade would sign checkpoints nobody can tell from a forgery.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from core.app import Verity
from core.canonical import canonical_json
from core.cli import main
from core.config import load_settings
from core.errors import ProvenanceError, VerificationError
from provenance import ledger, merkle
from provenance.keys import KeyRing
from provenance.receipts import Checkpoint, SignedCheckpoint, sign_checkpoint

ZERO = "0" * 64


def _sql(*statements: str) -> None:
    app = Verity.open(load_settings())
    with app.db.session() as session:
        for statement in statements:
            session.execute(text(statement))
    app.close()


def _counts() -> tuple[int, int]:
    app = Verity.open(load_settings())
    with app.db.session() as session:
        leaves = session.execute(text("SELECT count(*) FROM ledger_leaves")).scalar_one()
        checkpoints = session.execute(text("SELECT count(*) FROM ledger_checkpoints")).scalar_one()
    app.close()
    return leaves, checkpoints


@pytest.fixture
def two(backend: str, photo: Path, clip: Path, capsys) -> None:
    """A log of two leaves and two checkpoints."""
    assert main(["register", str(photo), str(clip)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    ("frontier", "words"),
    [
        (f'[[1,"{ZERO}"]]', "stored frontier differs from the leaves"),
        ("not json", "stored frontier is unreadable"),
        ('[[2,"abc"]]', "stored frontier is unreadable"),
        ('{"2": 1}', "stored frontier is unreadable"),
    ],
)
def test_audit_compares_each_stored_frontier_with_the_leaves(
    two: None, capsys, frontier: str, words: str
) -> None:
    _sql(f"UPDATE ledger_checkpoints SET frontier = '{frontier}' WHERE tree_size = 2")
    assert main(["ledger", "audit"]) == 3
    assert f"checkpoint of size 2: {words}" in capsys.readouterr().err


def test_register_refuses_to_extend_a_frontier_that_misses_the_signed_root(
    two: None, capsys, tone: Path, tmp_path: Path
) -> None:
    _sql(f"UPDATE ledger_checkpoints SET frontier = '[[1,\"{ZERO}\"]]' WHERE tree_size = 2")
    assert main(["register", str(tone)]) == 3
    err = capsys.readouterr().err
    assert "checkpoint of size 2" in err and "frontier" in err and "nothing was registered" in err
    assert len(err.strip().splitlines()) == 1
    assert _counts() == (2, 2)
    # the row's root edited to match the forged frontier: the signed body still says otherwise
    forged = merkle.frontier_root([(2, bytes(32))]).hex()
    _sql(
        f"UPDATE ledger_checkpoints SET frontier = '[[2,\"{ZERO}\"]]', "
        f"root_hash = '{forged}' WHERE tree_size = 2"
    )
    assert main(["register", str(tone)]) == 3
    assert "checkpoint of size 2" in capsys.readouterr().err
    assert _counts() == (2, 2)


def test_register_without_a_stored_frontier_rebuilds_and_checks_it(
    two: None, capsys, tone: Path
) -> None:
    """Checkpoints written before frontiers were stored (NULL) are extended from the leaves."""
    _sql("UPDATE ledger_checkpoints SET frontier = NULL")
    assert main(["register", str(tone)]) == 0
    assert main(["ledger", "audit"]) == 0
    _sql(
        "UPDATE ledger_checkpoints SET frontier = NULL",
        f"UPDATE ledger_leaves SET leaf_hash = '{ZERO}' WHERE idx = 0",
    )
    other = tone.parent / "other-tone.wav"
    other.write_bytes(tone.read_bytes() + b"\0")
    capsys.readouterr()
    assert main(["register", str(other)]) == 3
    assert "checkpoint of size 3" in capsys.readouterr().err
    assert _counts() == (3, 3)


def test_a_receipt_that_would_not_verify_is_not_written(
    two: None, capsys, photo: Path, tmp_path: Path
) -> None:
    _sql(f"UPDATE ledger_leaves SET leaf_hash = '{ZERO}' WHERE idx = 1")
    out = tmp_path / "receipt.json"
    assert main(["receipt", str(photo), "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "inclusion proof" in err and "nothing was written" in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["lookup", "receipt", "register"])
def test_a_damaged_leaf_record_is_named_not_a_crash(
    two: None, capsys, clip: Path, tmp_path: Path, command: str
) -> None:
    _sql("UPDATE ledger_leaves SET record = 'not json' WHERE idx = 1")
    argv = [command, str(clip)]
    if command == "receipt":
        argv += ["-o", str(tmp_path / "r.json")]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "ledger leaf #1" in err and "internal error" not in err
    assert not (tmp_path / "r.json").exists()


def test_lookup_of_a_near_copy_names_a_damaged_leaf(two: None, capsys, photo: Path) -> None:
    _sql('UPDATE ledger_leaves SET record = \'{"a": 1, "a": 2}\' WHERE idx = 0')
    near = photo.parent / "near.jpg"
    near.write_bytes(photo.read_bytes() + b"\0")  # another SHA-256: the fingerprints are read
    assert main(["lookup", str(near)]) == 3
    assert "ledger leaf #0" in capsys.readouterr().err


def test_a_missing_log_id_is_not_remade_once_the_log_has_checkpoints(
    two: None, capsys, home: Path, tone: Path
) -> None:
    log_id = home / "keys" / "log_id"
    saved = log_id.read_text()
    log_id.unlink()
    assert main(["register", str(tone)]) == 1
    err = capsys.readouterr().err
    assert "keys/log_id is missing" in err and saved.strip() in err
    assert len(err.strip().splitlines()) == 1
    assert not log_id.exists() and _counts() == (2, 2)
    log_id.write_text("verity-log:someone-else\n")  # another log's identity: refused too
    assert main(["register", str(tone)]) == 1
    assert "verity-log:someone-else" in capsys.readouterr().err
    assert _counts() == (2, 2)
    log_id.write_text(saved)  # restored as the message says
    assert main(["register", str(tone)]) == 0
    assert main(["ledger", "audit"]) == 0


def test_a_missing_active_key_is_not_remade_but_can_be_rotated(
    two: None, capsys, home: Path, tone: Path
) -> None:
    keys = home / "keys"
    before = sorted(p.name for p in keys.iterdir())
    (keys / "active").unlink()
    for argv in (["register", str(tone)], ["keys", "export"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "keys/active is missing" in err and "verity keys rotate" in err
    assert sorted(p.name for p in keys.iterdir()) == sorted(set(before) - {"active"})
    assert _counts() == (2, 2)
    assert main(["keys", "rotate"]) == 0  # a new key on purpose: the old ones stay listed
    assert main(["register", str(tone)]) == 0
    assert main(["ledger", "audit"]) == 0
    assert len(KeyRing(keys).public_keys()) == 2


def test_lost_key_folder_is_not_remade_once_the_log_has_checkpoints(
    two: None, capsys, home: Path, tone: Path
) -> None:
    keys = home / "keys"
    keys.rename(home / "keys-backup")
    assert main(["register", str(tone)]) == 1
    assert "keys/log_id is missing" in capsys.readouterr().err
    assert not keys.exists() or not any(keys.iterdir())
    assert _counts() == (2, 2)


def test_first_registration_makes_the_log_id_even_after_keys_export(
    home: Path, capsys, photo: Path
) -> None:
    assert main(["keys", "export"]) == 0  # a key exists, no log id yet
    assert not (home / "keys" / "log_id").exists()
    assert main(["register", str(photo)]) == 0
    assert (home / "keys" / "log_id").read_text().startswith("verity-log:")
    assert main(["ledger", "audit"]) == 0


def test_audit_names_a_change_of_log_id(two: None, capsys, home: Path) -> None:
    """A checkpoint validly signed, but for another log: the log's identity changed under it."""
    app = Verity.open(load_settings())
    with app.db.session() as session:
        body = session.execute(
            text("SELECT body FROM ledger_checkpoints WHERE tree_size = 2")
        ).scalar_one()
    old = SignedCheckpoint.model_validate(json.loads(body)).checkpoint
    key = KeyRing(home / "keys").active()
    other = Checkpoint(**{**old.model_dump(), "log_id": "verity-log:other"})
    forged = canonical_json(sign_checkpoint(other, key).model_dump()).decode()
    with app.db.session() as session:
        session.execute(
            text("UPDATE ledger_checkpoints SET body = :b WHERE tree_size = 2"), {"b": forged}
        )
    app.close()
    assert main(["ledger", "audit"]) == 3
    err = capsys.readouterr().err
    assert "checkpoint of size 2: log id 'verity-log:other' differs" in err


def test_library_errors_are_the_error_tree(two: None, home: Path, tone: Path) -> None:
    app = Verity.open(load_settings())
    log_id = home / "keys" / "log_id"
    saved = log_id.read_text()
    log_id.unlink()
    with pytest.raises(ProvenanceError, match="keys/log_id is missing"):
        ledger.register(app, tone, None)
    log_id.write_text(saved)
    _sql(f"UPDATE ledger_checkpoints SET frontier = '[[1,\"{ZERO}\"]]' WHERE tree_size = 2")
    with pytest.raises(VerificationError, match="frontier"):
        ledger.register(app, tone, None)
    app.close()


def test_a_receipt_for_a_leaf_no_checkpoint_covers_is_refused(
    two: None, capsys, clip: Path, tmp_path: Path
) -> None:
    _sql("DELETE FROM ledger_checkpoints WHERE tree_size = 2")
    out = tmp_path / "r.json"
    assert main(["receipt", str(clip), "-o", str(out)]) == 3
    err = capsys.readouterr().err
    assert "ledger leaf #1 is not covered by a checkpoint" in err and not out.exists()


def test_a_registration_over_a_leaf_no_checkpoint_covers_names_it(
    two: None, tone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every attempt collides with the uncovered leaf; that is damage, not a concurrent writer."""
    monkeypatch.setattr(ledger.time, "sleep", lambda _s: None)
    _sql("DELETE FROM ledger_checkpoints WHERE tree_size = 2")
    app = Verity.open(load_settings())
    with pytest.raises(VerificationError, match=r"ledger leaf #1 is not covered by a checkpoint"):
        ledger.register(app, tone, None)
    app.close()
    assert _counts() == (2, 1)  # nothing was registered


def _events() -> int:
    app = Verity.open(load_settings())
    with app.db.session() as session:
        events = session.execute(text("SELECT count(*) FROM custody_events")).scalar_one()
        media = session.execute(text("SELECT count(*) FROM media_items")).scalar_one()
    app.close()
    return events + media


def _private_file(home: Path) -> Path:
    kid = (home / "keys" / "active").read_text().strip()
    return home / "keys" / f"checkpoint-{kid}.key"


def test_a_key_file_holding_another_key_signs_nothing(
    two: None, capsys, home: Path, tone: Path
) -> None:
    """An unrelated key under the active key's name signed a checkpoint its public key could not
    verify; once committed, the log could never be extended again (and the media was filed)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = _private_file(home)
    saved = path.read_bytes()
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    before = _events()
    assert main(["register", str(tone)]) == 1
    err = capsys.readouterr().err
    assert "holds another key" in err and len(err.strip().splitlines()) == 1
    assert _counts() == (2, 2) and _events() == before  # nothing filed, nothing signed
    path.write_bytes(saved)
    assert main(["register", str(tone)]) == 0
    assert main(["ledger", "audit"]) == 0


def test_a_private_key_others_can_read_signs_nothing(
    two: None, capsys, home: Path, tone: Path
) -> None:
    path = _private_file(home)
    path.chmod(0o644)
    assert main(["register", str(tone)]) == 1
    err = capsys.readouterr().err
    assert "mode 0644" in err and "chmod 600" in err
    assert _counts() == (2, 2)
    path.chmod(0o600)
    assert main(["register", str(tone)]) == 0


def test_a_damaged_public_key_file_is_named_by_receipt(
    two: None, capsys, home: Path, photo: Path, tmp_path: Path
) -> None:
    """It was "internal error: ValidationError … public_key" from `verity receipt`."""
    kid = (home / "keys" / "active").read_text().strip()
    (home / "keys" / f"checkpoint-{kid}.pub").write_text("zz\n")
    assert main(["receipt", str(photo), "-o", str(tmp_path / "r.json")]) == 3
    err = capsys.readouterr().err
    assert "cannot be built" in err and "internal" not in err
    assert not (tmp_path / "r.json").exists()
