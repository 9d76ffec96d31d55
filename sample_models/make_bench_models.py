#!/usr/bin/python3
"""Export torchvision ResNet-18 and MobileNetV2 (random init) for benchmarking.

Usage:  /usr/bin/python3 sample_models/make_bench_models.py OUTDIR

Writes OUTDIR/resnet18.onnx and OUTDIR/mobilenet_v2.onnx: torch.manual_seed(0)
before each constructor, eval mode, input 1x3x224x224 with a dynamic batch
axis, opset 13, default training mode (EVAL: BatchNorm folded into the convs).
The weights are random, so only timing is meaningful.  Outputs are not meant
to be committed.
"""
import os
import sys

import onnx
import torch
import torchvision

torch.set_num_threads(2)


MODELS = (("resnet18", torchvision.models.resnet18),
          ("mobilenet_v2", torchvision.models.mobilenet_v2))


def export(model, path):
    """Exports an eval-mode model at 1x3x224x224 (dynamic batch), opset 13; returns the
    checked ONNX graph."""
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTDIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, ctor in MODELS:
        torch.manual_seed(0)
        model = ctor().eval()
        path = os.path.join(out, f"{name}.onnx")
        m = export(model, path)
        nparams = sum(p.numel() for p in model.parameters())
        print(f"{path}: {os.path.getsize(path)} bytes, {len(m.graph.node)} nodes, "
              f"ops {sorted({n.op_type for n in m.graph.node})}, {nparams} torch params")


if __name__ == "__main__":
    main()
