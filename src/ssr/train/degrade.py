"""On-the-fly degradations for training: a weighted mixture of degradation recipes.

Each sample draws one recipe (by weight) and is degraded with its own generator, so the
stream is reproducible per sample index (see :mod:`.data`). Runs on the training device; JPEG
goes through the CPU encoder.

Config form (``data.degradations`` in a stage config)::

    - {weight: 0.6, preset: noise-jpeg, field: {kind: depth, motion_prob: 0.1}}
    - {weight: 0.2, preset: no-jpeg, field: {kind: smooth}}
    - {weight: 0.2, preset: blur-only, field: {kind: invariant}}
"""
from __future__ import annotations

import copy

import torch

from ..degradation import DegradationConfig, DegradationPipeline, DegradationResult

DEFAULT_RECIPES = [
    {"weight": 0.5, "preset": "noise-jpeg", "field": {"kind": "depth", "motion_prob": 0.1}},
    {"weight": 0.15, "preset": "no-noise", "field": {"kind": "depth"}},
    {"weight": 0.15, "preset": "no-jpeg", "field": {"kind": "smooth"}},
    {"weight": 0.2, "preset": "blur-only", "field": {"kind": "invariant", "family": "mixed"}},
]


class TrainingDegradation:
    """A weighted mixture of :class:`~ssr.degradation.DegradationConfig` recipes.

    Args:
        recipes: list of dicts, each ``{weight, ...DegradationConfig.from_dict keys}``.
        scale: SR scale (overrides the recipes' own).
        device: where the blur is computed.
    """

    def __init__(self, recipes: list[dict] | None = None, scale: int = 4, device=None):
        recipes = copy.deepcopy(recipes or DEFAULT_RECIPES)
        self.weights = torch.tensor([float(r.pop("weight", 1.0)) for r in recipes])
        self.weights = self.weights / self.weights.sum()
        self.configs = [DegradationConfig.from_dict({**r, "scale": scale}) for r in recipes]
        self.pipes = [DegradationPipeline(c, device=device) for c in self.configs]
        self.scale = scale

    def sample_config(self, gen: torch.Generator) -> int:
        return int(torch.multinomial(self.weights, 1, generator=gen))

    def __call__(self, hr: torch.Tensor, gens: list[torch.Generator],
                 depth: torch.Tensor | None = None, kernel_fn=None) -> DegradationResult:
        """Degrade a batch ``B x 3 x H x W`` with one generator per sample (and optional depth
        ``B x 1 x H x W``, used by depth-informed recipes).

        ``kernel_fn`` maps each sample's kernel field ``1 x k*k x h x w`` to what the result's
        ``kernels`` holds (e.g. its PCA codes), so the k*k-channel fields of a whole batch are
        never concatenated when only a projection of them is needed."""
        outs, ks = [], []
        for i, g in enumerate(gens):
            pipe = self.pipes[self.sample_config(g)]
            o = pipe(hr[i:i + 1], generator=g, depth=None if depth is None else depth[i:i + 1])
            outs.append(o)
            ks.append(kernel_fn(o.kernels) if kernel_fn is not None else o.kernels)
        return DegradationResult(
            lr=torch.cat([o.lr for o in outs]), hr=torch.cat([o.hr for o in outs]),
            kernels=torch.cat(ks), depth=torch.cat([o.depth for o in outs]),
            params=[p for o in outs for p in o.params])

    def kernel_sample(self, n_fields: int, size: int, gen: torch.Generator) -> torch.Tensor:
        """Kernels drawn from the mixture (for the PCA basis): ``N x k*k``."""
        ks = []
        for _ in range(n_fields):
            pipe = self.pipes[self.sample_config(gen)]
            hr = torch.zeros(1, 3, size * self.scale, size * self.scale)
            out = pipe(hr, generator=gen)
            ks.append(out.kernels[0].flatten(1).T)
        return torch.cat(ks)
