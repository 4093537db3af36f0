"""The visualizer in a real browser: start the page (../../scripts/visualize.py) on a free port of
127.0.0.1, open it in headless Chromium (Debian's chromium and chromium-driver, driven by
selenium with that driver: nothing downloaded), read the entity marks displaCy drew for the
first example, type a sentence and read its marks, move the threshold slider to 1 (every mark
goes) and back to 0 (they come back), take a screenshot, then stop the browser and the server.

    python scripts/browser_check.py xx_multinerd metrics/browser.json --screenshot figures/visualizer.png

A plain `chromium --dump-dom` returns before streamlit's websocket has drawn anything: the marks
are waited for in the live page.
"""

import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import srsly
import typer

from multinerd.cli import fail
from multinerd.visualize.page import HOST

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MISSING_BROWSER = "apt-get install chromium chromium-driver (Debian's packages; .ci/run installs them where missing)"
SENTENCE = "Barack Obama visited Paris with Vincent van Gogh."
WAIT = 60.0  # seconds for the server to answer and for the page to draw (about 5 s here)

app = typer.Typer(add_completion=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) == 0


@contextmanager
def served(model: str, port: int) -> Iterator[str]:
    """The page for `model` on HOST:port while inside, its URL; the server stopped after."""
    command = [sys.executable, str(REPO / "scripts" / "visualize.py"), model, "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + WAIT
        while not answers(f"{url}/_stcore/health"):
            if server.poll() is not None:
                raise RuntimeError(f"The page did not start: {server.communicate()[0]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"The page did not answer on {url} within {WAIT:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def chromium(width: int = 1280, height: int = 1400):
    """Headless Chromium through the system's chromedriver; quit after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def read_marks(driver) -> List[Tuple[str, str]]:
    """(text, label with score) of each entity mark on the page."""
    from selenium.webdriver.common.by import By

    found = []
    for mark in driver.find_elements(By.CSS_SELECTOR, "mark.entity"):
        label = mark.find_element(By.TAG_NAME, "span").text
        found.append((mark.text[: -len(label)].strip(), label))
    return found


def wait_for(driver, condition: Callable[[List[Tuple[str, str]]], bool]) -> List[Tuple[str, str]]:
    """The marks once the page's run has finished and `condition(marks)` holds, polling the live
    page (streamlit redraws it as the server answers, so a mark read may already be gone: read
    again). While a run is on, the last run's elements stay, marked data-stale."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen: List[Tuple[str, str]] = []

    def ready(driver) -> bool:
        if driver.find_elements(By.CSS_SELECTOR, '[data-stale="true"], [data-testid="stStatusWidget"]'):
            return False
        seen[:] = read_marks(driver)
        return condition(seen)

    WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(ready)
    return list(seen)


def slide(driver, key: str, shown: str) -> None:
    """Press `key` on the threshold slider, as a keyboard user does (its thumb holds a visually
    hidden range input, focused here), and wait until the thumb shows `shown`."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    thumb = driver.find_element(By.CSS_SELECTOR, '[data-testid="stSlider"] input[type="range"]')
    driver.execute_script("arguments[0].focus()", thumb)
    ActionChains(driver).send_keys(key).perform()
    value = (By.CSS_SELECTOR, '[data-testid="stSliderThumbValue"]')
    WebDriverWait(driver, WAIT).until(lambda driver: driver.find_element(*value).text == shown)


def try_page(model: str, sentence: str = SENTENCE, screenshot: Optional[Path] = None) -> Dict:
    """What the browser read at each step, and the seconds each took."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    port = free_port()
    result: Dict = {"model": model, "sentence": sentence, "port": port}
    started = time.perf_counter()
    with served(model, port) as url, chromium() as driver:
        result["server_seconds"] = round(time.perf_counter() - started, 2)
        driver.get(url)
        result["example"] = wait_for(driver, bool)
        result["first_marks_seconds"] = round(time.perf_counter() - started, 2)
        box = driver.find_element(By.TAG_NAME, "textarea")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE, sentence, Keys.CONTROL, Keys.ENTER)
        result["typed"] = wait_for(
            driver, lambda marks: marks != result["example"] and all(text in sentence for text, _ in marks)
        )
        slide(driver, Keys.END, "1.00")
        result["at_threshold_1"] = wait_for(driver, lambda marks: not marks)
        slide(driver, Keys.HOME, "0.00")
        result["at_threshold_0"] = wait_for(driver, lambda marks: len(marks) == len(result["typed"]))
        if screenshot:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["left_listening"] = listening(port)
    return result


@app.command()
def main(
    model: str = typer.Argument(..., help="Installed package (xx_multinerd) or pipeline folder"),
    output: Path = typer.Argument(..., help="JSON file of what the browser read"),
    sentence: str = typer.Option(SENTENCE, "--sentence", help="The sentence typed into the page"),
    screenshot: Optional[Path] = typer.Option(None, "--screenshot", help="PNG of the page at the end"),
) -> None:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        fail(f"No {CHROMIUM} or {CHROMEDRIVER}: {MISSING_BROWSER}.")
    result = try_page(model, sentence, screenshot)
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    print(srsly.json_dumps(result, indent=2))


if __name__ == "__main__":
    app()
