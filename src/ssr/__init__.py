"""SSR: blind image super-resolution with depth-informed, spatially variant kernel refinement.

Public entry points live in sub-packages:

* :mod:`ssr.io` -- image reading/writing used everywhere (atomic writes).
* :mod:`ssr.degradation` -- kernels, kernel fields, their application, noise, JPEG and the
  seeded :class:`~ssr.degradation.DegradationPipeline` (paper Eq. 1).
"""

__version__ = "0.1.0"

from .errors import SSRError  # noqa: E402

__all__ = ["SSRError", "__version__"]
