"""The built site in a real headless Chromium: pages load without console errors and the math renders.

Skips only when Chromium is missing and ``MULTITASK_REQUIRE_BROWSER`` is unset (CI sets it and installs
Chromium). Screenshots are kept under ``$MULTITASK_TEST_ARTIFACTS`` (default ``build/test-artifacts``).
"""

import functools
import html
import os
import re
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "home": "",
    "method": "methods/gramian/",
    "method-loss": "methods/loss/",  # the update rules in the docstrings are LaTeX too
    "method-jacobian": "methods/jacobian/",
    "guide": "guides/modes/",
}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=10000",
    "--window-size=1280,1400",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("MULTITASK_REQUIRE_BROWSER"):
            pytest.fail("MULTITASK_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("chromium is not installed (set MULTITASK_REQUIRE_BROWSER=1 to make this a failure)")
    return found


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server(site):
    """The site over HTTP on the loopback (the search worker and fetches need http, not file://)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _run(browser: str, profile: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def visible_text(dom: str) -> str:
    """The rendered page's text, without scripts, styles, code and KaTeX's MathML copy of the source."""
    for tag in ("script", "style", "pre", "code", "annotation"):
        dom = re.sub(rf"<{tag}\b.*?</{tag}>", " ", dom, flags=re.S)
    dom = re.sub(r'<span class="katex-mathml">.*?</math></span>', " ", dom, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


def raw_math(text: str) -> list[str]:
    return re.findall(r"\\\(.{0,40}|\\\[.{0,40}|\$\$.{0,40}|\$[^$\s][^$]{0,40}\$", text)


def test_raw_math_detection():
    assert raw_math(r"the rule \(d = w^\top J\) here") and raw_math(r"\[ x \]")
    assert raw_math("cost $O(T^2)$ each")
    assert not raw_math("costs 5 $ and 3 $ per run")
    mathml = '<span class="katex-mathml"><math><annotation>\\(x\\)</annotation></math></span>'
    rendered = f'<span class="katex">{mathml}x</span>'
    assert not raw_math(visible_text(rendered))


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_math_without_console_errors(name, server, tmp_path):
    browser = _chromium()
    url = server + PAGES[name]
    dumped = _run(browser, tmp_path / "profile-dom", ["--dump-dom", url])
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert "<article" in dom, f"{url}: no article in the page"
    console = [line for line in dumped.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, f"{url}: console messages:\n" + "\n".join(console)
    formulas = dom.count('class="arithmatex"')
    rendered = dom.count('class="katex"') + dom.count('class="katex-display"')
    assert formulas > 0, f"{url}: the page has no math to check"
    assert rendered >= formulas, f"{url}: {rendered} KaTeX renderings for {formulas} formulas"
    assert "katex-error" not in dom, f"{url}: KaTeX could not parse a formula"
    leftover = raw_math(visible_text(dom))
    assert not leftover, f"{url}: raw math left in the page: {leftover[:5]}"

    artifacts = Path(os.environ.get("MULTITASK_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "docs"
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / f"{name}.png"
    taken = _run(browser, tmp_path / "profile-shot", [f"--screenshot={shot}", url])
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 10_000, f"{url}: screenshot missing or blank"
