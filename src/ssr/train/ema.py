"""Exponential moving average of model weights (the weights we ship)."""
from __future__ import annotations

import torch
from torch import nn


class EMA:
    """Keeps ``shadow = d * shadow + (1 - d) * param`` for every floating-point tensor of a model.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates so early
    averages are not dominated by the random initialisation. Buffers (e.g. batch-norm
    statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
                       for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        params = dict(model.named_parameters())
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if k in params and v.is_floating_point():
                s.mul_(d).add_(v.detach().float(), alpha=1 - d)
            else:
                s.copy_(v.detach())

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, sd: dict[str, torch.Tensor], num_updates: int = 0) -> None:
        for k, v in sd.items():
            if k in self.shadow:
                self.shadow[k].copy_(v)
        self.num_updates = num_updates

    def weights_like(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Shadow weights cast to the model's dtypes (ready for ``load_state_dict``)."""
        ref = model.state_dict()
        return {k: v.to(ref[k].dtype) for k, v in self.shadow.items()}
