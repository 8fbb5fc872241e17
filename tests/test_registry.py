import sys
import textwrap

import pytest

from multitask._registry import Registry


@pytest.fixture
def registry():
    reg: Registry[object] = Registry("widget")

    @reg.register("cagrad")
    class CAGrad:
        pass

    @reg.register("pcgrad")
    class PCGrad:
        pass

    return reg


def test_unknown_name_suggests_the_closest(registry):
    with pytest.raises(ValueError, match=r"unknown widget 'cagrd'; did you mean 'cagrad'"):
        registry.get("cagrd")


def test_unknown_name_without_close_match_lists_all(registry):
    with pytest.raises(ValueError) as info:
        registry.get("zzz")
    assert "did you mean" not in str(info.value)
    assert "known: cagrad, pcgrad" in str(info.value)


def test_import_path_gives_a_users_class(registry, tmp_path, monkeypatch):
    (tmp_path / "user_widgets.py").write_text(
        textwrap.dedent(
            """
            class Mine:
                def __init__(self, k=1):
                    self.k = k
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    obj = registry.create("user_widgets:Mine", k=3)
    assert type(obj).__name__ == "Mine" and obj.k == 3
    sys.modules.pop("user_widgets", None)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_such_module_xyz:Thing", "cannot import module 'no_such_module_xyz'"),
        ("json:NoSuchThing", "has no attribute 'NoSuchThing'"),
        (":Thing", "must look like"),
        ("json:__doc__", "is not a class or factory"),
    ],
)
def test_bad_import_paths_say_what_is_wrong(registry, path, message):
    with pytest.raises(ValueError, match=message):
        registry.get(path)
