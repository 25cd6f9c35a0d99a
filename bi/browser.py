"""Open each dashboard in headless Chromium, check that every chart rendered, save screenshots.

Logs in with the login form's own CSRF token (a form POST from the page), opens
``/superset/dashboard/<slug>/`` and waits until every chart holder shows a canvas, a table or
a big number's figure, or an error. Needs Debian's ``chromium`` and ``chromium-driver`` (``make
bi-browser``) and a running Superset (``make bi``). Runs in ``.venv-bi`` (Selenium comes with
Superset).

    .venv-bi/bin/python -m bi.browser URL USER PASSWORD OUT_DIR SLUG...
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1500, 2200

# Per chart holder: rendered (a canvas or a table, or a big number's figure), failed (an error
# box), or still loading.
STATE_JS = """
return Array.from(document.querySelectorAll('[data-test="dashboard-component-chart-holder"]'))
  .filter(h => Array.from(h.classList).some(c => c.startsWith('dashboard-chart-id-')))
  .map(h => {
    const name = (h.querySelector('[data-test="editable-title"], .header-title') || {}).textContent;
    const error = h.querySelector('[role="alert"], .alert-danger, .ant-alert-error,'
      + ' [data-test="error-tooltip"], [data-test="error-message"]');
    const drawn = h.querySelector('canvas, table, .superset-legacy-chart-big-number .header-line');
    const loading = h.querySelector('[data-test="loading-indicator"], .loading');
    return {name: (name || '').trim(), error: error ? error.textContent.slice(0, 200) : null,
            drawn: !!drawn, loading: !!loading};
  });
"""


def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


LOGIN_JS = """
const token = document.querySelector('input[name="csrf_token"]').value;
const form = document.createElement('form');
form.method = 'POST'; form.action = '/login/';
for (const [k, v] of Object.entries({csrf_token: token, username: arguments[0],
                                      password: arguments[1]})) {
  const input = document.createElement('input');
  input.type = 'hidden'; input.name = k; input.value = v; form.appendChild(input);
}
document.body.appendChild(form); form.submit();
"""


def login(browser, url: str, username: str, password: str, attempts: int = 4) -> None:
    """Log in by posting the login form with its csrf token.

    Retried: the login page's own event-log request can answer at the same moment as the login
    and overwrite the fresh session cookie with an anonymous one (seen under load).
    """
    for attempt in range(attempts):
        browser.get(f"{url}/login/")
        time.sleep(2 + 2 * attempt)  # let the page's own requests finish first
        browser.execute_script(LOGIN_JS, username, password)
        time.sleep(2)
        browser.get(f"{url}/api/v1/me/")
        if '"username"' in browser.page_source:
            return
    raise RuntimeError(f"login as {username} failed {attempts} times")


def open_dashboard(browser, url: str, slug: str, timeout: float = 90) -> list[dict]:
    """Open the dashboard; return each chart's state once none is loading (or at the timeout)."""
    browser.get(f"{url}/superset/dashboard/{slug}/?standalone=0")
    deadline = time.monotonic() + timeout
    charts: list[dict] = []
    while time.monotonic() < deadline:
        time.sleep(2)
        charts = browser.execute_script(STATE_JS)
        if charts and all(c["drawn"] or c["error"] for c in charts):
            break
    time.sleep(1)  # let the last animation end before the screenshot
    return browser.execute_script(STATE_JS) or charts


def shrink(png: Path, width: int = 1000) -> None:
    """Halve the screenshot's size on disk: scaled down and reduced to 256 colours."""
    from PIL import Image

    with Image.open(png) as image:
        height = round(image.height * width / image.width)
        small = image.convert("RGB").resize((width, height), Image.LANCZOS)
        small.quantize(colors=256).save(png, optimize=True)


def capture(url: str, username: str, password: str, out: Path, slugs: list[str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    browser = driver()
    results = {}
    try:
        login(browser, url, username, password)
        for slug in slugs:
            started = time.monotonic()
            charts = open_dashboard(browser, url, slug)
            png = out / f"{slug}.png"
            browser.save_screenshot(str(png))
            shrink(png)
            results[slug] = {
                "charts": charts,
                "title": browser.title,
                "screenshot": str(png),
                "bytes": png.stat().st_size,
                "seconds": round(time.monotonic() - started, 1),
            }
    finally:
        browser.quit()
    return results


if __name__ == "__main__":
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    url, user, password, out = sys.argv[1:5]
    print(json.dumps(capture(url.rstrip("/"), user, password, Path(out), sys.argv[5:])))
