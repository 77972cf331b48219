"""Settings refuse placeholder secrets in production; a taken port fails with a one-line message."""

import os
import socket

import pytest
from pydantic import ValidationError

from shared.devservers import EngineFailed, ensure_port_free
from shared.settings import SecretMissing, Settings


@pytest.fixture(autouse=True)
def no_casetrack_environment(monkeypatch):
    for name in [name for name in os.environ if name.startswith("CASETRACK_")]:
        monkeypatch.delenv(name)


def test_development_needs_no_settings_at_all():
    settings = Settings()

    assert (settings.environment, settings.database_url) == ("development", None)
    assert settings.data_dir.is_absolute()


def test_production_without_a_database_url_is_refused(monkeypatch):
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", "production")

    with pytest.raises(ValidationError, match="CASETRACK_DATABASE_URL"):
        Settings()


def test_production_with_the_development_password_is_refused(monkeypatch):
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", "production")
    monkeypatch.setenv("CASETRACK_DATABASE_URL", "postgresql://casetrack:casetrack-dev@db:5432/casetrack")

    with pytest.raises(ValidationError, match="CASETRACK_DATABASE_URL"):
        Settings()


def test_production_with_a_real_database_url_is_accepted(monkeypatch):
    url = "postgresql://casetrack:Xq7-long-random@db.internal:5432/casetrack"
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", "production")
    monkeypatch.setenv("CASETRACK_DATABASE_URL", url)
    monkeypatch.setenv("CASETRACK_VAULT_KEY", "k" * 16 + "-a-real-random-vault-secret")
    monkeypatch.setenv("CASETRACK_PLACEMENT_ID_KEY", "p" * 16 + "-a-real-random-placement-secret")
    monkeypatch.setenv("CASETRACK_TOKEN_JWKS_URL", "https://login.example.org/.well-known/jwks.json")

    assert Settings().database_url == url


def test_production_without_a_token_verification_key_is_refused(monkeypatch):
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", "production")
    monkeypatch.setenv("CASETRACK_DATABASE_URL", "postgresql://casetrack:Xq7-long-random@db.internal:5432/casetrack")
    monkeypatch.setenv("CASETRACK_VAULT_KEY", "k" * 16 + "-a-real-random-vault-secret")
    monkeypatch.setenv("CASETRACK_PLACEMENT_ID_KEY", "p" * 16 + "-a-real-random-placement-secret")

    with pytest.raises(ValueError, match="CASETRACK_TOKEN_PUBLIC_KEY_FILE or CASETRACK_TOKEN_JWKS_URL"):
        Settings()


def test_in_production_the_referral_service_without_a_vault_key_is_refused_and_journeys_never_needs_one(monkeypatch):
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", "production")
    monkeypatch.setenv("CASETRACK_DATABASE_URL", "postgresql://casetrack:Xq7-long-random@db.internal:5432/casetrack")
    monkeypatch.setenv("CASETRACK_TOKEN_JWKS_URL", "https://login.example.org/.well-known/jwks.json")
    monkeypatch.setenv("CASETRACK_IDEMPOTENCY_KEY", "i" * 40)
    settings = Settings()

    with pytest.raises(SecretMissing, match="CASETRACK_VAULT_KEY"):
        settings.require_secrets_of("referral")
    settings.require_secrets_of("journeys")


def test_a_taken_port_fails_with_a_one_line_message():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]

        with pytest.raises(EngineFailed) as failure:
            ensure_port_free("127.0.0.1", port, "nats-server")

    message = str(failure.value)
    assert "\n" not in message
    assert str(port) in message and "nats-server" in message


def test_a_free_port_is_let_through():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    ensure_port_free("127.0.0.1", port, "nats-server")


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_placeholder_vault_key_is_refused_outside_tests_in_one_line(monkeypatch, environment):
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", environment)
    monkeypatch.setenv("CASETRACK_DATABASE_URL", "postgresql://casetrack:Xq7-long-random@db.internal:5432/casetrack")
    monkeypatch.setenv("CASETRACK_VAULT_KEY", "casetrack-dev-vault-key")

    with pytest.raises(ValidationError, match="CASETRACK_VAULT_KEY is a placeholder") as refused:
        Settings()
    assert "\n" not in refused.value.errors()[0]["msg"]


def test_a_service_outside_tests_without_a_vault_key_is_refused_in_one_line():
    settings = Settings()  # what `casetrack up` itself reads: it makes the keys, so it needs none

    with pytest.raises(SecretMissing, match="CASETRACK_VAULT_KEY_FILE") as refused:
        settings.require_secrets_of("referral")
    assert "\n" not in str(refused.value)


def test_tests_fall_back_to_the_placeholders(monkeypatch):
    monkeypatch.setenv("CASETRACK_ENVIRONMENT", "test")

    settings = Settings()
    settings.require_secrets_of("placement")
    assert settings.vault_secret == "casetrack-dev-vault-key"


def test_the_vault_key_is_read_from_its_file(monkeypatch, tmp_path):
    (tmp_path / "vault-key").write_text("a-real-generated-vault-key-of-some-length\n")
    monkeypatch.setenv("CASETRACK_VAULT_KEY_FILE", str(tmp_path / "vault-key"))

    assert Settings().vault_secret == "a-real-generated-vault-key-of-some-length"


def test_a_placeholder_in_the_vault_key_file_is_refused_too(monkeypatch, tmp_path):
    (tmp_path / "vault-key").write_text("casetrack-dev-vault-key")
    monkeypatch.setenv("CASETRACK_VAULT_KEY_FILE", str(tmp_path / "vault-key"))

    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_a_missing_vault_key_file_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("CASETRACK_VAULT_KEY_FILE", str(tmp_path / "absent"))

    with pytest.raises(ValidationError, match="CASETRACK_VAULT_KEY_FILE cannot be read"):
        Settings()
