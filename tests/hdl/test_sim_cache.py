"""The simulator build cache: per user by default, one build per design, a failed or
interrupted build is redone rather than half-used."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from platformdirs import user_cache_dir

from sim import cache


def test_default_root_is_the_user_cache(monkeypatch):
    monkeypatch.delenv("TPU_SIM_CACHE", raising=False)
    assert str(cache.cache_root()).startswith(user_cache_dir("tpu"))


def test_concurrent_callers_build_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TPU_SIM_CACHE", str(tmp_path))
    calls = []

    def make(folder):
        calls.append(folder)
        (folder / "binary").write_text("built")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cache.cached_build("design-a", make), range(8)))
    assert len(calls) == 1
    assert {r[0] for r in results} == {tmp_path / "design-a"}
    assert sum(built for _, built in results) == 1


def test_a_failed_build_is_redone(tmp_path, monkeypatch):
    monkeypatch.setenv("TPU_SIM_CACHE", str(tmp_path))

    def broken(folder):
        (folder / "half").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.cached_build("design-b", broken)
    folder, built = cache.cached_build("design-b", lambda f: (f / "ok").write_text("y"))
    assert built and not (folder / "half").exists() and (folder / "ok").exists()
