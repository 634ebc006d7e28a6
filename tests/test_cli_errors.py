"""Bad arguments and paths are refused before torch (and any model) loads: each case of
benchmarks/cli_errors.py, in one fresh interpreter, exits 2 with one ``error:`` line and
writes nothing. (The benchmark times them; this test checks the behaviour, not the clock.)"""
import json
import subprocess
import sys

from benchmarks.cli_errors import CASES, argv

PROBE = r"""
import contextlib, io, json, sys
from ssr.cli import main
report = []
for case in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(case)
        except SystemExit as exc:  # argparse's own usage errors
            rc = exc.code
    report.append({"rc": rc, "err": err.getvalue(), "torch": "torch" in sys.modules})
print(json.dumps(report))
"""


def test_refusals_come_before_torch(tmp_path):
    cases = [argv(c, tmp_path) for _, c in CASES]
    res = subprocess.run([sys.executable, "-c", PROBE, json.dumps(cases)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for (what, _), r in zip(CASES, report):
        assert r["rc"] == 2, (what, r)
        lines = [ln for ln in r["err"].splitlines() if ln.strip()]
        assert lines and "error:" in lines[-1], (what, r)
        assert not any("Traceback" in ln for ln in lines), (what, r)
        assert not r["torch"], f"{what}: torch was imported before the refusal"
    assert list(tmp_path.iterdir()) == []


def test_cli_method_names_are_the_registry():
    from ssr.choices import METHODS
    from ssr.eval import available_methods

    assert sorted(METHODS) == available_methods()


def test_research_and_benchmark_scripts_report_errors_as_one_line(tmp_path, capsys):
    """The scripts' ``main`` (:func:`ssr.errors.reports_errors`) turns an SSRError into one
    ``error:`` line and status 2, and leaves other statuses and exceptions alone."""
    from pathlib import Path

    import pytest

    from ssr.errors import SSRError, reports_errors

    root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(root / "research"), str(root / "benchmarks")]
    try:
        import bokeh_real
        import weight_soup
    finally:
        del sys.path[:2]
    assert weight_soup.main([str(tmp_path / "a"), str(tmp_path / "b"), "--alpha", "2", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == "error: alpha must be in [0, 1], got 2.0\n"
    assert not (tmp_path / "o").exists()
    assert bokeh_real.main(["--limit", "0", "--threads", "1"]) == 2
    assert capsys.readouterr().err == "error: --limit must be at least 1, got 0\n"

    @reports_errors
    def fine(code):
        """doc kept"""
        if code < 0:
            raise ValueError("not ours")
        if code == 9:
            raise SSRError("bad thing")
        return code

    assert fine(0) == 0 and fine(3) == 3 and fine.__doc__ == "doc kept"
    assert fine(9) == 2 and capsys.readouterr().err == "error: bad thing\n"
    with pytest.raises(ValueError):
        fine(-1)
