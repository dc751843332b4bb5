"""The dashboard in headless Chromium: log in, deploy the demo service from its plan, watch
steps change live, approve as a second person (the initiator's button is disabled and says
why), read an analysis chart with its points and threshold line, abort a release and read
the rollback reason first. A hostile step name renders as text.

The demo service runs behind the built-in router with light traffic going through it, so the
canary's analysis has real readings to chart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.support.browser import chromium, require_browser, screenshot_dir
from tests.support.web import WebServer, web_server

from runwright.app.demo import canary_runbook
from runwright.app.runtime.runtime import Runtime
from runwright.app.runtime.settings import Settings
from runwright.drivers.local import free_port

# Under xdist one worker runs the whole module: its server and Chromium start once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("web_browser")]
WAIT = 60.0
XSS = "<script>alert(1)</script>"


def demo_book(listen: str, admin: str) -> dict[str, Any]:
    book = canary_runbook("builtin", listen, admin)
    book["environments"] = {"local": {"approvals": {"required": 1, "not_by_initiator": True}}}
    book["checks"]["error-rate"]["interval"] = "0.5s"
    book["release"]["weights"] = [50, 100]
    book["release"]["pause"] = "6s"
    return book


class Traffic:
    """A trickle of user requests through the router, so its counters have readings."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as c:
            while not self.stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    c.get(self.url)
                self.stop.wait(0.02)


async def _teardown(rt: Runtime, path: Path) -> None:
    driver, router, spec = rt.step_services(rt.load(path), "local").release()
    for inst in await driver.instances(spec.name):
        await driver.stop(inst, 5.0)
    stop = getattr(router, "stop", None)
    if stop is not None:
        await stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, Traffic]]:
    require_browser()
    root = tmp_path_factory.mktemp("web-browser")
    books, state = root / "books", root / "state"
    books.mkdir()
    state.mkdir()
    listen = f"127.0.0.1:{free_port('127.0.0.1')}"
    admin = f"127.0.0.1:{free_port('127.0.0.1')}"
    path = books / "demo.yaml"
    path.write_text(yaml.safe_dump(demo_book(listen, admin), sort_keys=False))
    hostile = {
        "name": "hostile",
        "environments": {"local": {}},
        "phases": [{"name": XSS, "steps": [{"name": XSS, "run": "echo '<b>bold</b>'"}]}],
    }
    (books / "hostile.yaml").write_text(yaml.safe_dump(hostile))
    traffic = Traffic(f"http://{listen}/")
    traffic.thread.start()
    try:
        with web_server(state, books) as web:
            web.add_user("bob", "approver", "deployer")
            yield web, traffic
    finally:
        traffic.stop.set()
        settings = Settings(state, f"sqlite:///{state / 'runwright.db'}", "alice", environ={})
        rt = Runtime.open(settings)
        asyncio.run(_teardown(rt, path))
        rt.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, site: Any) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("profile")) as driver:
        yield driver


def until(driver: Any, test: Any, timeout: float = WAIT) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    stale = (StaleElementReferenceException,)
    try:
        return WebDriverWait(driver, timeout, 0.1, ignored_exceptions=stale).until(test)
    except TimeoutException:
        body = driver.find_element("tag name", "body").text
        raise AssertionError(f"waited {timeout} s on {driver.current_url}; page:\n{body}") from None


def text(driver: Any, css: str) -> str:
    """The element's text, read in one script call (live fragments are swapped any time)."""
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css
    )
    return str(found).strip()


def step_statuses(driver: Any) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll('tr.step .status')].map(e => e.innerText)"
        )
    )


CHART = """
const c = [...document.querySelectorAll('.chart')].find(c => c.dataset.points);
return c ? {points: +c.dataset.points, threshold: c.dataset.threshold,
            canvas: !!c.querySelector('canvas'), text: c.innerText} : null;
"""


def login(driver: Any, url: str) -> None:
    driver.delete_all_cookies()
    driver.get(url)
    until(driver, lambda d: "Overview" in d.page_source)


def deploy(driver: Any, web: WebServer, version: str) -> int:
    from selenium.webdriver.common.by import By

    driver.get(f"{web.url}/plan?runbook=demo&env=local&version={version}")
    assert "not executed" in driver.page_source
    driver.find_element(By.ID, "deploy").click()
    until(driver, lambda d: "/runs/" in d.current_url and d.find_elements(By.ID, "live"))
    return int(driver.current_url.split("/runs/")[1].split("?")[0])


def status(driver: Any) -> str:
    return text(driver, "#run-status")


def shoot(driver: Any, name: str, tmp: Path) -> None:
    driver.save_screenshot(str(screenshot_dir(tmp) / f"dashboard-{name}.png"))


def test_deploy_approve_watch_chart_and_abort(
    site: tuple[WebServer, Traffic], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    web, _ = site
    driver = browser
    login(driver, web.login_link)
    shoot(driver, "overview", tmp_path)

    def release(version: str) -> int:
        login(driver, web.login_url("alice"))
        run = deploy(driver, web, version)
        until(driver, lambda d: status(d) == "awaiting_approval")
        button = driver.find_element(By.ID, "approve")
        assert button.get_attribute("disabled") is not None
        assert "alice started this run and cannot approve it" in text(driver, "#approve-why")
        if version == "v1":
            shoot(driver, "approval", tmp_path)
        login(driver, web.login_url("bob"))
        driver.get(f"{web.url}/runs/{run}")
        driver.find_element(By.CSS_SELECTOR, "#approve-form input[name=note]").send_keys("ok")
        driver.find_element(By.ID, "approve").click()
        until(driver, lambda d: "approved by bob" in text(d, "#flash"))
        return run

    first = release("v1")
    driver.execute_script("window.sameDocument = 'yes'")
    until(driver, lambda d: status(d) == "succeeded")
    steps = step_statuses(driver)
    assert steps
    assert set(steps) <= {"succeeded", "skipped"}
    assert driver.execute_script("return window.sameDocument") == "yes"

    second = release("v2")
    driver.execute_script("window.sameDocument = 'yes'")
    seen: set[str] = set()

    def done_watching(d: Any) -> bool:
        seen.update(step_statuses(d))
        return status(d) == "succeeded"

    until(driver, done_watching, timeout=90)
    assert {"running", "succeeded"} <= seen or {"pending", "succeeded"} <= seen
    assert driver.execute_script("return window.sameDocument") == "yes"
    chart = until(driver, lambda d: d.execute_script(CHART))
    assert chart["points"] >= 3
    assert float(chart["threshold"]) == pytest.approx(0.05)
    assert chart["canvas"]
    assert "threshold" in chart["text"]
    driver.execute_script("document.getElementById('charts').scrollIntoView()")
    shoot(driver, "analysis", tmp_path)
    assert first < second

    third = release("v3")
    until(driver, lambda d: status(d) == "running")
    driver.find_element(By.CSS_SELECTOR, "#abort-form input[name=reason]").send_keys("wrong build")
    driver.find_element(By.ID, "abort").click()
    until(driver, lambda d: status(d) in ("aborted", "rolled_back"), timeout=90)
    assert text(driver, "#reason") == "aborted by bob: wrong build"
    assert driver.current_url.startswith(f"{web.url}/runs/{third}")
    shoot(driver, "rollback", tmp_path)
    driver.get(f"{web.url}/runs/{third}/audit")
    assert "Chain verified" in text(driver, "#chain")


def test_hostile_step_names_render_as_text(site: tuple[WebServer, Traffic], browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    web, _ = site
    with web.client(web.token("alice")) as c:
        started = c.post(
            "/api/v1/runs", json={"runbook": "hostile", "environment": "local", "version": "x"}
        )
    assert started.status_code == 202, started.text
    run = started.json()["run"]
    login(browser, web.login_url("alice"))
    browser.get(f"{web.url}/runs/{run}")
    until(browser, lambda d: status(d) == "succeeded")
    names = [n.text for n in browser.find_elements(By.CSS_SELECTOR, "tr.step td.name")]
    assert names == [XSS]
    assert not browser.find_elements(By.CSS_SELECTOR, "main script")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    assert not [e for e in logs if "Content Security Policy" in e.get("message", "")]
