"""Depth estimation, the depth modality of SSR (paper Sec. 3.2: depth is re-estimated from the
super-resolved image in every SVKR round).

``get_depth_estimator(spec).estimate(images)`` maps ``B x 3 x H x W`` pictures in [0, 1] to
``B x 1 x H x W`` relative inverse depth in [0, 1] (1 = nearest). Backends: the shipped
network (:mod:`.builtin`, default), Hugging Face depth models (:mod:`.hf`) and two content-free
baselines (constant, vertical gradient). Training lives in :mod:`.train` (stage ``depth``),
the losses and evaluation metrics in :mod:`.losses` and :mod:`.metrics`.
"""

from .base import (BACKENDS, ConstantDepth, DepthEstimator, VerticalGradientDepth, get_depth_estimator,
                   normalize_per_image)

__all__ = ["BACKENDS", "ConstantDepth", "DepthEstimator", "VerticalGradientDepth", "get_depth_estimator",
           "normalize_per_image"]
