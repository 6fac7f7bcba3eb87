from __future__ import annotations

from pathlib import Path

import pytest

from engine.settings import SETTINGS_DOC, Settings, SettingsError, settings_table

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path(".tiketi")
    assert settings.database_url is None and settings.redis_url is None
    assert settings.demo_event is True


def test_environment_values_are_parsed_by_type() -> None:
    settings = Settings.from_env({
        "TIKETI_DATA_DIR": "/srv/tiketi", "DATABASE_URL": "postgresql://db/x",
        "TIKETI_PG_PORT": "5544", "TIKETI_DEMO_EVENT": "off", "TIKETI_SNAPSHOT_EVERY_S": "2.5",
        "TIKETI_RAY_NUM_CPUS": "",
    })
    assert settings.data_dir == Path("/srv/tiketi")
    assert settings.database_url == "postgresql://db/x"
    assert settings.pg_port == 5544 and settings.demo_event is False
    assert settings.snapshot_every_s == 2.5 and settings.ray_num_cpus is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("TIKETI_PG_PORT", "http"), ("TIKETI_PG_PORT", "70000"), ("TIKETI_DEMO_EVENT", "maybe"),
     ("TIKETI_SHARDS_PER_EVENT", "0"), ("TIKETI_NAMESPACE", "a b"),
     ("TIKETI_QUEUE_TICK_S", "-1")],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({name: value})


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_table() in readme, "regenerate the README's table from settings_table()"
    assert len(SETTINGS_DOC) >= 15
