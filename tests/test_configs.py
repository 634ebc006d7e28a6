"""Training configs: ``base:`` inheritance, and every shipped config resolving to exactly the
settings it had before the configs were rewritten on ``base:`` (tests/data/resolved_configs.json,
written from the full copies they were)."""
import json
from pathlib import Path

import pytest

from ssr.errors import SSRError
from ssr.train import get_stage, load_config

ROOT = Path(__file__).resolve().parents[1]


def _resolve(path: Path) -> dict:
    stage = path.name.split("_")[0]
    return json.loads(json.dumps(load_config(path, get_stage(stage).defaults, {"stage": stage})))


@pytest.mark.parametrize("name", sorted(json.loads((ROOT / "tests/data/resolved_configs.json").read_text())))
def test_configs_resolve_to_the_recorded_settings(name):
    want = json.loads((ROOT / "tests/data/resolved_configs.json").read_text())[name]
    assert _resolve(ROOT / "configs" / name) == want


def test_every_config_is_recorded():
    recorded = set(json.loads((ROOT / "tests/data/resolved_configs.json").read_text()))
    assert {p.name for p in (ROOT / "configs").glob("*.yaml")} <= recorded | {"README.md"}


def test_base_chain_merges_mappings_and_replaces_lists(tmp_path):
    (tmp_path / "a.yaml").write_text("lr: 0.1\nsteps: 5\nmodel: {scale: 4, channels: 8}\n"
                                     "data: {degradations: [{weight: 1, preset: no-noise}]}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nsteps: 7\nmodel: {channels: 16}\n")
    (tmp_path / "c.yaml").write_text("base: b.yaml\ndata: {degradations: [{weight: 1, preset: blur-only}]}\n")
    cls = get_stage("nonblind")
    cfg = load_config(tmp_path / "c.yaml", cls.defaults, {"stage": "nonblind"})
    assert cfg["lr"] == 0.1 and cfg["steps"] == 7
    assert cfg["model"]["scale"] == 4 and cfg["model"]["channels"] == 16
    assert cfg["data"]["degradations"] == [{"weight": 1, "preset": "blur-only"}]
    assert "base" not in cfg
    (tmp_path / "x.yaml").write_text("base: y.yaml\n")
    (tmp_path / "y.yaml").write_text("base: x.yaml\n")
    with pytest.raises(SSRError, match="comes back to itself"):
        load_config(tmp_path / "x.yaml", cls.defaults)
    (tmp_path / "z.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(SSRError, match="config not found.*missing.yaml.*base of"):
        load_config(tmp_path / "z.yaml", cls.defaults)
