"""The trainer base class shared by every stage.

A stage subclasses :class:`Trainer` and fills in three hooks:

* ``build_model()`` -> the :class:`~ssr.models.SSRModel` to train;
* ``make_batch(indices, device)`` -> a dict of tensors for the given global sample indices
  (degradations are generated here, on the training device);
* ``training_step(batch)`` -> ``(loss, logs)``.

Optionally, a stage whose batches can be drawn on the CPU by worker processes implements
``cpu_batch(indices)`` (CPU tensors) and ``finish_batch(batch, device)`` (what must run on the
training device, e.g. a frozen network); ``data_workers: N`` in the config then prefetches
batches in N forked processes, which keeps a GPU fed when drawing degradations one sample at
a time costs more than a training step.

``time_budget_s`` (seconds, 0 = off) fits a run into a fixed wall-clock window (a lent GPU):
the total step count is re-planned from the measured seconds per step as the run goes (the
cosine schedule follows it), and the run exports at the end of the window in any case.

Optionally ``evaluate()`` (run every ``eval_every`` steps on the main process) and
``export_extra()`` (metadata stored with the shipped weights).

The base class owns everything else: Accelerate (multi-GPU / multi-node DDP, launched by
``torchrun`` or ``accelerate launch``; two gloo processes on CPU), mixed precision, AdamW with
warm-up + cosine schedule, gradient clipping, EMA, CSV logs (and TensorBoard when installed),
a progress bar, and checkpoints that resume exactly (safetensors weights and EMA, optimiser,
scheduler and RNG state; the data stream is a function of the step, see :mod:`.data`).

Output folder layout::

    OUT/config.yaml            the merged config of the run
    OUT/log.csv                one row per logged step (eval.csv: validation metrics)
    OUT/checkpoints/step_N/    model.safetensors, ema.safetensors, state.pt, trainer.json
    OUT/final/                 config.json + model.safetensors (EMA weights), loadable with
                               SSRModel.from_pretrained
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import SSRError
from ..io import write_json, write_text
from ..models.base import SSRModel
from .data import batch_indices
from .ema import EMA


class Trainer:
    """Base trainer; see the module docstring. ``cfg`` is a merged config dict."""

    #: stage-specific config defaults (merged under the YAML file)
    defaults: dict[str, Any] = {}
    #: the time budget's clock starts after this many steps (they hold start-up costs) and the
    #: rate is measured over windows of at least ``plan_window`` steps
    plan_warmup, plan_window = 20, 50

    def __init__(self, cfg: dict, out_dir: str | os.PathLike, device: str | None = None, resume: bool = False):
        from accelerate import Accelerator

        self.cfg = cfg
        self.out = Path(out_dir)
        want_cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
        mp = cfg["mixed_precision"]
        if mp == "auto":
            mp = "bf16" if not want_cpu else "no"
        self.accelerator = Accelerator(cpu=want_cpu, mixed_precision=mp)
        self.device = self.accelerator.device
        self.is_main = self.accelerator.is_main_process
        self.rank = self.accelerator.process_index
        self.world = self.accelerator.num_processes
        self._seed_everything(int(cfg["seed"]) + self.rank)

        model = self.build_model()
        if cfg.get("init_from") and not resume:
            self._init_weights(model, cfg["init_from"])
        self.ema = EMA(model, cfg["ema_decay"]) if cfg["ema_decay"] > 0 else None
        self.optimizer = torch.optim.AdamW(self.param_groups(model), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                                           weight_decay=cfg["weight_decay"])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_lambda)
        self.step = 0
        if resume:
            self._resume(model)
        self.model, self.optimizer = self.accelerator.prepare(model, self.optimizer)
        if self.ema is not None:
            for v in self.ema.shadow.values():
                v.data = v.data.to(self.device)
        self._log_rows: list[dict] = []
        #: the wall clock of ``time_budget_s`` (seconds); tests inject a clock driven by the step
        #: count, so that what they check does not depend on the machine's speed
        self.clock = time.monotonic

    # ---- hooks for stages -------------------------------------------------------------------
    def param_groups(self, model: torch.nn.Module) -> list[dict]:
        """The optimiser's parameter groups (default: every trainable parameter at ``lr``); a stage
        overrides it to give some parameters their own learning rate (``{"params": ..., "lr": ...}``;
        the warm-up and schedule scale every group alike)."""
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    def build_model(self) -> SSRModel:  # pragma: no cover - abstract
        raise NotImplementedError

    def make_batch(self, indices: list[int], device: torch.device) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError

    def evaluate(self) -> dict[str, float]:
        """Validation metrics (main process only); none by default."""
        return {}

    def export_extra(self) -> dict:
        """Metadata stored in the exported ``config.json`` (e.g. data and steps)."""
        return {}

    # ---- helpers ----------------------------------------------------------------------------
    @property
    def unwrapped(self) -> SSRModel:
        return self.accelerator.unwrap_model(self.model)

    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % (2**32))
        torch.manual_seed(seed)

    def _lr_lambda(self, step: int) -> float:
        warm = max(1, int(self.cfg["warmup_steps"]))
        if step < warm:
            return (step + 1) / warm
        if self.cfg["schedule"] == "constant":
            return 1.0
        total = max(warm + 1, int(self.cfg["steps"]))
        t = min(1.0, (step - warm) / (total - warm))
        lo = float(self.cfg["min_lr_ratio"])
        return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * t))

    def _init_weights(self, model: SSRModel, folder: str) -> None:
        from safetensors.torch import load_file

        from .data import resolve_data_path

        path = resolve_data_path(folder)
        w = path / "model.safetensors" if path.is_dir() else path
        sd = load_file(str(w))
        own = model.state_dict()
        fitting = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fitting, strict=False)
        if self.is_main:
            print(f"initialised {len(fitting)}/{len(own)} tensors from {w}")

    # ---- checkpoints ------------------------------------------------------------------------
    def checkpoint_dir(self, step: int) -> Path:
        return self.out / "checkpoints" / f"step_{step:08d}"

    def latest_checkpoint(self) -> Path | None:
        root = self.out / "checkpoints"
        done = sorted(p for p in root.glob("step_*") if (p / "trainer.json").is_file()) if root.is_dir() else []
        return done[-1] if done else None

    def save_checkpoint(self) -> Path | None:
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            return None
        from safetensors.torch import save_file

        final = self.checkpoint_dir(self.step)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        sd = {k: v.detach().cpu().contiguous() for k, v in self.unwrapped.state_dict().items()}
        save_file(sd, str(tmp / "model.safetensors"))
        if self.ema is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in self.ema.shadow.items()},
                      str(tmp / "ema.safetensors"))
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }
        torch.save(state, tmp / "state.pt")
        write_json(tmp / "trainer.json", {"step": self.step, "ema_updates": self.ema.num_updates if self.ema else 0,
                                          "stage": self.cfg.get("stage")})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        keep = int(self.cfg["keep_checkpoints"])
        olds = sorted(p for p in final.parent.glob("step_*") if not p.name.endswith(".tmp"))
        for p in olds[:-keep] if keep > 0 else []:
            shutil.rmtree(p, ignore_errors=True)
        return final

    def _resume(self, model: SSRModel) -> None:
        from safetensors.torch import load_file

        ck = self.latest_checkpoint()
        if ck is None:
            if self.is_main:
                print(f"no checkpoint in {self.out / 'checkpoints'}; starting from scratch")
            return
        model.load_state_dict(load_file(str(ck / "model.safetensors")))
        meta = json.loads((ck / "trainer.json").read_text())
        if self.ema is not None and (ck / "ema.safetensors").is_file():
            self.ema.load_state_dict(load_file(str(ck / "ema.safetensors")), meta.get("ema_updates", 0))
        state = torch.load(ck / "state.pt", map_location="cpu", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.step = int(meta["step"])
        if self.is_main:
            print(f"resumed from {ck} at step {self.step}")

    # ---- logging ----------------------------------------------------------------------------
    def _log(self, row: dict, name: str = "log.csv") -> None:
        if not self.is_main:
            return
        path = self.out / name
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, row["step"])

    # ---- main loop --------------------------------------------------------------------------
    def fit(self, until: int | None = None) -> Path | None:
        """Train to ``cfg['steps']`` and export; returns the weights folder (main process).

        ``until`` stops earlier (after a checkpoint, without export), as an interruption would.
        """
        cfg = self.cfg
        total = int(cfg["steps"])
        self._tb = None
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            import yaml

            write_text(self.out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tb"))
            except Exception:  # noqa: BLE001 - optional
                self._tb = None
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=self.step, disable=not self.is_main, desc=f"train {cfg.get('stage')}",
                   dynamic_ncols=True)
        t0, seen = time.time(), 0
        started, plan_t, plan_step = self.clock(), None, self.step
        budget = float(cfg.get("time_budget_s") or 0)
        acc_logs: dict[str, float] = {}
        self.model.train()
        stop = total if until is None else min(total, until)
        batches = self._prefetched_batches(stop)
        while self.step < stop:
            if batches is not None:
                batch = self.finish_batch({k: v.to(self.device, non_blocking=True) for k, v in next(batches).items()},
                                          self.device)
            else:
                idx = batch_indices(self.step, int(cfg["batch_size"]), self.rank, self.world)
                batch = self.make_batch(idx, self.device)
            with self.accelerator.autocast():
                loss, logs = self.training_step(batch)
            if not torch.isfinite(loss):
                raise SSRError(f"loss became {loss.item()} at step {self.step}; lower the learning rate")
            self.accelerator.backward(loss)
            if cfg["grad_clip"]:
                self.accelerator.clip_grad_norm_(self.model.parameters(), cfg["grad_clip"])
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(self.unwrapped)
            self.step += 1
            seen += 1
            for k, v in {"loss": float(loss.detach()), **logs}.items():
                acc_logs[k] = acc_logs.get(k, 0.0) + float(v)
            bar.update(1)
            if self.step % int(cfg["log_every"]) == 0 or self.step == total:
                row = {"step": self.step, **{k: v / seen for k, v in acc_logs.items()},
                       "lr": self.scheduler.get_last_lr()[0], "sec_per_step": (time.time() - t0) / seen}
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                self._log(row)
                acc_logs, seen, t0 = {}, 0, time.time()
            every = int(cfg.get("eval_every", 0) or 0)
            if every and self.step % every == 0 and self.is_main:
                metrics = self.evaluate_with_ema()
                if metrics:
                    self._log({"step": self.step, **metrics}, "eval.csv")
                    bar.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
            if budget > 0:
                new_total, plan_t, plan_step = self._replan(budget, started, plan_t, plan_step, total)
                if new_total != total:
                    total = cfg["steps"] = new_total
                    stop = total if until is None else min(total, until)
                    bar.total = total
                    bar.refresh()
            if self.step % int(cfg["save_every"]) == 0 or self.step == total:
                self.save_checkpoint()
        bar.close()
        if self.step < total:
            self.save_checkpoint()
            return None
        return self.export()

    def _replan(self, budget: float, started: float, plan_t: float | None, plan_step: int, total: int
                ) -> tuple[int, float | None, int]:
        """Re-plan the total step count so the run ends ``budget`` seconds after ``started``.

        The clock starts after :attr:`plan_warmup` steps (which hold start-up costs); the rate
        is then measured over windows of at least :attr:`plan_window` steps, and 3 % of the time
        left is kept for the evaluations, checkpoints and export. Returns ``(total, plan_t, plan_step)``."""
        now = self.clock()
        if now - started >= budget:
            return self.step, plan_t, plan_step  # out of time: stop (and export) now
        if plan_t is None:
            return (total, now, self.step) if self.step >= plan_step + self.plan_warmup else (total, None, plan_step)
        if self.step - plan_step < self.plan_window:
            return total, plan_t, plan_step
        rate = (now - plan_t) / (self.step - plan_step)
        new_total = self.step + max(1, int(0.97 * (budget - (now - started)) / rate))
        if abs(new_total - total) <= max(10, 0.02 * total):
            return total, now, self.step
        if self.is_main:
            print(f"time budget: {rate:.3f} s/step, planning {new_total} steps in all", flush=True)
        return new_total, now, self.step

    def cpu_batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """CPU tensors of a batch, drawn in a data worker (stages that support ``data_workers``)."""
        raise NotImplementedError

    def finish_batch(self, batch: dict[str, torch.Tensor], device) -> dict[str, torch.Tensor]:
        """The device-side part of a prefetched batch (default: nothing to do)."""
        return batch

    def _prefetched_batches(self, stop: int):
        """An iterator of CPU batches for steps ``self.step .. stop-1`` drawn by ``data_workers``
        forked processes, or ``None`` when the config asks for none or the stage cannot."""
        workers = int(self.cfg.get("data_workers") or 0)
        if workers <= 0:
            return None
        if type(self).cpu_batch is Trainer.cpu_batch:
            if self.is_main:
                print(f"data_workers ignored: stage {self.cfg.get('stage')} draws its batches in the training process")
            return None
        from torch.utils.data import DataLoader, Dataset

        trainer, cfg = self, self.cfg

        class _Steps(Dataset):
            def __init__(self, first: int, count: int):
                self.first, self.count = first, count

            def __len__(self):
                return self.count

            def __getitem__(self, i):
                idx = batch_indices(self.first + i, int(cfg["batch_size"]), trainer.rank, trainer.world)
                return trainer.cpu_batch(idx)

        # open-ended (a time budget may re-plan the run longer than configured); drawn lazily
        loader = DataLoader(_Steps(self.step, 2**62), batch_size=None, shuffle=False, num_workers=workers,
                            prefetch_factor=4, persistent_workers=False, pin_memory=self.device.type == "cuda",
                            worker_init_fn=_worker_init, multiprocessing_context="fork",
                            generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
        return iter(loader)

    def evaluate_with_ema(self) -> dict[str, float]:
        """Run :meth:`evaluate` with the EMA weights swapped in (restored afterwards)."""
        model = self.unwrapped
        backup = None
        if self.ema is not None:
            backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
            model.load_state_dict(self.ema.weights_like(model))
        model.eval()
        try:
            with torch.no_grad():
                return self.evaluate()
        finally:
            if backup is not None:
                model.load_state_dict(backup)
            model.train()

    def final_state(self) -> dict[str, torch.Tensor] | None:
        """The weights to export (EMA when kept), once every process is done; ``None`` except on
        the main process."""
        self.accelerator.wait_for_everyone()
        if not self.is_main:
            return None
        model = self.unwrapped
        return self.ema.weights_like(model) if self.ema is not None else model.state_dict()

    def export_record(self) -> dict:
        """The training record stored with exported weights (``config.json`` "extra")."""
        return {"stage": self.cfg.get("stage"), "steps": self.step, "batch_size": self.cfg["batch_size"],
                "world_size": self.world, "device": str(self.device), **self.export_extra()}

    def export(self) -> Path | None:
        """Write the EMA (or plain) weights to ``OUT/final`` as a loadable model folder."""
        sd = self.final_state()
        if sd is None:
            return None
        return self.unwrapped.save_pretrained(self.out / "final", state_dict=sd, extra=self.export_record())


def _worker_init(_: int) -> None:
    """Data workers draw degradations with one thread each (many run beside the trainer)."""
    torch.set_num_threads(1)
