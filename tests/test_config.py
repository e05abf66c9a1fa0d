"""core.config: precedence, validation and masking."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from core.cli import main
from core.config import load_settings, mask_url
from core.credentials import read_credentials
from core.db import make_engine
from core.errors import ConfigError
from core.media import probe


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI; return its exit code and stderr, checked to be at most one line."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) <= 1, err
    return code, err


def test_defaults_live_under_home(home: Path) -> None:
    settings = load_settings()
    assert settings.home == home
    assert settings.effective_database_url == f"sqlite:///{home / 'verity.db'}"
    assert settings.objects_dir == home / "objects"
    assert settings.is_embedded_database


def test_precedence_defaults_file_env_caller(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        'actor = "from-file"\n[limits]\nmax_pixels = 1000\nmax_duration_s = 60\n'
    )
    monkeypatch.delenv("VERITY_ACTOR")
    settings = load_settings()
    assert settings.actor == "from-file"
    assert settings.limits.max_pixels == 1000
    monkeypatch.setenv("VERITY_ACTOR", "from-env")
    monkeypatch.setenv("VERITY_LIMITS__MAX_PIXELS", "2000")
    settings = load_settings()
    assert settings.actor == "from-env"
    assert settings.limits.max_pixels == 2000
    assert settings.limits.max_duration_s == 60  # the file still supplies what env does not
    assert load_settings(actor="from-caller").actor == "from-caller"


def test_bad_values_raise_one_config_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITY_LIMITS__MAX_PIXELS", "-5")
    with pytest.raises(ConfigError, match=r"limits\.max_pixels"):
        load_settings()
    monkeypatch.delenv("VERITY_LIMITS__MAX_PIXELS")
    monkeypatch.setenv("VERITY_FUSION__MANIPULATED_AT", "0.2")
    with pytest.raises(ConfigError, match="manipulated_at"):
        load_settings()


def test_broken_config_file(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text("this is = = not toml")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings()
    (home / "config.toml").write_bytes(b"\xff\xfe garbage")  # not UTF-8: one clear line too
    with pytest.raises(ConfigError, match=r"config\.toml: not UTF-8 text"):
        load_settings()


def test_unknown_setting_is_refused(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.toml").write_text('databse_url = "typo"\n')
    with pytest.raises(ConfigError, match="databse_url"):
        load_settings()


def test_masked_hides_secrets(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", "postgresql+psycopg://alice:s3cret@db:5432/verity")
    monkeypatch.setenv("VERITY_BROKER_URL", "redis://:hunter2@127.0.0.1:6379/0")
    monkeypatch.setenv("VERITY_CHAIN__PRIVATE_KEY", "0x" + "ab" * 32)
    shown = str(load_settings().masked())
    for secret in ("s3cret", "hunter2", "ab" * 32):
        assert secret not in shown
    assert "alice" in shown and "db:5432" in shown


def test_mask_url_without_password_is_unchanged() -> None:
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert "pw" not in mask_url("amqp://guest:pw@127.0.0.1:5672//")


# ----------------------------------------------------------- bad settings are exit 2, never exit 1


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: tmp / "nonexist.pem", "no such file"),
        (lambda tmp: tmp, "is a directory"),
    ],
    ids=["missing", "folder"],
)
def test_trust_anchors_path_is_checked_when_settings_load(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, photo: Path, make, problem
) -> None:
    anchors = make(tmp_path)
    monkeypatch.setenv("VERITY_C2PA_TRUST_ANCHORS", str(anchors))
    with pytest.raises(ConfigError, match=re.escape(f"c2pa_trust_anchors: {anchors}: {problem}")):
        load_settings()
    code, err = run(capsys, "c2pa", str(photo))
    assert code == 2 and "c2pa_trust_anchors" in err and problem in err


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:6379/9", "starts with redis://"),
        ("not a url", "got no scheme"),
        ("redis://127.0.0.1:6379/notanumber", "must be a number, not 'notanumber'"),
        ("redis://:6379:x/9", "port not a number"),
    ],
)
def test_a_broker_url_celery_cannot_use_is_refused_before_anything_is_filed(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys, photo: Path, url: str, problem: str
) -> None:
    """Before: an internal KeyError/ValueError at publish time, after `submit` had filed the
    media and a job that stayed queued; "not a url" was accepted."""
    monkeypatch.setenv("VERITY_BROKER_URL", url)
    code, err = run(capsys, "submit", str(photo), "-d", "visual.metadata")
    assert code == 2 and "broker_url" in err and problem in err, err
    filed = [p for p in home.rglob("*") if p.is_file() and p.name != "config.toml"]
    assert filed == []  # no database, no stored object, no job


def test_an_empty_broker_url_means_no_broker(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERITY_BROKER_URL", "  ")  # not Celery's default, the local RabbitMQ
    assert load_settings().broker_url is None
    monkeypatch.setenv("VERITY_BROKER_URL", "amqp://guest:pw@127.0.0.1:5672//")
    assert load_settings().broker_url is not None


def test_trust_anchors_that_are_not_pem_are_a_config_error(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, photo: Path
) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_text("garbage\n")
    monkeypatch.setenv("VERITY_C2PA_TRUST_ANCHORS", str(anchors))
    code, err = run(capsys, "c2pa", str(photo))
    assert code == 2 and f"c2pa_trust_anchors: {anchors}: not a PEM file" in err
    anchors.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ConfigError, match=r"c2pa_trust_anchors: .*not UTF-8"):
        read_credentials(photo, probe(photo, load_settings().limits), anchors)


@pytest.mark.parametrize(
    ("name", "value"),
    [("VERITY_LIMITS", "{bad"), ("VERITY_JOBS__PLUGINS", "notjson")],
)
def test_unparsable_environment_value_names_the_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys, name: str, value: str
) -> None:
    monkeypatch.setenv("VERITY_JOBS__LEASE_S", "5")  # a good neighbour is not blamed
    monkeypatch.setenv(name, value)
    code, err = run(capsys, "config", "show")
    assert code == 2 and f"{name} is not valid JSON" in err
    assert "VERITY_JOBS__LEASE_S" not in err


def test_home_that_is_a_file_is_a_config_error(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    home.write_text("not a folder")
    code, err = run(capsys, "case", "list")
    assert code == 2 and f"VERITY_HOME {home}: is a file, not a folder" in err
    monkeypatch.setenv("VERITY_HOME", str(home / "inside"))  # cannot be created under a file
    code, err = run(capsys, "case", "list")
    assert code == 2 and f"VERITY_HOME {home / 'inside'}: cannot be created" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_unwritable_home_is_a_config_error(home: Path, capsys) -> None:
    home.mkdir()
    home.chmod(0o500)
    try:
        code, err = run(capsys, "case", "list")
    finally:
        home.chmod(0o700)
    assert code == 2 and f"VERITY_HOME {home}: is not writable" in err


@pytest.mark.parametrize(
    "url", ["garbage", "postgresql+psycopg://alice:s3cret@db:notaport/verity"], ids=["text", "port"]
)
def test_unparsable_database_url_is_a_config_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys, url: str
) -> None:
    monkeypatch.setenv("VERITY_DATABASE_URL", url)
    code, err = run(capsys, "case", "list")
    assert code == 2 and "invalid setting database_url: cannot parse" in err
    assert "s3cret" not in err
    with pytest.raises(ConfigError, match="database_url") as raised:
        make_engine(url)  # callers that pass a URL directly get the same answer
    assert "s3cret" not in str(raised.value)


def test_explicit_config_file_must_exist(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert not (home / "config.toml").exists()
    assert load_settings().home == home  # the default location is optional
    missing = tmp_path / "nonexist.toml"
    monkeypatch.setenv("VERITY_CONFIG", str(missing))
    code, err = run(capsys, "config", "show")
    assert code == 2 and f"VERITY_CONFIG {missing}: no such file" in err


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("0x123", "'0x123' is not an address (0x and 40 hex digits)"),
        ("notanaddress", "'notanaddress' is not an address"),
        ("0x" + "g" * 40, "is not an address"),
        ("0xAbcdefabcdefabcdefabcdefabcdefabcdefabcd", "is not the address's EIP-55 checksum"),
    ],
)
def test_a_malformed_contract_address_is_a_config_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys, address: str, problem: str
) -> None:
    """Before: accepted, then 'internal error: InvalidAddress' (exit 1) at `ledger anchor`."""
    monkeypatch.setenv("VERITY_CHAIN__CONTRACT_ADDRESS", address)
    code, err = run(capsys, "ledger", "anchor")
    assert code == 2 and "chain.contract_address" in err and problem in err, err


def test_a_contract_address_in_one_case_is_checksummed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checksummed = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    for written in (checksummed.lower(), "0x" + checksummed[2:].upper(), f" {checksummed} "):
        monkeypatch.setenv("VERITY_CHAIN__CONTRACT_ADDRESS", written)
        assert load_settings().chain.contract_address == checksummed
    monkeypatch.setenv("VERITY_CHAIN__CONTRACT_ADDRESS", "")
    assert load_settings().chain.contract_address is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "not a url",
            "'not a url': a JSON-RPC URL starts with http:// or https:// (got no scheme)",
        ),
        ("ws://127.0.0.1:8545", "(got ws://)"),
        ("http://:8545", "names a host"),
        ("http://127.0.0.1:port", "port not a number"),
    ],
)
def test_a_malformed_rpc_url_is_a_config_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys, url: str, problem: str
) -> None:
    """Before: 'no EVM node answers at not a url: InvalidURL', exit 1 as if the node were down."""
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", url)
    code, err = run(capsys, "ledger", "anchor")
    assert code == 2 and "chain.rpc_url" in err and problem in err, err
    monkeypatch.setenv("VERITY_CHAIN__RPC_URL", " https://node.example:8545/v3/key ")
    assert load_settings().chain.rpc_url == "https://node.example:8545/v3/key"
