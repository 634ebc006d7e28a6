"""Training infrastructure shared by every stage: configs, the :class:`Trainer` base class
(Accelerate, mixed precision, EMA, exact resume, logs), in-memory data, the stage registry and
every stage (one module each: ``svkr_stages``, ``depth_stage``, ``amf_stage``, ``prior_stage``)."""

from .config import COMMON_DEFAULTS, load_config
from .stages import STAGES, get_stage

__all__ = ["COMMON_DEFAULTS", "load_config", "STAGES", "get_stage"]
