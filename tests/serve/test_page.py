# test_page.py - the chat page at / in headless Chromium: a typed message
# gets a streamed reply.
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture()
def browser():
    driver_path = shutil.which("chromedriver")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    if not driver_path or not chrome:
        pytest.fail("chromium and chromedriver are needed (scripts/install_deps.sh --test installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(driver_path), options=opts)
    yield d
    d.quit()


def test_chat_page_streams_a_reply(server, browser):
    browser.get(server.url + "/")
    assert "flashlm" in browser.title
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "model").text == "SmolLM2-135M-Instruct.Q4_1")
    browser.find_element(By.ID, "input").send_keys("Say hello.")
    browser.find_element(By.ID, "send").click()
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".assistant[data-done='1']"))
    reply = browser.find_element(By.CSS_SELECTOR, ".assistant").text
    assert reply.strip() and "error" not in reply
    assert browser.find_element(By.CSS_SELECTOR, ".user").text == "Say hello."
