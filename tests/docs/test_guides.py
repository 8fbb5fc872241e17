"""Every guide page is a program: its ``python`` blocks, joined in order, run in a fresh process."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = sorted(p for p in (ROOT / "docs" / "guides").glob("*.md") if p.name != "index.md")
RUNNABLE = [*GUIDES, ROOT / "docs" / "index.md"]  # the home page's example runs too
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def guide_code(path: Path) -> str:
    return "\n\n".join(BLOCK.findall(path.read_text(encoding="utf-8")))


def test_the_guides_are_in_the_nav_and_index():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    index = (ROOT / "docs" / "guides" / "index.md").read_text(encoding="utf-8")
    assert GUIDES
    for path in GUIDES:
        assert f"guides/{path.name}" in nav, path.name
        assert f"({path.name})" in index, path.name


def test_block_extraction_keeps_order_and_skips_other_languages():
    text = "a\n```python\nx = 1\n```\n```bash\nexit 1\n```\n```python\nassert x == 1\n```\n"
    assert BLOCK.findall(text) == ["x = 1\n", "assert x == 1\n"]


def test_home_page_commands_are_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for section in ("Set up", "Test"):
        command = re.search(rf"## {section}.*?```bash\n(.*?)\n```", readme, flags=re.S).group(1).strip()
        assert command in home, f"docs/index.md lacks README's {section} command: {command}"


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.stem for p in RUNNABLE])
def test_guide_runs(path, tmp_path):
    code = guide_code(path)
    if path in GUIDES:
        assert "assert " in code, f"{path.name}: a guide checks what it shows"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MULTITASK_CACHE"] = str(tmp_path / "cache")
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
