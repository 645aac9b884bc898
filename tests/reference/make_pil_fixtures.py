#!/usr/bin/python3
"""Writes Pillow's resize / crop / affine / rotate results for tests/test_resample.cpp
(tests/fixtures/pil/: PNG files and manifest.txt).

Run with Debian's Pillow:  /usr/bin/python3 tests/reference/make_pil_fixtures.py
Uses only PIL and the standard library; the source images come from a fixed formula, so the
output is deterministic. manifest.txt has one line per result:
    <output.png> <source.png> <channels> resize <width> <height> <filter>
    <output.png> <source.png> <channels> crop <left> <top> <width> <height>
    <output.png> <source.png> <channels> affine <filter> <fill r g b> <m0> .. <m5>
    <output.png> <source.png> <channels> rotate <filter> <fill r g b> <degrees>
Floats are written with repr(), so the C++ side parses the very doubles Pillow was given.
"""
import math
import os

import PIL
from PIL import Image

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "pil"))
FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


def lcg_bytes(n, seed):
    """n pseudo-random bytes (a 31-bit LCG), fixed for every Python version."""
    out = bytearray()
    x = seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((x >> 16) & 255)
    return bytes(out)


def smooth_rgb(w, h):
    """Smooth gradients with a sharp bright block on a dark band, so bicubic over- and undershoots."""
    px = bytearray()
    for y in range(h):
        for x in range(w):
            r = 128 + 100 * math.sin(x / 5.0) * math.cos(y / 7.0)
            g = 250 if 10 <= x < 20 and 8 <= y < 18 else 5
            b = 255 * x / (w - 1)
            px += bytes(int(min(255, max(0, v))) for v in (r, g, b))
    return Image.frombytes("RGB", (w, h), bytes(px))


SOURCES = {
    "rgb13x11": Image.frombytes("RGB", (13, 11), lcg_bytes(13 * 11 * 3, 1)),
    "l9x14": Image.frombytes("L", (9, 14), lcg_bytes(9 * 14, 2)),
    "rgb10x10": Image.frombytes("RGB", (10, 10), lcg_bytes(10 * 10 * 3, 3)),
    "smooth37x29": smooth_rgb(37, 29),
    "l48x40": Image.frombytes("L", (48, 40), lcg_bytes(48 * 40, 4)),
}
FILL = {"RGB": (128, 64, 200), "L": (77, 0, 0)}

RESIZES = {
    "rgb13x11": [(5, 7), (29, 23), (13, 5), (7, 11), (13, 11)],
    "l9x14": [(4, 6), (20, 31), (9, 20)],
    "smooth37x29": [(10, 10), (64, 50), (37, 12), (15, 29)],
    # Many values, so that an off-by-one in the fixed-point rounding shows somewhere.
    "l48x40": [(131, 113), (17, 15)],
}
CROPS = {
    "rgb13x11": [(2, 3, 5, 4), (-3, -2, 8, 6), (10, 8, 6, 5), (-2, -2, 17, 15), (0, 0, 13, 11)],
    "l9x14": [(-1, 5, 4, 12), (3, -4, 5, 20)],
}
MATRICES = {
    "shearx+0.3": (1, 0.3, 0, 0, 1, 0),
    "shearx-0.3": (1, -0.3, 0, 0, 1, 0),
    "sheary+0.3": (1, 0, 0, 0.3, 1, 0),
    "sheary-0.3": (1, 0, 0, -0.3, 1, 0),
    "translatex+4.3": (1, 0, 4.3, 0, 1, 0),
    "translatey-4.3": (1, 0, 0, 0, 1, -4.3),
    "translatexy": (1, 0, -4.3, 0, 1, 4.3),
    "general": (0.9, -0.2, 1.7, 0.15, 1.1, -2.3),
    "scale": (0.7, 0, 1.2, 0, 1.3, -0.5),  # NEAREST: ImagingScaleAffine
    "far": (1, 5000, -2500, 0, 1, 0),  # NEAREST: too large for fixed point, floating-point path
}
AFFINE_SOURCES = ["rgb13x11", "l9x14", "smooth37x29"]
ROTATIONS = {
    "rgb13x11": ([17.3, -17.3, 0, 90, 180, -90], ["nearest", "bilinear", "bicubic"]),
    "l9x14": ([17.3, -17.3, 270], ["nearest", "bilinear", "bicubic"]),
    "rgb10x10": ([90, 270, -90, 405, 17.3], ["nearest", "bilinear", "bicubic"]),
    "smooth37x29": ([17.3, -17.3], ["bilinear", "bicubic"]),
}


def fill_for(im):
    f = FILL[im.mode]
    return f if im.mode == "RGB" else f[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".png") or name == "manifest.txt":
            os.remove(os.path.join(OUT, name))
    lines = [f"# Pillow {PIL.__version__}; written by tests/reference/make_pil_fixtures.py"]

    def emit(out_name, src_name, im, op, *params):
        im.save(os.path.join(OUT, out_name))
        src = SOURCES[src_name]
        ch = len(src.getbands())
        lines.append(" ".join([out_name, f"src_{src_name}.png", str(ch), op] + [str(p) for p in params]))

    for name, im in SOURCES.items():
        im.save(os.path.join(OUT, f"src_{name}.png"))

    for src, sizes in RESIZES.items():
        for w, h in sizes:
            for fname, f in FILTERS.items():
                emit(f"resize_{src}_{w}x{h}_{fname}.png", src, SOURCES[src].resize((w, h), f),
                     "resize", w, h, fname)

    for src, boxes in CROPS.items():
        for i, (left, top, w, h) in enumerate(boxes):
            im = SOURCES[src].crop((left, top, left + w, top + h))
            emit(f"crop_{src}_{i}.png", src, im, "crop", left, top, w, h)

    for src in AFFINE_SOURCES:
        im = SOURCES[src]
        fill = FILL[im.mode]
        for label, m in MATRICES.items():
            for fname, f in FILTERS.items():
                out = im.transform(im.size, Image.Transform.AFFINE, m, resample=f, fillcolor=fill_for(im))
                emit(f"affine_{src}_{label}_{fname}.png", src, out, "affine", fname, *fill,
                     *(repr(float(v)) for v in m))

    for src, (angles, fnames) in ROTATIONS.items():
        im = SOURCES[src]
        fill = (10, 200, 30) if im.mode == "RGB" else (150, 0, 0)
        for deg in angles:
            for fname in fnames:
                out = im.rotate(deg, resample=FILTERS[fname], fillcolor=fill if im.mode == "RGB" else fill[0])
                emit(f"rotate_{src}_{deg}_{fname}.png", src, out, "rotate", fname, *fill, repr(float(deg)))

    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(lines) - 1} results to {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
