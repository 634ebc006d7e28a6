"""Procedural RGB-D scenes: exact depth for geometry that RGB-D-D does not show.

The built-in depth network is trained on RGB-D-D (rooms and people seen by one camera); alone,
that teaches a room layout rather than depth cues. This module ray-casts random scenes whose
depth is exact by construction, textured with photographs of the training set
(``../shared/datasets/train``), so the network also learns the cues that hold in any scene:

* **occlusion**: a surface that hides another is nearer;
* **contact and perspective**: objects stand on a ground plane (floor, table top, field) whose
  texture shrinks toward the horizon; the camera is pitched and rolled, its height and field of
  view vary, so "lower = nearer" holds only as far as the geometry says;
* **shading and shadows**: Lambertian shading under a random directional light, cast shadows
  on the ground and on other objects, optional aerial perspective (fog) outdoors;
* **texture is not depth**: every surface wears a random photograph (or a flat colour), so
  neither content nor colour says "near" or "far".

Scene (world coordinates: ``x`` right, ``y`` up, ``z`` forward; the ground is ``y = 0``):
a pinhole camera at height ``h`` pitched down by ``pitch`` and rolled by ``roll``; a ground
plane; with probability ``wall_prob`` a back wall (yawed), side walls and a ceiling with their
own probabilities, otherwise a far backdrop ("sky") at ``sky_depth``; 2-9 primitives (spheres,
yawed boxes, vertical cylinders) standing on the ground where a random pixel of the lower part
of the picture sees it, a few floating in front of the camera. Optional (``SynthConfig``
``cone_prob``, ``thin_prob``, ``stack_prob``, ``tabletop_prob``; off by default): cones, thin
poles, objects standing on earlier boxes, and close-up table-top scenes (low camera, a wall
close behind, many large overlapping objects), the layout of many indoor close-ups. Ray directions are not
normalised (``d = R @ (u, v, 1)``) so the ray parameter ``t`` of a hit *is* the z-depth along
the optical axis, and the ground truth is ``1 / t``.

Rendering is vectorised NumPy with ``supersample x supersample`` rays per pixel averaged
(anti-aliasing of colour and inverse depth); a 192 x 256 scene takes well under a second on
one core, so pools are rendered once and cached (:func:`cached_pool`).

    rng = np.random.default_rng([seed, index])
    rgb, inv = render_scene(rng, textures, SynthConfig())   # H x W x 3 in [0, 1], H x W > 0
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np


_INF = np.float32(np.inf)
_EPS = 1e-4


@dataclass
class SynthConfig:
    """Ranges the scene parameters are drawn from (uniformly unless stated)."""

    size: tuple[int, int] = (192, 256)          #: output height, width
    supersample: int = 2                        #: rays per pixel along each axis
    objects: tuple[int, int] = (2, 9)           #: number of primitives (inclusive)
    hfov: tuple[float, float] = (40.0, 80.0)    #: horizontal field of view, degrees
    pitch: tuple[float, float] = (-5.0, 45.0)   #: downward tilt of the camera, degrees
    roll: tuple[float, float] = (-5.0, 5.0)     #: degrees
    height: tuple[float, float] = (0.2, 2.0)    #: camera height above the ground
    wall_prob: float = 0.7                      #: a back wall (else a far backdrop)
    wall_dist: tuple[float, float] = (1.5, 12.0)
    side_wall_prob: float = 0.3
    ceiling_prob: float = 0.15
    float_prob: float = 0.15                    #: an object floats instead of standing
    size_frac: tuple[float, float] = (0.06, 0.35)  #: object size / its distance
    flat_prob: float = 0.25                     #: a surface is a flat colour (else a photo)
    shadows: bool = True
    fog_prob: float = 0.2                       #: aerial perspective when there is no wall
    sky_depth: float = 200.0
    max_ground: float = 80.0                    #: the ground ends here (then the backdrop)
    ambient: tuple[float, float] = (0.25, 0.7)
    texel: tuple[float, float] = (60.0, 600.0)  #: texture pixels per world unit
    # Richer scenes (all off by default so the default streams, e.g. the validation scenes,
    # render exactly as before; the extra random draws happen only when a probability is > 0):
    cone_prob: float = 0.0                      #: an object is a cone standing on its base
    thin_prob: float = 0.0                      #: an object is a thin pole (tall, narrow cylinder)
    stack_prob: float = 0.0                     #: an object stands on top of an earlier box
    tabletop_prob: float = 0.0                  #: a close-up scene: low camera over a table top,
    #: a wall close behind, many large objects overlapping (ranges below)
    tabletop_height: tuple[float, float] = (0.08, 0.5)
    tabletop_pitch: tuple[float, float] = (0.0, 30.0)
    tabletop_wall: tuple[float, float] = (0.7, 3.0)
    tabletop_objects: tuple[int, int] = (5, 14)
    tabletop_size_frac: tuple[float, float] = (0.12, 0.5)
    tabletop_texel: tuple[float, float] = (300.0, 3000.0)   #: finer: the surfaces are close


def synth_config(block: dict) -> SynthConfig:
    """The :class:`SynthConfig` of a ``data.synth`` config block: ``size`` plus the optional
    ``scene`` mapping of field overrides (lists become tuples); unknown fields are an error."""
    from ..errors import SSRError

    scene = dict(block.get("scene") or {})
    fields = set(SynthConfig.__dataclass_fields__)
    unknown = sorted(set(scene) - fields)
    if unknown:
        raise SSRError(f"unknown data.synth.scene key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    scene = {k: tuple(v) if isinstance(v, list) else v for k, v in scene.items()}
    scene["size"] = tuple(block.get("size") or SynthConfig.size)
    return SynthConfig(**scene)


def load_textures(root: str | os.PathLike, max_side: int = 256, limit: int | None = None) -> list[np.ndarray]:
    """Photographs under ``root`` (recursively, sorted) as ``H x W x 3`` float32 in [0, 1], the
    long side reduced to ``max_side``."""
    from ..io import read_image
    from ..train.data import list_files
    import torch.nn.functional as F

    files = list_files([root])
    if limit:
        files = files[:limit]
    out = []
    for p in files:
        rgb = read_image(p).rgb[None]
        h, w = rgb.shape[-2:]
        f = max_side / max(h, w)
        if f < 1:
            rgb = F.interpolate(rgb, size=(max(8, round(h * f)), max(8, round(w * f))), mode="area")
        out.append(np.ascontiguousarray(rgb[0].permute(1, 2, 0).numpy().astype(np.float32)))
    return out


def _yaw(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], np.float32)


def _camera(pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation: columns are the camera's right, up and forward axes."""
    cp, sp = math.cos(pitch), math.sin(pitch)
    fwd = np.array([0.0, -sp, cp])
    up = np.array([0.0, cp, sp])
    right = np.array([1.0, 0.0, 0.0])
    cr, sr = math.cos(roll), math.sin(roll)
    right, up = cr * right + sr * up, -sr * right + cr * up
    return np.stack([right, up, fwd], 1).astype(np.float32)


# ---- ray / primitive intersections --------------------------------------------------------
# o, d: N x 3 (d need not be unit); each returns t (N,, inf on a miss), normals N x 3 and
# surface coordinates N x 2 (world units) for texturing.

def _plane(o, d, point, normal, axes):
    n = np.asarray(normal, np.float32)
    den = d @ n
    with np.errstate(divide="ignore", invalid="ignore"):
        t = ((np.asarray(point, np.float32) - o) @ n) / den
    t = np.where((t > _EPS) & (den < 0), t, _INF).astype(np.float32)  # seen from the front only
    p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
    uv = p @ np.asarray(axes, np.float32).T
    return t, np.broadcast_to(n, d.shape), uv


def _shared(o: np.ndarray) -> np.ndarray | None:
    """The common origin when ``o`` is one point broadcast over all rays (primary rays)."""
    return o[0] if o.ndim == 2 and o.strides[0] == 0 else None


def _quadratic(o, d, c, r):
    """Coefficients ``a t^2 + b t + cc = 0`` of rays ``o + t d`` meeting the sphere ``(c, r)``."""
    o1 = _shared(o)
    a = np.float32(d @ d) if d.ndim == 1 else np.einsum("ij,ij->i", d, d)
    if o1 is not None:                      # one origin: cheap per-ray terms
        oc1 = o1 - c
        return a, 2 * (d @ oc1), np.float32(oc1 @ oc1 - r * r)
    oc = o - c
    b = 2 * (oc @ d if d.ndim == 1 else np.einsum("ij,ij->i", oc, d))
    return a, b, np.einsum("ij,ij->i", oc, oc) - r * r


def _sphere(o, d, c, r):
    a, b, cc = _quadratic(o, d, c, r)
    disc = b * b - 4 * a * cc
    sq = np.sqrt(np.maximum(disc, 0))
    t = (-b - sq) / (2 * a)
    t = np.where((disc > 0) & (t > _EPS), t, _INF).astype(np.float32)
    p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
    n = (p - c) / r
    uv = np.stack([np.arctan2(n[:, 2], n[:, 0]) * r, p[:, 1]], 1)
    return t, n, uv


def _sphere_t(o, d, c, r):
    """Which rays meet the sphere in front of their origin, or start inside it (culling)."""
    a, b, cc = _quadratic(o, d, c, r)
    disc = b * b - 4 * a * cc
    far = (-b + np.sqrt(np.maximum(disc, 0))) / (2 * a)
    return (disc > 0) & (far > _EPS)


def _box(o, d, c, half, yaw):
    R = _yaw(yaw)
    ol = (o - c) @ R                       # world -> local: R^T x, as row vectors x @ R
    dl = d @ R if d.ndim == 2 else np.broadcast_to(d @ R, ol.shape)
    tn, tf = [], []
    for k in range(3):
        dk = dl[:, k]
        inv = 1.0 / np.where(np.abs(dk) < 1e-9, np.float32(1e-9), dk)
        t1 = (-half[k] - ol[:, k]) * inv
        t2 = (half[k] - ol[:, k]) * inv
        tn.append(np.minimum(t1, t2))
        tf.append(np.maximum(t1, t2))
    tmin = np.maximum(np.maximum(tn[0], tn[1]), tn[2])
    tmax = np.minimum(np.minimum(tf[0], tf[1]), tf[2])
    t = np.where((tmax >= tmin) & (tmin > _EPS), tmin, _INF).astype(np.float32)
    axis = np.where(tn[0] >= np.maximum(tn[1], tn[2]), 0, np.where(tn[1] >= tn[2], 1, 2))
    nl = np.zeros_like(ol)
    rows = np.arange(len(ol))
    nl[rows, axis] = -np.sign(dl[rows, axis])
    pl = ol + np.where(np.isfinite(t), t, 0)[:, None] * dl
    # texture coordinates: the two local axes other than the face's normal
    u = np.where(axis == 0, pl[:, 2], pl[:, 0])
    v = np.where(axis == 1, pl[:, 2], pl[:, 1])
    return t, nl @ R.T, np.stack([u, v], 1)


def _cylinder(o, d, c, r, h):
    """Vertical cylinder, axis through ``c`` (its base centre), radius ``r``, height ``h``,
    with a top cap."""
    ox, oz = o[:, 0] - c[0], o[:, 2] - c[2]
    dd = np.broadcast_to(d, o.shape)
    dx, dy, dz = dd[:, 0], dd[:, 1], dd[:, 2]
    a = dx * dx + dz * dz
    b = 2 * (ox * dx + oz * dz)
    cc = ox * ox + oz * oz - r * r
    disc = b * b - 4 * a * cc
    with np.errstate(divide="ignore", invalid="ignore"):
        ts = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    y = o[:, 1] + ts * dy
    side = (disc > 0) & (ts > _EPS) & (y >= c[1]) & (y <= c[1] + h)
    with np.errstate(divide="ignore", invalid="ignore"):
        tc = (c[1] + h - o[:, 1]) / dy
        cx, cz = ox + tc * dx, oz + tc * dz
        cap = (tc > _EPS) & (cx * cx + cz * cz <= r * r) & (dy < 0)
    t = np.where(side, ts, _INF)
    use_cap = cap & (tc < t)
    t = np.where(use_cap, tc, t).astype(np.float32)
    tt = np.where(np.isfinite(t), t, 0)
    px, py, pz = ox + tt * dx, o[:, 1] + tt * dy, oz + tt * dz
    n = np.stack([px / r, np.zeros_like(px), pz / r], 1)
    n[use_cap] = (0.0, 1.0, 0.0)
    uv = np.stack([np.where(use_cap, px, np.arctan2(pz, px) * r), np.where(use_cap, pz, py)], 1)
    return t, n, uv


def _cone(o, d, c, r, h):
    """Vertical cone standing on its base: base centre ``c``, base radius ``r``, apex at
    ``c + (0, h, 0)``. With ``q = p - c`` and ``k = r / h`` the surface is
    ``qx^2 + qz^2 = k^2 (h - qy)^2`` for ``0 <= qy <= h`` (the base disc is never seen from a
    camera above the ground, so it is left out)."""
    qx, qy, qz = o[:, 0] - c[0], o[:, 1] - c[1], o[:, 2] - c[2]
    dd = np.broadcast_to(d, o.shape)
    dx, dy, dz = dd[:, 0], dd[:, 1], dd[:, 2]
    k2 = (r / h) ** 2
    a0 = h - qy
    a = dx * dx + dz * dz - k2 * dy * dy
    b = 2 * (qx * dx + qz * dz + k2 * a0 * dy)
    cc = qx * qx + qz * qz - k2 * a0 * a0
    disc = b * b - 4 * a * cc
    sq = np.sqrt(np.maximum(disc, 0))
    t = np.full(len(o), _INF, np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for root in ((-b - sq) / (2 * a), (-b + sq) / (2 * a)):
            y = qy + root * dy
            ok = (disc > 0) & (root > _EPS) & (y >= 0) & (y <= h) & (root < t)
            t = np.where(ok, root, t).astype(np.float32)
    tt = np.where(np.isfinite(t), t, 0)
    px, py, pz = qx + tt * dx, qy + tt * dy, qz + tt * dz
    n = np.stack([px, k2 * (h - py), pz], 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    uv = np.stack([np.arctan2(pz, px) * r, py], 1)
    return t, n.astype(np.float32), uv


def _bound(prim: dict) -> tuple[np.ndarray, float] | None:
    """Bounding sphere (centre, radius) of an object; ``None`` for planes."""
    kind = prim["kind"]
    if kind == "sphere":
        return prim["c"], prim["r"]
    if kind == "box":
        return prim["c"], float(np.linalg.norm(prim["half"]))
    if kind in ("cylinder", "cone"):
        c = prim["c"] + np.array([0, prim["h"] / 2, 0], np.float32)
        return c, math.hypot(prim["r"], prim["h"] / 2)
    return None


def _hit_all(prim: dict, o, d):
    kind = prim["kind"]
    if kind == "sphere":
        return _sphere(o, d, prim["c"], prim["r"])
    if kind == "box":
        return _box(o, d, prim["c"], prim["half"], prim["yaw"])
    if kind == "cylinder":
        return _cylinder(o, d, prim["c"], prim["r"], prim["h"])
    if kind == "cone":
        return _cone(o, d, prim["c"], prim["r"], prim["h"])
    return _plane(o, d, prim["point"], prim["normal"], prim["axes"])


def _hit(prim: dict, o, d):
    """Intersect ``prim``; objects are tested only on the rays that meet their bounding sphere."""
    b = _bound(prim)
    if b is None:
        return _hit_all(prim, o, d)
    sel = np.nonzero(_sphere_t(o, d, b[0], b[1] * 1.001))[0]
    n = len(o)
    t = np.full(n, _INF, np.float32)
    normals = np.zeros((n, 3), np.float32)
    uv = np.zeros((n, 2), np.float32)
    if len(sel):
        ts, ns, uvs = _hit_all(prim, o[sel], d[sel] if d.ndim == 2 else d)
        t[sel], normals[sel], uv[sel] = ts, ns, uvs
    return t, normals, uv


# ---- surfaces ------------------------------------------------------------------------------

def _material(rng: np.random.Generator, textures: Sequence[np.ndarray], cfg: SynthConfig) -> dict:
    if not textures or rng.random() < cfg.flat_prob:
        base = rng.uniform(0.05, 0.95, 3).astype(np.float32)
        return {"flat": base, "noise": float(rng.uniform(0.0, 0.06))}
    tex = textures[int(rng.integers(len(textures)))]
    if rng.random() < 0.5:
        tex = tex[:, ::-1]
    return {"tex": tex, "texel": float(math.exp(rng.uniform(math.log(cfg.texel[0]), math.log(cfg.texel[1])))),
            "offset": rng.uniform(0, 1000, 2).astype(np.float32)}


def _shade_albedo(mat: dict, uv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if "flat" in mat:
        n = len(uv)
        return np.clip(mat["flat"][None] + rng.normal(0, mat["noise"], (n, 1)).astype(np.float32), 0, 1)
    tex = mat["tex"]
    h, w = tex.shape[:2]
    p = uv * mat["texel"] + mat["offset"]
    # mirrored repeat, nearest texel (super-sampling averages the rays of a pixel)
    x = np.floor(p[:, 0]).astype(np.int64) % (2 * w)
    y = np.floor(-p[:, 1]).astype(np.int64) % (2 * h)
    x = np.where(x >= w, 2 * w - 1 - x, x)
    y = np.where(y >= h, 2 * h - 1 - y, y)
    return tex[y, x]


def _in_view(rng: np.random.Generator, dirs: np.ndarray, origin: np.ndarray, H: int, W: int,
             rows: tuple[float, float], z_max: float) -> np.ndarray | None:
    """A ground point seen by a random pixel in the ``rows`` fraction of the picture."""
    for _ in range(20):
        v = int(rng.uniform(*rows) * H)
        u = int(rng.uniform(0.05, 0.95) * W)
        d = dirs[min(v, H - 1) * W + min(u, W - 1)]
        if d[1] >= -1e-3:
            continue
        t = -origin[1] / d[1]
        p = origin + t * d
        if 0.3 < p[2] < z_max:
            return p
    return None


def render_scene(rng: np.random.Generator, textures: Sequence[np.ndarray], cfg: SynthConfig | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast one random scene.

    Returns:
        ``rgb`` ``H x W x 3`` float32 in [0, 1] and ``inv`` ``H x W`` float32, the exact inverse
        z-depth (> 0 everywhere; the backdrop is at ``cfg.sky_depth``), both averaged over the
        ``supersample**2`` rays of each pixel.
    """
    cfg = cfg or SynthConfig()
    H0, W0 = cfg.size
    ss = max(1, int(cfg.supersample))
    H, W = H0 * ss, W0 * ss
    table = cfg.tabletop_prob > 0 and rng.random() < cfg.tabletop_prob
    if table:   # close-up: the camera just above a table top, a wall close behind
        cfg = replace(cfg, height=cfg.tabletop_height, pitch=cfg.tabletop_pitch, wall_prob=1.0,
                      wall_dist=cfg.tabletop_wall, objects=cfg.tabletop_objects, size_frac=cfg.tabletop_size_frac,
                      ceiling_prob=0.0, float_prob=min(cfg.float_prob, 0.05), texel=cfg.tabletop_texel)
    hfov = math.radians(rng.uniform(*cfg.hfov))
    f = (W / 2) / math.tan(hfov / 2)
    pitch = math.radians(rng.uniform(*cfg.pitch))
    roll = math.radians(rng.uniform(*cfg.roll))
    cam_h = float(rng.uniform(*cfg.height))
    R = _camera(pitch, roll)
    vs, us = np.meshgrid(np.arange(H, dtype=np.float32) + 0.5, np.arange(W, dtype=np.float32) + 0.5, indexing="ij")
    dc = np.stack([(us - W / 2) / f, -(vs - H / 2) / f, np.ones_like(us)], -1).reshape(-1, 3)
    d = (dc @ R.T).astype(np.float32)                       # world directions, t = z-depth
    origin = np.array([0.0, cam_h, 0.0], np.float32)
    o = np.broadcast_to(origin, d.shape)

    # ---- the room --------------------------------------------------------------------------
    prims: list[dict] = []
    ground = {"kind": "plane", "point": (0, 0, 0), "normal": (0, 1, 0), "axes": ((1, 0, 0), (0, 0, -1))}
    prims.append(ground)
    wall = rng.random() < cfg.wall_prob
    z_wall = float(rng.uniform(*cfg.wall_dist)) if wall else cfg.max_ground
    if wall:
        yaw = rng.uniform(-0.5, 0.5)
        n = _yaw(yaw) @ np.array([0, 0, -1], np.float32)
        prims.append({"kind": "plane", "point": (0, 0, z_wall), "normal": tuple(n),
                      "axes": (tuple(_yaw(yaw) @ np.array([1, 0, 0], np.float32)), (0, 1, 0))})
        for side in (-1, 1):
            if rng.random() < cfg.side_wall_prob:
                x = side * z_wall * rng.uniform(0.3, 1.2) * math.tan(hfov / 2)
                prims.append({"kind": "plane", "point": (x, 0, 0), "normal": (-side, 0, 0),
                              "axes": ((0, 0, 1), (0, 1, 0))})
        if rng.random() < cfg.ceiling_prob:
            prims.append({"kind": "plane", "point": (0, cam_h + rng.uniform(0.3, 2.0), 0), "normal": (0, -1, 0),
                          "axes": ((1, 0, 0), (0, 0, 1))})
    n_planes = len(prims)

    # ---- the objects -----------------------------------------------------------------------
    n_obj = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    boxes: list[dict] = []
    for _ in range(n_obj):
        kind = ("sphere", "box", "box", "cylinder")[int(rng.integers(4))]
        if cfg.cone_prob > 0 and rng.random() < cfg.cone_prob:
            kind = "cone"
        thin = cfg.thin_prob > 0 and rng.random() < cfg.thin_prob
        stack = cfg.stack_prob > 0 and bool(boxes) and rng.random() < cfg.stack_prob
        floating = rng.random() < cfg.float_prob
        if stack:   # on top of an earlier box, near its centre
            under = boxes[int(rng.integers(len(boxes)))]
            off = rng.uniform(-0.5, 0.5, 2) * under["half"][[0, 2]]
            p = np.array([under["c"][0] + off[0], under["c"][1] + under["half"][1], under["c"][2] + off[1]],
                         np.float32)
            floating = True   # stands at p[1], not on the ground
        elif floating:
            u, v = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.8)
            dd = d[min(int(v * H), H - 1) * W + min(int(u * W), W - 1)]
            p = origin + dd * rng.uniform(0.5, 0.8 * z_wall)
        else:
            p = _in_view(rng, d, origin, H, W, (0.35, 1.0), 0.9 * z_wall)
            if p is None:
                continue
        dist = float(np.linalg.norm(p - origin))
        s = dist * rng.uniform(*cfg.size_frac)
        base_y = float(p[1]) if floating else 0.0
        if thin:    # a pole: tall and narrow
            prims.append({"kind": "cylinder", "c": np.array([p[0], base_y, p[2]], np.float32),
                          "r": s * rng.uniform(0.02, 0.08), "h": s * rng.uniform(1.0, 3.0)})
        elif kind == "cone":
            prims.append({"kind": "cone", "c": np.array([p[0], base_y, p[2]], np.float32),
                          "r": s / 2 * rng.uniform(0.3, 1.0), "h": s * rng.uniform(0.6, 2.0)})
        elif kind == "sphere":
            r = s / 2
            prims.append({"kind": "sphere", "c": np.array([p[0], base_y + r, p[2]], np.float32), "r": r})
        elif kind == "box":
            half = np.array([s / 2 * rng.uniform(0.4, 1.5), s / 2 * rng.uniform(0.3, 2.0), s / 2 * rng.uniform(0.4, 1.5)],
                            np.float32)
            prims.append({"kind": "box", "c": np.array([p[0], base_y + half[1], p[2]], np.float32), "half": half,
                          "yaw": float(rng.uniform(0, math.pi))})
            boxes.append(prims[-1])
        else:
            r, h = s / 2 * rng.uniform(0.3, 1.0), s * rng.uniform(0.4, 2.0)
            prims.append({"kind": "cylinder", "c": np.array([p[0], base_y, p[2]], np.float32), "r": r, "h": h})

    # ---- z-buffer --------------------------------------------------------------------------
    N = len(d)
    t_best = np.full(N, cfg.sky_depth, np.float32)
    who = np.full(N, -1, np.int64)
    normals = np.zeros((N, 3), np.float32)
    uvs = np.zeros((N, 2), np.float32)
    for i, prim in enumerate(prims):
        t, n, uv = _hit(prim, o, d)
        if prim is ground:
            t = np.where(t < cfg.max_ground, t, _INF)
        closer = t < t_best
        t_best = np.where(closer, t, t_best)
        who[closer] = i
        normals[closer] = n[closer]
        uvs[closer] = uv[closer]

    # ---- shading ---------------------------------------------------------------------------
    light = np.array([rng.uniform(-1, 1), rng.uniform(0.4, 1.5), rng.uniform(-1, 0.6)], np.float32)
    light /= np.linalg.norm(light)
    ambient = float(rng.uniform(*cfg.ambient))
    albedo = np.zeros((N, 3), np.float32)
    sky = rng.uniform(0.4, 1.0, 3).astype(np.float32)
    sky_mat = _material(rng, textures, cfg) if rng.random() < 0.5 else {"flat": sky, "noise": 0.0}
    m = who < 0
    if m.any():
        # the backdrop: a photograph or a colour far away, indexed by the ray direction
        albedo[m] = _shade_albedo(sky_mat, d[m][:, [0, 1]] / np.maximum(d[m][:, 2:3], 0.2) * 0.5, rng)
    lambert = np.ones(N, np.float32)
    for i, prim in enumerate(prims):
        m = who == i
        if not m.any():
            continue
        albedo[m] = _shade_albedo(_material(rng, textures, cfg), uvs[m], rng)
        lambert[m] = np.abs(normals[m] @ light) if i < n_planes else np.maximum(normals[m] @ light, 0)
    hit = who >= 0
    if cfg.shadows and len(prims) > n_planes and hit.any():
        pts = o[hit] + t_best[hit][:, None] * d[hit] + normals[hit] * 1e-3
        shadow = np.zeros(int(hit.sum()), bool)
        for prim in prims[n_planes:]:
            ts, _, _ = _hit(prim, pts, light)
            shadow |= np.isfinite(ts)
        lam = lambert[hit]
        lam[shadow] *= rng.uniform(0.0, 0.3)
        lambert[hit] = lam
    rgb = albedo * np.where(hit, ambient + (1 - ambient) * lambert, 1.0)[:, None]
    rgb = rgb * rng.uniform(0.7, 1.3)
    if not wall and rng.random() < cfg.fog_prob:
        fog = 1 - np.exp(-t_best / rng.uniform(10, 60))
        rgb = rgb * (1 - fog[:, None]) + sky[None] * fog[:, None]
    rgb = np.clip(rgb, 0, 1).reshape(H, W, 3)
    inv = (1.0 / t_best).reshape(H, W)
    if ss > 1:
        rgb = rgb.reshape(H0, ss, W0, ss, 3).mean((1, 3))
        inv = inv.reshape(H0, ss, W0, ss).mean((1, 3))
    return rgb.astype(np.float32), inv.astype(np.float32)


def render_pool(count: int, seed: int, textures: Sequence[np.ndarray], cfg: SynthConfig | None = None,
                start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scenes ``start .. start + count - 1`` of stream ``seed`` (scene ``i`` from
    ``np.random.default_rng([seed, i])``, so any subset renders the same).

    Returns ``count x H x W x 3`` uint8 pictures and ``count x H x W`` float16 inverse depths
    normalised to median 1 per scene."""
    cfg = cfg or SynthConfig()
    H, W = cfg.size
    rgbs = np.zeros((count, H, W, 3), np.uint8)
    invs = np.zeros((count, H, W), np.float16)
    for k in range(count):
        rgb, inv = render_scene(np.random.default_rng([seed, start + k]), textures, cfg)
        rgbs[k] = np.round(rgb * 255).astype(np.uint8)
        invs[k] = (inv / np.median(inv)).astype(np.float16)
    return rgbs, invs


def _pool_worker(args):
    count, seed, start, textures, cfg = args
    return render_pool(count, seed, textures, cfg, start=start)


def cached_pool(count: int, seed: int, textures: Sequence[np.ndarray], cfg: SynthConfig | None = None,
                cache: str | os.PathLike | None = None, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_pool` split over ``workers`` processes, stored in / loaded from the folder
    ``cache`` (one ``.npz`` per (seed, count, config, textures); a stale file is never reused)."""
    import hashlib
    import json

    cfg = cfg or SynthConfig()
    key = json.dumps({"count": count, "seed": seed, "cfg": {k: v for k, v in vars(cfg).items()},
                      "textures": [len(textures)] + [list(t.shape) for t in textures[:50]],
                      "tex_mean": float(np.mean([float(t.mean()) for t in textures])) if textures else 0.0,
                      "version": 1}, sort_keys=True, default=list)
    path = None
    if cache:
        path = Path(cache) / f"synth_{seed}_{count}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
        if path.is_file():
            with np.load(path) as z:
                return z["rgb"], z["inv"]
    workers = max(1, min(int(workers), count))
    if workers == 1:
        rgbs, invs = render_pool(count, seed, textures, cfg)
    else:
        import multiprocessing as mp

        bounds = np.linspace(0, count, workers + 1).astype(int)
        jobs = [(int(b - a), seed, int(a), textures, cfg) for a, b in zip(bounds[:-1], bounds[1:])]
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_pool_worker, jobs)
        rgbs = np.concatenate([p[0] for p in parts])
        invs = np.concatenate([p[1] for p in parts])
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        np.savez(tmp, rgb=rgbs, inv=invs)
        os.replace(tmp, path)
    return rgbs, invs


def as_samples(rgbs: np.ndarray, invs: np.ndarray, prefix: str = "synth") -> list:
    """A rendered pool (:func:`render_pool` arrays) as :class:`~ssr.depth.data.DepthSample` s
    (every pixel valid), for the depth metrics."""
    import torch

    from .data import DepthSample

    out = []
    for k in range(len(rgbs)):
        inv = torch.from_numpy(invs[k].astype(np.float32))[None]
        out.append(DepthSample(f"{prefix}{k:04d}", torch.from_numpy(rgbs[k]).permute(2, 0, 1).float() / 255, inv,
                               inv > 0))
    return out
