"""Tiled processing: band-streamed blending equals whole-picture blending, integer stores
quantise as they go, inputs at a multiple of the LR grid are cut to match, and the RRDB tail
computed in strips equals the whole tail."""
import torch

from ssr.models.rrdbnet import RRDBNet
from ssr.tiling import Store, _ramp, as_float, run_tiled, tile_layout


def reference_tiled(fn, x, tile, overlap):
    """The whole-picture accumulation (what run_tiled did before it streamed bands)."""
    h, w = x.shape[-2:]
    (ys, th_), (xs, tw_) = tile_layout(h, tile, overlap), tile_layout(w, tile, overlap)
    acc = norm = None
    for iy, y in enumerate(ys):
        for ix, x0 in enumerate(xs):
            th, tw = min(th_, h - y), min(tw_, w - x0)
            o = fn(x[..., y:y + th, x0:x0 + tw])
            f = o.shape[-1] // tw
            if acc is None:
                acc, norm = o.new_zeros(o.shape[0], o.shape[1], h * f, w * f), o.new_zeros(1, 1, h * f, w * f)
            top = ys[iy - 1] + th_ - y if iy else 0
            bottom = y + th - ys[iy + 1] if iy + 1 < len(ys) else 0
            left = xs[ix - 1] + tw_ - x0 if ix else 0
            right = x0 + tw - xs[ix + 1] if ix + 1 < len(xs) else 0
            wt = _ramp(th * f, top * f, bottom * f, o.device)[:, None] * _ramp(tw * f, left * f, right * f, o.device)[None]
            acc[..., y * f:(y + th) * f, x0 * f:(x0 + tw) * f] += o * wt
            norm[..., y * f:(y + th) * f, x0 * f:(x0 + tw) * f] += wt
    return acc / norm


def fn_up(t):
    """A position-dependent x2 map (so a wrongly placed tile shows)."""
    return torch.nn.functional.interpolate(torch.sin(3 * t) * 0.5 + 0.5, scale_factor=2, mode="bilinear")


def test_streamed_bands_equal_whole_picture_blending():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 61, 45)
    for tile, overlap in ((16, 4), (24, 8), (32, 16)):
        out = run_tiled(fn_up, [x], tile, overlap)[0]
        # the normaliser is a product of two 1-D sums, not a 2-D sum: equal to float rounding
        torch.testing.assert_close(out, reference_tiled(fn_up, x, tile, overlap), rtol=0, atol=1e-6)


def test_one_row_or_one_column_of_tiles_and_several_outputs():
    torch.manual_seed(3)
    for shape in ((1, 3, 12, 70), (1, 3, 70, 12), (1, 3, 33, 33)):
        x = torch.rand(*shape)
        outs = run_tiled(lambda t: (fn_up(t), t.mean(1, keepdim=True)), [x], 16, 6)
        torch.testing.assert_close(outs[0], reference_tiled(fn_up, x, 16, 6), rtol=0, atol=1e-6)
        torch.testing.assert_close(outs[1], reference_tiled(lambda t: t.mean(1, keepdim=True), x, 16, 6),
                                   rtol=0, atol=1e-6)


def test_a_store_may_overwrite_the_input_it_reads():
    """SVKR's rounds write the new SR picture over the previous one: blocks are put only where
    no later tile reads, so the result equals that of a fresh store."""
    torch.manual_seed(4)
    lr, hr = torch.rand(1, 3, 37, 29), torch.rand(1, 3, 148, 116)

    def fn(a, b):  # reads its HR tile: a wrongly early overwrite changes the result
        return 0.5 * torch.nn.functional.interpolate(a, scale_factor=4, mode="bilinear") + 0.5 * b.roll(1, -1)

    fresh = run_tiled(fn, [lr, hr], 12, 4)[0]
    same = hr.clone()
    out = run_tiled(fn, [lr, same], 12, 4, stores=[Store(reuse=same)])[0]
    assert out.data_ptr() == same.data_ptr()
    torch.testing.assert_close(out, fresh, rtol=0, atol=0)


def test_integer_stores_quantise_the_blended_values():
    torch.manual_seed(1)
    x = torch.rand(1, 3, 40, 52)
    ref = run_tiled(fn_up, [x], 16, 4)[0]
    for dtype, peak in ((torch.uint8, 255), (torch.uint16, 65535)):
        q = run_tiled(fn_up, [x], 16, 4, stores=[Store(dtype)])[0]
        assert q.dtype == dtype and q.shape == ref.shape
        assert torch.equal(q.long(), (ref * peak).round().clamp(0, peak).long())
        assert q[0].permute(1, 2, 0).is_contiguous()  # H x W x C for the encoder, no copy
        assert (as_float(q) - ref).abs().max() <= 0.5 / peak + 1e-6
    # the untiled path quantises too
    q = run_tiled(fn_up, [x], None, 4, stores=[Store(torch.uint8)])[0]
    assert q.dtype == torch.uint8


def test_inputs_on_a_multiple_of_the_grid_are_cut_to_match():
    torch.manual_seed(2)
    lr = torch.rand(1, 3, 30, 38)
    hr = torch.rand(1, 3, 120, 152)

    def fn(a, b):  # output x4: the LR tile upsampled plus its own HR tile
        return torch.nn.functional.interpolate(a, scale_factor=4, mode="nearest") + b

    out = run_tiled(fn, [lr, hr], 12, 4)[0]
    full = fn(lr, hr)
    assert torch.allclose(out, full, atol=1e-6)


def test_rrdb_tail_in_strips_equals_the_whole_tail():
    torch.manual_seed(3)
    net = RRDBNet(16, 8, 1).eval()
    feat = torch.rand(1, 16, 37, 23)
    with torch.no_grad():
        whole = net._tail(feat)
        net.tail_strip_pixels = 23 * 5  # 5 rows a strip
        strips = net.upsample(feat)
    assert strips.shape == whole.shape
    assert (strips - whole).abs().max() < 1e-5


def test_the_cli_pins_the_allocator_threshold():
    import platform

    from ssr.cli import fixed_mmap_threshold

    applied = fixed_mmap_threshold()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert applied


def test_the_python_api_pins_the_allocator_threshold(tmp_path, monkeypatch):
    import ssr.heap
    from ssr.pipeline import SSRPipeline

    from tiny import tiny_pipeline

    calls = []
    monkeypatch.setattr(ssr.heap, "fixed_mmap_threshold", lambda: calls.append(1) or True)
    SSRPipeline.from_pretrained(tiny_pipeline(tmp_path / "pipe"), load_diffusion=False)
    assert calls
