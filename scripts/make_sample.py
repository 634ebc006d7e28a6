"""Render the sample picture shipped with SSR, with its exact depth map.

A small ray caster: a tiled ground plane, distant hills, a cloudy sky, textured boards with
lettering at several distances, and a striped ball. Everything is procedural (no third-party
image), so the picture can ship under the project's licence, and its inverse depth is exact,
which makes it a good demonstration of depth-informed blur.

    python scripts/make_sample.py src/ssr/assets
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H, SS = 512, 384, 3  # output size and supersampling factor
CAM_H, FOCAL = 1.6, 420.0
HORIZON = 0.36  # fraction of the height


def smooth_noise(rng, shape, cells):
    from scipy.ndimage import zoom

    g = rng.standard_normal((cells + 3, cells + 3))
    z = zoom(g, (shape[0] / g.shape[0] + 1e-6, shape[1] / g.shape[1] + 1e-6), order=3)
    return z[: shape[0], : shape[1]]


def text_texture(text, size, fg, bg, stripes=False):
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=size[1] // 5)
    except TypeError:  # old Pillow
        font = ImageFont.load_default()
    if stripes:
        for x in range(0, size[0], 6):
            d.line([(x, 0), (x, size[1] // 5)], fill=fg, width=2)
        for y in range(size[1] - size[1] // 5, size[1], 5):
            d.line([(0, y), (size[0], y)], fill=fg, width=1)
    d.text((size[0] // 12, size[1] // 3), text, fill=fg, font=font)
    for i in range(6):
        r = 4 + 3 * i
        d.ellipse([size[0] - 60 - r, size[1] // 2 - r, size[0] - 60 + r, size[1] // 2 + r], outline=fg)
    return np.asarray(im, np.float32) / 255.0


def sample(tex, u, v):
    """Bilinear lookup of texture ``tex`` at ``u, v`` in [0, 1) (wrapped)."""
    th, tw = tex.shape[:2]
    x = (u % 1.0) * (tw - 1)
    y = (v % 1.0) * (th - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, tw - 1), np.minimum(y0 + 1, th - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    return (tex[y0, x0] * (1 - fx) * (1 - fy) + tex[y0, x1] * fx * (1 - fy)
            + tex[y1, x0] * (1 - fx) * fy + tex[y1, x1] * fx * fy)


def render():
    np.seterr(invalid="ignore", over="ignore")
    rng = np.random.default_rng(7)
    w, h = W * SS, H * SS
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    xn = (xs + 0.5 - w / 2) / (FOCAL * SS)
    yn = (h * HORIZON - (ys + 0.5)) / (FOCAL * SS)  # up is positive
    img = np.zeros((h, w, 3))
    zbuf = np.full((h, w), np.inf)

    # sky with clouds
    clouds = smooth_noise(rng, (h, w), 6)
    t = np.clip(yn * 3, 0, 1)[..., None]
    sky = (1 - t) * np.array([0.80, 0.86, 0.93]) + t * np.array([0.35, 0.55, 0.85])
    sky = sky + 0.12 * np.clip(clouds, 0, None)[..., None]
    img[:] = sky

    # distant hills at z = 120
    zh = 120.0
    ridge = 0.035 + 0.02 * smooth_noise(rng, (1, w), 8)[0] + 0.01 * smooth_noise(rng, (1, w), 40)[0]
    hill = (yn < ridge[None, :]) & (yn > -0.5)
    grain = smooth_noise(rng, (h, w), 120)
    hill_col = np.array([0.30, 0.42, 0.30]) + 0.06 * grain[..., None]
    img[hill] = hill_col[hill]
    zbuf[hill] = zh

    # tiled ground
    ground = yn < 0
    zg = np.where(ground, CAM_H / np.maximum(-yn, 1e-9), np.inf)
    gx = xn * zg
    tile = 0.8
    tu, tv = np.floor(gx / tile), np.floor(zg / tile)
    tone = 0.5 + 0.25 * np.sin(tu * 12.9898 + tv * 78.233) ** 2
    fu, fv = (gx / tile) % 1.0, (zg / tile) % 1.0
    grout = (np.minimum(fu, 1 - fu) < 0.04) | (np.minimum(fv, 1 - fv) < 0.04)
    ground_col = np.stack([0.55 * tone + 0.15, 0.45 * tone + 0.12, 0.35 * tone + 0.10], -1)
    ground_col[grout] = [0.22, 0.2, 0.18]
    closer = ground & (zg < zbuf)
    img[closer] = ground_col[closer]
    zbuf[closer] = zg[closer]

    # boards facing the camera: (centre x, bottom y=0, z, width, height, texture)
    boards = [
        (-0.95, 2.8, 1.5, 1.1, text_texture("SSR x4", (320, 240), (240, 240, 230), (150, 30, 40), True)),
        (1.4, 5.5, 2.0, 1.5, text_texture("5.5 m", (320, 240), (20, 20, 30), (230, 200, 90), True)),
        (-0.6, 11.0, 2.4, 1.8, text_texture("BLUR", (320, 240), (250, 250, 250), (40, 80, 150))),
        (3.0, 24.0, 4.0, 3.0, text_texture("far away", (320, 240), (30, 30, 30), (200, 220, 210), True)),
    ]
    for cx, z, bw, bh, tex in sorted(boards, key=lambda b: -b[1]):
        px, py = xn * z, yn * z + CAM_H
        u = (px - (cx - bw / 2)) / bw
        v = 1 - py / bh
        inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1) & (z < zbuf)
        col = sample(tex, u[inside], v[inside])
        img[inside] = col
        zbuf[inside] = z

    # striped ball
    c = np.array([0.4, 0.55, 3.6])
    rad = 0.55
    d = np.stack([xn, yn, np.ones_like(xn)], -1)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = np.array([0.0, CAM_H, 0.0])
    oc = o - c
    b = (d * oc).sum(-1)
    disc = b * b - ((oc * oc).sum() - rad * rad)
    hit = disc > 0
    tt = -b - np.sqrt(np.maximum(disc, 0))
    zs = np.where(hit, tt * d[..., 2], np.inf)
    hit &= zs < zbuf
    p = o + tt[..., None] * d
    n = (p - c) / rad
    shade = np.clip((n * np.array([-0.4, 0.7, -0.6])).sum(-1), 0, 1) * 0.7 + 0.3
    stripes = (np.floor((np.arctan2(n[..., 0], n[..., 2]) + np.pi) / (np.pi / 8)) % 2)[..., None]
    ball = (stripes * np.array([0.9, 0.9, 0.85]) + (1 - stripes) * np.array([0.1, 0.45, 0.25])) * shade[..., None]
    img[hit] = ball[hit]
    zbuf[hit] = zs[hit]

    img = img.reshape(H, SS, W, SS, 3).mean((1, 3))
    inv = np.where(np.isfinite(zbuf), 1.0 / zbuf, 0.0).reshape(H, SS, W, SS).mean((1, 3))
    inv = inv / inv.max()
    return np.clip(img, 0, 1), inv


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    img, inv = render()
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(out / "sample.png", optimize=True)
    Image.fromarray((inv * 65535 + 0.5).astype(np.uint16)).save(out / "sample_depth.png")
    print(f"wrote {out / 'sample.png'} and {out / 'sample_depth.png'}")
    # the low-resolution sample `ssr upscale --sample` works on: x4, depth-informed blur + noise + JPEG
    from ssr.cli import main as ssr_main

    ssr_main(["degrade", str(out / "sample.png"), "-o", str(out / "sample_lr.png"), "--depth",
              str(out / "sample_depth.png"), "--seed", "0", "--preset", "noise-jpeg", "--scale", "4"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "src/ssr/assets")
