"""Anchoring checkpoints on an EVM chain through web3.py, behind one small protocol.

One transaction anchors a checkpoint's root with its tree size; the contract stores the block time
and emits an event. The transaction, its receipt and the block header are returned so the ledger
can archive them (nodes may prune old receipts). ``Web3Anchor`` serves both backends: the
in-process eth-tester chain used by unit tests and any JSON-RPC node (anvil, Besu, a public chain).
"""

from __future__ import annotations

import ast
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from core.errors import BadInputError, ProvenanceError

ARTIFACT = Path(__file__).resolve().parent.parent / "contracts" / "VerityAnchor.json"
ANCHORED_EVENT = "Anchored(bytes32,uint64,uint64,address)"
LOG_WINDOW = 1000  # blocks per eth_getLogs call: public nodes limit the range one call spans


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
    adopted: bool = False  # found on the contract (an earlier try's transaction), not sent now


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


def describe(exc: BaseException) -> str:
    """One short line for an exception from web3 or the HTTP stack: its type and its reason."""
    text = " ".join(str(exc).split())
    errno = re.search(r"\[Errno -?\d+\] ([^'\"()\]]+)", text)  # urllib3 buries the reason
    if errno:
        text = errno.group(1).strip()
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def code_at(w3: Any, address: str) -> bytes:
    """The runtime code an address holds (empty for an account), or a clear error."""
    try:
        return bytes(w3.eth.get_code(address))
    except Exception as exc:
        raise ProvenanceError(f"cannot read the code at {address}: {describe(exc)}") from None


def contract_problem(code: bytes) -> str | None:
    """Why ``code`` is not VerityAnchor's runtime code, or None when it is, byte for byte."""
    if not code:
        return "holds no contract (an account, or nothing deployed there)"
    if "0x" + code.hex() != str(load_artifact()["deployedBytecode"]).lower():
        return "holds a contract that is not VerityAnchor (its code differs from VerityAnchor.json)"
    return None


class Web3Anchor:
    """Anchors through a web3 connection; deploys the contract when given no address.

    Fails closed: a given address must hold VerityAnchor's code, and an anchor is returned only
    when the transaction's receipt holds the contract's ``Anchored`` event for the root and size
    and ``anchorOf(root)`` reads them back. A root already on the contract (an earlier try whose
    transaction was mined after it gave up) is adopted from its event, not sent again.
    """

    def __init__(
        self, w3: Any, contract_address: str | None = None, private_key: str | None = None
    ):
        self.w3 = w3
        self.artifact = load_artifact()
        self.account = None
        if private_key:
            try:
                self.account = w3.eth.account.from_key(private_key)
            except Exception:  # the message could quote the key: never show it
                raise BadInputError(
                    "the chain private key is not a 32-byte hex key (keys/chain.key or "
                    "VERITY_CHAIN__PRIVATE_KEY)"
                ) from None
            self.sender = self.account.address
        else:
            try:
                accounts = w3.eth.accounts
            except Exception as exc:
                raise ProvenanceError(f"cannot list the node's accounts: {describe(exc)}") from None
            if not accounts:
                raise ProvenanceError(
                    "the node offers no unlocked account; set a chain private key"
                )
            self.sender = accounts[0]
        if contract_address is None:
            self.address = self._deploy()
        else:
            from core.config import checksum_address

            address, malformed = checksum_address(contract_address)
            problem = malformed or contract_problem(code_at(w3, address))
            if problem is not None:
                raise BadInputError(f"contract {address}: {problem}")
            self.address = address
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
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(self._send(factory.constructor()))
        except Exception as exc:
            raise ProvenanceError(f"cannot deploy VerityAnchor: {describe(exc)}") from None
        address = str(receipt.contractAddress or "")
        if receipt.status != 1 or not address:
            raise ProvenanceError("the transaction deploying VerityAnchor failed")
        if (problem := contract_problem(code_at(self.w3, address))) is not None:
            raise ProvenanceError(f"the VerityAnchor just deployed at {address} {problem}")
        return address

    def anchor(
        self, root: bytes, tree_size: int, *, confirmations: int = 1, timeout_s: float = 60.0
    ) -> AnchorRecord:
        from web3.exceptions import TimeExhausted  # web3 loads slowly

        held = self.lookup(root)
        if held is not None:  # an earlier try's transaction was mined after it gave up
            return self._adopt(root, tree_size, held, confirmations, timeout_s)
        try:
            tx_hash = self._send(self.contract.functions.anchor(root, tree_size))
        except Exception as exc:
            reverted = self._revert_reason(exc)
            if reverted == "AlreadyAnchored" and (held := self.lookup(root)) is not None:
                return self._adopt(root, tree_size, held, confirmations, timeout_s)  # a race
            if reverted is not None:
                raise ProvenanceError(
                    f"contract {self.address} refused to anchor the root ({reverted}); "
                    "nothing recorded"
                ) from None
            raise ProvenanceError(f"cannot send the anchor transaction: {describe(exc)}") from None
        shown = "0x" + bytes(tx_hash).hex()
        again = "run `verity ledger anchor` again later: it records the anchor once it is mined"
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s)
        except TimeExhausted:
            raise ProvenanceError(
                f"anchor transaction {shown} was sent but is not mined after {timeout_s:g} s; "
                f"{again}"
            ) from None
        except Exception as exc:
            raise ProvenanceError(
                f"anchor transaction {shown} was sent, then the node failed ({describe(exc)}); "
                f"{again}"
            ) from None
        if receipt.status != 1:
            raise ProvenanceError(f"anchor transaction {shown} failed (reverted); nothing recorded")
        return self._verified(root, tree_size, tx_hash, confirmations, timeout_s, adopted=False)

    def _revert_reason(self, exc: Exception) -> str | None:
        """The contract error's name when ``exc`` is a revert (AlreadyAnchored, EmptyTree), or
        "execution reverted"; None when it is no revert (the node, the account, the network)."""
        from web3.exceptions import ContractLogicError

        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            raw = bytes.fromhex(data[2:]) if len(data) % 2 == 0 else b""
        elif (found := re.search(r"execution reverted: (b'.*'|b\".*\")$", str(exc))) is not None:
            raw = ast.literal_eval(found.group(1))  # eth-tester words the data as a bytes literal
        elif isinstance(exc, ContractLogicError) or "revert" in str(exc).lower():
            raw = b""
        else:
            return None
        for item in self.artifact["abi"]:
            if item["type"] == "error":
                signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                if raw[:4] == bytes(self.w3.keccak(text=signature))[:4]:
                    return str(item["name"])
        return "execution reverted"

    def _adopt(
        self,
        root: bytes,
        tree_size: int,
        held: tuple[int, int],
        confirmations: int,
        timeout_s: float,
    ) -> AnchorRecord:
        """The transaction that put ``root`` on the contract, found by its Anchored event."""
        size, timestamp = held
        if size != tree_size:
            raise ProvenanceError(
                f"the root is already on contract {self.address} with tree size {size}, not "
                f"{tree_size}; it cannot be anchored again there"
            )
        topic = "0x" + bytes(self.w3.keccak(text=ANCHORED_EVENT)).hex()
        try:
            first, last = self._blocks_stamped(timestamp)
            logs = [
                log
                for start in range(first, last + 1, LOG_WINDOW)
                for log in self.w3.eth.get_logs(
                    {
                        "address": self.address,
                        "fromBlock": start,
                        "toBlock": min(last, start + LOG_WINDOW - 1),
                        "topics": [topic, "0x" + root.hex()],
                    }
                )
            ]
        except Exception as exc:
            raise ProvenanceError(
                f"the root is on contract {self.address} but its Anchored event cannot be read: "
                f"{describe(exc)}"
            ) from None
        event = self.contract.events.Anchored()
        for log in logs:
            args = event.process_log(log)["args"]
            if int(args["treeSize"]) == size and int(args["timestamp"]) == timestamp:
                return self._verified(
                    root, tree_size, log["transactionHash"], confirmations, timeout_s, adopted=True
                )
        raise ProvenanceError(
            f"the root is on contract {self.address} but the node returns no Anchored event "
            "for it (does it keep old logs?); nothing recorded"
        )

    def _blocks_stamped(self, timestamp: int) -> tuple[int, int]:
        """The first and last block whose time is ``timestamp``: the contract stores the time of
        the block that anchored a root, so its transaction lies there. Found by bisection over
        block times (they never decrease), ~2·log2(height) header reads, so that the event is
        sought in those few blocks: public nodes refuse ``eth_getLogs`` over a whole chain."""
        height = int(self.w3.eth.block_number)

        def first_after(limit: int, *, inclusive: bool) -> int:
            low, high = 0, height + 1  # the answer lies in [low, high]; height + 1: none
            while low < high:
                middle = (low + high) // 2
                stamp = int(self.w3.eth.get_block(middle).timestamp)
                if stamp > limit or (inclusive and stamp == limit):
                    high = middle
                else:
                    low = middle + 1
            return low

        first = first_after(timestamp, inclusive=True)
        last = first_after(timestamp, inclusive=False) - 1
        if first > last:
            raise ProvenanceError(
                f"no block of this chain has the anchor's time {timestamp}; nothing recorded"
            )
        return first, last

    def _verified(
        self,
        root: bytes,
        tree_size: int,
        tx_hash: Any,
        confirmations: int,
        timeout_s: float,
        *,
        adopted: bool,
    ) -> AnchorRecord:
        """The record of a mined transaction, once the chain shows it anchored this root."""
        from web3.logs import DISCARD

        shown = "0x" + bytes(tx_hash).hex()
        try:
            first = self.w3.eth.get_transaction_receipt(tx_hash)
            self._await_confirmations(first.blockNumber, confirmations, timeout_s)
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            block = self.w3.eth.get_block(receipt.blockNumber)
            transaction = self.w3.eth.get_transaction(tx_hash)
            held = self.lookup(root)
            chain_id = int(self.w3.eth.chain_id)
        except ProvenanceError:
            raise
        except Exception as exc:
            raise ProvenanceError(
                f"cannot read back anchor transaction {shown}: {describe(exc)}; run `verity "
                "ledger anchor` again later"
            ) from None
        if bytes(receipt.blockHash) != bytes(first.blockHash):
            raise ProvenanceError(
                f"anchor transaction {shown} moved to another block while awaiting "
                "confirmations; run `verity ledger anchor` again"
            )
        events = [
            e["args"]
            for e in self.contract.events.Anchored().process_receipt(receipt, errors=DISCARD)
            if str(e["address"]).lower() == self.address.lower()
            and bytes(e["args"]["root"]) == root
        ]
        if (
            receipt.status != 1
            or str(transaction["to"] or "").lower() != self.address.lower()
            or len(events) != 1
            or int(events[0]["treeSize"]) != tree_size
            or int(events[0]["timestamp"]) != int(block.timestamp)
            or held != (tree_size, int(block.timestamp))
        ):
            raise ProvenanceError(
                f"transaction {shown} did not anchor this root on VerityAnchor {self.address} "
                "(no matching Anchored event, or anchorOf disagrees); nothing recorded"
            )
        return AnchorRecord(
            chain_id=chain_id,
            contract=str(self.address),
            tx_hash=shown,
            block_number=int(receipt.blockNumber),
            block_hash="0x" + bytes(receipt.blockHash).hex(),
            block_timestamp=int(block.timestamp),
            tree_size=tree_size,
            root_hash=root.hex(),
            transaction=_plain(dict(transaction)),
            receipt=_plain(dict(receipt)),
            header=_plain({k: v for k, v in dict(block).items() if k != "transactions"}),
            adopted=adopted,
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
                    f"anchor not confirmed by {confirmations} blocks within {timeout_s:.0f} s; "
                    "run `verity ledger anchor` again later"
                )
            time.sleep(0.25)

    def lookup(self, root: bytes) -> tuple[int, int] | None:
        try:
            size, timestamp, _who = self.contract.functions.anchorOf(root).call()
        except Exception as exc:
            raise ProvenanceError(
                f"cannot read anchorOf on contract {self.address}: {describe(exc)}"
            ) from None
        return None if timestamp == 0 else (int(size), int(timestamp))


def connect_rpc(url: str, timeout_s: float = 10.0) -> Any:
    """A web3 connection to a JSON-RPC node, or a clear error when none answers."""
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
    try:
        w3.eth.chain_id  # noqa: B018  a cheap call that fails fast when the node is down
    except Exception as exc:
        raise ProvenanceError(f"no EVM node answers at {url}: {describe(exc)}") from None
    return w3
