"""`casetrack up` makes the vault and placement id keys on first start, keeps them owner-only apart from the
database, and gives services their files; a data folder sealed with the placeholder is refused outside tests."""

from __future__ import annotations

import pytest

from shared.devservers import System
from shared.devservers.engines import EngineFailed
from shared.settings import Settings


def test_the_keys_are_made_once_kept_owner_only_and_given_as_files(tmp_path):
    env = System(Settings(data_dir=tmp_path)).secret_env()
    again = System(Settings(data_dir=tmp_path)).secret_env()

    assert set(env) == {"CASETRACK_VAULT_KEY_FILE", "CASETRACK_PLACEMENT_ID_KEY_FILE",
                        "CASETRACK_IDEMPOTENCY_KEY_FILE"} and env == again
    for file in env.values():
        kept = tmp_path / "secrets" / file.rsplit("/", 1)[-1]
        assert kept.stat().st_mode & 0o077 == 0 and len(kept.read_text()) >= 32
    assert Settings(vault_key_file=env["CASETRACK_VAULT_KEY_FILE"]).vault_secret == (
        tmp_path / "secrets" / "vault-key").read_text()


def test_keys_given_in_settings_are_passed_on_as_given(tmp_path):
    (tmp_path / "elsewhere").write_text("v" * 40)
    settings = Settings(data_dir=tmp_path, vault_key_file=tmp_path / "elsewhere", placement_id_key="p" * 40,
                        environment="test")

    assert System(settings).secret_env() == {"CASETRACK_VAULT_KEY_FILE": str(tmp_path / "elsewhere"),
                                             "CASETRACK_PLACEMENT_ID_KEY": "p" * 40,
                                             "CASETRACK_IDEMPOTENCY_KEY_FILE": str(tmp_path / "secrets" /
                                                                                   "idempotency-key")}


def test_the_vault_key_reaches_the_referral_service_alone(tmp_path):
    system = System(Settings(data_dir=tmp_path))

    assert set(system.secret_env("referral")) == {"CASETRACK_VAULT_KEY_FILE", "CASETRACK_IDEMPOTENCY_KEY_FILE"}
    assert set(system.secret_env("placement")) == {"CASETRACK_PLACEMENT_ID_KEY_FILE",
                                                   "CASETRACK_IDEMPOTENCY_KEY_FILE"}
    assert set(system.secret_env("journeys")) == {"CASETRACK_IDEMPOTENCY_KEY_FILE"}


def test_a_data_folder_made_before_kept_keys_is_refused_outside_tests_and_keeps_the_placeholder_in_tests(tmp_path):
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "PG_VERSION").write_text("16\n")

    with pytest.raises(EngineFailed, match="sealed with the placeholder key") as refused:
        System(Settings(data_dir=tmp_path)).secret_env()
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "secrets" / "vault-key").exists()

    in_tests = System(Settings(data_dir=tmp_path, environment="test")).secret_env()
    assert "CASETRACK_VAULT_KEY_FILE" not in in_tests and "CASETRACK_PLACEMENT_ID_KEY_FILE" in in_tests
