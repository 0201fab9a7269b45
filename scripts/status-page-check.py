#!/usr/bin/env python3
"""Drives the daemon's status page in headless Chromium (Selenium), as a person would, and prints
what it saw as JSON for the test to judge. The API token comes from ROTOR_API_TOKEN, never argv.

  status-page-check.py BASE-URL SECRET-ID-TO-OPEN ENVIRONMENT-TO-FILTER
"""
import http.client
import json
import os
import sys
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

base, secret, environment = sys.argv[1], sys.argv[2], sys.argv[3]
token = os.environ["ROTOR_API_TOKEN"]
options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
seen = {"urls": []}


def visit(url):
    driver.get(url)
    seen["urls"].append(driver.current_url)


def rows(table):
    return [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def wait_for(element_id):
    """Waits (up to 60 s: a loaded machine is slow) for the page a click led to: an element only it has."""
    try:
        WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, element_id)))
        return True
    except Exception:
        return False


def sign_in(value, expect):
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    found = wait_for(expect)
    seen["urls"].append(driver.current_url)
    return found


try:
    visit(base + "/")
    seen["unauthenticated"] = driver.current_url
    seen["wrong_token_error"] = sign_in("wrong-" + token[:4], "login-error")
    sign_in(token, "secrets")
    seen["after_login"] = driver.current_url
    seen["title"] = driver.title
    seen["rows"] = rows("secrets")
    seen["cookie_visible_to_scripts"] = driver.execute_script("return document.cookie")
    session = next((c for c in driver.get_cookies() if c["name"] == "rotor_session"), {})
    seen["cookie_flags"] = {"httpOnly": session.get("httpOnly"), "secure": session.get("secure"), "sameSite": session.get("sameSite")}
    seen["external_resources"] = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    seen["scripts_ran"] = driver.execute_script("return window.__pwned === true")
    Select(driver.find_element(By.NAME, "environment")).select_by_visible_text(environment)
    driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(driver, 60).until(lambda d: "environment=" in d.current_url)
    wait_for("secrets")
    seen["urls"].append(driver.current_url)
    seen["filtered_rows"] = rows("secrets")
    visit(base + "/")
    driver.find_element(By.LINK_TEXT, secret).click()
    wait_for("history")
    seen["urls"].append(driver.current_url)
    seen["detail_heading"] = driver.find_element(By.TAG_NAME, "h1").text
    seen["history"] = rows("history")
    driver.find_element(By.LINK_TEXT, "all secrets").click()
    wait_for("secrets")
    driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    wait_for("token")
    visit(base + "/")
    seen["after_logout"] = driver.current_url
    # The cookie from before signing out no longer opens a page (the daemon ended the session).
    address = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    connection.request("GET", "/", headers={"Cookie": f"rotor_session={session.get('value', '')}"})
    answer = connection.getresponse()
    seen["old_cookie_after_logout"] = [answer.status, answer.getheader("Location")]
finally:
    driver.quit()
print(json.dumps(seen))
