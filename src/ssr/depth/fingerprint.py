"""A short hash of the depth weights a backend spec points to.

Caches built from estimated depth (training-image depths, synthetic benchmark sets whose blur
follows the scene's depth) record it, so they are rebuilt when the depth network changes.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "weights" / "depth"


def weights_fingerprint(spec: str) -> str:
    """SHA-1 prefix of ``model.safetensors`` for ``builtin`` or a weights folder; ``""`` for the
    priors and hub models (nothing local to hash)."""
    folder = BUILTIN_DIR if spec == "builtin" else Path(str(spec))
    w = folder / "model.safetensors"
    return hashlib.sha1(w.read_bytes()).hexdigest()[:16] if w.is_file() else ""
