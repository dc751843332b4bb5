"""The printable sign-off sheet, rendered by a real browser after a real run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runwright.app.reads.report_html import html
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Under xdist one worker runs the whole module: the run it reports on is made once.
pytestmark = pytest.mark.xdist_group("report_html")

RUNBOOK = """---
name: signoff-demo
environments: {staging: {identity: self_declared}}
---

# Sign-off demo

## deploy

```sh {name="publish <b>site</b>"}
echo "deployed <script>alert(1)</script>"
```

### Verification
- [ ] Dashboards look normal after the release
- [ ] The build marker exists {run="test -n ok"}

## Rollback

```sh {name=undo}
echo rolled back
```
"""


def runwright(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runwright.cli.main", *args],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT,
    )  # fmt: skip


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--window-size=1200,1600", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One run (deploy, attest by a second person, resume) whose report both tests read."""
    tmp_path = tmp_path_factory.mktemp("signoff")
    book = tmp_path / "signoff.md"
    book.write_text(RUNBOOK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWRIGHT_")}
    env.update(RUNWRIGHT_STATE_DIR=str(tmp_path / "state"), PYTHONPATH=str(ROOT / "src"), CI="1")
    first = runwright(
        "deploy", str(book), "--version", "v2", env={**env, "RUNWRIGHT_USER": "alice"}
    )
    assert first.returncode == 3, first.stderr
    note = "dashboards green <i>checked</i>"
    attest = runwright("attest", "1", "--all", "--note", note, env={**env, "RUNWRIGHT_USER": "bob"})
    assert attest.returncode == 0, attest.stderr
    done = runwright("resume", "1", env={**env, "RUNWRIGHT_USER": "alice"})
    assert done.returncode == 0, done.stderr
    rt = Runtime.open(Settings.from_environ({"RUNWRIGHT_STATE_DIR": str(tmp_path / "state")}))
    try:
        page = html(rt, rt.store.run(1))
    finally:
        rt.close()
    out = tmp_path / "report.html"
    out.write_text(page, encoding="utf-8")
    return out, page


def test_html_escapes_everything_and_fills_in_the_sign_off(finished_run: tuple[Path, str]) -> None:
    _, page = finished_run
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "publish &lt;b&gt;site&lt;/b&gt;" in page
    assert "dashboards green &lt;i&gt;checked&lt;/i&gt;" in page
    assert "http://" not in page
    assert "https://" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(
    finished_run: tuple[Path, str], tmp_path: Path
) -> None:
    report, _ = finished_run
    shot = tmp_path / "report.png"
    taken = chromium(f"--screenshot={shot}", report.as_uri(), profile=tmp_path / "profile")
    assert shot.exists(), taken.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
    dom = chromium("--dump-dom", report.as_uri(), profile=tmp_path / "profile2").stdout
    for text in (
        "Deployment sign-off: signoff-demo v2 to staging",
        "Deployed by",
        "alice",
        "Verified by",
        "bob",
        "Dashboards look normal after the release",
        "The build marker exists",
        "dashboards green &lt;i&gt;checked&lt;/i&gt;",
        "exit 0",
        "All checks pass",
    ):
        assert text in dom, text
    assert "<script>alert" not in dom
