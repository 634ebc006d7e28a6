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
