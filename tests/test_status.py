"""provenance.status: registration, checkpoints, anchors and the audit for the dashboard."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import update

from core.app import Verity
from core.db import LedgerLeaf
from provenance import ledger, status
from provenance.anchor import Web3Anchor


def test_registration_state_follows_register_and_anchor(verity: Verity, photo: Path) -> None:
    from core.store import sha256_file

    sha = sha256_file(photo)
    assert status.registration_state(verity, sha) == {"registered": False}
    assert status.audit_result(verity) == {
        "ok": True,
        "leaves": 0,
        "checkpoints": 0,
        "root": None,
        "message": "ledger intact",
    }
    ledger.register(verity, photo, None, "seen at the source", original_name="photo.jpg")
    state = status.registration_state(verity, sha)
    assert state["registered"] and state["leaf_index"] == 0
    assert state["note"] == "seen at the source" and state["registrant"] == "tester@verity"
    assert state["checkpoint"]["tree_size"] == 1 and state["anchor"] is None
    (checkpoint,) = status.checkpoints(verity)
    assert checkpoint["tree_size"] == 1 and not checkpoint["anchored"]
    assert status.anchors(verity) == []

    from web3 import EthereumTesterProvider, Web3

    anchored = ledger.anchor(verity, Web3Anchor(Web3(EthereumTesterProvider())))
    state = status.registration_state(verity, sha)
    assert state["anchor"]["tx_hash"] == anchored["tx_hash"]
    assert status.checkpoints(verity)[0]["anchored"]
    assert [a["root_hash"] for a in status.anchors(verity)] == [anchored["root_hash"]]
    assert status.audit_result(verity)["ok"]


def test_audit_failure_is_reported_as_data(verity: Verity, photo: Path) -> None:
    ledger.register(verity, photo, None)
    with verity.db.session() as s:
        s.execute(update(LedgerLeaf).values(record='{"media_sha256": "x"}'))
    result = status.audit_result(verity)
    assert not result["ok"] and "leaf #0" in result["message"]
