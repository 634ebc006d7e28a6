"""The documents' generated tables (benchmarks/tables.py): every block equals its table file,
every file is made by a registered command, and splicing is exact."""
import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import tables  # noqa: E402


def test_every_block_equals_its_generated_file():
    seen = set()
    for doc in tables.documents():
        for name, body in tables.blocks(doc.read_text()):
            assert name in tables.TABLES, f"{doc.name} shows table {name!r}, which no command generates"
            src = tables.TABLE_DIR / f"{name}.md"
            assert src.is_file(), f"{doc.name}: table {name!r} was never generated"
            assert body == src.read_text(), f"{doc.name}: table {name!r} was edited by hand or not spliced " \
                                            "(python benchmarks/tables.py --splice-only)"
            seen.add(name)
    files = {p.stem for p in tables.TABLE_DIR.glob("*.md")} if tables.TABLE_DIR.is_dir() else set()
    assert files <= set(tables.TABLES), f"table files without a command: {files - set(tables.TABLES)}"
    assert files <= seen, f"generated tables that no document shows: {files - seen}"


def test_splice_fills_blocks_and_keeps_the_rest(tmp_path, monkeypatch):
    (tmp_path / "docs" / "tables").mkdir(parents=True)
    (tmp_path / "docs" / "tables" / "demo.md").write_text("| a |\n|---|\n| 1 |\n")
    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- table:demo -->\nold\n<!-- /table:demo -->\nafter\n")
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    monkeypatch.setattr(tables, "TABLE_DIR", tmp_path / "docs" / "tables")
    assert tables.splice() == [doc]
    assert doc.read_text() == "intro\n<!-- table:demo -->\n| a |\n|---|\n| 1 |\n<!-- /table:demo -->\nafter\n"
    assert tables.splice() == []  # idempotent
    assert tables._table_text("title\n\n| x |\n|---|\n", pick=True) == "| x |\n|---|\n"


def test_memory_rows_merge_over_runs():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import memory_bench

    head = ["| input | output px | tile | peak RSS (GB) | limit (GB) | within | seconds | x untiled |",
            "|---|---:|---:|---:|---:|---|---:|---:|"]
    old = head + ["| 256x256 | 1 | none | 1.0 | 1.5 | yes | 14 | |", "| 256x256 | 1 | 128 | 1.0 | 1.5 | yes | 13 | 0.93 |"]
    new = head + ["| 3000x2000 | 1 | 256 | 1.6 | 1.8 | yes | 999 | |", "| 256x256 | 1 | 128 | 0.9 | 1.5 | yes | 12 | 0.9 |"]
    merged = memory_bench.merge_rows(old, new)
    assert merged[:2] == head
    assert [r.split("|")[1].strip() + "/" + r.split("|")[3].strip() for r in merged[2:]] == \
        ["256x256/none", "256x256/128", "3000x2000/256"]
    assert "0.9 |" in merged[3]  # the new measurement replaces the old one


def _cells(folder, dataset, methods, base=20.0):
    import json

    (folder / "cells").mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(methods):
        images = [{"name": f"{k}.png", "psnr": base + i + k, "ssim": 0.5 + 0.01 * i, "niqe": 9.0 - i} for k in (0, 1)]
        (folder / "cells" / f"{dataset.replace(' ', '-')}__{m}.json").write_text(
            json.dumps({"dataset": dataset, "method": m, "images": images}))


def test_quality_tables_lay_out_bench_cells_and_refuse_holes(tmp_path, capsys):
    import quality_tables as qt

    methods = list(dict.fromkeys(tables.EVAL_METHODS))
    _cells(tmp_path / "eval", "RealSR x4", methods)
    _cells(tmp_path / "eval", "BSD100 x4 noise-jpeg", methods, base=10.0)
    assert qt.main(["quality", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| x4, PSNR-Y / SSIM / NIQE | bicubic | Real-ESRGAN x4plus |") and len(out) == 4
    i = {m: methods.index(m) for m in methods}
    # RealSR row: bicubic's mean PSNR is 20.5; ssr-realism-1 (the highest index of the five) is best on all three
    assert out[2].startswith(f"| RealSR (100 real pairs) | {20.5 + i['bicubic']:.2f} / ")
    assert out[2].endswith(f"**{20.5 + i['ssr-realism-1']:.2f}** / **{0.5 + 0.01 * i['ssr-realism-1']:.3f}** / "
                           f"**{9.0 - i['ssr-realism-1']:.2f}** |")
    assert qt.main(["prior-ablation", str(tmp_path / "eval")]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 + len(qt.ABLATION_ROWS) and rows[-1].endswith(" |  |")  # no fidelity + diffusion row
    assert qt.main(["svkr-light", str(tmp_path / "eval")]) == 0
    light = capsys.readouterr().out.splitlines()
    assert light[2].startswith(f"| RealSR (100 real pairs) | {20.5 + i['ssr-svkr']:.4f} / ") and len(light) == 4
    (tmp_path / "eval" / "cells" / "RealSR-x4__ssr.json").unlink()
    assert qt.main(["prior-eval", str(tmp_path / "eval")]) == 1
    assert "no cell for ssr on RealSR x4" in capsys.readouterr().err
    _cells(tmp_path / "val", "BSDS500-test x4 noise-jpeg", tables.VAL_METHODS)
    assert qt.main(["prior-val", str(tmp_path / "val")]) == 0
    val = capsys.readouterr().out.splitlines()
    assert val[0] == "| validation (2), x4 noise-jpeg | PSNR-Y | SSIM | NIQE |" and len(val) == 2 + len(qt.VAL_ROWS)


def test_jobs_2_splits_a_bench_of_cells_between_two_processes(monkeypatch):
    """``--jobs 2``: an ``ssr bench`` of cells gets a helper walking the cells from the other end
    (data and methods reversed), then one more run over the stored cells writes the reports; a
    kernel bench (no stored cells) and other commands run once; a failing helper is an error."""
    import subprocess

    import pytest

    rev = tables.reversed_bench(tables.EVAL_BENCH)
    assert rev[rev.index("--data") + 1:rev.index("--data") + 3] == ["bsd100:noise-jpeg", "realsr"]
    m = rev.index("--methods") + 1
    assert rev[m:m + len(tables.EVAL_METHODS)] == tables.EVAL_METHODS[::-1]
    assert rev[rev.index("--out") + 1] == "runs/tables/prior_eval" and len(rev) == len(tables.EVAL_BENCH)
    assert tables.splittable(tables.EVAL_BENCH)
    assert not tables.splittable(tables.TABLES["kernels"].commands[0])

    calls = []

    class Done:
        def __init__(self, args, code=0):
            self.args, self.returncode, self.stdout, self.stderr = args, code, f"run {len(calls)}", ""

    class Helper:
        code = 0

        def __init__(self, args, **kw):
            self.args, self.returncode = args, None
            calls.append(("helper", args))

        def communicate(self):
            self.returncode = Helper.code
            return "", "boom"

    def run(args, **kw):
        calls.append(("run", args))
        return Done(args)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", Helper)
    assert tables._run("x", tables.EVAL_BENCH, jobs=2) == "run 3"
    assert calls == [("helper", rev), ("run", tables.EVAL_BENCH), ("run", tables.EVAL_BENCH)]
    calls.clear()
    assert tables._run("x", tables.EVAL_BENCH, jobs=1) == "run 1" and calls == [("run", tables.EVAL_BENCH)]
    calls.clear()
    kernels = tables.TABLES["kernels"].commands[0]
    tables._run("k", kernels, jobs=2)
    assert calls == [("run", kernels)]
    Helper.code = 3
    with pytest.raises(SystemExit, match="exited 3"):
        tables._run("x", tables.EVAL_BENCH, jobs=2)
