import pytest
import torch

from ssr.errors import SSRError
from ssr.models import SSRModel
from ssr.models.blocks import SFT, DABlock, MAConv, Upsampler
from ssr.models.dkenet import DKENet
from ssr.models.nonblind import NonBlindSR, bicubic_up


def test_blocks_shapes_and_identity_init():
    x = torch.randn(2, 16, 12, 10)
    assert MAConv(16, 8).forward(x).shape == (2, 8, 12, 10)
    sft = SFT(16, 4)
    assert torch.equal(sft(x, torch.randn(2, 4, 12, 10)), x)  # identity at initialisation
    assert DABlock(16, 4)(x, torch.randn(2, 4, 12, 10)).shape == x.shape
    for s in (2, 3, 4):
        assert Upsampler(16, s, out_channels=8)(x).shape == (2, 8, 12 * s, 10 * s)
    with pytest.raises(ValueError):
        MAConv(15, 8)


@pytest.mark.parametrize("head", ["taps", "atoms"])
def test_dkenet_outputs_normalised_kernels(head):
    net = DKENet(channels=8, depth_channels=4, kernel_size=13, head=head, atoms=16).eval()
    lr = torch.rand(2, 3, 11, 14)
    k = net(lr, torch.rand(2, 1, 44, 56))  # depth at HR size is resized
    assert k.shape == (2, 169, 11, 14)
    assert torch.all(k >= 0) and torch.allclose(k.sum(1), torch.ones(2, 11, 14), atol=1e-5)


def test_dkenet_atom_bank_spans_narrow_to_wide_kernels(tmp_path):
    from ssr.eval.kernel_bench import kernel_width
    from ssr.models.dkenet import atom_bank

    bank = atom_bank(64, 21, 4)
    assert bank.shape == (64, 441) and torch.allclose(bank.sum(1), torch.ones(64), atol=1e-5)
    w = kernel_width(bank.T.reshape(1, 441, 1, 64))[0, 0]
    assert w.min() < 0.6 and w.max() > 2.5  # (x4 kernels sit half a pixel off the taps: 0.5 px at least)
    net = DKENet(channels=8, depth_channels=4, head="atoms", atoms=64)
    assert torch.allclose(net.atom_kernels, bank, atol=1e-6)
    with pytest.raises(ValueError, match="head"):
        DKENet(channels=8, head="gaussian")
    # the prototypes are weights: they travel with save/load
    with torch.no_grad():
        net.atom_logits.add_(torch.randn_like(net.atom_logits))
    net.save_pretrained(tmp_path / "dk")
    again = SSRModel.from_pretrained(tmp_path / "dk")
    assert torch.equal(again.atom_kernels, net.atom_kernels)


def test_dkenet_depth_matters_only_when_used():
    torch.manual_seed(0)
    with_depth = DKENet(channels=8, depth_channels=4, kernel_size=5)
    for p in with_depth.parameters():  # leave the identity initialisation so depth has an effect
        torch.nn.init.normal_(p, std=0.1)
    lr = torch.rand(1, 3, 8, 8)
    a, b = with_depth(lr, torch.zeros(1, 1, 8, 8)), with_depth(lr, torch.ones(1, 1, 8, 8))
    assert not torch.allclose(a, b)
    no_depth = DKENet(channels=8, depth_channels=4, kernel_size=5, use_depth=False)
    no_depth.load_state_dict(with_depth.state_dict())
    assert torch.equal(no_depth(lr, torch.zeros(1, 1, 8, 8)), no_depth(lr, torch.ones(1, 1, 8, 8)))
    assert torch.equal(no_depth(lr, None), no_depth(lr, torch.ones(1, 1, 8, 8)))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_nonblind_shapes_and_residual_start(scale):
    net = NonBlindSR(scale=scale, kernel_size=5, channels=8, growth=4, blocks=1, pca_components=3,
                     cond_channels=4, hr_channels=4).eval()
    lr = torch.rand(1, 3, 7, 9)
    k = torch.softmax(torch.randn(1, 25, 7, 9), 1)
    sr = net(lr, k)
    assert sr.shape == (1, 3, 7 * scale, 9 * scale)
    assert torch.allclose(sr, bicubic_up(lr, scale))  # zero-initialised output: starts as bicubic


def test_kernel_codes_use_the_stored_pca():
    net = NonBlindSR(kernel_size=3, channels=8, growth=4, blocks=1, pca_components=2, cond_channels=4, hr_channels=4)
    mean = torch.full((9,), 1 / 9)
    basis = torch.eye(9)[:2]
    net.set_pca(mean, basis, torch.tensor([2.0, 4.0]))
    k = mean.view(1, 9, 1, 1).repeat(1, 1, 2, 2).clone()
    assert torch.allclose(net.kernel_codes(k), torch.zeros(1, 2, 2, 2))
    k[0, 0] += 0.2
    k[0, 1] += 0.4
    codes = net.kernel_codes(k)
    assert torch.allclose(codes[0, 0], torch.full((2, 2), 0.1)) and torch.allclose(codes[0, 1], torch.full((2, 2), 0.1))


def test_save_and_load_roundtrip(tmp_path):
    net = NonBlindSR(kernel_size=5, channels=8, growth=4, blocks=1, pca_components=3, cond_channels=4, hr_channels=4)
    net.set_pca(torch.rand(25), torch.rand(3, 25), torch.rand(3) + 0.5)
    net.save_pretrained(tmp_path / "nb", extra={"note": "test"})
    back = SSRModel.from_pretrained(tmp_path / "nb")
    assert isinstance(back, NonBlindSR) and back.pretrained_extra == {"note": "test"}
    for (k, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(SSRError, match="not a DKENet"):
        DKENet.from_pretrained(tmp_path / "nb")
    with pytest.raises(SSRError, match="no SSR model"):
        SSRModel.from_pretrained(tmp_path / "missing")


def test_depth_bin_context_shares_information_within_a_depth_layer():
    from ssr.models.blocks import DepthBinContext

    torch.manual_seed(0)
    ctx = DepthBinContext(4, bins=4)
    torch.nn.init.normal_(ctx.mix.weight, std=0.5)
    f = torch.zeros(1, 4, 6, 8)
    depth = torch.zeros(1, 1, 6, 8)
    depth[..., 4:] = 1.0  # two depth layers: left (far) and right (near)
    base = ctx(f, depth)
    f2 = f.clone()
    f2[0, :, 0, 0] = 5.0  # a feature in the far layer only
    delta = (ctx(f2, depth) - base).abs().sum(1)[0]
    delta[0, 0] = 0
    assert delta[:, 1:4].mean() > 10 * delta[:, 4:].mean()  # reaches its own layer far more than the other
    assert torch.equal(DepthBinContext(4)(f2, depth), f2)  # zero-initialised: identity


def test_from_pretrained_finds_a_class_whose_module_was_not_imported(tmp_path):
    """A folder alone says what it holds: loading the shipped depth network through the base
    class must not depend on ssr.depth having been imported first."""
    import subprocess
    import sys

    code = ("from ssr.models.base import SSRModel; from ssr.pipeline import DEFAULT_DIR; "
            "m = SSRModel.from_pretrained(DEFAULT_DIR / 'depth'); print(type(m).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "DepthNet"
