"""Read ESRGAN-family generators stored in ncnn's format into torch (no ncnn needed).

The ``.param`` file is text: a magic line ``7767517``, a line ``layers blobs``, then one line
per layer ``Type name n_in n_out in_blobs... out_blobs... key=value...`` (array values have a
key ``-23300 - k`` and the form ``count,v1,v2,...``). The ``.bin`` file holds the weights of the
layers in the same order, with no header: for a ``Convolution`` layer, its weights (``0=``
outputs x inputs x ``1=`` x ``11=`` kernel taps, ``6=`` values in all, torch's layout) after a
4-byte storage tag, then, when ``5=1``, its ``0=`` biases as float32 without a tag.

Tags understood: ``0`` (float32) and ``0x01306B47`` (float16, the data padded to 4 bytes).
Other tags (ncnn's int8 and table-quantised storage) are refused with a clear message.

:func:`load_rrdbnet` checks that the graph is an RRDBNet (the convolution sequence, their
shapes and activations, the two nearest x2 ``Interp`` layers) before it loads a single value,
so a file of another architecture is an error, never a silently wrong network.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import SSRError

PARAM_MAGIC = 7767517
TAG_FP32 = 0
TAG_FP16 = 0x01306B47


@dataclass
class Layer:
    """One layer line of a ``.param`` file."""

    type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    params: dict[int, object] = field(default_factory=dict)

    def get(self, key: int, default=None):
        return self.params.get(key, default)


def _value(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def read_param(path: str | os.PathLike) -> list[Layer]:
    """Parse an ncnn ``.param`` text file into its layers.

    Raises:
        SSRError: not an ncnn param file, or a malformed line.
    """
    try:
        lines = [ln.split() for ln in open(path, encoding="ascii").read().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise SSRError(f"cannot read {path}: {exc}") from None
    if not lines or lines[0] != [str(PARAM_MAGIC)]:
        raise SSRError(f"{path} is not an ncnn .param file (magic {PARAM_MAGIC} missing)")
    try:
        n_layers = int(lines[1][0])
        layers = []
        for parts in lines[2:]:
            kind, name, n_in, n_out = parts[0], parts[1], int(parts[2]), int(parts[3])
            blobs = parts[4:4 + n_in + n_out]
            params: dict[int, object] = {}
            for kv in parts[4 + n_in + n_out:]:
                k, v = kv.split("=", 1)
                key = int(k)
                if key <= -23300:  # an array: "count,v1,v2,..."
                    vals = v.split(",")
                    params[-23300 - key] = [_value(x) for x in vals[1:1 + int(vals[0])]]
                else:
                    params[key] = _value(v)
            layers.append(Layer(kind, name, blobs[:n_in], blobs[n_in:], params))
    except (IndexError, ValueError) as exc:
        raise SSRError(f"malformed ncnn .param file {path}: {exc}") from None
    if len(layers) != n_layers:
        raise SSRError(f"{path} declares {n_layers} layers but lists {len(layers)}")
    return layers


@dataclass
class ConvSpec:
    """What a ``Convolution`` layer declares."""

    name: str
    out_channels: int
    in_channels: int
    kernel: int
    bias: bool
    leaky: float | None  # LeakyReLU slope fused into the layer, or None


def conv_specs(layers: list[Layer]) -> list[ConvSpec]:
    """The ``Convolution`` layers of a graph, in file order, with their shapes.

    Raises:
        SSRError: a convolution this loader does not model (stride, dilation, groups, padding
            other than "same", an activation other than none or LeakyReLU).
    """
    specs = []
    for ly in layers:
        if ly.type != "Convolution":
            continue
        out, k = int(ly.get(0)), int(ly.get(1, 1))
        kh, count = int(ly.get(11, k)), int(ly.get(6))
        if kh != k or int(ly.get(2, 1)) != 1 or int(ly.get(3, 1)) != 1 or int(ly.get(4, 0)) != k // 2:
            raise SSRError(f"ncnn layer {ly.name}: only square stride-1 'same' convolutions are supported")
        if count % (out * k * k):
            raise SSRError(f"ncnn layer {ly.name}: {count} weights do not fit {out} outputs of {k}x{k}")
        act = int(ly.get(9, 0))
        if act == 0:
            leaky = None
        elif act == 2:
            leaky = float((ly.get(10) or [0.0])[0])
        else:
            raise SSRError(f"ncnn layer {ly.name}: activation type {act} is not supported")
        specs.append(ConvSpec(ly.name, out, count // (out * k * k), k, bool(int(ly.get(5, 0))), leaky))
    return specs


class _Reader:
    def __init__(self, data: bytes, path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SSRError(f"{self.path} is truncated ({len(self.data)} bytes; more weights declared)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def tagged(self, count: int, name: str) -> np.ndarray:
        tag = int.from_bytes(self.take(4), "little")
        if tag == TAG_FP16:
            arr = np.frombuffer(self.take(2 * count), dtype="<f2").astype(np.float32)
            self.take((-2 * count) % 4)  # padded to 4 bytes
            return arr
        if tag == TAG_FP32:
            return np.frombuffer(self.take(4 * count), dtype="<f4").copy()
        raise SSRError(f"{self.path}: layer {name} stores its weights with tag {tag:#010x} "
                       "(quantised); only float32 and float16 ncnn weights are supported")

    def raw(self, count: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * count), dtype="<f4").copy()


def read_conv_weights(specs: list[ConvSpec], path: str | os.PathLike
                      ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """``(weight out x in x k x k, bias out or None)`` float32 per convolution of ``specs``.

    Raises:
        SSRError: unreadable, truncated or longer than declared, or quantised storage.
    """
    try:
        data = open(path, "rb").read()
    except OSError as exc:
        raise SSRError(f"cannot read {path}: {exc}") from None
    rd = _Reader(data, path)
    out = []
    for s in specs:
        w = rd.tagged(s.out_channels * s.in_channels * s.kernel * s.kernel, s.name)
        b = rd.raw(s.out_channels) if s.bias else None
        out.append((torch.from_numpy(w).view(s.out_channels, s.in_channels, s.kernel, s.kernel),
                    None if b is None else torch.from_numpy(b)))
    if rd.pos != len(data):
        raise SSRError(f"{path} holds {len(data) - rd.pos} bytes more than its .param declares")
    return out


def _expected_rrdbnet(channels: int, growth: int, blocks: int) -> list[tuple[int, int, float | None]]:
    """``(out, in, leaky slope)`` of every convolution of ``RRDBNet(channels, growth, blocks)``."""
    rdb = [(growth if i < 4 else channels, channels + i * growth, 0.2 if i < 4 else None) for i in range(5)]
    tail = [(channels, channels, 0.2)] * 3 + [(3, channels, None)]
    return [(channels, 3, None), *rdb * (3 * blocks), (channels, channels, None), *tail]


def load_rrdbnet(param: str | os.PathLike, weights: str | os.PathLike):
    """Read an ncnn RRDBNet (ESRGAN / Real-ESRGAN x4 / RealSR) into :class:`~ssr.models.rrdbnet.RRDBNet`.

    The width, growth and block count are read off the graph, then every convolution is
    checked against that architecture before any value is loaded.

    Raises:
        SSRError: not an x4 RRDBNet, or unreadable files.
    """
    from .rrdbnet import RRDBNet

    layers = read_param(param)
    specs = conv_specs(layers)
    if len(specs) < 6 or (len(specs) - 6) % 15:
        raise SSRError(f"{param}: {len(specs)} convolutions do not form an RRDBNet (6 + 15 per block)")
    channels, growth, blocks = specs[0].out_channels, specs[1].out_channels, (len(specs) - 6) // 15
    want = _expected_rrdbnet(channels, growth, blocks)
    for s, (o, i, slope) in zip(specs, want):
        if (s.out_channels, s.in_channels, s.kernel, s.bias) != (o, i, 3, True) or (
                (s.leaky is None) != (slope is None) or (slope is not None and abs(s.leaky - slope) > 1e-6)):
            raise SSRError(f"{param}: layer {s.name} ({s.out_channels}x{s.in_channels}x{s.kernel}, "
                           f"leaky {s.leaky}) is not the RRDBNet layer expected there ({o}x{i}x3, leaky {slope})")
    interps = [ly for ly in layers if ly.type == "Interp"]
    if len(interps) != 2 or any(int(ly.get(0, 0)) != 1 or float(ly.get(1, 1)) != 2 or float(ly.get(2, 1)) != 2
                                for ly in interps):
        raise SSRError(f"{param}: expected two nearest x2 Interp layers (an x4 RRDBNet)")
    net = RRDBNet(channels, growth, blocks)
    with torch.no_grad():
        for conv, (w, b) in zip(net.convs(), read_conv_weights(specs, weights)):
            conv.weight.copy_(w)
            conv.bias.copy_(b)
    return net.eval()


def write_rrdbnet(net, param: str | os.PathLike, weights: str | os.PathLike, fp16: bool = True) -> None:
    """Write an :class:`~ssr.models.rrdbnet.RRDBNet` in ncnn's format (input blob ``data``,
    output ``output``; the graph of ncnn's converter: a ``Split`` wherever a blob feeds several
    layers). ``fp16`` stores the weights as float16, as the shipped packages do; biases are
    always float32. Used to test the reader, and to hand a trained generator to ncnn tools."""
    graph: list[list] = []  # [type, name, inputs, outputs, params]
    count = [0]

    def add(kind: str, inputs: list[str], params: str = "", out: str | None = None) -> str:
        count[0] += 1
        dst = out or f"b{count[0]}"
        graph.append([kind, f"{kind.lower()}_{count[0]}", list(inputs), [dst], params])
        return dst

    def conv(src: str, m, slope: float | None, out: str | None = None) -> str:
        o, i, k, _ = m.weight.shape
        act = "" if slope is None else f" 9=2 -23310=1,{slope:e}"
        return add("Convolution", [src], f"0={o} 1={k} 4={k // 2} 5=1 6={o * i * k * k}{act}", out)

    scaled_sum = "0=1 -23301=2,2.000000e-01,1.000000e+00"  # a * 0.2 + b * 1.0
    graph.append(["Input", "input", [], ["data"], ""])
    first = conv("data", net.conv_first, None)
    x = first
    for block in net.body:
        block_in = h = x
        for rdb in block.rdbs:
            feats = [h]
            for j, c in enumerate(rdb.convs):
                src = feats[0] if j == 0 else add("Concat", feats)
                o = conv(src, c, 0.2 if j < 4 else None)
                feats.append(o)
            h = add("Eltwise", [feats[-1], feats[0]], scaled_sum)
        x = add("Eltwise", [h, block_in], scaled_sum)
    s = add("BinaryOp", [first, conv(x, net.conv_body, None)])
    for m in (net.conv_up1, net.conv_up2):
        s = conv(add("Interp", [s], "0=1 1=2.000000e+00 2=2.000000e+00"), m, 0.2)
    conv(conv(s, net.conv_hr, 0.2), net.conv_last, None, out="output")
    # ncnn consumes every blob once: split the blobs that feed several layers
    consumers: dict[str, int] = {}
    for layer in graph:
        for b in layer[2]:
            consumers[b] = consumers.get(b, 0) + 1
    lines, taken = [], {}
    for layer in graph:
        ins = []
        for b in layer[2]:
            if consumers[b] > 1:
                taken[b] = taken.get(b, 0) + 1
                b = f"{b}_split{taken[b] - 1}"
            ins.append(b)
        kind, name, _, outs, params = layer
        lines.append(f"{kind} {name} {len(ins)} {len(outs)} {' '.join(ins + outs)} {params}".rstrip())
        for b in outs:
            if consumers.get(b, 0) > 1:
                n = consumers[b]
                lines.append(f"Split split_{b} 1 {n} {b} " + " ".join(f"{b}_split{i}" for i in range(n)))
    blobs = sum(int(ln.split()[3]) for ln in lines)
    with open(param, "w", encoding="ascii") as f:
        f.write(f"{PARAM_MAGIC}\n{len(lines)} {blobs}\n" + "\n".join(lines) + "\n")
    with open(weights, "wb") as f:
        for m in net.convs():
            w = m.weight.detach().float().cpu().numpy().ravel()
            if fp16:
                data = w.astype("<f2").tobytes()
                f.write(TAG_FP16.to_bytes(4, "little") + data + b"\0" * ((-len(data)) % 4))
            else:
                f.write(TAG_FP32.to_bytes(4, "little") + w.astype("<f4").tobytes())
            f.write(m.bias.detach().float().cpu().numpy().astype("<f4").tobytes())
