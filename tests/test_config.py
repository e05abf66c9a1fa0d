"""core.config: precedence, validation and masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings, mask_url
from core.errors import ConfigError


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
