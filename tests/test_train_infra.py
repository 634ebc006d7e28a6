"""The shared training infrastructure: config merging, EMA, exact resume, export, 2-process CPU run."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from ssr.errors import SSRError
from ssr.models.base import SSRModel, register_model
from ssr.train.config import load_config
from ssr.train.data import batch_indices, sample_generator
from ssr.train.ema import EMA
from ssr.train.trainer import Trainer


@register_model
class ToyNet(SSRModel):
    def __init__(self, width: int = 4):
        super().__init__(width=width)
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class ToyTrainer(Trainer):
    defaults = {"steps": 6, "batch_size": 2, "lr": 1e-2, "warmup_steps": 1, "log_every": 1, "save_every": 3,
                "ema_decay": 0.9}

    def build_model(self):
        return ToyNet(**self.cfg["model"])

    def make_batch(self, indices, device):
        xs = [torch.rand(3, 8, 8, generator=sample_generator(self.cfg["seed"], i)) for i in indices]
        x = torch.stack(xs).to(device)
        return {"x": x, "y": x.flip(-1)}

    def training_step(self, batch):
        loss = (self.model(batch["x"]) - batch["y"]).abs().mean()
        return loss, {"l1": float(loss.detach())}


def _cfg(**over):
    return load_config(None, ToyTrainer.defaults, {"stage": "toy", **over})


def test_config_merge_and_unknown_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("steps: 3\nmodel: {width: 2}\n")
    cfg = load_config(p, ToyTrainer.defaults)
    assert cfg["steps"] == 3 and cfg["model"] == {"width": 2} and cfg["batch_size"] == 2
    p.write_text("stepz: 3\n")
    with pytest.raises(SSRError, match="unknown config keys: stepz"):
        load_config(p, ToyTrainer.defaults)


def test_misplaced_section_keys_are_rejected(tmp_path):
    """A block indented under the wrong section (here the depth stage's ``synth:`` under
    ``loss:``) must not be silently ignored; free-form sections (``model``) stay free."""
    from ssr.train.depth_stage import DepthTrainer

    p = tmp_path / "c.yaml"
    p.write_text("loss:\n  grad_weight: 0.5\n  synth: {prob: 0.5}\n")
    with pytest.raises(SSRError, match=r"unknown config keys in loss: synth"):
        load_config(p, DepthTrainer.defaults)
    p.write_text("data:\n  synth: {prob: 0.5, cout: 3}\n")
    with pytest.raises(SSRError, match=r"in data.synth: cout"):
        load_config(p, DepthTrainer.defaults)
    p.write_text("data:\n  synth: {prob: 0.5}\nmodel: {anything: 1}\n")
    cfg = load_config(p, DepthTrainer.defaults)
    assert cfg["data"]["synth"]["prob"] == 0.5 and cfg["data"]["synth"]["count"] == 1000


def test_batch_indices_are_disjoint_across_ranks():
    a = batch_indices(5, 4, rank=0, world=2)
    b = batch_indices(5, 4, rank=1, world=2)
    assert not set(a) & set(b) and a == [40, 41, 42, 43]


def test_ema_tracks_weights():
    m = ToyNet()
    ema = EMA(m, decay=0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
    for _ in range(50):
        ema.update(m)
    for k, v in m.state_dict().items():
        assert torch.allclose(ema.shadow[k], v, atol=1e-5)


def test_resume_is_exact_and_export_loads(tmp_path):
    full = ToyTrainer(_cfg(), tmp_path / "full", device="cpu")
    final = full.fit()
    ref = ToyNet.from_pretrained(final)
    # interrupted run: 3 steps, then a new process-like trainer resumes to 6
    part = ToyTrainer(_cfg(steps=6), tmp_path / "part", device="cpu")
    assert part.fit(until=3) is None
    resumed = ToyTrainer(_cfg(steps=6), tmp_path / "part", device="cpu", resume=True)
    assert resumed.step == 3
    out = SSRModel.from_pretrained(resumed.fit())
    for (k, a), b in zip(ref.state_dict().items(), out.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    assert (tmp_path / "full" / "log.csv").read_text().count("\n") >= 7
    assert out.pretrained_extra["steps"] == 6


def test_two_process_cpu_run(tmp_path):
    script = tmp_path / "run2.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_train_infra import ToyTrainer, _cfg
        t = ToyTrainer(_cfg(steps=4, save_every=2), {str(tmp_path / 'ddp')!r}, device="cpu")
        assert t.world == 2, t.world
        t.fit()
    """))
    # the two workers torchrun would start, with the variables it sets (its launcher process, a third
    # torch import, would only add start-up time on a small machine)
    base = {**os.environ, "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29517"}
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**base, "RANK": str(r), "LOCAL_RANK": str(r), "GROUP_RANK": "0"})
             for r in range(2)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert (tmp_path / "ddp" / "final" / "model.safetensors").is_file()
    assert (tmp_path / "ddp" / "checkpoints" / "step_00000004" / "state.pt").is_file()


def test_crops_of_images_smaller_than_the_crop(tmp_path):
    from ssr.io import write_image
    from ssr.train.data import ImagePool

    write_image(tmp_path / "small.png", torch.rand(3, 77, 91))  # 128 / 77 is not exact
    pool = ImagePool([tmp_path], min_size=32)
    pool.attach_maps([torch.rand(1, 77, 91)])
    for i in range(20):
        img, m = pool.crop_with_map(128, sample_generator(0, i))
        assert img.shape == (3, 128, 128) and m.shape == (1, 128, 128)
