"""The Python API of the README: SSRPipeline on paths, PIL images and tensors."""
from pathlib import Path


def _readme_block(marker: str) -> str:
    """The first ```python block after ``marker`` in README.md."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rest = text[text.index(marker):]
    start = rest.index("```python\n") + len("```python\n")
    return rest[start:rest.index("```", start)]


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    """The README's SSRPipeline example, executed verbatim on the shipped weights (a 64x48 crop of
    the shipped LR sample plays photo.jpg: what is checked is the example, not the picture)."""
    import shutil

    from ssr.assets import sample_lr_path
    from ssr.io import read_image

    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Image.open(sample_lr_path()).convert("RGB").crop((16, 24, 80, 72)).save("photo.jpg", quality=95)
    code = _readme_block("Super-resolution (the same pipeline as `ssr upscale`)")
    assert "SSRPipeline.from_pretrained()" in code
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert read_image("photo_x4.png").size == (48 * 4, 64 * 4)
    assert read_image("photo_x4_fidelity.jpg").size == (48 * 4, 64 * 4)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_pipeline_refuses_tensors_outside_0_1_and_takes_pil_and_paths(tmp_path):
    import numpy as np
    import pytest
    import torch
    from PIL import Image

    from ssr.errors import SSRError
    from ssr.pipeline import as_image_tensor

    with pytest.raises(SSRError, match="divide by 255"):
        as_image_tensor(torch.rand(3, 8, 8) * 255)
    with pytest.raises(SSRError, match="floating-point"):
        as_image_tensor(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(SSRError, match="NaN"):
        as_image_tensor(torch.full((3, 8, 8), float("nan")))
    pil = Image.fromarray(np.full((8, 10, 3), 255, np.uint8))
    t, src = as_image_tensor(pil)
    assert t.shape == (3, 8, 10) and float(t.min()) == 1.0 and src is None
    pil.save(tmp_path / "a.png")
    t2, src2 = as_image_tensor(tmp_path / "a.png")
    assert torch.equal(t, t2) and src2.bit_depth == 8
