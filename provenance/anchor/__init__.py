"""Anchoring checkpoints on an EVM chain through web3.py, behind one small protocol.

One transaction anchors a checkpoint's root with its tree size; the contract stores the block time
and emits an event. The transaction, its receipt and the block header are returned so the ledger
can archive them (nodes may prune old receipts). ``Web3Anchor`` serves both backends: the
in-process eth-tester chain used by unit tests and any JSON-RPC node (anvil, Besu, a public chain).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.errors import ProvenanceError

ARTIFACT = Path(__file__).resolve().parent.parent / "contracts" / "VerityAnchor.json"


@dataclass(frozen=True)
class AnchorRecord:
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_hash: str
    block_timestamp: int
    tree_size: int
    root_hash: str
    transaction: dict[str, Any]
    receipt: dict[str, Any]
    header: dict[str, Any]


class LedgerBackend(Protocol):
    def anchor(
        self, root: bytes, tree_size: int, *, confirmations: int, timeout_s: float
    ) -> AnchorRecord: ...

    def lookup(self, root: bytes) -> tuple[int, int] | None:
        """(tree size, block timestamp) of an anchored root, or None."""
        ...


def load_artifact() -> dict[str, Any]:
    return dict(json.loads(ARTIFACT.read_text(encoding="utf-8")))


def _plain(value: Any) -> Any:
    """web3's AttributeDicts and HexBytes as plain JSON values."""
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


class Web3Anchor:
    """Anchors through a web3 connection; deploys the contract when given no address."""

    def __init__(
        self, w3: Any, contract_address: str | None = None, private_key: str | None = None
    ):
        self.w3 = w3
        self.artifact = load_artifact()
        self.account = None
        if private_key:
            self.account = w3.eth.account.from_key(private_key)
            self.sender = self.account.address
        else:
            accounts = w3.eth.accounts
            if not accounts:
                raise ProvenanceError(
                    "the node offers no unlocked account; set a chain private key"
                )
            self.sender = accounts[0]
        self.address = contract_address or self._deploy()
        self.contract = w3.eth.contract(address=self.address, abi=self.artifact["abi"])

    def _send(self, call: Any) -> Any:
        if self.account is None:
            return call.transact({"from": self.sender})
        tx = call.build_transaction(
            {"from": self.sender, "nonce": self.w3.eth.get_transaction_count(self.sender)}
        )
        signed = self.account.sign_transaction(tx)
        return self.w3.eth.send_raw_transaction(signed.raw_transaction)

    def _deploy(self) -> str:
        factory = self.w3.eth.contract(abi=self.artifact["abi"], bytecode=self.artifact["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(self._send(factory.constructor()))
        return str(receipt.contractAddress)

    def anchor(
        self, root: bytes, tree_size: int, *, confirmations: int = 1, timeout_s: float = 60.0
    ) -> AnchorRecord:
        tx_hash = self._send(self.contract.functions.anchor(root, tree_size))
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s)
        if receipt.status != 1:
            raise ProvenanceError(f"anchor transaction {tx_hash.hex()} failed")
        self._await_confirmations(receipt.blockNumber, confirmations, timeout_s)
        block = self.w3.eth.get_block(receipt.blockNumber)
        return AnchorRecord(
            chain_id=int(self.w3.eth.chain_id),
            contract=str(self.address),
            tx_hash="0x" + bytes(tx_hash).hex(),
            block_number=int(receipt.blockNumber),
            block_hash="0x" + bytes(receipt.blockHash).hex(),
            block_timestamp=int(block.timestamp),
            tree_size=tree_size,
            root_hash=root.hex(),
            transaction=_plain(dict(self.w3.eth.get_transaction(tx_hash))),
            receipt=_plain(dict(receipt)),
            header=_plain({k: v for k, v in dict(block).items() if k != "transactions"}),
        )

    def _await_confirmations(self, block_number: int, confirmations: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        tester = getattr(self.w3.provider, "ethereum_tester", None)
        while self.w3.eth.block_number - block_number + 1 < confirmations:
            if tester is not None:  # the in-process chain only moves when told to
                tester.mine_blocks(1)
                continue
            if time.monotonic() > deadline:
                raise ProvenanceError(
                    f"anchor not confirmed by {confirmations} blocks within {timeout_s:.0f} s"
                )
            time.sleep(0.25)

    def lookup(self, root: bytes) -> tuple[int, int] | None:
        size, timestamp, _who = self.contract.functions.anchorOf(root).call()
        return None if timestamp == 0 else (int(size), int(timestamp))


def connect_rpc(url: str, timeout_s: float = 10.0) -> Any:
    """A web3 connection to a JSON-RPC node, or a clear error when none answers."""
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
    try:
        w3.eth.chain_id  # noqa: B018  a cheap call that fails fast when the node is down
    except Exception as exc:
        raise ProvenanceError(f"no EVM node answers at {url}: {type(exc).__name__}") from None
    return w3
