#!/usr/bin/python3
"""Writes the RandAugment fixtures for tests/test_randaugment.cpp (tests/fixtures/randaugment/).

Pillow's results of timm's RandAugment op functions on small deterministic images, and timm's
level -> argument values, for the C++ ops to match bit for bit. timm is not installed here, so its
op and level functions are copied below from timm/data/auto_augment.py (huggingface/
pytorch-image-models), unchanged but for the kwargs handling (resample and fillcolor are always
given explicitly) and the random sign, which is a parameter here.

Run with Debian's Python and Pillow 9.4:  /usr/bin/python3 tests/reference/make_randaugment_fixtures.py
manifest.txt, one line each:
  source <file> <channels>
  apply <output> <source> <channels> <op> <arg> <interpolation|-> <fill r,g,b|->
  level <op> <magnitude> <negate 0|1> <arg>
Numbers are Python reprs (shortest round trip), so strtod reads back the same doubles.
Gray images get fill[0] as their fill (a 3-tuple fails in Pillow for mode L).
"""
import os

from PIL import Image, ImageEnhance, ImageOps

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "randaugment")
FILL = (124, 116, 104)  # timm's img_mean fill for the ImageNet mean
RESAMPLE = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}

# ----------------------------------------------------------------------------------------------
# timm/data/auto_augment.py (copied)

_LEVEL_DENOM = 10.


def shear_x(img, factor, **kwargs):
    return img.transform(img.size, Image.AFFINE, (1, factor, 0, 0, 1, 0), **kwargs)


def shear_y(img, factor, **kwargs):
    return img.transform(img.size, Image.AFFINE, (1, 0, 0, factor, 1, 0), **kwargs)


def translate_x_rel(img, pct, **kwargs):
    pixels = pct * img.size[0]
    return img.transform(img.size, Image.AFFINE, (1, 0, pixels, 0, 1, 0), **kwargs)


def translate_y_rel(img, pct, **kwargs):
    pixels = pct * img.size[1]
    return img.transform(img.size, Image.AFFINE, (1, 0, 0, 0, 1, pixels), **kwargs)


def rotate(img, degrees, **kwargs):
    return img.rotate(degrees, **kwargs)  # the _PIL_VER >= (5, 2) branch


def auto_contrast(img, **__):
    return ImageOps.autocontrast(img)


def invert(img, **__):
    return ImageOps.invert(img)


def equalize(img, **__):
    return ImageOps.equalize(img)


def solarize(img, thresh, **__):
    return ImageOps.solarize(img, thresh)


def solarize_add(img, add, thresh=128, **__):
    lut = []
    for i in range(256):
        if i < thresh:
            lut.append(min(255, i + add))
        else:
            lut.append(i)

    if img.mode in ("L", "RGB"):
        if img.mode == "RGB" and len(lut) == 256:
            lut = lut + lut + lut
        return img.point(lut)

    return img


def posterize(img, bits_to_keep, **__):
    if bits_to_keep >= 8:
        return img
    return ImageOps.posterize(img, bits_to_keep)


def contrast(img, factor, **__):
    return ImageEnhance.Contrast(img).enhance(factor)


def color(img, factor, **__):
    return ImageEnhance.Color(img).enhance(factor)


def brightness(img, factor, **__):
    return ImageEnhance.Brightness(img).enhance(factor)


def sharpness(img, factor, **__):
    return ImageEnhance.Sharpness(img).enhance(factor)


def _randomly_negate(v, negate):
    return -v if negate else v  # timm: -v if random.random() > 0.5 else v


def _rotate_level_to_arg(level, negate):
    level = (level / _LEVEL_DENOM) * 30.
    return _randomly_negate(level, negate)


def _enhance_level_to_arg(level, negate):
    return (level / _LEVEL_DENOM) * 1.8 + 0.1


def _enhance_increasing_level_to_arg(level, negate):
    level = (level / _LEVEL_DENOM) * .9
    return max(0.1, 1.0 + _randomly_negate(level, negate))


def _shear_level_to_arg(level, negate):
    level = (level / _LEVEL_DENOM) * 0.3
    return _randomly_negate(level, negate)


def _translate_rel_level_to_arg(level, negate):
    level = (level / _LEVEL_DENOM) * 0.45  # translate_pct default
    return _randomly_negate(level, negate)


def _posterize_level_to_arg(level, negate):
    return int((level / _LEVEL_DENOM) * 4)


def _posterize_increasing_level_to_arg(level, negate):
    return 4 - _posterize_level_to_arg(level, negate)


def _solarize_level_to_arg(level, negate):
    return min(256, int((level / _LEVEL_DENOM) * 256))


def _solarize_increasing_level_to_arg(level, negate):
    return 256 - _solarize_level_to_arg(level, negate)


def _solarize_add_level_to_arg(level, negate):
    return min(128, int((level / _LEVEL_DENOM) * 110))


LEVEL_TO_ARG = {
    'Rotate': _rotate_level_to_arg,
    'Posterize': _posterize_level_to_arg,
    'PosterizeIncreasing': _posterize_increasing_level_to_arg,
    'Solarize': _solarize_level_to_arg,
    'SolarizeIncreasing': _solarize_increasing_level_to_arg,
    'SolarizeAdd': _solarize_add_level_to_arg,
    'Color': _enhance_level_to_arg,
    'ColorIncreasing': _enhance_increasing_level_to_arg,
    'Contrast': _enhance_level_to_arg,
    'ContrastIncreasing': _enhance_increasing_level_to_arg,
    'Brightness': _enhance_level_to_arg,
    'BrightnessIncreasing': _enhance_increasing_level_to_arg,
    'Sharpness': _enhance_level_to_arg,
    'SharpnessIncreasing': _enhance_increasing_level_to_arg,
    'ShearX': _shear_level_to_arg,
    'ShearY': _shear_level_to_arg,
    'TranslateXRel': _translate_rel_level_to_arg,
    'TranslateYRel': _translate_rel_level_to_arg,
}

NAME_TO_OP = {
    'AutoContrast': auto_contrast,
    'Equalize': equalize,
    'Invert': invert,
    'Rotate': rotate,
    'Posterize': posterize,
    'Solarize': solarize,
    'SolarizeAdd': solarize_add,
    'Color': color,
    'Contrast': contrast,
    'Brightness': brightness,
    'Sharpness': sharpness,
    'ShearX': shear_x,
    'ShearY': shear_y,
    'TranslateXRel': translate_x_rel,
    'TranslateYRel': translate_y_rel,
}

# ----------------------------------------------------------------------------------------------
# source images


class Lcg:
    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.s >> 33) % n


def rgb_image():
    """23x19: gradients, a bright/dark box, stripes and noise, with 0 and 255 present."""
    w, h, r = 23, 19, Lcg(1)
    px = []
    for y in range(h):
        for x in range(w):
            n = r.next(41) - 20
            red = min(255, max(0, x * 11 + n))
            green = min(255, max(0, (200 if (x // 3 + y // 4) % 2 else 40) + n))
            blue = min(255, max(0, 255 - y * 13 + n // 2))
            if 6 <= x < 12 and 5 <= y < 10:
                red, green, blue = 255, 250, 5
            px.append((red, green, blue))
    im = Image.new("RGB", (w, h))
    im.putdata(px)
    return im


def gray_image():
    """17x15 L: a diagonal ramp with noise and a dark disc."""
    w, h, r = 17, 15, Lcg(2)
    px = []
    for y in range(h):
        for x in range(w):
            v = 20 + (x + y) * 7 + r.next(31) - 15
            if (x - 11) ** 2 + (y - 5) ** 2 < 10:
                v = 3
            px.append(min(255, max(0, v)))
    im = Image.new("L", (w, h))
    im.putdata(px)
    return im


def low_contrast_image():
    """24x20 RGB: red in [100, 140], green in [60, 75], blue constant (autocontrast's and
    equalize's identity branch); 480 pixels so equalize's table overshoots 255 and is clipped."""
    w, h, r = 24, 20, Lcg(3)
    px = []
    for y in range(h):
        for x in range(w):
            px.append((100 + (x * 3 + y) % 41, 60 + r.next(16), 77))
    im = Image.new("RGB", (w, h))
    im.putdata(px)
    return im


def skewed_image():
    """25x23 RGB with skewed histograms: over 510 pixels, so equalize's step is above 1."""
    w, h, r = 25, 23, Lcg(4)
    px = []
    for y in range(h):
        for x in range(w):
            a, b = r.next(256), r.next(256)
            px.append((a * b // 255, 255 - (a * a // 255), (x * y) % 97 + 60))
    im = Image.new("RGB", (w, h))
    im.putdata(px)
    return im


def tiny_image():
    """5x2 RGB: under 3x3, so Sharpness's SMOOTH filter copies it."""
    im = Image.new("RGB", (5, 2))
    im.putdata([(i * 50 % 256, 255 - i * 20, i * 7) for i in range(10)])
    return im


# ----------------------------------------------------------------------------------------------
# the cases

ENHANCE_FACTORS = [0.0, 0.1, 0.55, 1.0, 1.72, 1.9, 2.6, -0.4]
GEOMETRIC = [
    ("Rotate", [27.0, -13.5, 0.0, 180.0, 90.0]),
    ("ShearX", [0.27, -0.27]),
    ("ShearY", [0.27, -0.13]),
    ("TranslateXRel", [0.405, -0.405]),
    ("TranslateYRel", [0.405, -0.2]),
]


def cases():
    """(source, op, arg, interpolation) tuples."""
    out = []
    for src in ("rgb", "gray", "lowc"):
        out += [(src, "AutoContrast", 0, None), (src, "Equalize", 0, None), (src, "Invert", 0, None)]
    out += [("skew", "AutoContrast", 0, None), ("skew", "Equalize", 0, None)]
    out += [("rgb", "Posterize", b, None) for b in (-4, 0, 1, 2, 3, 4, 5, 6, 7, 8)]
    out += [("gray", "Posterize", b, None) for b in (0, 3)]
    out += [("rgb", "Solarize", t, None) for t in (0, 1, 128, 200, 256)]
    out += [("gray", "Solarize", 128, None)]
    out += [("rgb", "SolarizeAdd", a, None) for a in (0, 30, 99, 128)]
    out += [("gray", "SolarizeAdd", 99, None)]
    for op in ("Color", "Contrast", "Brightness", "Sharpness"):
        out += [("rgb", op, f, None) for f in ENHANCE_FACTORS]
        out += [("gray", op, f, None) for f in (0.1, 1.9)]
    out += [("lowc", "Contrast", 1.9, None), ("lowc", "Sharpness", 0.1, None), ("tiny", "Sharpness", 1.9, None)]
    for op, args in GEOMETRIC:
        out += [("rgb", op, a, "bicubic") for a in args]
        out += [("rgb", op, args[0], "bilinear"), ("gray", op, args[1], "bicubic")]
    return out


def fmt(v):
    return repr(v) if isinstance(v, float) else str(v)


def level_lines():
    lines = []
    for op, fn in LEVEL_TO_ARG.items():
        for m in (0.0, 0.3, 4.5, 6.3, 9.0, 9.37, 10.0, 13.0, 25.0):
            for negate in (0, 1):
                lines.append(f"level {op} {fmt(m)} {negate} {fmt(float(fn(m, negate)))}")
    return lines


def main():
    os.makedirs(OUT, exist_ok=True)
    sources = {"rgb": rgb_image(), "gray": gray_image(), "lowc": low_contrast_image(), "skew": skewed_image(), "tiny": tiny_image()}
    lines = []
    for name, im in sources.items():
        im.save(os.path.join(OUT, f"src_{name}.png"), optimize=True)
        lines.append(f"source src_{name}.png {len(im.getbands())}")
    for src, op, arg, interp in cases():
        im = sources[src]
        kwargs = {}
        if interp:
            kwargs = dict(resample=RESAMPLE[interp], fillcolor=FILL if im.mode == "RGB" else FILL[0])
        res = NAME_TO_OP[op](im, arg, **kwargs) if op in LEVEL_TO_ARG else NAME_TO_OP[op](im)
        tag = fmt(arg).replace("-", "m").replace(".", "p")
        out = f"{src}_{op}_{tag}" + (f"_{interp}" if interp else "") + ".png"
        res.save(os.path.join(OUT, out), optimize=True)
        fill = ",".join(map(str, FILL)) if interp else "-"
        lines.append(f"apply {out} src_{src}.png {len(im.getbands())} {op} {fmt(arg)} {interp or '-'} {fill}")
    lines += level_lines()
    with open(os.path.join(OUT, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
