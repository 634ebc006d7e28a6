"""Networks of SSR. Every model is an :class:`~ssr.models.base.SSRModel` that saves and loads
itself (``config.json`` + ``model.safetensors``)."""

from .base import MODEL_REGISTRY, SSRModel, register_model

__all__ = ["MODEL_REGISTRY", "SSRModel", "register_model"]
