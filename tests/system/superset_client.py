"""Superset as its users reach it: the REST API (/api/v1, a JWT from /api/v1/security/login)
and the web UI in Debian's headless Chromium, driven by selenium through chromedriver."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

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


def chromium(network_log: bool = False):
    """Debian's Chromium, headless, with its own chromedriver (same build, so no version skew).
    `network_log`: Chromium keeps its network events for NetworkLog (log_in needs them)."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists() and not shutil.which(Path(binary).name):
            raise RuntimeError(f"{binary} not found: `make test` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,2400",
                "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    if network_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
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


_USERNAME = "input[name='username'], input#username"
_PASSWORD = "input[name='password'], input#password"
_SUBMIT = "button[type='submit'], input[type='submit']"
EVENT_REPORTS = "*/superset/log/*"  # Superset's frontend event log
LOGIN_FAILURE = PROJECT_ROOT / "build" / "test-output" / "superset-login"  # <this>.png, <this>.requests.txt


class LoginFailed(AssertionError):
    """The browser is not signed in to Superset after its login form."""


def log_in(driver, base: str, user: str, password: str) -> None:
    """Sign in through Superset's login form as a person does, and check the browser is
    signed in (its session answers /api/v1/me/). `driver`: chromium(network_log=True).

    Each page reports what happens on it to Superset's event log: a POST to /superset/log/,
    sent a second after the page's last logged event (debounced). Signed out, that request is
    redirected to the login page, and the answer sets a new, anonymous session cookie. Sent
    with the login's POST, if its answer comes last, the browser ends signed out, at
    /login/?next=/superset/welcome/ (seen in CI under the suite's full load; here, with the
    click 0.6-1.3 s after the form loaded, in 2 of 16 logins). So the browser holds those
    reports back while it signs in, and the sign-in checks that none got through. Superset's
    own race: a person who submits that fast can meet it too."""
    base = base.rstrip("/")
    for old in (LOGIN_FAILURE.with_suffix(".png"), LOGIN_FAILURE.with_suffix(".requests.txt")):
        old.unlink(missing_ok=True)
    network = NetworkLog(driver)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [EVENT_REPORTS]})
    network.mark()
    try:
        _sign_in(driver, base, user, password, network)
    except BaseException:
        with contextlib.suppress(Exception):  # a dead browser: the failure before is the news
            driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        raise
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})


def _sign_in(driver, base: str, user: str, password: str, network: NetworkLog) -> None:
    driver.get(f"{base}/login/")
    try:
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, _SUBMIT), 60, "the login form")
    except TimeoutError as exc:
        raise LoginFailed(f"{exc}; {_page_state(driver, network)}") from None
    form = driver.current_url
    for selector, text in ((_USERNAME, user), (_PASSWORD, password)):
        field = driver.find_element(By.CSS_SELECTOR, selector)
        field.send_keys(text)
        if field.get_attribute("value") != text:  # never the value in the message: it may be the password
            raise LoginFailed(f"the login form's {selector} did not keep what was typed into it; "
                              f"{_page_state(driver, network)}")
    driver.find_element(By.CSS_SELECTOR, _SUBMIT).click()
    try:
        wait_for(lambda: driver.current_url != form, 60, "the login form to be sent")
    except TimeoutError as exc:
        raise LoginFailed(f"{exc}; {_page_state(driver, network)}") from None
    landed = urllib.parse.urlsplit(driver.current_url)
    if landed.path.startswith("/login"):
        after = urllib.parse.parse_qs(landed.query).get("next", ["/"])[0]
        what = ("Superset refused the login" if after == "/"
                else f"Superset signed {user} in, then sent the browser back to the form for {after}")
        raise LoginFailed(f"{what}; {_page_state(driver, network)}")
    session = _session_status(driver)
    if session != 200:
        raise LoginFailed(f"the login went on to {driver.current_url}, but /api/v1/me/ answers {session}; "
                          f"{_page_state(driver, network)}")
    reported = network.answered_since_mark("POST", "/superset/log/")
    if reported:
        raise LoginFailed(f"signed in, but event reports were answered during the sign-in ({reported}): the "
                          f"browser no longer holds them back (Network.setBlockedURLs); {_page_state(driver, network)}")


_ME = """const done = arguments[arguments.length - 1];
fetch('/api/v1/me/', {credentials: 'same-origin'}).then(r => done(r.status)).catch(e => done(String(e)));"""


def _session_status(driver):
    """/api/v1/me/'s status for the browser's session (200 signed in, 401 not), or what failed."""
    try:
        return driver.execute_async_script(_ME)
    except Exception as exc:  # noqa: BLE001 - a script timeout is an answer too
        return f"no answer ({type(exc).__name__}: {exc})"


def _page_state(driver, network: NetworkLog) -> str:
    """What the page showed: its URL, alerts and toasts (the form shows "Invalid username or
    password" whenever it comes back after a submit, whatever the server said), a screenshot,
    and the browser's requests. Each part apart: one that fails does not lose the others."""
    parts = []
    LOGIN_FAILURE.parent.mkdir(parents=True, exist_ok=True)
    for name, part in (("at", lambda: driver.current_url),
                       ("showing", lambda: [e.text for e in driver.find_elements(
                           By.CSS_SELECTOR, "[role='alert'], .ant-form-item-explain")]),
                       ("screenshot", lambda: driver.save_screenshot(str(LOGIN_FAILURE.with_suffix(".png")))
                        and LOGIN_FAILURE.with_suffix(".png")),
                       ("requests", lambda: _write_lines(LOGIN_FAILURE.with_suffix(".requests.txt"), network.lines()))):
        try:
            parts.append(f"{name} {part()}")
        except Exception as exc:  # noqa: BLE001 - a dead browser: what happened before is the news
            parts.append(f"{name}: none ({type(exc).__name__}: {exc})")
    return ", ".join(parts)


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


class NetworkLog:
    """The browser's requests, from Chromium's performance log (chromium(network_log=True)).
    Its events arrive in batches, not always in order, so they are kept and read together."""

    def __init__(self, driver):
        self.driver = driver
        self.events: list[tuple[float, dict]] = []  # (the log entry's time in ms, the CDP event)
        self._mark = 0

    def _read(self) -> None:
        self.events += [(e["timestamp"], json.loads(e["message"])["message"])
                        for e in self.driver.get_log("performance")]

    def mark(self) -> None:
        """From here on: what answered_since_mark looks at."""
        self._read()
        self._mark = len(self.events)

    def _first_requests(self) -> dict[str, str]:
        """Per request id, its first request (a redirect's next hop keeps the id)."""
        first: dict[str, str] = {}
        for _, e in self.events:
            if e["method"] == "Network.requestWillBeSent":
                request = e["params"]["request"]
                first.setdefault(e["params"]["requestId"], f"{request['method']} {request['url']}")
        return first

    def answered_since_mark(self, method: str, path: str) -> list[str]:
        """Requests of `method` to a URL holding `path` that got an answer since mark()."""
        self._read()
        first = self._first_requests()
        wanted = {i for i, r in first.items() if r.startswith(f"{method} ") and path in r}
        return sorted({first[e["params"]["requestId"]] for _, e in self.events[self._mark:]
                       if e["method"] == "Network.responseReceivedExtraInfo" and e["params"]["requestId"] in wanted})

    def outcomes(self, host: str) -> list[str]:
        """How each request to a URL holding `host` ended, one line per request: "<request>:
        answered <status>", "blocked <reason>" (Chromium refused to send it: "csp" for the
        page's content security policy), "failed <error>" or "no answer" (yet)."""
        self._read()
        first = self._first_requests()
        ended = {}
        for _, e in self.events:
            request = e.get("params", {}).get("requestId")
            if request not in first or host not in first[request]:
                continue
            params = e["params"]
            if e["method"] == "Network.responseReceivedExtraInfo":
                ended[request] = f"answered {params.get('statusCode')}"
            elif e["method"] == "Network.loadingFailed":
                ended[request] = (f"blocked {params['blockedReason']}" if params.get("blockedReason")
                                  else f"failed {params.get('errorText')}")
        return sorted(f"{first[r]}: {ended.get(r, 'no answer')}" for r in first if host in first[r])

    def lines(self) -> list[str]:
        """Every request sent (each hop of a redirect), answer (its status and the names of the
        cookies it set, never their values) and failure (a blocked request), in order, timed."""
        self._read()
        first, lines = self._first_requests(), []
        for ms, e in sorted(self.events, key=lambda te: te[0]):
            params = e.get("params", {})
            if e["method"] == "Network.requestWillBeSent":
                redirected = params.get("redirectResponse")
                lines.append(f"{ms:.0f} sent {params['request']['method']} {params['request']['url']}"
                             + (f" (after a {redirected['status']} redirect)" if redirected else ""))
            elif e["method"] == "Network.responseReceivedExtraInfo":
                headers = {k.lower(): v for k, v in params.get("headers", {}).items()}
                cookies = sorted({c.split("=", 1)[0].strip() for c in headers.get("set-cookie", "").split("\n") if c})
                lines.append(f"{ms:.0f} answered {params.get('statusCode')} to {first.get(params['requestId'], '?')}"
                             + (f", set-cookie {cookies}" if cookies else ""))
            elif e["method"] == "Network.loadingFailed":
                lines.append(f"{ms:.0f} failed {first.get(params['requestId'], '?')}: "
                             f"{params.get('blockedReason') or params.get('errorText')}")
        return lines


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
