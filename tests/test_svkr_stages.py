"""The three SVKR training stages run end to end on tiny configs and their outputs load."""
import math
from pathlib import Path

import pytest
import torch

from ssr.errors import SSRError
from ssr.models import SSRModel
from ssr.models.dkenet import DKENet
from ssr.models.nonblind import NonBlindSR
from ssr.train import get_stage, load_config

from tiny import image_folder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _train(stage, tmp_path, data_root, **over):
    cls = get_stage(stage)
    cfg = load_config(CONFIGS / f"{stage}_tiny.yaml", cls.defaults,
                      {"stage": stage, "data": {"roots": [str(data_root)]}, **over})
    return cls(cfg, tmp_path / stage, device="cpu").fit()


@pytest.fixture(scope="module")
def stage12(tmp_path_factory):
    """``(folder, data, nonblind dir, dkenet dir)``: stages 1 and 2 trained once on tiny configs
    for the tests that build on them."""
    tmp = tmp_path_factory.mktemp("stage12")
    data = image_folder(tmp / "data", n=3, size=(48, 64))
    return tmp, data, _train("nonblind", tmp, data), _train("dkenet", tmp, data)


def test_nonblind_dkenet_and_joint_stages(stage12, tmp_path):
    trained, data, nb_dir, dk_dir = stage12
    nb = SSRModel.from_pretrained(nb_dir)
    assert isinstance(nb, NonBlindSR) and nb.pretrained_extra["steps"] == 4
    assert nb.pca_basis.abs().sum() > 0  # the kernel PCA was computed and saved
    basis = nb.pca_basis
    assert torch.allclose(basis @ basis.T, torch.eye(basis.shape[0]), atol=1e-4)
    dk = SSRModel.from_pretrained(dk_dir)
    assert isinstance(dk, DKENet) and dk.config["head"] == "atoms" and dk.config["detail"]
    log = (trained / "dkenet" / "log.csv").read_text().splitlines()
    assert "shape_l1" in log[0] and len(log) > 1  # the kernel-shape loss is logged
    assert (trained / "dkenet" / "depth_cache.pt").is_file()
    joint = _train("svkr", tmp_path, data, init_dkenet=str(dk_dir), init_nonblind=str(nb_dir))
    dk2 = SSRModel.from_pretrained(joint / "dkenet")
    nb2 = SSRModel.from_pretrained(joint / "nonblind")
    assert dk2.config == SSRModel.from_pretrained(dk_dir).config
    assert torch.equal(nb2.pca_basis, nb.pca_basis)  # the PCA travels through fine-tuning


def test_kernel_shape_descriptor():
    from ssr.degradation.kernels import anisotropic_gaussian
    from ssr.train.losses import kernel_shape

    k = anisotropic_gaussian(torch.tensor([2.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0]), k=21)
    s = kernel_shape(k.T.reshape(1, 441, 1, 2))[0, :, 0]  # 3 x 2
    assert torch.allclose(s[0], torch.tensor([1.0, 1.0]), atol=0.02)  # rows: sigma2 = 1 for both
    assert torch.allclose(s[1], torch.tensor([2.0, 1.0]), atol=0.02)  # columns: sigma1 along theta = 0
    assert torch.allclose(s[2], torch.zeros(2), atol=1e-3)


def test_width_corr_loss_is_scale_free_and_follows_the_blur():
    from ssr.degradation import isotropic_gaussian
    from ssr.train.losses import width_corr_loss

    def field(sigmas):  # 1 x 441 x 1 x n, one isotropic Gaussian per pixel
        return isotropic_gaussian(torch.tensor(sigmas), k=21).reshape(len(sigmas), -1).T.reshape(1, 441, 1, -1)

    true = field([0.6, 1.0, 1.8, 3.0])
    same_order = field([1.2, 1.4, 1.7, 2.0])  # wrong scale, right order: nearly no loss
    flipped = field([3.0, 1.8, 1.0, 0.6])
    constant = field([1.5, 1.5, 1.5, 1.5])
    assert float(width_corr_loss(same_order, true)) < 0.05
    assert float(width_corr_loss(flipped, true)) > 1.8
    assert abs(float(width_corr_loss(constant, true)) - 1.0) < 0.05  # one average width scores 1
    assert float(width_corr_loss(true, constant)) == 0.0  # nothing to follow: no loss
    est = constant.clone().requires_grad_(True)
    width_corr_loss(est, true).backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_width_flat_loss_penalises_spread_only_under_an_invariant_blur():
    from ssr.degradation import isotropic_gaussian
    from ssr.train.losses import log_width, width_flat_loss

    def field(rows):  # B x 441 x 1 x n, one isotropic Gaussian per pixel
        return torch.stack([isotropic_gaussian(torch.tensor(r), k=21).reshape(len(r), -1).T.reshape(441, 1, -1)
                            for r in rows])

    invariant, varying = [1.5] * 4, [0.6, 1.0, 1.8, 3.0]
    spread = [1.0, 1.3, 1.7, 2.2]
    assert float(width_flat_loss(field([invariant]), field([invariant]))) < 1e-2  # nothing read in
    leak = float(width_flat_loss(field([spread]), field([invariant])))
    want = float(log_width(field([spread])).flatten().std())
    assert abs(leak - want) < 1e-3 and leak > 0.2  # the estimate's log-width spread, exactly
    assert float(width_flat_loss(field([spread]), field([varying]))) == 0.0  # a varying truth: not this term's
    # a batch with one of each: only the invariant sample counts
    both = float(width_flat_loss(field([spread, spread]), field([invariant, varying])))
    assert abs(both - leak) < 1e-5
    est = field([spread]).requires_grad_(True)
    width_flat_loss(est, field([invariant])).backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
    # relative: the leak over the response on the varying samples; squeezing the whole map halves
    # the absolute term but leaves the ratio
    def squeeze(sigmas, c):  # log widths pulled towards their geometric mean by c
        g = math.exp(sum(map(math.log, sigmas)) / len(sigmas))
        return [g * (x / g) ** c for x in sigmas]

    truth = field([invariant, varying])
    for c in (1.0, 0.5):
        est = field([squeeze(spread, c), squeeze(varying, 0.6 * c)])
        absolute, ratio = float(width_flat_loss(est, truth)), float(width_flat_loss(est, truth, relative=True))
        if c == 1.0:
            a1, r1 = absolute, ratio
    assert 0.4 < absolute / a1 < 0.6 and abs(ratio / r1 - 1) < 0.1
    assert abs(r1 - a1 / 0.6) < 0.15 * r1  # the response of the varying sample is ~0.6
    assert float(width_flat_loss(field([spread]), field([invariant]), relative=True)) == 0.0  # no varying sample


def test_width_level_loss_holds_the_pictures_mean_width_not_its_spread():
    from ssr.degradation import isotropic_gaussian
    from ssr.train.losses import log_width, width_level_loss

    def field(rows):  # B x 441 x 1 x n, one isotropic Gaussian per pixel
        return torch.stack([isotropic_gaussian(torch.tensor(r), k=21).reshape(len(r), -1).T.reshape(441, 1, -1)
                            for r in rows])

    true = field([[0.8, 1.2, 1.6, 2.4], [1.5] * 4])
    # the same means of log width, other spreads: no loss (the spread is other terms' business)
    means = log_width(true).flatten(1).mean(1)
    flat = field([[1.0] * 4, [1.0] * 4])
    assert float(width_level_loss(true, true)) < 1e-6
    one_width = field([[1.5] * 4, [1.5] * 4])  # every picture one mean width: the first is off
    lo = float(width_level_loss(one_width, true))
    want = float((log_width(one_width).flatten(1).mean(1) - means).abs().mean())
    assert abs(lo - want) < 1e-6 and lo > 0.01
    reversed_map = field([[2.4, 1.6, 1.2, 0.8], [1.5] * 4])  # same level, wrong order: no loss
    assert float(width_level_loss(reversed_map, true)) < 1e-5
    est = flat.clone().requires_grad_(True)
    width_level_loss(est, true).backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_width_corr_loss_weighted_by_evidence():
    """With a weight map the correlation is taken with those weights: pixels of weight 0 do not
    count, uniform weights give the unweighted loss."""
    from ssr.degradation import isotropic_gaussian
    from ssr.train.losses import width_corr_loss

    def field(sigmas):  # 1 x 441 x 1 x n
        return isotropic_gaussian(torch.tensor(sigmas), k=21).reshape(len(sigmas), -1).T.reshape(1, 441, 1, -1)

    true = field([0.6, 1.0, 1.8, 3.0, 0.8, 2.5])
    est = field([0.9, 1.2, 1.6, 2.2, 2.4, 0.7])  # follows the first four, inverted on the last two
    evidence = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]).view(1, 1, 1, -1)
    plain = float(width_corr_loss(est, true))
    uniform = float(width_corr_loss(est, true, weight=torch.full_like(evidence, 0.3)))
    weighted = float(width_corr_loss(est, true, weight=evidence))
    first_four = float(width_corr_loss(est[..., :4], true[..., :4]))
    assert abs(uniform - plain) < 1e-5
    assert abs(weighted - first_four) < 1e-3 and weighted < 0.05 < plain
    e = est.clone().requires_grad_(True)
    width_corr_loss(e, true, weight=evidence).backward()
    assert torch.isfinite(e.grad).all() and e.grad[..., :4].abs().sum() > 0
    assert e.grad[..., 4:].abs().sum() == 0  # no evidence, no push


def test_dkenet_stage_weights_the_correlation_by_evidence(tmp_path, monkeypatch):
    """``loss.width_corr_evidence: true`` passes the LR picture's kernel confidence to the
    correlation term (computed once per step); off, no weight."""
    import ssr.train.svkr_stages as stages

    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    seen = []
    real = stages.width_corr_loss

    def spy(est, true, weight=None, **kw):
        seen.append(None if weight is None else tuple(weight.shape))
        return real(est, true, weight=weight, **kw)

    monkeypatch.setattr(stages, "width_corr_loss", spy)
    for evidence in (False, True):
        cls = get_stage("dkenet")
        cfg = load_config(CONFIGS / "dkenet_tiny.yaml", cls.defaults,
                          {"stage": "dkenet", "data": {"roots": [str(data)]},
                           "loss": {"width_corr": 1.0, "width_corr_evidence": evidence}})
        trainer = cls(cfg, tmp_path / f"dk{evidence}", device="cpu")
        batch = trainer.make_batch([0, 1][: cfg["batch_size"]], trainer.device)
        loss, logs = trainer.training_step(batch)
        assert torch.isfinite(loss) and "width_corr_loss" in logs
    b, _, h, w = batch["lr"].shape
    assert seen == [None, (b, 1, h, w)]


def _dkenet_term(tmp_path, key: str, weight: float, degradations=None):
    """The tiny DKENet stage's first-step loss with ``loss.<key>`` at 0 and at ``weight`` (same
    data, same initial net): checks that the term adds ``weight`` times its logged value and
    returns that value and the weighted run's trainer."""
    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    cls = get_stage("dkenet")
    losses = {}
    for w in (0.0, weight):
        over = {"stage": "dkenet", "data": {"roots": [str(data)]}, "loss": {key: w}}
        if degradations:
            over["data"]["degradations"] = degradations
        trainer = cls(load_config(CONFIGS / "dkenet_tiny.yaml", cls.defaults, over), tmp_path / f"{key}{w}", device="cpu")
        loss, logs = trainer.training_step(trainer.make_batch([0, 1], trainer.device))
        losses[w] = (float(loss), logs)
    assert f"{key}_loss" not in losses[0.0][1]
    term = losses[weight][1][f"{key}_loss"]
    assert abs(losses[weight][0] - losses[0.0][0] - weight * term) < 1e-4 * max(1.0, losses[0.0][0])
    return term, trainer


def test_dkenet_stage_adds_the_flat_term_on_invariant_fields(tmp_path):
    """``loss.width_flat`` adds the spread of the width map on invariant-blur samples to the loss."""
    flat, trainer = _dkenet_term(tmp_path, "width_flat", 5.0,
                                 [{"weight": 1.0, "preset": "noise-jpeg", "field": {"kind": "invariant"}}])
    assert flat > 0  # a fresh net reads some spread from the content
    # validation reports the leakage where the batch has invariant samples
    spread = trainer.evaluate()["val_width_spread_invariant"]
    assert spread > 0 and math.isfinite(spread)


def test_dkenet_stage_adds_the_level_term(tmp_path):
    """``loss.width_level`` adds the L1 of each picture's mean log width to the loss; validation
    reports it whatever the weight."""
    level, trainer = _dkenet_term(tmp_path, "width_level", 3.0)
    assert level > 0  # a fresh net does not know the blur level
    val = trainer.evaluate()["val_width_level"]
    assert val > 0 and math.isfinite(val)


def test_data_workers_draw_the_same_batches(tmp_path):
    """Batches drawn by forked CPU workers are, in step order, the batches the in-process path
    draws (non-blind: PCA codes computed in the worker; other stages: kernel fields in float16)."""
    from ssr.train.data import batch_indices

    data = image_folder(tmp_path / "data", n=3, size=(48, 64))
    for stage in ("nonblind", "dkenet"):
        cls = get_stage(stage)
        cfg = load_config(CONFIGS / f"{stage}_tiny.yaml", cls.defaults,
                          {"stage": stage, "data": {"roots": [str(data)]}, "data_workers": 2})
        t = cls(cfg, tmp_path / stage, device="cpu")
        stream = t._prefetched_batches(3)
        for step in range(3):
            idx = batch_indices(step, cfg["batch_size"])
            got = t.finish_batch(next(stream), t.device)
            ref = t.make_batch(idx, t.device)
            assert torch.equal(got["lr"], ref["lr"]) and torch.equal(got["hr"], ref["hr"])
            if stage == "nonblind":
                assert "kernels" not in got and "depth" not in got
                assert torch.allclose(got["codes"], t.unwrapped.kernel_codes(ref["kernels"]), atol=1e-5)
            else:
                assert got["kernels"].dtype == torch.float32
                assert torch.allclose(got["kernels"], ref["kernels"], atol=1e-3)
                assert torch.equal(got["depth_in"], ref["depth_in"])
    # and a run with workers trains and exports
    out = _train("nonblind", tmp_path / "w", data, data_workers=2)
    assert SSRModel.from_pretrained(out).pretrained_extra["steps"] == 4


def test_time_budget_ends_the_run_and_exports(tmp_path, capsys):
    """The budget re-plans the step count from the measured rate and exports at the end of the
    window. The clock is injected (0.5 s per step) and the planning windows shortened, so the
    outcome does not depend on how fast the machine is: a 6 s window is 12 steps, the plan is
    made after 4 + 4 steps and keeps 3 % of what is left for the export."""
    data = image_folder(tmp_path / "data", n=3, size=(48, 64))
    cls = get_stage("dkenet")
    cfg = load_config(CONFIGS / "dkenet_tiny.yaml", cls.defaults,
                      {"stage": "dkenet", "data": {"roots": [str(data)]}, "steps": 10**6, "time_budget_s": 6,
                       "eval_every": 0, "save_every": 10**6, "data_workers": 1})
    trainer = cls(cfg, tmp_path / "dkenet", device="cpu")
    trainer.clock = lambda: 0.5 * trainer.step
    trainer.plan_warmup, trainer.plan_window = 4, 4
    out = trainer.fit()
    assert "time budget: 0.500 s/step" in capsys.readouterr().out
    dk = SSRModel.from_pretrained(out)
    steps = dk.pretrained_extra["steps"]
    assert 10 <= steps <= 12  # stopped by the clock, not by the 10**6 steps asked for
    cfg_text = (tmp_path / "dkenet" / "config.yaml").read_text()
    assert "time_budget_s: 6" in cfg_text
    assert trainer.cfg["steps"] == steps  # the plan was shortened to what ran: the cosine ended


def test_stage_val_reproduces_the_trainers_validation(tmp_path, capsys):
    """research/stage_val.py scores a weights folder on the stage's own validation batch: for
    the exported weights it must give what the trainer logged at its last evaluation."""
    import csv
    import sys

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    import stage_val

    data = image_folder(tmp_path / "data", n=3, size=(48, 64))
    final = _train("nonblind", tmp_path, data)
    logged = list(csv.DictReader(open(tmp_path / "nonblind" / "eval.csv")))[-1]
    assert stage_val.main(["--config", str(CONFIGS / "nonblind_tiny.yaml"), "--weights", str(final),
                           "--data-root", str(data), "--threads", "1"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {final}")][0]
    val_psnr, bicubic = (float(v) for v in row.strip("| ").split("|")[1:3])
    assert abs(val_psnr - float(logged["val_psnr"])) < 1e-3
    assert abs(bicubic - float(logged["val_psnr_bicubic"])) < 1e-3
    assert stage_val.main(["--config", str(CONFIGS / "nonblind_tiny.yaml"), "--weights", str(tmp_path / "nope"),
                           "--data-root", str(data)]) == 2


def test_dkenet_with_edge_evidence_trains_and_stage_val_builds_it_as_saved(stage12, tmp_path, capsys):
    """DKENet(edges=True) trains from a DKENet without the input (only the zero edge head is new),
    and research/stage_val.py scores a folder as the network it was saved as, even with a config
    whose model lacks ``edges``: the trainer's logged validation is reproduced, and a strong edge
    head scores differently from a zeroed one."""
    import csv
    import sys

    _, data, _, base = stage12
    model = {**SSRModel.from_pretrained(base).config, "edges": True}
    (tmp_path / "e").mkdir()
    out = get_stage("dkenet")(load_config(CONFIGS / "dkenet_tiny.yaml", get_stage("dkenet").defaults, {
        "stage": "dkenet", "data": {"roots": [str(data)]}, "model": model, "init_from": str(base)}),
        tmp_path / "e", device="cpu").fit()
    dk = SSRModel.from_pretrained(out)
    assert dk.edges and set(dk.state_dict()) - set(SSRModel.from_pretrained(base).state_dict()) == {"edge_head.weight"}
    assert dk.edge_head.weight.abs().sum() > 0  # it learned from the evidence
    logged = list(csv.DictReader(open(tmp_path / "e" / "eval.csv")))[-1]
    with torch.no_grad():
        dk.edge_head.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    dk.save_pretrained(tmp_path / "strong")
    with torch.no_grad():
        dk.edge_head.weight.zero_()
    dk.save_pretrained(tmp_path / "zero")
    sys.path.insert(0, str(CONFIGS.parent / "research"))
    try:
        import stage_val
    finally:
        sys.path.pop(0)
    folders = [out, tmp_path / "strong", tmp_path / "zero"]
    assert stage_val.main(["--stage", "dkenet", "--config", str(CONFIGS / "dkenet_tiny.yaml"), "--weights",
                           *map(str, folders), "--data-root", str(data), "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [k.strip() for k in next(x for x in lines if x.startswith("| weights")).strip("| ").split("|")[1:]]
    rows = [dict(zip(keys, (float(v) for v in next(x for x in lines if x.startswith(f"| {f} ")).strip("| ").split("|")[1:])))
            for f in folders]
    assert len(keys) == 5 and all(len(r) == 5 for r in rows)
    for k, v in rows[0].items():
        want = float(logged[k])
        assert (math.isnan(v) and math.isnan(want)) or abs(v - want) < 1e-3, (k, v, logged[k])
    assert max(abs(rows[1][k] - rows[2][k]) for k in keys if not math.isnan(rows[1][k])) > 1e-3


def test_dkenet_with_feedback_trains_two_rounds(stage12, tmp_path):
    import csv

    _, data, nb_dir, base = stage12
    model = {"scale": 4, "kernel_size": 21, "channels": 8, "depth_channels": 4, "use_depth": True,
             "head": "atoms", "atoms": 16, "detail": True, "feedback": True}
    (tmp_path / "fb").mkdir()
    fb_dir = get_stage("dkenet")(load_config(CONFIGS / "dkenet_tiny.yaml", get_stage("dkenet").defaults, {
        "stage": "dkenet", "data": {"roots": [str(data)]}, "model": model, "init_from": str(base),
        "feedback_nonblind": str(nb_dir)}), tmp_path / "fb", device="cpu").fit()
    dk = SSRModel.from_pretrained(fb_dir)
    assert isinstance(dk, DKENet) and dk.feedback and dk.config["feedback"] is True
    log = list(csv.DictReader(open(tmp_path / "fb" / "log.csv")))
    assert "kernel_l1_r2" in log[0] and "resynth_l1_r2" in log[0]  # both rounds are trained
    ev = list(csv.DictReader(open(tmp_path / "fb" / "eval.csv")))[-1]
    assert float(ev["val_resynth_psnr_r2"]) > 0 and float(ev["val_kernel_l1_r2"]) > 0
    # the plain weights initialise everything but the (zero) feedback convolution
    plain = SSRModel.from_pretrained(base)
    assert set(dk.state_dict()) - set(plain.state_dict()) == {"feedback_head.weight"}
    # stage 3 runs the loop with the feedback DKENet
    joint = _train("svkr", tmp_path, data, init_dkenet=str(fb_dir), init_nonblind=str(nb_dir))
    assert SSRModel.from_pretrained(joint / "dkenet").feedback
    # a non-blind folder of the wrong kind is refused with a clear error
    with pytest.raises(SSRError, match="not a non-blind SR net"):
        get_stage("dkenet")(load_config(CONFIGS / "dkenet_tiny.yaml", get_stage("dkenet").defaults, {
            "stage": "dkenet", "data": {"roots": [str(data)]}, "model": model,
            "feedback_nonblind": str(base)}), tmp_path / "bad", device="cpu").fit()


def test_research_kernel_smoothing_variants_keep_valid_kernels():
    """research/kernel_smoothing.py: every variant of a kernel field is again a field of kernels
    (non-negative taps summing to one), a spatially constant field is left as it is, and the
    confidence-weighted spread leaves fully confident pixels untouched while a zero-confidence
    pixel takes its confident neighbours' kernel."""
    import sys

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    try:
        import kernel_smoothing as ks
    finally:
        sys.path.pop(0)
    g = torch.Generator().manual_seed(0)
    k = torch.rand(1, 9, 12, 16, generator=g)
    k = k / k.sum(1, keepdim=True)
    conf = torch.rand(1, 1, 12, 16, generator=g)
    for v in ("raw", "gauss-2", "conf-4"):
        out = ks.variant(v, k, conf)
        assert out.shape == k.shape and out.min() >= 0
        assert torch.allclose(out.sum(1), torch.ones(1, 12, 16), atol=1e-5)
    flat = torch.softmax(torch.randn(1, 9, 1, 1, generator=g), 1).expand(1, 9, 12, 16)
    assert torch.allclose(ks.variant("gauss-4", flat, conf), flat, atol=1e-6)
    assert torch.allclose(ks.variant("conf-4", k, torch.ones_like(conf)), k, atol=1e-6)
    a, b = torch.eye(9)[0].view(1, 9, 1, 1), torch.eye(9)[4].view(1, 9, 1, 1)
    field = torch.where(torch.arange(16).view(1, 1, 1, 16) < 8, a, b).expand(1, 9, 12, 16).clone()
    field[..., 6, 2] = b[..., 0, 0]  # one wrong guess inside the left half, with no evidence
    c = torch.ones(1, 1, 12, 16)
    c[..., 6, 2] = 0
    fixed = ks.variant("conf-2", field, c)
    assert fixed[0, 0, 6, 2] > 0.99 and torch.allclose(fixed[..., :, 8:], field[..., :, 8:])


def test_research_weight_soup_interpolates_one_network(tmp_path):
    """research/weight_soup.py: alpha 0 / 1 give the two folders' networks exactly, 0.5 their
    mean tensor by tensor (the soup loads and runs as the same class); two different networks
    or an alpha outside [0, 1] are refused with a message, and nothing is written."""
    import sys

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    try:
        import weight_soup
    finally:
        sys.path.pop(0)
    from ssr.errors import SSRError

    cfg = dict(scale=4, kernel_size=9, channels=8, depth_channels=4, head="atoms", atoms=8)
    torch.manual_seed(0)
    a, b = DKENet(**cfg), DKENet(**cfg)
    a.save_pretrained(tmp_path / "a")
    b.save_pretrained(tmp_path / "b")
    for alpha, want in ((0.0, a), (1.0, b)):
        got = SSRModel.from_pretrained(weight_soup.soup(tmp_path / "a", tmp_path / "b", alpha, tmp_path / f"s{alpha}"))
        assert isinstance(got, DKENet)
        assert all(torch.equal(got.state_dict()[k], v) for k, v in want.state_dict().items())
    mid = SSRModel.from_pretrained(weight_soup.soup(tmp_path / "a", tmp_path / "b", 0.5, tmp_path / "mid"))
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.allclose(mid.state_dict()[k], (sa[k] + sb[k]) / 2) for k in sa if sa[k].is_floating_point())
    lr = torch.rand(1, 3, 16, 16)
    assert mid(lr, torch.rand(1, 1, 16, 16)).shape == a(lr, torch.rand(1, 1, 16, 16)).shape
    DKENet(**{**cfg, "channels": 12}).save_pretrained(tmp_path / "c")
    for other, alpha in (("c", 0.5), ("b", 1.5)):
        with pytest.raises(SSRError):
            weight_soup.soup(tmp_path / "a", tmp_path / other, alpha, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert weight_soup.main([str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "bad")]) == 2


def test_research_kernel_cells_summarises_bench_folders(tmp_path, capsys):
    """research/kernel_cells.py: means over the cells every run shares (svkr rows only), the
    count of cells beating the first label, and a clear error for a folder without results."""
    import json
    import sys

    sys.path.insert(0, str(CONFIGS.parent / "research"))
    try:
        import kernel_cells
    finally:
        sys.path.pop(0)

    def row(cell, corr, est="svkr"):
        return {"dataset": cell, "estimator": est, "width_corr_within": corr, "kernel_l1": 0.5,
                "resynth_psnr": 38.0, "sr_psnr_y": 25.0, "sr_prior_psnr_y": 25.5}

    for name, rows in (("a", [row("x", 0.2), row("y", 0.4), row("x", 0.9, "mean-kernel")]),
                       ("b1", [row("x", 0.3)]), ("b2", [row("y", 0.1), row("z", 0.8)])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "kernels.json").write_text(json.dumps(rows))
    assert kernel_cells.main([f"ship={tmp_path / 'a'}", f"cand={tmp_path / 'b1'},{tmp_path / 'b2'}"]) == 0
    out = capsys.readouterr().out
    assert "means over 2 cells" in out and "| x | 0.20 | 0.30 |" in out and "| z |" not in out
    assert "| ship | 0.300 |" in out and "| cand | 0.200 |" in out and out.rstrip().endswith("| 1 / 2 |")
    # a label may name another estimator's rows of the same folder
    assert kernel_cells.main([f"mean={tmp_path / 'a'}@mean-kernel", f"ship={tmp_path / 'a'}"]) == 0
    out = capsys.readouterr().out
    assert "means over 1 cells" in out and "| x | 0.90 | 0.20 |" in out
    assert kernel_cells.main(["nolabel"]) == 2
    capsys.readouterr()
    assert kernel_cells.main([f"c={tmp_path / 'missing'}"]) == 2
    assert "not found" in capsys.readouterr().err
    # a kernel table in Markdown, as ssr bench --kernels writes it, reads like its JSON
    md = tmp_path / "kernels.md"
    md.write_text("| dataset | estimator | images | kernel L1 ↓ | LR re-synthesis PSNR (dB) ↑ | observed-LR PSNR (dB) ↑ "
                  "| mean width (true) | width corr. within images ↑ | width corr. across images ↑ | s / image "
                  "| SR PSNR-Y (dB) ↑ | prior SR PSNR-Y (dB) ↑ |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                  "| x | svkr | 5 | 0.5000 | 38.00 | 28.00 | 1.4 (1.5) | 0.60 | 0.9 | 1.6 | 25.00 | 25.50 |\n"
                  "| x | mean-kernel | 5 | 0.7000 | 36.00 | 28.00 | 1.8 (1.5) | 0.00 | 0.0 | 0.0 | 24.80 | 25.50 |\n")
    assert kernel_cells.main([f"md={md}", f"ship={tmp_path / 'a'}"]) == 0
    out = capsys.readouterr().out
    assert "| x | 0.60 | 0.20 |" in out and "| md | 0.600 | 0.5000 | 38.00 | 25.000 | 25.500 | 0 / 1 |" in out
    (tmp_path / "other.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert kernel_cells.main([f"o={tmp_path / 'other.md'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no column" in err and "Traceback" not in err


def test_dkenet_stage_can_follow_the_oracle_widths(tmp_path, monkeypatch):
    """``loss.width_corr_target: oracle`` hands the correlation term the local oracle's field
    (isotropic kernels of the widths the HR crop tells), not the true kernels; a wrong name is a
    clear error."""
    import ssr.train.svkr_stages as stages
    from ssr.eval.kernel_bench import kernel_width

    data = image_folder(tmp_path / "data", n=2, size=(48, 64))
    seen = []
    real = stages.width_corr_loss

    def spy(est, true, weight=None, **kw):
        seen.append(true)
        return real(est, true, weight=weight, **kw)

    monkeypatch.setattr(stages, "width_corr_loss", spy)
    cls = get_stage("dkenet")
    batches = {}
    for target in ("true", "oracle", "nope"):
        cfg = load_config(CONFIGS / "dkenet_tiny.yaml", cls.defaults,
                          {"stage": "dkenet", "data": {"roots": [str(data)]},
                           "loss": {"width_corr": 1.0, "width_corr_target": target}})
        trainer = cls(cfg, tmp_path / f"dk{target}", device="cpu")
        batches[target] = batch = trainer.make_batch([0, 1][: cfg["batch_size"]], trainer.device)
        if target == "nope":
            with pytest.raises(SSRError, match="width_corr_target"):
                trainer.training_step(batch)
            continue
        loss, _ = trainer.training_step(batch)
        assert torch.isfinite(loss)
    assert len(seen) == 2
    kernels = batches["oracle"]["kernels"]
    assert torch.equal(seen[0], batches["true"]["kernels"])
    oracle_field = seen[1]
    assert oracle_field.shape == kernels.shape and not torch.equal(oracle_field, kernels)
    # the oracle's field is isotropic Gaussians of candidate-range widths, one per LR pixel
    w = kernel_width(oracle_field)
    assert float(w.min()) >= 0.25 and float(w.max()) <= 4.3
