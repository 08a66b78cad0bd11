"""The web UI as its users meet it, in a real browser (Debian's chromium, driven by Selenium), against
the running stack of ``conftest.py``: log in, open the training DAG, trigger it from the form, open the
reports from the navigation, and the reports refused to anonymous callers.

Screenshots of the trigger form and of a report go to ``build/test-artifacts/browser/`` (``STT_TEST_ARTIFACTS``
overrides it); the session prints the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from tests.deploy.test_stack import REPO, Stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DAG_ID = "stt_fr_training"
ARTIFACTS = Path(os.environ.get("STT_TEST_ARTIFACTS", str(REPO / "build" / "test-artifacts"))) / "browser"


def _browser_present() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return os.path.isfile(CHROMIUM) and os.path.isfile(CHROMEDRIVER)


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _browser_present() and not os.environ.get("CI"),
                       reason="needs chromium, chromium-driver (.ci/apt-packages.txt) and selenium (dev extra)"),
]


def new_browser() -> Any:
    """A headless chromium with no profile: every browser starts logged out."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """``condition()``'s first truthy value; fails naming ``what`` after ``timeout`` seconds."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except WebDriverException:  # the page is still rendering: an element not there yet, or replaced
            pass
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.25)


def screenshot(browser: Any, name: str) -> Path:
    """Save the browser's window as ``<ARTIFACTS>/<name>.png`` (CI keeps the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (name + ".png")
    browser.save_screenshot(str(path))
    return path


def tiny_png(width: int = 48, height: int = 24) -> bytes:
    """A valid RGB PNG (a gradient), written by code: the report fixture's plot image."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 5 % 256, y * 10 % 256, 128)) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_report_run(data: Path, run_id: str) -> None:
    """A run folder in the layout the report step writes: a page with a linked and an embedded image."""
    import base64

    folder = data / "reports" / "runs" / run_id
    folder.mkdir(parents=True)
    png = tiny_png()
    (folder / "wer.png").write_bytes(png)
    (folder / "report.html").write_text(
        "<!doctype html><title>Run {0}</title><h1>Run {0}</h1><h2>WER per corpus</h2><img alt='wer' src='wer.png'>"
        "<h2>Loss</h2><img alt='loss' src='data:image/png;base64,{1}'>".format(run_id, base64.b64encode(png).decode()))
    (folder / "summary.json").write_text(json.dumps(
        {"run_id": run_id, "finished": "2026-03-04T08:30:00+00:00", "release": "cv-corpus-21.0-2025-03-14",
         "test_wer": 0.187}))


def log_in(driver: Any, stack: Stack) -> None:
    """Log in as admin with the stack's generated password, through Airflow's login page."""
    from selenium.webdriver.common.by import By

    driver.get(stack.api + "/")
    wait_for(lambda: "/auth/login" in driver.current_url, "the redirect to the login page")
    wait_for(lambda: driver.find_element(By.NAME, "username"), "the login form").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(stack.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "/auth/login" not in driver.current_url, "the login")


def open_menu_entry(driver: Any, menu: str, entry: str) -> None:
    """Click ``menu`` in the navigation, then its entry ``entry``."""
    from selenium.webdriver.common.by import By

    wait_for(lambda: driver.find_element(By.XPATH, "//button[normalize-space()='{}']".format(menu)),
             "the navigation").click()
    wait_for(lambda: [i for i in driver.find_elements(By.CSS_SELECTOR, "[role=menuitem]") if i.text.strip() == entry],
             "the {} entry".format(entry))[0].click()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    """A browser logged in with the stack's generated admin password, through Airflow's login page."""
    print("\nbrowser screenshots: {}".format(ARTIFACTS))
    driver = new_browser()
    try:
        log_in(driver, stack)
        yield driver
    finally:
        driver.quit()


def dag_runs(stack: Stack) -> List[Dict[str, Any]]:
    """The training DAG's runs, as the REST API lists them."""
    return stack.request("GET", "/api/v2/dags/{}/dagRuns?limit=100".format(DAG_ID))["dag_runs"]


class TriggerForm:
    """The DAG page's trigger dialog, as a user fills it in."""

    def __init__(self, browser: Any, stack: Stack) -> None:
        from selenium.webdriver.common.by import By

        self.browser = browser
        browser.get("{}/dags/{}".format(stack.api, DAG_ID))
        wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']"),
                 "the DAG page's Trigger button").click()
        self.dialog = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, ".chakra-dialog__content"),
                               "the trigger dialog")
        wait_for(lambda: self.field("epochs"), "the Run Parameters")

    def field(self, name: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.dialog.find_element(By.NAME, "element_" + name)

    def trigger_button(self) -> Any:
        from selenium.webdriver.common.by import By

        return [b for b in self.dialog.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"][-1]

    def type_into(self, name: str, text: str) -> None:
        from selenium.webdriver.common.keys import Keys

        element = self.field(name)
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.BACKSPACE)
        element.send_keys(text)

    def choose(self, name: str, option: str) -> None:
        """Pick ``option`` in a select field (react-select: type the choice, Enter)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        chooser = self.dialog.find_element(By.CSS_SELECTOR, "#element_{} input[role=combobox]".format(name))
        chooser.send_keys(option)
        chooser.send_keys(Keys.ENTER)
        wait_for(lambda: self.field(name).get_attribute("value") == option, "{} = {}".format(name, option))

    def show_trigger_button(self) -> None:
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", self.trigger_button())


def test_trigger_with_defaults_and_stop_after_creates_a_run_with_typed_conf(browser, stack):
    before = {r["dag_run_id"] for r in dag_runs(stack)}
    form = TriggerForm(browser, stack)
    assert form.trigger_button().is_enabled(), "the defaults alone disable Trigger"
    screenshot(browser, "trigger-form")
    form.choose("stop_after", "preflight")
    form.show_trigger_button()
    screenshot(browser, "trigger-form-stop-after")
    form.trigger_button().click()
    # the UI opens the new run's page
    wait_for(lambda: "/dags/{}/runs/".format(DAG_ID) in browser.current_url, "the new run's page")
    run_id = urllib.parse.unquote(browser.current_url.rstrip("/").rsplit("/runs/", 1)[1].split("/")[0])
    assert run_id not in before
    run = stack.request("GET", "/api/v2/dags/{}/dagRuns/{}".format(DAG_ID, urllib.parse.quote(run_id, safe="")))
    conf = run["conf"]
    # the conf keeps its types: numbers stay numbers, choices stay choices, optional values are null
    assert conf["stop_after"] == "preflight" and conf["epochs"] == 40 and isinstance(conf["epochs"], int)
    assert conf["learning_rate"] == 0.0001 and conf["dropout"] == 0.3 and conf["early_stop"] is True
    assert conf["train_cudnn"] == "auto" and conf["lm_memory"] == "85%"
    assert conf["lm_evaluate_range"] is None and conf["transfer_checkpoint"] is None and not conf["lm_texts"]
    assert "common-voice" in conf["corpora"]
    state = run["state"]
    deadline = time.monotonic() + 300
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(3)
        state = stack.request("GET", "/api/v2/dags/{}/dagRuns/{}".format(
            DAG_ID, urllib.parse.quote(run_id, safe="")))["state"]
    assert state == "success", "the preflight-only run ended {}".format(state)


def test_documented_choices_are_accepted_by_the_form(browser, stack):
    """Decoder tuning, a transfer checkpoint, a subset of corpora and extra LM texts: Trigger stays enabled.

    Not pressed: the run would train. The server's validation of the same values is the REST test's.
    """
    form = TriggerForm(browser, stack)
    form.type_into("lm_evaluate_range", "5,5,600")
    form.type_into("transfer_checkpoint", "/srv/checkpoints/en")
    form.type_into("corpora", "common-voice\nmls")
    form.type_into("lm_texts", "sources/my_text.txt.xz")
    assert form.trigger_button().is_enabled()


@pytest.mark.parametrize("name, bad", [("lm_evaluate_range", "5,5"), ("transfer_checkpoint", "relative/ckpt")])
def test_bad_value_is_refused_and_no_run_starts(browser, stack, name, bad):
    from selenium.webdriver.common.by import By

    before = {r["dag_run_id"] for r in dag_runs(stack)}
    form = TriggerForm(browser, stack)
    form.choose("stop_after", "preflight")  # were it let through, the run would stay short
    form.type_into(name, bad)
    form.show_trigger_button()
    form.trigger_button().click()
    toast = wait_for(lambda: [t for t in browser.find_elements(By.CSS_SELECTOR, "[data-scope=toast]")
                              if "Failed to Trigger" in t.text], "the refusal")
    screenshot(browser, "trigger-refused-" + name)
    assert toast and {r["dag_run_id"] for r in dag_runs(stack)} == before
    # the REST API's answer to the same conf names the parameter (the form shows only "Bad Request")
    with pytest.raises(urllib.error.HTTPError) as refused:
        stack.request("POST", "/api/v2/dags/{}/dagRuns".format(DAG_ID),
                      {"logical_date": None, "conf": {name: bad, "stop_after": "preflight"}})
    assert refused.value.code == 400 and name in refused.value.read().decode()


def test_negative_epochs_are_not_silently_clamped(browser, stack):
    form = TriggerForm(browser, stack)
    form.type_into("epochs", "-3")
    form.field("lm_memory").click()  # leave the field, as a user does before pressing Trigger
    time.sleep(0.5)
    assert form.field("epochs").get_attribute("value") == "-3"


def test_reports_open_from_the_navigation_with_their_images(browser, stack):
    from selenium.webdriver.common.by import By

    run_id = "manual__browser-test"
    write_report_run(stack.data, run_id)
    browser.get(stack.api + "/")
    open_menu_entry(browser, "Browse", "STT reports")
    frame = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "iframe[title='STT reports']"), "the reports view")
    browser.switch_to.frame(frame)
    try:
        runs = wait_for(lambda: browser.find_element(By.ID, "runs"), "the runs table")
        assert run_id in runs.text and "cv-corpus-21.0-2025-03-14" in runs.text and "18.7 %" in runs.text
        browser.switch_to.default_content()
        screenshot(browser, "reports-index")
        browser.switch_to.frame(frame)
        browser.find_element(By.LINK_TEXT, run_id).click()
        wait_for(lambda: browser.find_element(By.TAG_NAME, "h1").text == "Run " + run_id, "the report page")
        images = wait_for(lambda: browser.execute_script(
            "const imgs = Array.from(document.images);"
            "return imgs.every(i => i.complete) ? imgs.map(i => [i.alt, i.naturalWidth]) : null;"), "the images")
    finally:
        browser.switch_to.default_content()
    screenshot(browser, "report")
    assert len(images) == 2 and all(width > 0 for _alt, width in images), images


def test_reports_are_refused_to_anonymous_callers(stack):
    for path in ("/stt-reports/", "/stt-reports/files/reports/runs/manual__browser-test/report.html"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(stack.api + path, timeout=30)
        assert refused.value.code == 401, path
    anonymous = new_browser()
    try:
        anonymous.get(stack.api + "/stt-reports/")
        wait_for(lambda: "/auth/login" in anonymous.current_url, "the redirect to the login page")
        assert "Run manual__browser-test" not in anonymous.page_source
    finally:
        anonymous.quit()
