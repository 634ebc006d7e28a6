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
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ssr.errors import SSRError


def soup(a: Path, b: Path, alpha: float, out: Path) -> Path:
    """Write ``out`` = ``(1 - alpha) a + alpha b`` (floating tensors; others taken from ``b``)."""
    if not 0.0 <= alpha <= 1.0:
        raise SSRError(f"alpha must be in [0, 1], got {alpha}")
    meta_a, meta_b = (json.loads((p / "config.json").read_text()) for p in (a, b))
    if (meta_a.get("class"), meta_a.get("config")) != (meta_b.get("class"), meta_b.get("config")):
        raise SSRError(f"{a} and {b} are not the same network (class or config differ)")
    sa, sb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise SSRError(f"{a} and {b} hold different tensors")
    mixed = {k: (torch.lerp(sa[k].float(), sb[k].float(), alpha).to(sb[k].dtype) if sb[k].is_floating_point()
                 else sb[k]) for k in sb}
    out.mkdir(parents=True, exist_ok=True)
    save_file(mixed, str(out / "model.safetensors"))
    meta_b.setdefault("extra", {})["soup"] = {"a": str(a), "b": str(b), "alpha": alpha}
    (out / "config.json").write_text(json.dumps(meta_b, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of b")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        print(soup(args.a, args.b, args.alpha, args.out))
    except SSRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
