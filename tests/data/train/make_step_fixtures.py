#!/usr/bin/python3
"""One SGD step of sample_models/{resnet8,mobilenet_se}.onnx in PyTorch, for tests/test_train.c.

For each model and mode writes, next to this script:
  <model>_<mode>_<param>.npy   selected parameters (and BN running statistics) after the step
  <model>_<mode>_loss.txt      the loss of the step
mode "frozen": BatchNorm in eval mode (running statistics; gamma/beta still trained);
mode "train":  BatchNorm in training mode (batch statistics; running statistics updated).
The batch: the first 16 training images of Fashion-MNIST, preprocessed as make_models.py does;
SGD lr 0.01, momentum 0.9, weight decay 5e-4 (the settings of the lenet5 fixture).
The weights come from the .onnx files, so rerun this whenever make_models.py rebuilds them:
  /usr/bin/python3 tests/data/train/make_step_fixtures.py
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "sample_models"))
import make_models as mm  # noqa: E402

KEEP = {
    "resnet8": ["conv1.weight", "bn1.weight", "bn1.bias", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.weight", "layer2.0.bn2.bias", "fc.weight", "fc.bias"],
    "mobilenet_se": ["stem.0.weight", "stem.1.weight", "blocks.0.dw.0.weight",
                     "blocks.0.dw.1.bias", "blocks.0.se.fc1.weight", "blocks.0.se.fc1.bias",
                     "blocks.0.se.fc2.bias", "blocks.4.dw.0.weight", "fc.weight", "fc.bias"],
}
STATS = {"resnet8": ["bn1.running_mean", "bn1.running_var"],
         "mobilenet_se": ["blocks.0.dw.1.running_mean", "blocks.0.dw.1.running_var"]}
CTORS = {"resnet8": mm.ResNet8, "mobilenet_se": mm.MobileNetSE}


def main():
    torch.set_num_threads(1)
    xtr, ytr = mm.load_split("train")
    xb, yb = mm.preprocess(xtr[:16]), ytr[:16]
    for name, ctor in CTORS.items():
        m = onnx.load(os.path.join(ROOT, "sample_models", f"{name}.onnx"))
        for mode in ("frozen", "train"):
            model = ctor()
            mm.load_onnx_weights(model, m)
            model.train(mode == "train")
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sd = model.state_dict()
            for k in KEEP[name] + (STATS[name] if mode == "train" else []):
                np.save(os.path.join(HERE, f"{name}_{mode}_{k}.npy"),
                        sd[k].detach().numpy().astype(np.float32))
            with open(os.path.join(HERE, f"{name}_{mode}_loss.txt"), "w") as f:
                f.write(repr(loss.item()) + "\n")
            print(name, mode, loss.item())


if __name__ == "__main__":
    main()
