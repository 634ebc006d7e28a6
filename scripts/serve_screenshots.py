"""Screenshots of `ssr serve` for the docs, with the shipped weights and the shipped LR sample
(Debian's chromium + chromium-driver and selenium, as tests/test_serve.py).

    python scripts/serve_screenshots.py [--out docs/images]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    args = ap.parse_args(argv)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from ssr.assets import sample_lr_path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "ssr", "serve", "--port", "0", "--device", "cpu"],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split(" on ", 1)[1].split()[0]
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,1050"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        driver.get(url)
        driver.find_element(By.ID, "files").send_keys(str(sample_lr_path()))
        driver.find_element(By.ID, "go").click()
        deadline = time.time() + 300
        while time.time() < deadline:
            cards = driver.find_elements(By.CSS_SELECTOR, "section.job")
            if cards and cards[0].get_attribute("data-status") in ("done", "error"):
                break
            time.sleep(0.3)
        card = driver.find_elements(By.CSS_SELECTOR, "section.job")[0]
        time.sleep(1.0)  # the pictures load
        driver.save_screenshot(str(out / "serve_compare.png"))
        card.find_element(By.CSS_SELECTOR, "button[data-view=kernels]").click()
        time.sleep(1.0)
        driver.save_screenshot(str(out / "serve_kernels.png"))
    finally:
        driver.quit()
        proc.terminate()
    for name in ("serve_compare.png", "serve_kernels.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
