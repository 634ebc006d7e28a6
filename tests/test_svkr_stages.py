"""The three SVKR training stages run end to end on tiny configs and their outputs load."""
from pathlib import Path

import torch

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


def test_nonblind_dkenet_and_joint_stages(tmp_path):
    data = image_folder(tmp_path / "data", n=3, size=(48, 64))
    nb_dir = _train("nonblind", tmp_path, data)
    nb = SSRModel.from_pretrained(nb_dir)
    assert isinstance(nb, NonBlindSR) and nb.pretrained_extra["steps"] == 4
    assert nb.pca_basis.abs().sum() > 0  # the kernel PCA was computed and saved
    basis = nb.pca_basis
    assert torch.allclose(basis @ basis.T, torch.eye(basis.shape[0]), atol=1e-4)
    dk_dir = _train("dkenet", tmp_path, data)
    assert isinstance(SSRModel.from_pretrained(dk_dir), DKENet)
    assert (tmp_path / "dkenet" / "depth_cache.pt").is_file()
    joint = _train("svkr", tmp_path, data, init_dkenet=str(dk_dir), init_nonblind=str(nb_dir))
    dk2 = SSRModel.from_pretrained(joint / "dkenet")
    nb2 = SSRModel.from_pretrained(joint / "nonblind")
    assert dk2.config == SSRModel.from_pretrained(dk_dir).config
    assert torch.equal(nb2.pca_basis, nb.pca_basis)  # the PCA travels through fine-tuning
