#!/usr/bin/python3
"""Writes the PyTorch reference fixtures for the C++ tests (tests/fixtures/*.safetensors).

The model is built here from the paper's definition (ConvNeXt V2), independently of the
C++ code. Every parameter is set from a deterministic formula that tests/util.cpp reproduces
(formula_values), so the fixtures need not carry the weights of large models:
    u_i = splitmix64(fnv1a64(name) + i * golden) -> 24-bit uniform in [-1, 1)
    conv/linear weights u*sqrt(3/fan_in); biases 0.1u; LayerNorm weights 1+0.2u; GRN gamma 0.5u, beta 0.1u.

Run with Debian's torch:  /usr/bin/python3 tests/reference/make_fixtures.py
Fixture files: a magic "convnextv2-fixture" and a version in the metadata; the tests check both.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FIXTURE_VERSION = "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
EPS = 1e-6


# ----------------------------------------------------------------------------------------------
# deterministic values shared with the C++ tests

M64 = (1 << 64) - 1


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for b in s.encode():
        h ^= b
        h = (h * 0x100000001B3) & M64
    return h


def uniform(name, n):
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    m = (z >> np.uint64(40)).astype(np.float64)
    return (m / 2.0**23 - 1.0).astype(np.float32)


def formula_values(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    if name == "images":
        v = u
    elif name.endswith("grn.gamma"):
        v = u * np.float32(0.5)
    elif name.endswith("grn.beta") or name.endswith(".bias"):
        v = u * np.float32(0.1)
    elif len(shape) == 1:  # LayerNorm weights
        v = np.float32(1.0) + u * np.float32(0.2)
    else:
        fan_in = int(np.prod(shape[1:]))
        v = u * np.float32(math.sqrt(3.0 / fan_in))
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def sample_indices(n):
    """Indices at which large gradients are compared (same rule in tests/util.cpp)."""
    if n <= 256:
        return list(range(n))
    return [(k * 104729) % n for k in range(256)]


# ----------------------------------------------------------------------------------------------
# the model, from the paper

class LayerNormChannelsFirst(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + EPS)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class GRN(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, d))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, d))

    def forward(self, x):
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + EPS)
        return self.gamma * (x * nx) + self.beta + x


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=EPS)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        inp = x
        x = self.dwconv(x).permute(0, 2, 3, 1)
        x = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(x)))))
        return inp + x.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    def __init__(self, in_chans, num_classes, depths, dims, stem_stride):
        super().__init__()
        self.downsample_layers = nn.ModuleList()
        self.downsample_layers.append(nn.Sequential(
            nn.Conv2d(in_chans, dims[0], kernel_size=stem_stride, stride=stem_stride),
            LayerNormChannelsFirst(dims[0])))
        for i in range(3):
            self.downsample_layers.append(nn.Sequential(
                LayerNormChannelsFirst(dims[i]), nn.Conv2d(dims[i], dims[i + 1], kernel_size=2, stride=2)))
        self.stages = nn.ModuleList(
            [nn.Sequential(*[Block(dims[i]) for _ in range(depths[i])]) for i in range(4)])
        self.norm = nn.LayerNorm(dims[-1], eps=EPS)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        for i in range(4):
            x = self.stages[i](self.downsample_layers[i](x))
        return self.head(self.norm(x.mean([-2, -1])))


# ----------------------------------------------------------------------------------------------
# safetensors, written by hand (Debian has no python3-safetensors)

def write_safetensors(path, tensors, metadata):
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype("<f4"))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"wrote {path} ({8 + len(h) + off} bytes)")


# ----------------------------------------------------------------------------------------------
# FCMAE: dense emulation of the sparse encoder with explicit masks (per-sample GRN over visible
# tokens as in the paper), the one-block decoder and the normalised-pixel loss

def upsample_mask(mask, grid, side):
    """(N, L) removed-mask -> (N, 1, side, side) visibility (1 kept)."""
    n = mask.shape[0]
    m = mask.reshape(n, grid, grid)
    t = side // grid
    m = m.repeat_interleave(t, dim=1).repeat_interleave(t, dim=2)
    return (1.0 - m).unsqueeze(1)


def masked_block(block, x, v):
    inp = x
    y = block.dwconv(x * v).permute(0, 2, 3, 1)
    y = block.act(block.pwconv1(block.norm(y)))
    vh = v.permute(0, 2, 3, 1)
    gx = torch.norm(y * vh, p=2, dim=(1, 2), keepdim=True)
    nx = gx / (gx.mean(dim=-1, keepdim=True) + EPS)
    y = block.grn.gamma * (y * nx) + block.grn.beta + y
    y = block.pwconv2(y).permute(0, 3, 1, 2)
    return (inp + y) * v


class FCMAE(nn.Module):
    def __init__(self, in_chans, depths, dims, stem_stride, size, dec_dim=512):
        super().__init__()
        self.encoder = ConvNeXtV2(in_chans, 1, depths, dims, stem_stride)
        del self.encoder.norm
        del self.encoder.head
        self.grid = size // (stem_stride * 8)
        self.patch = size // self.grid
        self.mask_token = nn.Parameter(torch.zeros(1, dec_dim, 1, 1))
        self.proj = nn.Conv2d(dims[-1], dec_dim, kernel_size=1)
        self.decoder = nn.Sequential(Block(dec_dim))
        self.pred = nn.Conv2d(dec_dim, self.patch * self.patch * in_chans, kernel_size=1)

    def forward(self, imgs, mask):
        e = self.encoder
        x = imgs
        for i in range(4):
            x = e.downsample_layers[i](x)
            v = upsample_mask(mask, self.grid, x.shape[-1])
            x = x * v
            for blk in e.stages[i]:
                x = masked_block(blk, x, v)
        n = x.shape[0]
        d = self.proj(x)
        m = mask.reshape(n, 1, self.grid, self.grid)
        d = d * (1 - m) + self.mask_token * m
        pred = self.pred(self.decoder(d))
        pred = pred.reshape(n, pred.shape[1], -1).transpose(1, 2)
        c = imgs.shape[1]
        g, p = self.grid, self.patch
        target = imgs.reshape(n, c, g, p, g, p).permute(0, 2, 4, 3, 5, 1).reshape(n, g * g, p * p * c)
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1.0e-6) ** 0.5
        loss = ((pred - target) ** 2).mean(dim=-1)
        return (loss * mask).sum() / mask.sum(), pred


def make_fcmae_case(tag, depths, dims, in_chans, stem_stride, size, batch, keep):
    model = FCMAE(in_chans, depths, dims, stem_stride, size)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(formula_values(name, tuple(p.shape)))
    images = formula_values("images", (batch, in_chans, size, size))
    g = model.grid
    gen = torch.Generator().manual_seed(3)
    mask = torch.ones(batch, g * g)
    for n in range(batch):
        mask[n, torch.randperm(g * g, generator=gen)[:keep]] = 0.0
    loss, pred = model(images, mask)
    loss.backward()
    out = {"images": images.permute(0, 2, 3, 1).contiguous(), "mask": mask, "loss": loss.detach().reshape(1),
           "pred": pred.detach()}
    for name, p in model.named_parameters():
        gr = p.grad.detach().clone().reshape(-1)
        if gr.numel() <= 4096:
            out["grad." + name] = p.grad.detach().clone()
        else:
            out["gradsample." + name] = gr[sample_indices(gr.numel())]
            out["gradnorm." + name] = gr.norm().reshape(1)
    config = {"depths": depths, "dims": dims, "in_chans": in_chans, "num_classes": 1, "stem_stride": stem_stride,
              "input_size": size, "batch": batch}
    meta = {"magic": "convnextv2-fixture", "version": FIXTURE_VERSION, "config": json.dumps(config),
            "torch": torch.__version__}
    write_safetensors(os.path.join(OUT, tag + ".safetensors"), out, meta)


def no_decay(name, p):
    return p.ndim == 1 or name.endswith(".bias") or name.endswith(".gamma") or name.endswith(".beta")


def make_case(tag, depths, dims, in_chans, classes, stem_stride, size, batch, full_grads, smoothing=0.1,
              lr=1e-3, wd=0.05, steps=5):
    torch.manual_seed(0)
    model = ConvNeXtV2(in_chans, classes, depths, dims, stem_stride)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(formula_values(name, tuple(p.shape)))
    images_nchw = formula_values("images", (batch, in_chans, size, size))
    labels = torch.tensor([(3 * n + 1) % classes for n in range(batch)])

    logits = model(images_nchw)
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    loss.backward()
    out = {
        "images": images_nchw.permute(0, 2, 3, 1).contiguous(),  # NHWC, as the C++ model takes it
        "labels": labels.float(),
        "logits": logits.detach(),
        "loss": loss.detach().reshape(1),
    }
    for name, p in model.named_parameters():
        g = p.grad.detach().clone().reshape(-1)
        if full_grads:
            out["grad." + name] = p.grad.detach().clone()
        else:
            out["gradsample." + name] = g[sample_indices(g.numel())]
            out["gradnorm." + name] = g.norm().reshape(1)

    initial_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    # a short AdamW trajectory on the same batch (decoupled weight decay, SPEC 4.2 no-decay rule)
    decay = [p for n, p in model.named_parameters() if not no_decay(n, p)]
    nodecay = [p for n, p in model.named_parameters() if no_decay(n, p)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        l = F.cross_entropy(model(images_nchw), labels, label_smoothing=smoothing)
        l.backward()
        losses.append(float(l))
        opt.step()
    out["trajectory"] = torch.tensor(losses)

    config = {"depths": depths, "dims": dims, "in_chans": in_chans, "num_classes": classes,
              "stem_stride": stem_stride, "input_size": size, "batch": batch}
    meta = {"magic": "convnextv2-fixture", "version": FIXTURE_VERSION, "config": json.dumps(config),
            "smoothing": smoothing, "lr": lr, "weight_decay": wd, "torch": torch.__version__}
    write_safetensors(os.path.join(OUT, tag + ".safetensors"), out, meta)
    return initial_state


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    tiny = make_case("tiny", depths=[1, 1, 2, 1], dims=[8, 16, 24, 32], in_chans=3, classes=5, stem_stride=2,
                     size=32, batch=3, full_grads=True)
    make_case("tiny_gray", depths=[1, 1, 1, 1], dims=[8, 16, 16, 24], in_chans=1, classes=4, stem_stride=1,
              size=16, batch=2, full_grads=True)
    make_case("atto64", depths=[2, 2, 6, 2], dims=[40, 80, 160, 320], in_chans=3, classes=10, stem_stride=4,
              size=64, batch=2, full_grads=False)
    make_fcmae_case("fcmae_tiny", depths=[1, 1, 1, 1], dims=[8, 16, 24, 32], in_chans=3, stem_stride=2, size=48,
                    batch=2, keep=3)
    # A plain state_dict as PyTorch users save it (the formula weights), converted to safetensors:
    # no metadata at all.
    write_safetensors(os.path.join(OUT, "tiny_state_dict.safetensors"), tiny, None)


if __name__ == "__main__":
    sys.exit(main())
