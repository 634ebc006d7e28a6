"""Degradation engine: kernels, per-pixel kernel fields, their application, noise, JPEG and the
seeded :class:`DegradationPipeline` (paper Eq. 1 with a kernel per pixel)."""

from .apply import apply_kernel_field, crop_to_multiple, sample_offset, tap_patches
from .fields import (
    FieldConfig,
    compose_with_kernel,
    depth_informed_field,
    invariant_field,
    kernel_moments,
    kernel_width,
    piecewise_field,
    radial_field,
    random_invariant_field,
    smooth_random_field,
)
from .kernels import (
    anisotropic_gaussian,
    center_shift,
    default_kernel_size,
    defocus_disc,
    isotropic_gaussian,
    motion_kernel,
    normalize_kernels,
)
from .noise import JpegConfig, NoiseConfig, gaussian_noise, jpeg_compress, poisson_noise
from .pipeline import PRESETS, DegradationConfig, DegradationPipeline, DegradationResult
from .synthetic_depth import random_depth

__all__ = [
    "apply_kernel_field", "crop_to_multiple", "sample_offset", "tap_patches",
    "FieldConfig", "compose_with_kernel", "depth_informed_field", "invariant_field", "kernel_moments", "kernel_width",
    "piecewise_field", "radial_field",
    "piecewise_field", "radial_field", "random_invariant_field", "smooth_random_field",
    "anisotropic_gaussian", "center_shift", "default_kernel_size", "defocus_disc", "isotropic_gaussian",
    "motion_kernel", "normalize_kernels",
    "JpegConfig", "NoiseConfig", "gaussian_noise", "jpeg_compress", "poisson_noise",
    "PRESETS", "DegradationConfig", "DegradationPipeline", "DegradationResult", "random_depth",
]
