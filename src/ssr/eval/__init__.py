"""Evaluation harness: metrics, benchmark sets, peer methods and the ``ssr bench`` runner.

* :mod:`.metrics` -- PSNR and SSIM on MATLAB BT.601 Y (the SR field's convention).
* :mod:`.niqe` -- NIQE with the standard pristine model; :mod:`.resize` -- MATLAB ``imresize``.
* :mod:`.optional` -- LPIPS, MUSIQ, CLIP-IQA through pyiqa when installed (else ``n/a``).
* :mod:`.datasets` -- real LR/HR pair folders and cached synthetic test sets from HR folders.
* :mod:`.methods` -- the upscaler interface and registry (``bicubic``, ``realesrgan``, ...).
* :mod:`.bench`, :mod:`.report`, :mod:`.crops` -- the resumable runner and its outputs.
"""

from .methods import available_methods, get_method, register_method
from .metrics import psnr, ssim

# (``niqe`` and ``imresize`` are imported from their modules, which they would shadow here.)
__all__ = ["psnr", "ssim", "register_method", "get_method", "available_methods"]
