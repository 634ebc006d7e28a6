"""PCA of blur kernels: the compact per-pixel kernel code that conditions the non-blind SR net.

The basis is computed from kernels drawn from the training degradation distribution and is
stored with the weights of :class:`~ssr.models.nonblind.NonBlindSR`.
"""
from __future__ import annotations

import torch


def kernel_pca(kernels: torch.Tensor, components: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Principal components of a set of kernels.

    Args:
        kernels: ``N x k*k`` (each row a kernel).
        components: how many to keep.

    Returns:
        ``(mean k*k, basis n x k*k with orthonormal rows, scale n = std of each code,
        explained variance ratio of the kept components)``.
    """
    x = kernels.double()
    mean = x.mean(0)
    centred = x - mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    basis = vh[:components]
    var = s ** 2
    scale = (centred @ basis.T).std(0)
    ratio = float(var[:components].sum() / var.sum())
    return mean.float(), basis.float(), scale.float(), ratio
