"""A short hash of the depth weights a backend spec points to.

Caches built from estimated depth (training-image depths, synthetic benchmark sets whose blur
follows the scene's depth) record it, so they are rebuilt when the depth network changes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "weights" / "depth"


def weights_fingerprint(spec: str) -> str:
    """SHA-1 prefix of ``model.safetensors`` for ``builtin`` or a weights folder (with
    ``+blend<b>`` appended when its config mixes in the vertical prior, ``+flip`` for flip
    test-time averaging); ``""`` for the priors and hub models (nothing local to hash)."""
    from .base import FLIP_SUFFIX, split_flip

    base, flip = split_flip(spec)
    folder = BUILTIN_DIR if base == "builtin" else Path(base)
    w = folder / "model.safetensors"
    if not w.is_file():
        return ""
    blend = ""
    try:
        b = float(json.loads((folder / "config.json").read_text()).get("config", {}).get("prior_blend", 0.0))
        blend = f"+blend{b:g}" if b else ""
    except (OSError, ValueError, AttributeError):
        pass
    return hashlib.sha1(w.read_bytes()).hexdigest()[:16] + blend + (FLIP_SUFFIX if flip else "")
