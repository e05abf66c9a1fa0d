"""Anchoring: the contract artefact, eth-tester in-process, and a real anvil on 127.0.0.1."""

from __future__ import annotations

import json
import re
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
from core.db import CustodyEvent, LedgerAnchor
from core.errors import BadInputError, ProvenanceError
from provenance import ledger, ledger_audit
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
    assert not record.adopted
    with pytest.raises(Exception, match="revert"):  # the contract itself anchors a root once
        tester_backend.contract.functions.anchor(root, 7).transact({"from": tester_backend.sender})
    # anchoring again finds the transaction already on chain instead of reverting
    again = tester_backend.anchor(root, 7)
    assert again.adopted and again.tx_hash == record.tx_hash
    assert again.block_hash == record.block_hash and again.receipt == record.receipt
    with pytest.raises(ProvenanceError, match=r"already on contract .* with tree size 7, not 8"):
        tester_backend.anchor(root, 8)
    with pytest.raises(ProvenanceError, match=r"refused to anchor the root \(EmptyTree\)"):
        tester_backend.anchor(bytes(32), 0)


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
    ledger_audit.audit(app)
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
        ledger_audit.audit(app)


ACCEPTS_ANYTHING = "0x6001600c60003960016000f300"  # runtime code 00: every call succeeds
REVERTS = "0x6005600c60003960056000f360006000fd"  # runtime code 60006000fd: every call reverts


def _deploy_raw(w3, init_code: str) -> str:
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": init_code})
    return str(w3.eth.wait_for_transaction_receipt(tx).contractAddress)


def _counts(app: Verity) -> tuple[int, int]:
    with app.db.session() as session:
        anchors = session.execute(select(func.count()).select_from(LedgerAnchor)).scalar_one()
        events = session.execute(
            select(func.count()).select_from(CustodyEvent).where(CustodyEvent.action == "anchor")
        ).scalar_one()
    return anchors, events


def test_deployed_code_is_the_artifacts_runtime_code(tester_backend: Web3Anchor) -> None:
    code = tester_backend.w3.eth.get_code(tester_backend.address)
    assert "0x" + bytes(code).hex() == tester_backend.artifact["deployedBytecode"]
    assert Web3Anchor(tester_backend.w3, tester_backend.address.lower()).address == (
        tester_backend.address
    )


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (ACCEPTS_ANYTHING, "holds a contract that is not VerityAnchor"),
        (REVERTS, "holds a contract that is not VerityAnchor"),
        (None, "holds no contract"),
    ],
)
def test_an_address_without_verity_anchor_is_refused(
    tester_backend: Web3Anchor, code: str | None, problem: str
) -> None:
    """Before: any address was taken; a contract that accepts every call was 'anchored' on."""
    w3 = tester_backend.w3
    address = _deploy_raw(w3, code) if code else w3.eth.accounts[3]
    with pytest.raises(BadInputError, match=problem):
        Web3Anchor(w3, address)


def test_nothing_is_recorded_without_the_contracts_event(
    home: Path, photo: Path, tester_backend: Web3Anchor
) -> None:
    """Before: a successful transaction was enough; a contract that accepts any call (no
    event, no anchorOf) left an anchor row and custody event for a root on no chain."""
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    bogus = _deploy_raw(tester_backend.w3, ACCEPTS_ANYTHING)
    real = tester_backend.contract
    tester_backend.address = bogus  # past the constructor's code check: the event check holds
    tester_backend.contract = tester_backend.w3.eth.contract(address=bogus, abi=real.abi)
    tester_backend.lookup = lambda root: None  # type: ignore[method-assign]
    with pytest.raises(ProvenanceError, match=r"did not anchor this root.*nothing recorded"):
        ledger.anchor(app, tester_backend)
    assert _counts(app) == (0, 0)


def test_a_transaction_mined_after_the_timeout_is_adopted_on_retry(
    home: Path, photo: Path, tester_backend: Web3Anchor
) -> None:
    """Before: TimeExhausted (an internal error, the transaction's hash untold), then every
    retry reverted with AlreadyAnchored: the checkpoint could never be recorded."""
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    tester = tester_backend.w3.provider.ethereum_tester
    tester.disable_auto_mine_transactions()
    with pytest.raises(ProvenanceError, match=r"0x[0-9a-f]{64} was sent but is not mined") as e:
        ledger.anchor(app, tester_backend, timeout_s=1)
    assert "again later" in str(e.value)
    assert _counts(app) == (0, 0)
    tester.enable_auto_mine_transactions()  # mines the pending transaction
    result = ledger.anchor(app, tester_backend)
    assert result["new"] and result["adopted"] and result["tx_hash"] in str(e.value)
    assert _counts(app) == (1, 1)
    receipt = ledger.receipt(app, str(photo))
    verify_receipt(receipt.model_dump_json().encode(), media=photo)
    ledger_audit.audit(app)


def test_adoption_reads_logs_only_near_the_anchoring_block(
    tester_backend: Web3Anchor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public nodes refuse ``eth_getLogs`` over a whole chain (ranges of a few thousand blocks
    at most): adoption used to ask from block 0 to the newest and could not adopt there. The
    anchor's block is found from the time the contract stored, and only it is searched."""
    tester = tester_backend.w3.provider.ethereum_tester
    tester.mine_blocks(40)
    root = bytes(range(1, 33))
    record = tester_backend.anchor(root, 3)
    start = int(tester_backend.w3.eth.get_block("latest").timestamp)
    for k in range(1, 61):  # a chain that went on, one block a second
        tester.time_travel(start + k)
        tester.mine_blocks(1)
    asked: list[tuple[int, int]] = []
    get_logs = tester_backend.w3.eth.get_logs

    def strict_get_logs(query: dict) -> list:
        low, high = query["fromBlock"], query["toBlock"]
        assert isinstance(low, int) and isinstance(high, int), query  # never "latest"
        asked.append((low, high))
        if high - low >= 20:
            raise ValueError("query exceeds max block range 20")
        return list(get_logs(query))

    monkeypatch.setattr(tester_backend.w3.eth, "get_logs", strict_get_logs)
    again = tester_backend.anchor(root, 3)
    assert again.adopted and again.tx_hash == record.tx_hash
    assert all(low <= record.block_number <= high for low, high in asked), asked
    assert sum(high - low + 1 for low, high in asked) < 20


def test_a_root_anchored_between_lookup_and_send_is_adopted(
    home: Path, photo: Path, tester_backend: Web3Anchor, monkeypatch
) -> None:
    """The contract's AlreadyAnchored revert (another writer was first) adopts that anchor."""
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    checkpoint = ledger.receipt(app, str(photo)).checkpoint.checkpoint
    first = tester_backend.anchor(bytes.fromhex(checkpoint.root_hash), checkpoint.tree_size)
    looked = iter([None])
    real_lookup = tester_backend.lookup
    monkeypatch.setattr(tester_backend, "lookup", lambda r: next(looked, real_lookup(r)))
    result = ledger.anchor(app, tester_backend)
    assert result["adopted"] and result["tx_hash"] == first.tx_hash


def test_an_unreachable_node_is_named_with_its_reason(
    home: Path, photo: Path, tester_backend: Web3Anchor
) -> None:
    """Before: 'cannot check on http://127.0.0.1:9: ProvenanceError', the reason hidden."""
    app = Verity.open(load_settings())
    ledger.register(app, photo, None)
    ledger.anchor(app, tester_backend)
    data = ledger.receipt(app, str(photo)).model_dump_json().encode()
    checks = check_receipt(data, media=photo, rpc_url="http://127.0.0.1:9")
    assert not checks[-1].ok and checks[-1].name == "chain anchor"
    assert "no EVM node answers at http://127.0.0.1:9" in checks[-1].detail
    assert "Connection refused" in checks[-1].detail


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


def _anchored_files(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "chain").glob("contract-*.txt"))


@pytest.mark.chain
@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (ACCEPTS_ANYTHING, "holds a contract that is not VerityAnchor"),  # D1: was 'anchored'
        (REVERTS, "holds a contract that is not VerityAnchor"),  # D3: was ContractLogicError
        (None, "holds no contract"),  # an account: was replaced by a new deployment
    ],
)
def test_a_configured_address_without_verity_anchor_is_a_config_error(
    home: Path, capsys, photo: Path, anvil: str, monkeypatch, code: str | None, problem: str
) -> None:
    w3 = connect_rpc(anvil)
    address = _deploy_raw(w3, code) if code else w3.eth.accounts[3]
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", anvil)
    monkeypatch.setenv("VERITY_CHAIN__CONTRACT_ADDRESS", address.lower())
    assert main(["register", str(photo)]) == 0
    capsys.readouterr()
    assert main(["ledger", "anchor"]) == 2
    err = capsys.readouterr().err
    assert f"on chain 31337, chain.contract_address {address} {problem}" in err, err
    assert len(err.strip().splitlines()) == 1
    assert _counts(Verity.open(load_settings())) == (0, 0)
    assert _anchored_files(home) == []  # nothing deployed, nothing remembered


@pytest.mark.chain
def test_a_remembered_address_is_not_overwritten(
    home: Path, capsys, photo: Path, anvil: str, monkeypatch
) -> None:
    w3 = connect_rpc(anvil)
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", anvil)
    remembered = home / "chain" / "contract-31337.txt"
    remembered.parent.mkdir(parents=True)
    other = _deploy_raw(w3, ACCEPTS_ANYTHING)
    remembered.write_text(other + "\n")
    assert main(["register", str(photo)]) == 0
    capsys.readouterr()
    assert main(["ledger", "anchor"]) == 2
    err = capsys.readouterr().err
    assert f"names {other}, which on chain 31337 holds a contract that is not" in err, err
    assert remembered.read_text() == other + "\n"
    assert _counts(Verity.open(load_settings())) == (0, 0)
    # a remembered address where nothing is deployed any more (a fresh node): deployed again
    remembered.write_text(w3.eth.accounts[4].lower() + "\n")
    assert main(["ledger", "anchor"]) == 0
    assert remembered.read_text().strip() != w3.eth.accounts[4].lower()


@pytest.mark.chain
def test_a_node_of_another_chain_than_configured_is_refused(
    home: Path, capsys, photo: Path, anvil: str, monkeypatch
) -> None:
    """Before: chain.chain_id was ignored and the root anchored on chain 31337."""
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", anvil)
    monkeypatch.setenv("VERITY_CHAIN__CHAIN_ID", "1")
    assert main(["register", str(photo)]) == 0
    capsys.readouterr()
    assert main(["ledger", "anchor"]) == 2
    err = capsys.readouterr().err
    assert "serves chain 31337, but chain.chain_id is 1" in err, err
    assert _counts(Verity.open(load_settings())) == (0, 0) and _anchored_files(home) == []
    monkeypatch.setenv("VERITY_CHAIN__CHAIN_ID", "31337")
    assert main(["ledger", "anchor"]) == 0


@pytest.mark.chain
def test_a_slow_node_names_the_transaction_and_a_retry_records_it(
    home: Path, capsys, photo: Path, tmp_path: Path, anvil: str, monkeypatch
) -> None:
    """Before: 'internal error: TimeExhausted', no hash; once mined, every retry was an
    internal ContractCustomError (AlreadyAnchored) and the checkpoint was never recorded."""
    w3 = connect_rpc(anvil)
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", anvil)
    assert main(["register", str(photo)]) == 0
    assert main(["ledger", "anchor"]) == 0  # deploys the contract while blocks are mined
    second = tmp_path / "second.png"
    second.write_bytes(photo.read_bytes() + b"\0")  # another file: a new checkpoint
    assert main(["register", str(second)]) == 0
    w3.provider.make_request("evm_setAutomine", [False])
    capsys.readouterr()
    assert main(["ledger", "anchor", "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err, err
    sent = re.search(r"anchor transaction (0x[0-9a-f]{64}) was sent but is not mined", err)
    assert sent is not None and "`verity ledger anchor` again later" in err, err
    assert _counts(Verity.open(load_settings())) == (1, 1)
    w3.provider.make_request("evm_mine", [])
    w3.provider.make_request("evm_setAutomine", [True])
    assert main(["ledger", "anchor"]) == 0
    out = capsys.readouterr().out
    assert "earlier try" in out and sent.group(1) in out, out
    assert _counts(Verity.open(load_settings())) == (2, 2)
    receipt = tmp_path / "r.json"
    assert main(["receipt", str(second), "-o", str(receipt)]) == 0
    assert main(["verify-receipt", str(receipt), "--media", str(second), "--rpc", anvil]) == 0
