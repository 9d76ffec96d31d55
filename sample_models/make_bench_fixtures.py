#!/usr/bin/python3
"""Constant-weight ONNX fixtures of torchvision ResNet-18 and MobileNetV2 for `make bench`.

Usage:  /usr/bin/python3 sample_models/make_bench_fixtures.py OUTDIR

Writes OUTDIR/resnet18_const.onnx.gz and OUTDIR/mobilenet_v2_const.onnx.gz:
the i-th tensor of named_parameters() filled with 0.001*(i+1), BN buffers at
their defaults, eval mode, input 1x3x224x224 with a dynamic batch axis, opset
13 (BN folded into the convs by the exporter). Constant tensors gzip to almost
nothing, so the structure can be committed; bench/randomize_onnx.js then gives
every float initializer deterministic random values before timing, so that
make bench needs no PyTorch.
"""
import gzip
import os
import sys

import torch

from make_bench_models import MODELS, export


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, ctor in MODELS:
        model = ctor().eval()
        with torch.no_grad():
            for i, (_, p) in enumerate(model.named_parameters()):
                p.fill_(0.001 * (i + 1))
        raw = os.path.join(out, f"{name}_const.onnx")
        m = export(model, raw)
        with open(raw, "rb") as f, gzip.open(raw + ".gz", "wb", compresslevel=9) as g:
            g.write(f.read())
        os.remove(raw)
        print(f"{raw}.gz: {os.path.getsize(raw + '.gz')} bytes, {len(m.graph.node)} nodes, "
              f"ops {sorted({n.op_type for n in m.graph.node})}")


if __name__ == "__main__":
    main()
