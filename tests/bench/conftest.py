import pytest


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MULTITASK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
