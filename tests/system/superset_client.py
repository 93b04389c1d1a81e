"""Superset as its users reach it: the REST API (/api/v1, a JWT from /api/v1/security/login)
and the web UI in Debian's headless Chromium, driven by selenium through chromedriver."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from lakehouse.config import PROJECT_ROOT


class SupersetError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status


def _call(method: str, url: str, body: dict | None = None, bearer: str | None = None, timeout: float = 300,
          headers: dict | None = None, opener=None) -> dict:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    if body is not None:  # a GET with a JSON content type and no body is a 400 for Flask
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if bearer:
        request.add_header("Authorization", f"Bearer {bearer}")
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise SupersetError(exc.code, exc.read().decode(errors="replace")[:500]) from None


class SupersetAPI:
    def __init__(self, base_url: str, username: str, password: str):
        self.base = base_url.rstrip("/")
        answer = _call("POST", f"{self.base}/api/v1/security/login",
                       {"username": username, "password": password, "provider": "db", "refresh": False})
        self._token = answer["access_token"]

    def get(self, path: str, **query) -> dict:
        # List endpoints take their arguments as one rison value, e.g. (page_size:100).
        rison = {k: f"({','.join(f'{a}:{b}' for a, b in v.items())})" for k, v in query.items()}
        suffix = f"?{urllib.parse.urlencode(rison)}" if rison else ""
        return _call("GET", f"{self.base}/api/v1{path}{suffix}", bearer=self._token)

    def listing(self, kind: str) -> list[dict]:
        return self.get(f"/{kind}/", q={"page_size": 100})["result"]

    def post(self, path: str, body: dict) -> dict:
        """A POST, with the CSRF token Superset requires of it (bound to this client's session cookie)."""
        import http.cookiejar

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        token = _call("GET", f"{self.base}/api/v1/security/csrf_token/", bearer=self._token, opener=opener)["result"]
        return _call("POST", f"{self.base}/api/v1{path}", body, bearer=self._token, opener=opener,
                     headers={"X-CSRFToken": token, "Referer": self.base})

    def sql_lab(self, database_id: int, sql: str) -> dict:
        """Run SQL in SQL Lab, synchronously, as this user."""
        return self.post("/sqllab/execute/", {"database_id": database_id, "sql": sql, "runAsync": False,
                                              "schema": "gold", "tab": "tests", "client_id": uuid.uuid4().hex[:10]})

    def chart_data(self, chart_id: int) -> dict:
        """The chart's saved query, run afresh (force: no cache) through the Thrift server."""
        return _call("GET", f"{self.base}/api/v1/chart/{chart_id}/data/?format=json&force=true", bearer=self._token)


# --- the browser ------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium():
    """Debian's Chromium, headless, with its own chromedriver (same build, so no version skew)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists() and not shutil.which(Path(binary).name):
            raise RuntimeError(f"{binary} not found: `make test` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,2400",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def log_in(driver, base: str, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login/")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "input[name='username'], input#username"), 60,
             "the login form")
    driver.find_element(By.CSS_SELECTOR, "input[name='username'], input#username").send_keys(user)
    driver.find_element(By.CSS_SELECTOR, "input[name='password'], input#password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type='submit'], input[type='submit']").click()
    try:
        wait_for(lambda: "/login" not in driver.current_url, 60, "the login to go through")
    except TimeoutError as exc:
        # Once seen under the suite's full load, cause unknown: keep what the page showed.
        try:
            picture = LOGIN_TIMEOUT_SCREENSHOT
            picture.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(picture))
            alerts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[role='alert'], .ant-form-item-explain")]
            seen = f"still at {driver.current_url}, alerts {alerts}, screenshot {picture}"
        except Exception as failed:  # noqa: BLE001 - a dead browser: the timeout is the news
            seen = f"no screenshot ({type(failed).__name__})"
        raise TimeoutError(f"{exc}; {seen}") from None


LOGIN_TIMEOUT_SCREENSHOT = PROJECT_ROOT / "build" / "test-output" / "superset-login-timeout.png"


def open_dashboard(driver, base: str, slug: str, charts: int, screenshot: Path) -> dict:
    """Open a dashboard and wait until each of its `charts` settled (rendered, an error or
    empty); save a screenshot. Returns the charts' states and the load's seconds."""
    t0 = time.monotonic()
    driver.get(f"{base}/superset/dashboard/{slug}/")
    state = wait_for(lambda: _charts_settled(driver, charts), 300, f"{charts} charts to render")
    state["load_seconds"] = round(time.monotonic() - t0, 2)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    time.sleep(3)  # ECharts grows its bars for about a second: the picture shows them grown
    driver.save_screenshot(str(screenshot))
    return state


# Every chart's holder on the dashboard, and what is inside it: still loading, an error alert,
# Superset's "no results" message, or a rendered visualisation (a canvas, an SVG or a table).
_CHART_STATES = """
const holders = [...document.querySelectorAll('.dashboard-component-chart-holder')];
const state = {holders: holders.length, loading: 0, rendered: 0, errors: [], empty: []};
for (const h of holders) {
  const title = (h.querySelector('.header-title, [data-test="editable-title"]') || {}).textContent || '?';
  if (h.querySelector('.loading, [data-test="loading-indicator"]')) { state.loading++; continue; }
  if (h.querySelector('[role="alert"], .alert-danger, [data-test="error-alert"]')) {
    state.errors.push(title.trim()); continue; }
  if (/No results were returned|No data/i.test(h.innerText)) { state.empty.push(title.trim()); continue; }
  if (h.querySelector('canvas, svg, table, .superset-legacy-chart-big-number, [class*="big_number"]')) state.rendered++;
}
return state;
"""


def _charts_settled(driver, expected: int) -> dict | None:
    state = driver.execute_script(_CHART_STATES)
    settled = state["rendered"] + len(state["errors"]) + len(state["empty"])
    return state if state["holders"] == expected and state["loading"] == 0 and settled == expected else None
