"""``ssr serve``: SSR behind a local web page (before/after slider, depth and kernel maps).

A small HTTP server from the standard library (no outside request, no CDN, no analytics, no
share link: the page, its script and its styles are one file of the package) in front of one
:class:`~ssr.pipeline.SSRPipeline` and a queue with one worker, so several browser tabs share
one model and at most one picture is in memory at a time. Uploads and results live in a
private temporary folder that is removed when the server stops; nothing else of the file
system is reachable (job ids are random, file kinds a fixed list).

API (JSON unless noted)::

    GET  /                         the page
    GET  /api/info                 defaults: realism and its layer-wise tilt, whether the pipeline has prior sets / diffusion, budgets
    POST /api/jobs?name=N&realism=R&seed=S&fidelity=0|1&bokeh=0|1   body: the picture's bytes -> {"id": ...}
    GET  /api/jobs/ID              status (queued, running, done, error), progress 0..1, message, sizes
    GET  /api/jobs/ID/file/KIND    KIND = input (8-bit PNG preview), result (PNG, 16-bit kept), depth, kernels;
                                   ?download=1 adds a download name

Every picture goes through :func:`ssr.cli.upscale.upscale_file` with the options ``ssr upscale``
would use for the same settings, so a download is byte for byte the command's output. Refusals
(the pixel budget, a file that is not a picture) are the command's one-line messages.
"""
from __future__ import annotations

import json
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from .errors import SSRError

#: the files a job can serve, with their content types
KINDS = {"input": "image/png", "result": "image/png", "depth": "image/png", "kernels": "image/png"}
_ID = re.compile(r"^[0-9a-f]{16}$")
#: uploads larger than this are refused before they are read (bytes)
DEFAULT_MAX_UPLOAD = 64 * 2**20


@dataclass
class Job:
    id: str
    name: str
    folder: Path
    settings: dict
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    size: tuple[int, int] | None = None
    files: dict = field(default_factory=dict)
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None

    def public(self, position: int | None) -> dict:
        return {"id": self.id, "name": self.name, "status": self.status, "progress": round(self.progress, 4),
                "message": self.message, "size": self.size, "files": sorted(self.files), "queue_position": position,
                "submitted": self.submitted, "started": self.started, "finished": self.finished,
                "settings": self.settings}


class JobQueue:
    """Jobs run one at a time by one worker thread, in the order they came."""

    def __init__(self, pipe, root: Path, max_pixels: int | None, keep: int = 64):
        self.pipe, self.root, self.max_pixels, self.keep = pipe, root, max_pixels, keep
        self.jobs: dict[str, Job] = {}
        self.order: list[str] = []
        self.lock = threading.Lock()
        self.todo: "queue.Queue[str | None]" = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="ssr-serve-worker", daemon=True)
        self.worker.start()

    def submit(self, data: bytes, name: str, settings: dict) -> Job:
        job = Job(secrets.token_hex(8), name, self.root / secrets.token_hex(8), settings)
        job.folder.mkdir()
        suffix = Path(name).suffix.lower()
        from .io import READ_EXTS

        (job.folder / ("upload" + (suffix if suffix in READ_EXTS else ".bin"))).write_bytes(data)
        with self.lock:
            self.jobs[job.id] = job
            self.order.append(job.id)
            for old in self.order[:-self.keep]:  # forget the oldest finished jobs
                if self.jobs[old].status in ("done", "error"):
                    shutil.rmtree(self.jobs.pop(old).folder, ignore_errors=True)
            self.order = [j for j in self.order if j in self.jobs]
        self.todo.put(job.id)
        return job

    def position(self, job: Job) -> int | None:
        if job.status != "queued":
            return None
        with self.lock:
            waiting = [j for j in self.order if self.jobs[j].status == "queued"]
        return waiting.index(job.id) if job.id in waiting else None

    def stop(self) -> None:
        self.todo.put(None)

    def _work(self) -> None:
        while True:
            jid = self.todo.get()
            if jid is None:
                return
            job = self.jobs.get(jid)
            if job is not None:
                self._run(job)

    def _run(self, job: Job) -> None:
        from .cli.upscale import upscale_file
        from .io import read_image, write_image

        job.status, job.started = "running", time.time()
        src = next(job.folder.glob("upload*"))
        try:
            img = read_image(src, self.max_pixels)
            write_image(job.folder / "input.png", img.rgb, img.alpha, grayscale=img.grayscale)
            job.files["input"] = job.folder / "input.png"
            del img
            out = {k: job.folder / f"{k}.png" for k in ("result", "depth", "kernels")}
            options = serve_options(self.pipe, job.settings)

            def progress(frac: float) -> None:
                job.progress = frac

            job.size = upscale_file(self.pipe, src, out["result"], options, protect=(src,),
                                    max_pixels=self.max_pixels, depth_path=out["depth"], kernels_path=out["kernels"],
                                    progress=progress)
            job.files.update(out)
            job.status, job.progress = "done", 1.0
        except SSRError as exc:  # the user's file name, never the server's folders
            job.status, job.message = "error", str(exc).replace(str(src), job.name).replace(str(job.folder), "")
        except MemoryError:
            job.status, job.message = "error", "out of memory: try a smaller picture"
        except Exception as exc:  # noqa: BLE001 - the page gets one line, never a stack trace
            job.status, job.message = "error", f"internal error: {type(exc).__name__}: {exc}"
        finally:
            job.finished = time.time()


def serve_options(pipe, settings: dict) -> dict:
    """The pipeline options ``ssr upscale`` uses for the page's settings (its parser's defaults,
    so both write the same bytes)."""

    from .cli import build_parser
    from .cli.upscale import pipeline_options

    argv = ["upscale", "in.png", "-o", "out.png", "--seed", str(int(settings.get("seed", 0)))]
    if settings.get("keep_bokeh"):
        argv.append("--keep-bokeh")
    if settings.get("fidelity"):
        argv.append("--fidelity")
    elif settings.get("realism") is not None and pipe.has_prior:
        argv += ["--realism", str(float(settings["realism"]))]
    args = build_parser().parse_args(argv)
    if args.fidelity:
        args.realism, args.no_diffusion = 0.0, True
    args.use_prior = pipe.has_prior
    return pipeline_options(args, pipe.has_diffusion and not args.no_diffusion)


def _page() -> bytes:
    return (Path(__file__).resolve().parent / "assets" / "serve.html").read_bytes()


def make_handler(jobs: JobQueue, info: dict, max_upload: int):
    class Handler(BaseHTTPRequestHandler):
        server_version = "ssr-serve"

        def log_message(self, fmt, *args):  # quiet; errors reach the page as JSON
            pass

        def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy",
                             "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; "
                             "script-src 'self' 'unsafe-inline'; connect-src 'self'")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": message})

        def do_GET(self):  # noqa: N802 - http.server's naming
            url = urlparse(self.path)
            parts = [p for p in url.path.split("/") if p]
            if not parts:
                return self._send(200, _page(), "text/html; charset=utf-8")
            if parts == ["api", "info"]:
                return self._json(200, info)
            if len(parts) >= 3 and parts[:2] == ["api", "jobs"] and _ID.match(parts[2]):
                job = jobs.jobs.get(parts[2])
                if job is None:
                    return self._error(404, "no such job")
                if len(parts) == 3:
                    return self._json(200, job.public(jobs.position(job)))
                if len(parts) == 5 and parts[3] == "file" and parts[4] in KINDS and parts[4] in job.files:
                    data = job.files[parts[4]].read_bytes()
                    extra = {}
                    if parse_qs(url.query).get("download") == ["1"]:
                        stem = re.sub(r"[^\w.-]+", "_", Path(job.name).stem)[:80] or "picture"
                        suffix = "_x4" if parts[4] == "result" else f"_{parts[4]}"
                        extra["Content-Disposition"] = f'attachment; filename="{stem}{suffix}.png"'
                    return self._send(200, data, KINDS[parts[4]], extra)
            return self._error(404, "not found")

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            if url.path.rstrip("/") != "/api/jobs":
                return self._error(404, "not found")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._error(411, "the upload needs a Content-Length")
            if length <= 0:
                return self._error(400, "the upload is empty")
            if length > max_upload:
                return self._error(413, f"the file is {length / 2**20:.1f} MiB; the limit is "
                                        f"{max_upload / 2**20:.0f} MiB")
            data = self.rfile.read(length)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            try:
                settings = {"seed": int(q.get("seed", 0)), "fidelity": q.get("fidelity") == "1",
                            "keep_bokeh": q.get("bokeh") == "1"}
                if not 0 <= settings["seed"] < 2**63:
                    raise ValueError
                if q.get("realism") not in (None, ""):
                    r = float(q["realism"])
                    if not 0.0 <= r <= 1.0:
                        raise ValueError
                    settings["realism"] = r
            except ValueError:
                return self._error(400, "seed must be a whole number >= 0 and realism a number in [0, 1]")
            name = Path(q.get("name") or "picture").name[:200]
            job = jobs.submit(data, name, settings)
            return self._json(202, {"id": job.id})

    return Handler


def serve(pipe, host: str = "127.0.0.1", port: int = 7860, max_pixels: int | None = None,
          max_upload: int = DEFAULT_MAX_UPLOAD, ready=None) -> None:
    """Serve until interrupted. ``ready(url)`` is called once the socket listens."""
    root = Path(tempfile.mkdtemp(prefix="ssr-serve-"))
    try:
        jobs = JobQueue(pipe, root, max_pixels)
        info = {"realism": pipe.realism if pipe.has_prior else None,
                "realism_tilt": pipe.priors.tilt if pipe.has_prior else None, "has_prior": pipe.has_prior,
                "has_diffusion": pipe.has_diffusion, "max_pixels": max_pixels, "max_upload": max_upload}
        httpd = ThreadingHTTPServer((host, port), make_handler(jobs, info, max_upload))
        httpd.daemon_threads = True
        url = f"http://{host}:{httpd.server_address[1]}/"
        if ready is not None:
            ready(url)
        try:
            httpd.serve_forever(poll_interval=0.2)
        finally:
            httpd.server_close()
            jobs.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
