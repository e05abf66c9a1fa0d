"""Anchoring: the contract artefact, eth-tester in-process, and a real anvil on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.app import Verity
from core.cli import main
from core.config import load_settings
from core.db import LedgerAnchor
from core.errors import ProvenanceError
from provenance import ledger
from provenance.anchor import ARTIFACT, Web3Anchor, connect_rpc
from provenance.receipts import check_receipt, verify_receipt
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]


def _tool(path: Path, what: str) -> Path:
    if not path.exists():
        if IN_CI:
            pytest.fail(f"CI=true and {what} is missing at {path}: run make install")
        pytest.skip(f"{what} not installed (make install runs npm ci)")
    return path


@pytest.mark.chain
def test_committed_artifact_is_what_solc_compiles(tmp_path: Path) -> None:
    _tool(ROOT / "node_modules" / "solc", "npm solc")
    node = shutil.which("node")
    assert node, "node is required"
    out = tmp_path / "fresh.json"
    subprocess.run([node, str(ROOT / "provenance/contracts/compile.js"), str(out)], check=True)
    assert json.loads(out.read_text()) == json.loads(ARTIFACT.read_text())


@pytest.fixture
def tester_backend() -> Web3Anchor:
    from web3 import EthereumTesterProvider, Web3

    return Web3Anchor(Web3(EthereumTesterProvider()))


def test_contract_anchors_once_and_reads_back(tester_backend: Web3Anchor) -> None:
    root = bytes(range(32))
    assert tester_backend.lookup(root) is None
    record = tester_backend.anchor(root, 7, confirmations=3)
    assert record.tree_size == 7 and record.root_hash == root.hex()
    assert tester_backend.w3.eth.block_number - record.block_number + 1 >= 3
    size, timestamp = tester_backend.lookup(root)
    assert size == 7 and timestamp == record.block_timestamp
    assert record.receipt["status"] == 1 and record.header["hash"] == record.block_hash
    with pytest.raises(Exception, match="revert"):
        tester_backend.anchor(root, 7)


def test_ledger_anchor_archives_and_receipt_carries_it(
    home: Path, photo: Path, tester_backend: Web3Anchor, tmp_path: Path
) -> None:
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    first = ledger.anchor(app, tester_backend)
    again = ledger.anchor(app, tester_backend)
    assert first["new"] and not again["new"] and first["tx_hash"] == again["tx_hash"]
    receipt = ledger.receipt(app, str(photo))
    assert receipt.anchor is not None and receipt.anchor.tx_hash == first["tx_hash"]
    verify_receipt(receipt.model_dump_json().encode(), media=photo)
    ledger.audit(app)
    # the anchor is checked field by field: a missing or mistyped one is a format failure
    for mutate in (
        lambda a: a.pop("block_number"),
        lambda a: a.__setitem__("block_number", "7"),
        lambda a: a.__setitem__("tx_hash", "[/]"),
        lambda a: a.__setitem__("note", "extra"),
    ):
        edited = json.loads(receipt.model_dump_json())
        mutate(edited["anchor"])
        checks = check_receipt(json.dumps(edited).encode(), media=photo)
        assert not checks[-1].ok and checks[-1].name == "receipt format"
    with app.db.session() as session:
        row = session.get(LedgerAnchor, first["root_hash"])
        assert row is not None and json.loads(row.header)["number"] == first["block_number"]
        assert json.loads(row.transaction)["hash"] == first["tx_hash"]
        row.tree_size = 99
    with pytest.raises(Exception, match="no checkpoint of size 99"):
        ledger.audit(app)


class Down:
    """A backend whose node is unreachable."""

    def anchor(self, root: bytes, tree_size: int, *, confirmations: int, timeout_s: float):
        raise ProvenanceError("no EVM node answers at http://127.0.0.1:9: ConnectionError")

    def lookup(self, root: bytes):
        raise AssertionError


def test_node_down_leaves_nothing_anchored(home: Path, photo: Path, tester_backend) -> None:
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    with pytest.raises(ProvenanceError, match="no EVM node"):
        ledger.anchor(app, Down())
    with app.db.session() as session:
        assert session.execute(select(func.count()).select_from(LedgerAnchor)).scalar_one() == 0
    assert ledger.anchor(app, tester_backend)["new"]  # a later retry succeeds


# ------------------------------------------------------------------------------ real anvil


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def anvil(request: pytest.FixtureRequest) -> Iterator[str]:
    binaries = sorted((ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    binary = _tool(binaries[0] if binaries else ROOT / "node_modules/@foundry-rs/anvil", "anvil")
    port = _free_port()
    args = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--silent"]
    args += getattr(request, "param", [])
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connect_rpc(url, timeout_s=1)
                break
            except ProvenanceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.chain
def test_whole_flow_on_anvil(
    home: Path, capsys, photo: Path, tmp_path: Path, anvil: str, monkeypatch
) -> None:
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", "http://127.0.0.1:9")  # nothing listens there
    assert main(["register", str(photo)]) == 0
    assert main(["ledger", "anchor"]) == 1
    assert "no EVM node answers" in capsys.readouterr().err
    receipt = tmp_path / "r.json"
    assert main(["receipt", str(photo), "-o", str(receipt)]) == 0
    assert json.loads(receipt.read_text())["anchor"] is None  # nothing marked anchored
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", anvil)
    assert main(["ledger", "anchor"]) == 0
    assert main(["receipt", str(photo), "-o", str(receipt)]) == 0
    capsys.readouterr()
    assert main(["verify-receipt", str(receipt), "--media", str(photo), "--rpc", anvil]) == 0
    assert "ok   chain anchor: root on chain 31337" in capsys.readouterr().out
    for field, change in (("block_timestamp", 1), ("block_number", 1000)):
        tampered = json.loads(receipt.read_text())
        tampered["anchor"][field] += change
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(tampered))
        capsys.readouterr()
        assert main(["verify-receipt", str(bad), "--rpc", anvil]) == 3, field
        assert "FAIL chain anchor" in capsys.readouterr().out
    capsys.readouterr()
    assert main(["ledger", "audit"]) == 0


@pytest.mark.chain
@pytest.mark.parametrize("anvil", [["--block-time", "1"]], indirect=True)
def test_confirmations_are_awaited_on_a_ticking_chain(
    home: Path, photo: Path, anvil: str, monkeypatch
) -> None:
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    backend = Web3Anchor(connect_rpc(anvil))
    started = time.monotonic()
    record = ledger.anchor(app, backend, confirmations=3, timeout_s=30)
    assert time.monotonic() - started >= 1.5  # two more blocks at one per second
    assert backend.w3.eth.block_number - record["block_number"] + 1 >= 3


@pytest.mark.chain
def test_chain_up_keeps_state_across_restarts(home: Path, capsys, photo: Path, monkeypatch) -> None:
    _tool(ROOT / "node_modules" / "@foundry-rs", "anvil")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", url)
    assert main(["chain", "up", "--port", str(port)]) == 0
    try:
        assert main(["register", str(photo)]) == 0
        assert main(["ledger", "anchor"]) == 0
        before = connect_rpc(url).eth.block_number
    finally:
        assert main(["chain", "down"]) == 0
    time.sleep(1.0)
    assert (home / "chain" / "anvil-state.json").is_file()
    assert main(["chain", "up", "--port", str(port)]) == 0
    try:
        assert connect_rpc(url).eth.block_number >= before  # the chain came back with its blocks
        assert main(["ledger", "anchor"]) == 0  # the archived anchor is found again
        assert "already anchored" in capsys.readouterr().out
    finally:
        main(["chain", "down"])
