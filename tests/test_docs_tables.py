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
