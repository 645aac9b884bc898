#!/usr/bin/python3
"""Writes the torch.save fixtures of the .pt reader's tests (tests/fixtures/pt/).

One reduced ConvNeXt V2 (tests/reference/make_fixtures.py's model: depths 1,1,2,1, dims 8..32,
5 classes) with random weights, saved as PyTorch users and the official code save it:
  dense.pt       {'model': state_dict}, the official dense names (the released files)
  dense_f16.pt   the same in float16, with a non-contiguous (transposed) head weight
  sparse.pt      what the official pre-training code saves: {'model': ..., 'epoch', 'args'
                 (argparse.Namespace)}: the encoder under 'encoder.' in MinkowskiEngine's layout
                 (the inverse of the official remap_checkpoint_keys), and a small decoder side
  timm.pt        {'state_dict': ...} under timm's convnextv2 names (conv_mlp: 1x1 conv weights)
  reference.safetensors  the dense weights, input images and PyTorch's logits
and hostile files that must be refused: a posix.system global, an unknown class's __reduce__, a
truncated archive, a storage smaller than its tensor, and an entry named with '..'.

Run with Debian's torch:  /usr/bin/python3 tests/reference/make_torch_files.py
"""
import argparse
import json
import os
import pickle
import sys
import zipfile
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import ConvNeXtV2, write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "pt")
DEPTHS, DIMS, IN_CHANS, CLASSES, STRIDE, SIZE = [1, 1, 2, 1], [8, 16, 24, 32], 3, 5, 2, 32


def to_sparse(sd):
    """The dense encoder in the official sparse model's layout (inverse of remap_checkpoint_keys)."""
    out = OrderedDict()
    for k, v in sd.items():
        if k.startswith("norm.") or k.startswith("head."):
            continue  # the sparse encoder has no final norm and no head
        if k.startswith("downsample_layers.0."):
            out["encoder." + k] = v
        elif k.startswith("downsample_layers."):
            i, part, leaf = k.split(".")[1], k.split(".")[2], k.split(".")[3]
            if part == "0":
                out[f"encoder.downsample_layers.{i}.0.ln.{leaf}"] = v
            elif leaf == "weight":  # (out, in, k, k) -> (k*k, in, out), kernel[b*k + a, i, o] = W[o, i, a, b]
                o, c, kk, _ = v.shape
                out[f"encoder.downsample_layers.{i}.1.kernel"] = v.permute(3, 2, 1, 0).reshape(kk * kk, c, o).contiguous()
            else:
                out[f"encoder.downsample_layers.{i}.1.bias"] = v.reshape(1, -1)
        else:
            head, leaf = k.rsplit(".", 1)
            layer = head.rsplit(".", 1)[1]
            if layer == "dwconv" and leaf == "weight":  # (C,1,7,7) -> (49, C), kernel[b*7 + a, c] = W[c, 0, a, b]
                c = v.shape[0]
                out["encoder." + head + ".kernel"] = v[:, 0].permute(2, 1, 0).reshape(-1, c).contiguous()
            elif layer == "dwconv":
                out["encoder." + k] = v.reshape(1, -1)
            elif layer == "norm":
                out["encoder." + head + ".ln." + leaf] = v
            elif layer in ("pwconv1", "pwconv2"):
                out["encoder." + head + ".linear." + leaf] = v
            elif layer == "grn":
                out["encoder." + k] = v.reshape(1, -1)
            else:
                raise ValueError(k)
    d = 16  # a small decoder side (the real one is 512 wide), only passed through
    g = torch.Generator().manual_seed(5)
    out["mask_token"] = torch.randn(1, d, 1, 1, generator=g)
    out["proj.weight"] = torch.randn(d, DIMS[-1], 1, 1, generator=g)
    out["proj.bias"] = torch.randn(d, generator=g)
    out["decoder.0.dwconv.weight"] = torch.randn(d, 1, 7, 7, generator=g)
    out["pred.weight"] = torch.randn(16 * 16 * 3, d, 1, 1, generator=g)
    return out


def to_timm(sd):
    out = OrderedDict()
    for k, v in sd.items():
        p = k.split(".")
        if k.startswith("downsample_layers.0."):
            n = "stem." + ".".join(p[2:])
        elif k.startswith("downsample_layers."):
            n = f"stages.{p[1]}.downsample." + ".".join(p[2:])
        elif k.startswith("stages."):
            rest = ".".join(p[3:])
            rest = rest.replace("dwconv.", "conv_dw.").replace("pwconv1.", "mlp.fc1.").replace("pwconv2.", "mlp.fc2.")
            rest = rest.replace("grn.gamma", "mlp.grn.weight").replace("grn.beta", "mlp.grn.bias")
            n = f"stages.{p[1]}.blocks.{p[2]}.{rest}"
            if "mlp.fc" in n and n.endswith("weight"):
                v = v[:, :, None, None]
            if "mlp.grn" in n:
                v = v.reshape(-1)
        elif k.startswith("norm."):
            n = "head." + k
        else:
            n = "head.fc." + k[len("head."):]
        out[n] = v
    return out


def hostile(name, pickle_bytes, extra=None, prefix="archive/"):
    with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "data.pkl", pickle_bytes)
        for n, b in (extra or {}).items():
            z.writestr(n, b)
    print("wrote", name)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(11)
    model = ConvNeXtV2(IN_CHANS, CLASSES, DEPTHS, DIMS, STRIDE)
    with torch.no_grad():
        for name, p in model.named_parameters():  # GRN and LayerNorm away from their zero/one init
            p.copy_(torch.randn(p.shape) * (0.3 if p.dim() == 1 or "grn" in name else 0.2))
    sd = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    images = torch.randn(2, IN_CHANS, SIZE, SIZE)
    with torch.no_grad():
        logits = model(images)
    config = {"depths": DEPTHS, "dims": DIMS, "in_chans": IN_CHANS, "num_classes": CLASSES, "stem_stride": STRIDE,
              "input_size": SIZE, "batch": 2}
    ref = OrderedDict(("weight." + k, v) for k, v in sd.items())
    ref["images"] = images.permute(0, 2, 3, 1).contiguous()
    ref["logits"] = logits
    write_safetensors(os.path.join(OUT, "reference.safetensors"), ref,
                      {"magic": "convnextv2-fixture", "version": "1", "config": json.dumps(config),
                       "torch": torch.__version__})

    torch.save({"model": sd}, os.path.join(OUT, "dense.pt"))
    half = OrderedDict((k, v.half()) for k, v in sd.items())
    half["head.weight"] = sd["head.weight"].t().contiguous().half().t()  # a transposed view of its storage
    torch.save(half, os.path.join(OUT, "dense_f16.pt"))
    torch.save({"model": to_sparse(sd), "epoch": 3, "args": argparse.Namespace(lr=1.5e-4, mask_ratio=0.6)},
               os.path.join(OUT, "sparse.pt"))
    torch.save({"state_dict": to_timm(sd), "epoch": 7}, os.path.join(OUT, "timm.pt"))
    # the legacy (pre-1.6) format, refused with its own message
    torch.save({"model": OrderedDict([("stem.0.bias", torch.zeros(2))])}, os.path.join(OUT, "legacy.pt"),
               _use_new_zipfile_serialization=False)

    # hostile files
    hostile("hostile_system.pt", b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.")

    # {'model': evil_module.Payload()}, as pickle writes an object whose __reduce__ names its class
    hostile("hostile_reduce.pt", b"\x80\x02}q\x00X\x05\x00\x00\x00modelq\x01cevil_module\nPayload\nq\x02)Rq\x03s.")
    data = open(os.path.join(OUT, "dense.pt"), "rb").read()
    with open(os.path.join(OUT, "truncated.pt"), "wb") as f:
        f.write(data[: len(data) // 2])
    print("wrote truncated.pt")
    # a (4,4) float tensor over a storage of 2 elements
    small = (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03"
             b"ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x02tq\x07QK\x00K\x04K\x04\x86q\x08"
             b"K\x04K\x01\x86q\t\x89ccollections\nOrderedDict\nq\n)Rq\x0btq\x0cRq\rs.")
    hostile("storage_small.pt", small, {"archive/data/0": b"\x00" * 8})
    hostile("dotdot.pt", pickle.dumps({}, protocol=2), prefix="../escape/")

    # seeds of the torch fuzz target (tests/fuzz/targets.h): small files of each kind
    seeds = os.path.join(OUT, "..", "..", "fuzz", "corpus", "torch")
    os.makedirs(seeds, exist_ok=True)
    g = torch.Generator().manual_seed(2)
    small = OrderedDict([("downsample_layers.0.0.weight", torch.randn(2, 1, 2, 2, generator=g)),
                         ("stages.0.0.grn.gamma", torch.randn(1, 1, 1, 3, generator=g).half()),
                         ("head.weight", torch.randn(3, 2, generator=g).t())])
    torch.save({"model": small}, os.path.join(seeds, "dense_small.pt"))
    torch.save({"model": OrderedDict([("encoder.stages.0.0.dwconv.kernel", torch.randn(9, 2, generator=g)),
                                      ("encoder.downsample_layers.1.1.kernel", torch.randn(4, 2, 3, generator=g))]),
                "args": argparse.Namespace(lr=1.0)}, os.path.join(seeds, "sparse_small.pt"))
    torch.save(OrderedDict([("stem.0.weight", torch.randn(2, 1, 2, 2, generator=g).to(torch.bfloat16))]),
               os.path.join(seeds, "timm_small.pt"))
    for name in ("dense_small", "sparse_small"):  # their pickles alone, for the unpickler
        with zipfile.ZipFile(os.path.join(seeds, name + ".pt")) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            open(os.path.join(seeds, name + ".pkl"), "wb").write(z.read(pkl))
    print("wrote the torch fuzz seeds")


if __name__ == "__main__":
    sys.exit(main())
