"""Linear interpolation of two weights folders of one network ("weight soup", a probe).

A continuation trained from shipped weights often keeps what the shipped network did well only
part-way; the weights between the two (``(1 - alpha) A + alpha B``, every floating tensor) can keep
both when the continuation stayed in the same basin. Writes a weights folder (``model.safetensors``
and ``B``'s ``config.json``, with the soup recorded in ``extra.soup``) that ``ssr bench --weights``
can score through ``research/prior_checkpoint.py OUT_PIPE --dkenet OUT``.

    python research/weight_soup.py src/ssr/weights/svkr/dkenet research/candidates/dkenet_span --alpha 0.5 --out runs/soup_span50
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ssr.errors import SSRError, reports_errors
from ssr.models.base import SSRModel


def soup(a: Path, b: Path, alpha: float, out: Path) -> Path:
    """Write ``out`` = ``(1 - alpha) a + alpha b`` (floating tensors; others taken from ``b``),
    through the project's model I/O (:meth:`SSRModel.save_pretrained`, ``b``'s ``extra`` kept)."""
    if not 0.0 <= alpha <= 1.0:
        raise SSRError(f"alpha must be in [0, 1], got {alpha}")
    meta_a, meta_b = SSRModel.saved_meta(a), SSRModel.saved_meta(b)
    if (meta_a.get("class"), meta_a.get("config")) != (meta_b.get("class"), meta_b.get("config")):
        raise SSRError(f"{a} and {b} are not the same network (class or config differ)")
    net_b = SSRModel.from_pretrained(b)
    sa, sb = SSRModel.from_pretrained(a).state_dict(), net_b.state_dict()
    mixed = {k: torch.lerp(sa[k], v, alpha) if v.is_floating_point() else v for k, v in sb.items()}
    return net_b.save_pretrained(out, state_dict=mixed, extra={**meta_b.get("extra", {}),
                                                                "soup": {"a": str(a), "b": str(b), "alpha": alpha}})


@reports_errors
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of b")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    print(soup(args.a, args.b, args.alpha, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
