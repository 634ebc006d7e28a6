"""How well do the local oracle and a DKENet follow the blur on a stage's training crops? (issue 17)

Draws batches of a DKENet config's training stream (its mixture, crop size and seed) and prints,
over the samples whose true width varies (log-width s.d. above 0.05), the mean within-crop
correlation with the true widths of the local oracle (:mod:`ssr.eval.local_oracle`) at several
windows / spreads (LR px) and of a DKENet's first round. A width-correlation target is only as
useful for training as it is close to the truth on the crops the network sees.

    python research/oracle_crops.py --config configs/dkenet_span_oracle_cpu.yaml --weights src/ssr/weights/svkr/dkenet
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="a DKENet stage config (sets the crops)")
    ap.add_argument("--weights", default="src/ssr/weights/svkr/dkenet", help="DKENet weights folder")
    ap.add_argument("--batches", type=int, default=6)
    args = ap.parse_args(argv)
    from ssr.eval.kernel_bench import kernel_width, width_corr
    from ssr.eval.local_oracle import local_oracle_widths
    from ssr.models.base import SSRModel
    from ssr.train import get_stage, load_config

    torch.set_grad_enabled(False)
    cls = get_stage("dkenet")
    cfg = load_config(args.config, cls.defaults, {"stage": "dkenet", "init_from": None})
    trainer = cls(cfg, tempfile.mkdtemp(), device="cpu")
    net = SSRModel.from_pretrained(args.weights).eval()
    settings = ((1, 0), (2, 0), (2, 4), (4, 0), (4, 4), (4, 8))
    corr: dict[str, list[float]] = {f"oracle {w}/{s}": [] for w, s in settings} | {"DKENet": []}
    bs = cfg["batch_size"]
    for i in range(args.batches):
        b = trainer.make_batch(list(range(i * bs, (i + 1) * bs)), trainer.device)
        true = kernel_width(b["kernels"].float())
        est = kernel_width(net(b["lr"], b["depth_in"]).float())
        maps = {f"oracle {w}/{s}": local_oracle_widths(b["hr"].float(), b["lr"].float(), window=w, spread=s)[:, 0]
                for w, s in settings}
        for j in range(bs):
            if float(true[j].log().std()) < 0.05:
                continue
            corr["DKENet"].append(width_corr(est[j], true[j]))
            for k, m in maps.items():
                corr[k].append(width_corr(m[j], true[j]))
    print(f"{len(corr['DKENet'])} crops with varying blur; mean within-crop correlation with the true widths "
          "(oracle window/spread in LR px):\n")
    print("| " + " | ".join(corr) + " |\n|" + "---:|" * len(corr))
    print("| " + " | ".join(f"{statistics.fmean(v):.2f}" for v in corr.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
