"""The README's Python example runs as written, and .ci/run uses README's commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_python_examples_run():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    setup = re.search(r"## Set up.*?```bash\n(.*?)\n```", readme, flags=re.S).group(1).strip()
    test = re.search(r"## Test.*?```bash\n(.*?)\n```", readme, flags=re.S).group(1).strip()
    assert setup in ci.splitlines()
    assert test in ci.splitlines()
