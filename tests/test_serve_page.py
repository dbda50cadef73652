"""The page `zoo serve` serves at /, in a real headless Chromium (Debian's chromium + chromedriver, driven by selenium).

The browser is required, not optional: `.ci/run` installs it; without it these tests fail saying how to get it.
"""

from __future__ import annotations

import shutil

import pytest

from serve_server import start_server


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("the page's tests need Debian's chromium and chromedriver: "
                    "apt-get install -y chromium chromium-driver (.ci/run does it)", pytrace=False)
    return chromium, driver


@pytest.fixture(scope="module")
def server():
    s = start_server("lenet5.mnist", "dcgan.mnist", "gan_cls.mnist")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1600"):
        options.add_argument(arg)
    b = webdriver.Chrome(service=Service(driver), options=options)
    b.set_script_timeout(60)
    yield b
    b.quit()


def _wait(browser, condition, timeout: float = 60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def _loaded(browser, element_id: str) -> bool:
    return browser.execute_script(f"const i = document.getElementById('{element_id}');"
                                  "return i.complete && i.naturalWidth > 0 && i.src.startsWith('data:image/png');")


def test_page_draws_a_one_and_shows_the_classifier_reading_it(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    _wait(browser, lambda b: not b.find_element(By.ID, "classify").get_attribute("hidden"))
    canvas = browser.find_element(By.ID, "draw")
    # a vertical stroke down the middle of the 280 x 280 canvas (offsets are from its centre)
    ActionChains(browser).move_to_element_with_offset(canvas, 0, -100).click_and_hold() \
        .move_by_offset(0, 50).move_by_offset(0, 50).move_by_offset(0, 50).move_by_offset(0, 50).release().perform()
    _wait(browser, lambda b: b.find_element(By.ID, "prediction").text not in ("", "–"))
    assert browser.find_element(By.ID, "prediction").text.startswith("1")
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars li")
    assert len(bars) == 10 and bars[0].text.startswith("1")


def test_page_requests_a_grid_and_the_image_loads(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server.url + "/")
    _wait(browser, lambda b: not b.find_element(By.ID, "generate").get_attribute("hidden"))
    Select(browser.find_element(By.ID, "generator")).select_by_value("dcgan.mnist")
    browser.find_element(By.ID, "sample").click()
    _wait(browser, lambda b: _loaded(b, "grid"))
    width = browser.execute_script("return document.getElementById('grid').naturalWidth")
    assert width == 4 * (32 + 2) * 3  # 16 samples, 4 a row, 2 px gaps, drawn 3x
    assert browser.find_element(By.ID, "status").text == ""


def test_page_draws_from_a_prompt_and_corrects_an_erased_digit(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(server.url + "/")
    _wait(browser, lambda b: not b.find_element(By.ID, "prompting").get_attribute("hidden"))
    prompt = browser.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("a wide handwritten zero")
    browser.find_element(By.ID, "prompt-go").click()
    _wait(browser, lambda b: _loaded(b, "prompt-grid"))
    assert browser.find_element(By.ID, "inpainter").get_attribute("value") == "dcgan.mnist"
    browser.find_element(By.ID, "new-digit").click()
    _wait(browser, lambda b: b.execute_script("return source !== null"))
    erase = browser.find_element(By.ID, "erase")
    ActionChains(browser).move_to_element_with_offset(erase, -40, 0).click_and_hold() \
        .move_by_offset(40, 0).move_by_offset(40, 0).release().perform()
    browser.find_element(By.ID, "correct").click()
    _wait(browser, lambda b: _loaded(b, "inpaint-result"), timeout=120)
    assert browser.execute_script("return document.getElementById('inpaint-result').naturalWidth") == 32
