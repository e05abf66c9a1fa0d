"""``verity register / receipt / verify-receipt / ledger / keys / hash``: the provenance CLI."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from core.app import Verity
from core.calibration import atomic_write
from core.cli import render
from core.config import Settings, checksum_address, load_settings
from core.errors import (
    EXIT_BAD_INPUT,
    EXIT_VERIFICATION_FAILED,
    BadInputError,
    ConfigError,
    MediaError,
    ProvenanceError,
    VerityError,
    display_name,
    path_problem,
)
from core.report.signature import load_public_key
from core.store import sha256_file
from provenance import ledger, ledger_audit
from provenance.anchor import Web3Anchor, code_at, connect_rpc, contract_problem, describe
from provenance.keys import KeyRing
from provenance.receipts import MAX_RECEIPT_BYTES, check_receipt

ledger_app = typer.Typer(help="The registration log.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys (checkpoints; --report: reports).", no_args_is_help=True)


def _open() -> Verity:
    return Verity.open(load_settings())


def register_command(
    paths: Annotated[list[str], typer.Argument(help="Media to register as examined.")],
    case: Annotated[str | None, typer.Option("--case", "-c")] = None,
    note: Annotated[str, typer.Option("--note", help="Why it is registered.")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Append media to the Merkle log with a signed checkpoint (same media: same leaf)."""
    verity = _open()
    failures = 0
    for path in map(Path, paths):
        try:
            result = ledger.register(verity, path, case, note)
        except VerityError as exc:
            if exc.exit_code != EXIT_BAD_INPUT:
                raise
            failures += 1
            render.err.print(f"verity: error: {' '.join(str(exc).split())}", markup=False)
            continue
        if as_json:
            render.print_json_line(result)
        else:
            state = "registered" if result["new"] else "already registered"
            render.out.print(
                f"{state}: leaf #{result['leaf_index']} sha256 {result['record']['media_sha256']}"
            )
    if failures:
        raise typer.Exit(EXIT_BAD_INPUT)


def receipt_command(
    ref: Annotated[str, typer.Argument(help="SHA-256 of registered media, or its file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write receipt.json.")],
) -> None:
    """Write a self-contained receipt that verifies without Verity's database."""
    if output.is_dir():
        raise MediaError(output, "is a directory, not a file (give the receipt's file name)")
    receipt = ledger.receipt(_open(), ref)
    try:
        atomic_write(output, receipt.model_dump_json(indent=1) + "\n")
    except OSError as exc:  # nothing is left: atomic_write removes its temporary file
        raise MediaError(output, f"cannot be written ({exc.strerror or exc})") from None
    render.out.print(
        f"wrote {output} (leaf #{receipt.leaf_index} of {receipt.checkpoint.checkpoint.tree_size})"
    )


def verify_receipt_command(
    receipt: Annotated[Path, typer.Argument(help="receipt.json")],
    media: Annotated[
        Path | None, typer.Option("--media", help="The file the receipt is for.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="The log's Ed25519 public key to require: hex, PEM, or a file."),
    ] = None,
    rpc: Annotated[
        str | None, typer.Option("--rpc", help="JSON-RPC URL to check the chain anchor on.")
    ] = None,
) -> None:
    """Check a receipt offline: each check is printed; exit 0 valid, 3 not, 2 unreadable input."""
    for path in (receipt, media):
        if path is not None and (problem := path_problem(path)):
            raise MediaError(path, problem)
    # a malformed key is bad input (exit 2), not a receipt that fails to verify
    pinned = None if key is None else load_public_key(key, "--key").hex()
    with receipt.open("rb") as handle:  # one byte past the limit is enough to refuse it
        data = handle.read(MAX_RECEIPT_BYTES + 1)
    checks = check_receipt(data, media=media, pinned_key=pinned, rpc_url=rpc)
    for check in checks:
        mark = "[green]ok[/]  " if check.ok else "[bold red]FAIL[/]"
        render.out.print(f"{mark} {check.name}: {render.safe(check.detail)}", highlight=False)
    if not all(c.ok for c in checks):
        failed = next(c for c in checks if not c.ok)
        render.err.print(f"verity: receipt invalid: {failed.name}", markup=False)
        raise typer.Exit(EXIT_VERIFICATION_FAILED)
    if key is None and rpc is None:
        # the receipt carries its own key: unpinned and unanchored, it proves only that it is
        # consistent with itself, which a forger's own receipt is too
        render.out.print(
            "receipt valid (consistent with the key it carries: pass --key with the log's public "
            "key, or --rpc, to tie it to the log)"
        )
        return
    render.out.print("receipt valid")


@ledger_app.command("audit")
def ledger_audit_command() -> None:
    """Recompute every leaf and checkpoint; exit 3 naming the first altered row."""
    report = ledger_audit.audit(_open())
    render.out.print(
        f"ledger intact: {report['leaves']} leaves, {report['checkpoints']} "
        f"checkpoints, root {report['root']}"
    )


@keys_app.command("export")
def keys_export(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    report: Annotated[
        bool, typer.Option("--report", help="The report-signing keys instead of checkpoint keys.")
    ] = False,
    pem: Annotated[bool, typer.Option("--pem", help="Only the active public key, as PEM.")] = False,
) -> None:
    """Print the public keys (the active one first); private keys are never printed."""
    ring = KeyRing(load_settings().keys_dir, purpose="report" if report else "checkpoint")
    active = ring.active()
    if pem:
        render.out.print(active.public_pem.rstrip("\n"), markup=False, highlight=False)
        return
    keys = ring.public_keys()
    if as_json:
        render.print_json_line({"active": active.key_id, "public_keys": keys})
        return
    render.out.print(f"{active.key_id} {active.public_hex} (active)")
    for kid, public in keys.items():
        if kid != active.key_id:
            render.out.print(f"{kid} {public}")


@keys_app.command("rotate")
def keys_rotate(
    report: Annotated[
        bool, typer.Option("--report", help="Rotate the report-signing key.")
    ] = False,
) -> None:
    """Start a new signing key; old public keys stay listed so old receipts still verify."""
    key = KeyRing(load_settings().keys_dir, purpose="report" if report else "checkpoint").rotate()
    render.out.print(f"new active key {key.key_id} {key.public_hex}")


def lookup_command(
    path: Annotated[Path, typer.Argument(help="A file that may be a copy of registered media.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Find registered media: exact by SHA-256, else near copies (re-encode, resize, crop, trim)."""
    result = ledger.lookup(_open(), path)
    if as_json:
        render.print_json_line(result)
        return
    if result["exact"] is not None:
        record = result["exact"]["record"]
        render.out.print(
            f"exact match: leaf #{result['exact']['leaf_index']}, {_registered(record)}"
            + _born_synthetic(record.get("synthetic"), record.get("generator")),
            highlight=False,
        )
        render.out.print(f"  receipt: verity receipt {result['sha256']} -o receipt.json")
        return
    if result["fingerprint"] is None:
        render.out.print(  # audio under about a second, a video with no decodable frame
            f"not registered; too little {result['kind']} for a near-copy fingerprint "
            "(exact copies only)"
        )
        return
    matches = [n for n in result["near"] if n["match"]]
    if matches:
        # an edit keeps the picture's layout and the sound's rhythm: a face swap or a re-voicing
        # of registered media is as near as a re-encode, so the match says where it comes from,
        # never that this file's content is what was registered
        render.out.print(
            "near copy of registered media, or an edit of it (a face swap, a re-voicing, a "
            "re-drawing match as closely as a re-encode): the match does not vouch for this "
            "file's content; compare it with the registered original"
        )
    else:
        render.out.print("no registered match")
    for n in result["near"]:
        verdict = "MATCH" if n["match"] else "different"
        value = n["distance_bits"]
        if n.get("distance_unit") == "bit error rate":
            measure = f"bit error rate {value:.2f}"
        else:
            measure = f"distance {value:.1f} bits"
        if n.get("overlap_s") is not None:  # a match may rest on a shared intro or jingle
            measure += f" over {n['overlap_s']:.0f} s in common"
        render.out.print(
            f"  leaf #{n['leaf_index']} {n['media_sha256'][:16]}… {measure}: {verdict}"
            + (f", {_registered(n)}" if n["match"] else "")
            + _born_synthetic(n.get("synthetic"), n.get("generator")),
            highlight=False,
        )
        if n["match"]:
            render.out.print(f"    receipt: verity receipt {n['media_sha256']} -o receipt.json")


def _registered(record: dict[str, Any]) -> str:
    """When, by whom and why registered media was registered, as the record says."""
    text = f"registered {render.safe(record.get('registered_at'))}"
    text += f" by {render.safe(record.get('registrant'))}"
    if record.get("note"):
        text += f", note: {render.safe(record['note'])}"
    return text


def _born_synthetic(synthetic: object, generator: object) -> str:
    """What the README promises a lookup says of media Verity's lab made: synthetic, and how.

    The JSON carried it; the text said only "exact match", as for a registered original."""
    if not synthetic:
        return ""
    method = generator.get("method") if isinstance(generator, dict) else None
    return " — registered as SYNTHETIC" + (f" ({render.safe(method)})" if method else "")


def c2pa_command(
    path: Annotated[Path, typer.Argument()],
    as_json: Annotated[
        bool, typer.Option("--json", help="The verbatim validation results.")
    ] = False,
) -> None:
    """Read and validate a file's Content Credentials offline: Trusted, Valid, Invalid or None."""
    from core.credentials import read_credentials
    from core.media import probe

    settings = load_settings()
    info = probe(path, settings.limits)
    result = read_credentials(path, info, settings.c2pa_trust_anchors)
    if as_json:
        render.print_json_line(result.model_dump(mode="json"))
        return
    reason = f" ({render.safe(result.reason)})" if result.reason else ""
    render.out.print(f"C2PA: {result.state}{reason}")  # the reason and labels come from the file
    if result.active_manifest:
        render.out.print(f"  active manifest {render.safe(result.active_manifest)}")
    for code in result.failure_codes:
        render.out.print(f"  failure: {render.safe(code)}")


def hash_command(path: Annotated[Path, typer.Argument()]) -> None:
    """Print the SHA-256 the content store would use for a file."""
    if problem := path_problem(path):
        raise MediaError(path, problem)
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise MediaError(path, f"cannot be read ({exc.strerror or exc})") from None
    # the name as every other command shows it: é stays é, control and invalid bytes escaped
    render.out.print(f"{digest}  {display_name(path)}", markup=False, highlight=False)


def chain_backend(settings: Settings) -> Web3Anchor:
    """The configured chain: a JSON-RPC node, the contract deployed on first use and remembered.

    Fails closed on configuration: a node of another chain than ``chain.chain_id``, or a
    configured or remembered address that does not hold VerityAnchor's code, is a ConfigError
    (exit 2), never silently replaced by a new deployment. Only a remembered address with no
    code at all (a development node started afresh) is deployed again.
    """
    if settings.chain.backend != "json-rpc":
        raise BadInputError(
            "the eth-tester chain lives inside one process and is gone when the command ends; "
            "run `verity chain up` (a local anvil) or point VERITY_CHAIN__RPC_URL at a node"
        )
    url = settings.chain.rpc_url
    w3 = connect_rpc(url)
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:
        raise ProvenanceError(f"no EVM node answers at {url}: {describe(exc)}") from None
    wanted = settings.chain.chain_id
    if wanted is not None and chain_id != wanted:
        raise ConfigError(
            f"the node at {url} serves chain {chain_id}, but chain.chain_id is {wanted}: point "
            f"VERITY_CHAIN__RPC_URL at a node of chain {wanted}, or correct VERITY_CHAIN__CHAIN_ID"
        )
    remembered = settings.home / "chain" / f"contract-{chain_id}.txt"
    address = settings.chain.contract_address  # validated and checksummed when settings load
    if address is not None:
        if problem := contract_problem(code_at(w3, address)):
            raise ConfigError(
                f"on chain {chain_id}, chain.contract_address {address} {problem}: set "
                "VERITY_CHAIN__CONTRACT_ADDRESS to a deployed VerityAnchor, or unset it to "
                "deploy one"
            )
    elif remembered.is_file():
        address = _remembered_address(remembered, w3, chain_id)
    key_file = settings.keys_dir / "chain.key"  # a hex private key kept with mode 0600
    if settings.chain.private_key is not None:
        key: str | None = settings.chain.private_key.get_secret_value()
    elif key_file.is_file():
        key = key_file.read_text().strip()
    else:
        key = None  # a development node's first unlocked account pays
    backend = Web3Anchor(w3, address, key)
    if address is None:  # deployed just now: remember it (a configured address is not copied)
        remembered.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(remembered, backend.address + "\n")
    return backend


def _remembered_address(remembered: Path, w3: Any, chain_id: int) -> str | None:
    """The address in VERITY_HOME/chain/contract-<id>.txt; None when nothing is deployed there
    any more (a fresh development node), a ConfigError when it holds something else."""
    try:
        text = remembered.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{remembered}: cannot be read ({exc})") from None
    address, malformed = checksum_address(text)
    problem = malformed
    if problem is None:
        code = code_at(w3, address)
        if not code:
            return None
        problem = contract_problem(code)
    if problem is not None:
        raise ConfigError(
            f"{remembered} names {address}, which on chain {chain_id} {problem}: delete the "
            "file to deploy a new VerityAnchor, or set VERITY_CHAIN__CONTRACT_ADDRESS"
            if malformed is None
            else f"{remembered}: {problem}"
        )
    return address


@ledger_app.command("anchor")
def ledger_anchor(
    confirmations: Annotated[int | None, typer.Option("--confirmations", min=1)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1)] = 120.0,
) -> None:
    """Anchor the newest checkpoint on the configured EVM chain and archive the proof."""
    settings = load_settings()
    verity = Verity.open(settings)
    result = ledger.newest_anchor(verity)  # already anchored: nothing to connect or deploy
    if result is None:
        result = ledger.anchor(
            verity,
            chain_backend(settings),
            confirmations=confirmations or settings.chain.confirmations,
            timeout_s=timeout,
        )
    state = "anchored" if result["new"] else "already anchored"
    if result["adopted"]:
        state = "anchored (by an earlier try's transaction, mined after it gave up)"
    render.out.print(
        f"{state}: root {result['root_hash'][:16]}… (size {result['tree_size']}) in tx "
        f"{result['tx_hash']} block {result['block_number']} on chain {result['chain_id']}"
    )


chain_app = typer.Typer(help="A project-local anvil node for one machine.", no_args_is_help=True)


def anvil_binary() -> Path:
    import shutil

    local = Path(__file__).resolve().parents[2] / "node_modules" / "@foundry-rs"
    for candidate in sorted(local.glob("anvil-*/bin/anvil")):
        return candidate
    found = shutil.which("anvil")
    if found is None:
        raise BadInputError("anvil is not installed: run `make install` (npm @foundry-rs/anvil)")
    return Path(found)


@chain_app.command("up")
def chain_up(port: Annotated[int, typer.Option("--port")] = 8545) -> None:
    """Start anvil on 127.0.0.1 with its state kept in VERITY_HOME/chain (survives restarts)."""
    import subprocess

    settings = load_settings()
    folder = settings.home / "chain"
    folder.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    try:
        connect_rpc(url, timeout_s=1)
        render.out.print(f"a node already answers at {url}")
        return
    except ProvenanceError:
        pass
    command = [
        str(anvil_binary()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--state",
        str(folder / "anvil-state.json"),
        "--state-interval",
        "5",
    ]
    with (folder / "anvil.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603  our own binary, fixed arguments
            command, stdout=log, stderr=log, start_new_session=True
        )
    (folder / "anvil.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            connect_rpc(url, timeout_s=1)
            render.out.print(f"anvil running at {url} (pid {process.pid}); state in {folder}")
            return
        except ProvenanceError:
            time.sleep(0.2)
    raise ProvenanceError(f"anvil did not start; see {folder / 'anvil.log'}")


@chain_app.command("down")
def chain_down() -> None:
    """Stop the anvil started by `verity chain up` (its state is saved first)."""
    import os
    import signal

    pid_file = load_settings().home / "chain" / "anvil.pid"
    if not pid_file.is_file():
        render.out.print("no local chain is running")
        return
    pid = int(pid_file.read_text().strip())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    pid_file.unlink()
    render.out.print(f"stopped anvil (pid {pid})")
