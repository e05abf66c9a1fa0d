"""Signed checkpoints and self-contained receipts, verified with no database.

A checkpoint states (log id, tree size, root, time, key id) and is signed with Ed25519 over a
domain-separated canonical JSON message. A receipt carries the registration record, its leaf index,
the inclusion proof, the signed checkpoint and the signer's public key, so anyone can check it with
the receipt and the file alone. This module imports nothing from the database layer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from core.canonical import canonical_json, parse_untrusted_json
from core.errors import (
    ProvenanceError,
    VerificationError,
    VerityError,
    first_validation_problem,
)
from provenance import merkle
from provenance.keys import SigningKey, key_id, load_public

Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
MAX_TREE = 2**48
MAX_RECEIPT_BYTES = 1_000_000
CHECKPOINT_DOMAIN = b"verity-checkpoint-v1\n"

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True)


class ReceiptError(VerificationError):
    """A receipt or checkpoint is malformed or does not verify; the message names the check."""


class Checkpoint(BaseModel):
    model_config = _STRICT

    schema_version: Literal[1] = 1
    log_id: str = Field(min_length=1, max_length=200)
    tree_size: int = Field(ge=1, le=MAX_TREE)
    root_hash: Hex64
    timestamp: str = Field(max_length=40)
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")

    def message(self) -> bytes:
        return CHECKPOINT_DOMAIN + canonical_json(self.model_dump())


class SignedCheckpoint(BaseModel):
    model_config = _STRICT

    checkpoint: Checkpoint
    signature: str = Field(pattern=r"^[0-9a-f]{128}$")


class Anchor(BaseModel):
    """Where a checkpoint's root was anchored: what ``ledger.anchor_json`` writes, field by field.

    Strict like the rest of a receipt, so a missing or mistyped field is a format failure and
    every field a reader sees is one ``verify-receipt --rpc`` compares with the chain.
    """

    model_config = _STRICT

    chain_id: int = Field(ge=1)
    contract: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    tx_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    block_number: int = Field(ge=0)
    block_hash: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    block_timestamp: int = Field(ge=0)
    root_hash: Hex64
    tree_size: int = Field(ge=1, le=MAX_TREE)


class Receipt(BaseModel):
    model_config = _STRICT

    schema_version: Literal[1] = 1
    record: dict[str, Any]
    leaf_index: int = Field(ge=0, le=MAX_TREE)
    inclusion_proof: list[Hex64] = Field(max_length=64)
    checkpoint: SignedCheckpoint
    public_key: Hex64
    anchor: Anchor | None = None


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint:
    if checkpoint.key_id != key.key_id:
        raise ValueError("checkpoint names another key")
    return SignedCheckpoint(checkpoint=checkpoint, signature=key.sign(checkpoint.message()).hex())


def verify_checkpoint(signed: SignedCheckpoint, public_hex: str) -> None:
    """Raise unless ``signed`` carries a valid signature by the key ``public_hex``.

    A damaged key (a ``.pub`` file edited on disk, a pinned key mistyped) fails the check like a
    wrong one: nothing here may escape as anything but a :class:`ReceiptError`.
    """
    try:
        public = load_public(public_hex)
        signature = bytes.fromhex(signed.signature)
    except (ProvenanceError, ValueError) as exc:
        raise ReceiptError(f"checkpoint signature: unusable key or signature ({exc})") from None
    if key_id(bytes.fromhex(public_hex)) != signed.checkpoint.key_id:
        raise ReceiptError(
            "checkpoint signature: the public key is not the key the checkpoint names"
        )
    try:
        public.verify(signature, signed.checkpoint.message())
    except InvalidSignature:
        raise ReceiptError("checkpoint signature: invalid signature") from None


def record_leaf(record: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical_json(record))


def parse_receipt(data: bytes) -> Receipt:
    if len(data) > MAX_RECEIPT_BYTES:
        raise ReceiptError(f"receipt format: larger than {MAX_RECEIPT_BYTES} bytes")
    try:
        raw = parse_untrusted_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReceiptError(f"receipt format: not JSON ({exc})") from None
    try:
        return Receipt.model_validate(raw)
    except ValidationError as exc:
        raise ReceiptError(f"receipt format: {first_validation_problem(exc, 'receipt')}") from None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_receipt(
    data: bytes,
    *,
    media: Path | None = None,
    pinned_key: str | None = None,
    rpc_url: str | None = None,
) -> list[Check]:
    """Run every check in order, stopping at the first that fails; the last entry says why."""
    checks: list[Check] = []

    def step(name: str, detail: str) -> None:
        checks.append(Check(name, True, detail))

    try:
        receipt = parse_receipt(data)
        step("receipt format", "schema 1, all fields well-formed")
        media_sha = receipt.record.get("media_sha256")
        if not isinstance(media_sha, str) or len(media_sha) != 64:
            raise ReceiptError("record: no media_sha256")
        if media is not None:
            digest = hashlib.sha256()
            with media.open("rb") as handle:
                while block := handle.read(4 * 1024 * 1024):
                    digest.update(block)
            if digest.hexdigest() != media_sha:
                raise ReceiptError(
                    f"media hash: file hashes to {digest.hexdigest()[:16]}…, "
                    f"the record says {media_sha[:16]}…"
                )
            step("media hash", f"file matches sha256 {media_sha}")
        checkpoint = receipt.checkpoint.checkpoint
        try:
            merkle.verify_inclusion(
                record_leaf(receipt.record),
                receipt.leaf_index,
                checkpoint.tree_size,
                [bytes.fromhex(h) for h in receipt.inclusion_proof],
                bytes.fromhex(checkpoint.root_hash),
            )
        except merkle.MerkleError as exc:
            raise ReceiptError(f"inclusion proof: {exc}") from None
        step(
            "inclusion proof",
            f"leaf {receipt.leaf_index} is in the tree of {checkpoint.tree_size} "
            f"with root {checkpoint.root_hash[:16]}…",
        )
        verify_checkpoint(receipt.checkpoint, receipt.public_key)
        step("checkpoint signature", f"signed by key {checkpoint.key_id} at {checkpoint.timestamp}")
        if pinned_key is not None:
            if pinned_key.strip().lower() != receipt.public_key:
                raise ReceiptError("signer key: the receipt's key is not the pinned key")
            step("signer key", "matches the pinned public key")
        else:
            step("signer key", "not pinned (pass --key to require the log's public key)")
        _check_anchor(receipt, rpc_url, step)
    except ReceiptError as exc:
        name, _, detail = str(exc).partition(": ")
        checks.append(Check(name, False, detail or name))
    return checks


def _check_anchor(receipt: Receipt, rpc_url: str | None, step: Any) -> None:
    anchor = receipt.anchor
    checkpoint = receipt.checkpoint.checkpoint
    if anchor is None:
        if rpc_url is not None:
            raise ReceiptError("chain anchor: the receipt carries no anchor")
        step("chain anchor", "none (the checkpoint was not anchored when the receipt was made)")
        return
    if anchor.root_hash != checkpoint.root_hash or anchor.tree_size != checkpoint.tree_size:
        raise ReceiptError("chain anchor: anchors another root than the checkpoint's")
    if rpc_url is None:
        step("chain anchor", f"claimed in tx {anchor.tx_hash} (pass --rpc to check it)")
        return
    from provenance.anchor import connect_rpc, describe, load_artifact

    try:
        w3 = connect_rpc(rpc_url)
        if int(w3.eth.chain_id) != anchor.chain_id:
            raise ReceiptError(f"chain anchor: the node serves chain {w3.eth.chain_id}")
        contract = w3.eth.contract(address=anchor.contract, abi=load_artifact()["abi"])
        root = bytes.fromhex(checkpoint.root_hash)
        size, timestamp, _ = contract.functions.anchorOf(root).call()
        tx = w3.eth.get_transaction_receipt(anchor.tx_hash)
    except ReceiptError:
        raise
    except VerityError as exc:  # connect_rpc's message names the node and the reason
        raise ReceiptError(f"chain anchor: cannot check: {exc}") from None
    except Exception as exc:
        raise ReceiptError(f"chain anchor: cannot check on {rpc_url}: {describe(exc)}") from None
    if timestamp == 0 or size != checkpoint.tree_size:
        raise ReceiptError("chain anchor: the contract does not hold this root")
    # every field the receipt states is compared with what the node says, none taken on trust
    block_hash = "0x" + bytes(tx.blockHash).hex()
    if timestamp != anchor.block_timestamp or block_hash != anchor.block_hash:
        raise ReceiptError("chain anchor: block time or hash differ from the receipt")
    if int(tx.blockNumber) != anchor.block_number:
        raise ReceiptError(
            f"chain anchor: the transaction is in block {tx.blockNumber}, "
            f"the receipt says {anchor.block_number}"
        )
    if int(tx.status) != 1 or str(tx["to"] or "").lower() != anchor.contract.lower():
        raise ReceiptError("chain anchor: the transaction is not a successful call of the contract")
    step("chain anchor", f"root on chain {anchor.chain_id} since block {anchor.block_number}")


def verify_receipt(
    data: bytes,
    *,
    media: Path | None = None,
    pinned_key: str | None = None,
    rpc_url: str | None = None,
) -> None:
    """Return when the receipt verifies; raise ReceiptError naming the failing check otherwise."""
    checks = check_receipt(data, media=media, pinned_key=pinned_key, rpc_url=rpc_url)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise ReceiptError(f"{failed[0].name}: {failed[0].detail}")
