#!/usr/bin/python3
"""Build slimbench's sample models and test fixtures.

Trains three small Fashion-MNIST classifiers (lenet5, resnet8, mobilenet_se),
exports them to ONNX (opset 13, BatchNormalization kept as nodes), and writes
reference fixtures computed by PyTorch into sample_models/fixtures/.

Run:  /usr/bin/python3 sample_models/make_models.py
No network access is needed; data comes from Debian's Fashion-MNIST IDX files.
See sample_models/README.md for the exact fixture definitions.
"""
import copy
import csv
import gzip
import os
import random
import sys
import time
import warnings

# Other jobs may share the 2 cores; spinning OpenMP threads then make every
# small op wait a scheduler slice.  Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_numpy_ref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
DATA = "/usr/share/datasets/fashion-mnist"

MEAN = 0.2860
STD = 0.3530
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
OPSET = 13

torch.set_num_threads(2)


def _tune_malloc():
    # glibc returns large freed blocks to the OS by default, so every
    # activation tensor of a training step page-faults anew (this seemed to
    # slow mobilenet_se training a lot in this VM).  Keep freed memory instead.
    # Affects speed only, not results.
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD (max allowed)
        libc.mallopt(-1, 1 << 30)           # M_TRIM_THRESHOLD
    except Exception:
        pass


_tune_malloc()


def seed_all(seed=0):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------

def read_idx(path):
    """Read a gzip'd IDX file (big-endian header) into a numpy array."""
    with gzip.open(path, "rb") as f:
        buf = f.read()
    zero, dtype_code, ndim = buf[0] | buf[1], buf[2], buf[3]
    assert zero == 0 and dtype_code == 0x08, "expected unsigned-byte IDX"
    dims = [int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    arr = np.frombuffer(buf, dtype=np.uint8, offset=off)
    assert arr.size == int(np.prod(dims))
    return arr.reshape(dims)


def load_split(split):
    x = read_idx(os.path.join(DATA, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA, f"{split}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def preprocess(u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28]; exactly ToTensor+Normalize."""
    mean = torch.tensor(MEAN, dtype=torch.float32)
    std = torch.tensor(STD, dtype=torch.float32)
    x = u8.float().div(255)
    x = (x - mean) / std
    return x.reshape(-1, 1, 28, 28)


def augment(x, gen, mode):
    """Light augmentation on a preprocessed batch: random h-flip ("flip") and
    optionally random translation by up to 2 px ("flip+shift"; padding with the
    normalised background value)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if mode == "flip":
        return x
    assert mode == "flip+shift"
    bg = float((torch.tensor(0.0) - MEAN) / STD)
    xp = F.pad(x, (2, 2, 2, 2), value=bg)
    dy = torch.randint(0, 5, (n,), generator=gen)
    dx = torch.randint(0, 5, (n,), generator=gen)
    base = torch.arange(28)
    rows = (base[None, :] + dy[:, None])[:, :, None]  # n,28,1
    cols = (base[None, :] + dx[:, None])[:, None, :]  # n,1,28
    idx = torch.arange(n)[:, None, None]
    return xp[idx, 0, rows, cols].unsqueeze(1).contiguous()


# ----------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------

class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + idt)


class ResNet8(nn.Module):
    """stem conv(16)+BN+relu, 3 stages of one basic block (16/32/64),
    stride 2 + 1x1 conv/BN shortcut at stages 2 and 3, GAP, fc10."""

    def __init__(self, widths=(16, 32, 64)):
        super().__init__()
        w1, w2, w3 = widths
        self.conv1 = nn.Conv2d(1, w1, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self.layer1 = nn.Sequential(BasicBlock(w1, w1, 1))
        self.layer2 = nn.Sequential(BasicBlock(w1, w2, 2))
        self.layer3 = nn.Sequential(BasicBlock(w2, w3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


class SqueezeExcite(nn.Module):
    def __init__(self, ch, sq):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(ch, sq, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(sq, ch, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x):
        s = self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))
        return x * s


class InvertedResidual(nn.Module):
    def __init__(self, cin, exp, cout, stride):
        super().__init__()
        self.use_res = stride == 1 and cin == cout
        self.expand = nn.Sequential(nn.Conv2d(cin, exp, 1, bias=False),
                                    nn.BatchNorm2d(exp), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(exp, exp, 3, stride, 1, groups=exp, bias=False),
                                nn.BatchNorm2d(exp), nn.Hardswish())
        sq = max(8, (exp // 4 + 4) // 8 * 8)
        self.se = SqueezeExcite(exp, sq)
        self.project = nn.Sequential(nn.Conv2d(exp, cout, 1, bias=False),
                                     nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.project(self.se(self.dw(self.expand(x))))
        return x + y if self.use_res else y


class MobileNetSE(nn.Module):
    # (cin, expand, cout, stride)
    CFG = [(16, 48, 24, 2),   # 28x28 -> 14x14
           (24, 96, 24, 1),
           (24, 96, 48, 2),   # -> 7x7
           (48, 144, 48, 1),
           (48, 144, 48, 1)]

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(*[InvertedResidual(*c) for c in self.CFG])
        self.head = nn.Sequential(nn.Conv2d(48, 192, 1, bias=False),
                                  nn.BatchNorm2d(192), nn.Hardswish())
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(192, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# name -> (constructor, conv module used for the l1_channel case, BN after it or None)
MODELS = {
    "lenet5": (LeNet5, "conv1", None),
    "resnet8": (ResNet8, "layer2.0.conv1", "layer2.0.bn1"),
    # The SE reduce conv: its channels feed only a ReLU and the SE expand conv, so zeroing
    # them is exactly removing its channel group (an expand conv's group would also hold the
    # depthwise conv and the SE gate, which zeroing one conv does not model).
    "mobilenet_se": (MobileNetSE, "blocks.1.se.fc1", None),
}

# training recipes (epochs, optimiser, peak lr, weight decay, augment); the
# *_EPOCHS environment variables only exist for quick experiments.
RECIPES = {
    "lenet5": dict(epochs=int(os.environ.get("LENET_EPOCHS", 10)), opt="adam",
                   lr=3e-3, wd=0.0, aug=None),
    "resnet8": dict(epochs=int(os.environ.get("RESNET_EPOCHS", 15)), opt="sgd",
                    lr=0.1, wd=5e-4, aug=os.environ.get("RESNET_AUG", "flip+shift")),
    "mobilenet_se": dict(epochs=int(os.environ.get("MOBILENET_EPOCHS", 8)), opt="adamw",
                         lr=4e-3, wd=1e-2, aug=os.environ.get("MOBILENET_AUG", "flip+shift")),
}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------
# training / evaluation
# ----------------------------------------------------------------------------

def train(name, model, xtr, ytr, xte, yte, epochs, opt, lr, wd, aug, bs=128):
    gen = torch.Generator().manual_seed(1234)
    if opt == "sgd":
        optim = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9,
                                weight_decay=wd, nesterov=True)
    elif opt == "adam":
        optim = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    else:
        optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps_per_epoch = (len(xtr) + bs - 1) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
        pct_start=0.2)
    model.to(memory_format=torch.channels_last)  # ~1.5x faster with oneDNN
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        tot_loss = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = xtr[idx], ytr[idx]
            if aug:
                xb = augment(xb, gen, aug)
            xb = xb.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(xb), yb)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            tot_loss += loss.item() * len(idx)
        correct, _ = evaluate(model, xte, yte)
        print(f"  [{name}] epoch {ep + 1}/{epochs} loss {tot_loss / len(xtr):.4f} "
              f"test top1 {100.0 * correct / len(xte):.2f}%  ({time.time() - t0:.0f}s)",
              flush=True)
    model.eval()
    model.to(memory_format=torch.contiguous_format)
    return time.time() - t0


@torch.no_grad()
def predict(model, x, bs=1000):
    model.eval()
    return torch.cat([model(x[i:i + bs]) for i in range(0, len(x), bs)])


def evaluate(model, x, y):
    logits = predict(model, x)
    return int((logits.argmax(1) == y).sum()), logits


# ----------------------------------------------------------------------------
# compression cases
# ----------------------------------------------------------------------------

def prunable_weights(model):
    """Conv/Linear weight tensors, in named_parameters order."""
    mods = dict(model.named_modules())
    out = []
    for pname, p in model.named_parameters():
        mname, _, leaf = pname.rpartition(".")
        if leaf == "weight" and isinstance(mods[mname], (nn.Conv2d, nn.Linear)):
            out.append((pname, p))
    return out


@torch.no_grad()
def global_magnitude(model, ratio):
    ws = prunable_weights(model)
    flat = torch.cat([p.detach().reshape(-1).abs() for _, p in ws])
    total = flat.numel()
    k = int(round(ratio * total))
    order = np.argsort(flat.numpy(), kind="stable")
    mask = np.ones(total, dtype=bool)
    mask[order[:k]] = False
    off = 0
    for _, p in ws:
        n = p.numel()
        m = torch.from_numpy(mask[off:off + n].copy()).reshape(p.shape)
        p[~m] = 0.0
        off += n
    return k, total


@torch.no_grad()
def l1_channel(model, conv_name, bn_name, ratio=0.5):
    mods = dict(model.named_modules())
    conv = mods[conv_name]
    w = conv.weight
    cout = w.shape[0]
    l1 = w.abs().sum(dim=(1, 2, 3))
    k = int(round(ratio * cout))
    removed = sorted(np.argsort(l1.numpy(), kind="stable")[:k].tolist())
    idx = torch.tensor(removed, dtype=torch.long)
    w[idx] = 0.0
    if conv.bias is not None:
        conv.bias[idx] = 0.0
    if bn_name is not None:
        bn = mods[bn_name]
        bn.weight[idx] = 0.0
        bn.bias[idx] = 0.0
    return removed


@torch.no_grad()
def fake_quant(model, bits):
    qmax = float(2 ** (bits - 1) - 1)
    for _, p in prunable_weights(model):
        w = p.detach()
        flat = w.reshape(w.shape[0], -1)
        scale = flat.abs().amax(dim=1) / qmax  # float32
        scale = torch.where(scale == 0, torch.ones_like(scale), scale)
        shp = (-1,) + (1,) * (w.dim() - 1)
        q = torch.clamp(torch.round(w / scale.reshape(shp)), -qmax, qmax)
        p.copy_(q * scale.reshape(shp))


# ----------------------------------------------------------------------------
# ONNX export / inspection
# ----------------------------------------------------------------------------

def export_onnx(model, path):
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    # torch warns about constant folding with PRESERVE even though the model is
    # in eval() mode (only a training-mode model would be affected).
    warnings.filterwarnings("ignore", message="It is recommended that constant folding")
    torch.onnx.export(model, dummy, path, opset_version=OPSET,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=True)
    m = onnx.load(path)
    meta = {
        "preprocess.scale": "255",
        "preprocess.mean": "0.2860",
        "preprocess.std": "0.3530",
        "preprocess.layout": "NCHW",
        "labels": ",".join(LABELS),
        "dataset": "fashion-mnist",
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return m


def onnx_weight_nodes(m):
    """[(node_name, op, weight_initializer)] for every Conv/Gemm node."""
    return [(n.name, n.op_type, n.input[1]) for n in m.graph.node
            if n.op_type in ("Conv", "Gemm")]


def identity_aliases(m):
    """{identity_output: initializer_name} for Identity nodes fed by an initializer."""
    names = {i.name for i in m.graph.initializer}
    return {n.output[0]: n.input[0] for n in m.graph.node
            if n.op_type == "Identity" and n.input[0] in names}


def load_onnx_weights(model, m):
    """Copy the ONNX initializers back into a PyTorch model (by name)."""
    inits = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy())
             for i in m.graph.initializer}
    # The exporter deduplicates bit-identical initializers: the second name
    # then becomes the output of an Identity node fed by the first one.
    for alias, src in identity_aliases(m).items():
        inits[alias] = inits[src]
    sd = model.state_dict()
    missing = []
    for k in sd:
        if k in inits:
            sd[k] = inits[k]
        elif not k.endswith("num_batches_tracked"):
            missing.append(k)
    assert not missing, f"state_dict keys not found as ONNX initializers: {missing}"
    model.load_state_dict(sd)


# ----------------------------------------------------------------------------
# torchvision ResNet-50 parameter-count fixture
# ----------------------------------------------------------------------------

def resnet50_const(path_gz):
    import torchvision
    seed_all(0)
    model = torchvision.models.resnet50()
    model.eval()
    with torch.no_grad():
        for i, (_, p) in enumerate(model.named_parameters()):
            p.fill_(0.001 * (i + 1))
    tmp = path_gz[:-3]
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), tmp, opset_version=OPSET,
                      input_names=["input"], output_names=["logits"],
                      do_constant_folding=True)
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    inits = {i.name: i for i in m.graph.initializer}
    # resolve names produced by Identity nodes (initializer deduplication)
    alias = {}
    n_identity_init = 0
    for n in m.graph.node:
        if n.op_type == "Identity" and n.input[0] in inits:
            alias[n.output[0]] = n.input[0]
            n_identity_init += 1

    def resolve(name):
        while name in alias:
            name = alias[name]
        return name

    total = 0
    n_nodes = 0
    seen_uses = 0
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        n_nodes += 1
        for inp in n.input[1:3]:
            if not inp:
                continue
            r = resolve(inp)
            assert r in inits, f"{n.name}: input {inp} is not an initializer"
            total += int(np.prod(inits[r].dims))
            seen_uses += 1
    n_bn = sum(1 for n in m.graph.node if n.op_type == "BatchNormalization")
    with open(tmp, "rb") as f, gzip.open(path_gz, "wb", compresslevel=9) as g:
        g.write(f.read())
    raw = os.path.getsize(tmp)
    os.remove(tmp)
    return dict(total=total, conv_gemm_nodes=n_nodes, identity_from_init=n_identity_init,
                n_initializers=len(inits), bn_nodes=n_bn, onnx_bytes=raw,
                gz_bytes=os.path.getsize(path_gz))


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------

def write_csv(fname, header, rows, models):
    """Write rows for `models`, keeping other models' rows of an existing file
    (so that a single model can be rebuilt with `make_models.py NAME`)."""
    path = os.path.join(FIX, fname)
    keep = []
    if os.path.exists(path):
        with open(path, newline="") as f:
            old = list(csv.reader(f))
        if old and old[0] == header:
            keep = [tuple(r) for r in old[1:] if r and r[0] not in models]
    allrows = [tuple(map(str, r)) for r in rows] + keep
    order = {m: i for i, m in enumerate(MODELS)}
    allrows.sort(key=lambda r: order[r[0]])  # stable: case order kept
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(allrows)


def main():
    args = sys.argv[1:] or list(MODELS) + ["resnet50"]
    unknown = [a for a in args if a not in MODELS and a != "resnet50"]
    if unknown:
        sys.exit(f"unknown model(s) {unknown}; choose from {list(MODELS) + ['resnet50']}")
    only = [m for m in MODELS if m in args]
    do_r50 = "resnet50" in args
    os.makedirs(FIX, exist_ok=True)
    t_all = time.time()
    xtr_u8, ytr = load_split("train")
    xte_u8, yte = load_split("t10k")
    xtr, xte = preprocess(xtr_u8), preprocess(xte_u8)
    print(f"data: train {tuple(xtr.shape)} test {tuple(xte.shape)}", flush=True)

    rows, l1rows, pnrows, summary = [], [], [], []
    for name in only:
        ctor, conv_name, bn_name = MODELS[name]
        seed_all(0)
        model = ctor()
        print(f"== {name}: {n_params(model)} params", flush=True)
        ttrain = train(name, model, xtr, ytr, xte, yte, **RECIPES[name])
        path = os.path.join(HERE, f"{name}.onnx")
        m = export_onnx(model, path)

        # Reload the exported weights so that every fixture is computed from
        # exactly the float32 values stored in the .onnx file.
        ref = ctor()
        load_onnx_weights(ref, m)
        ref.eval()

        ops = sorted({n.op_type for n in m.graph.node})
        n_bn = sum(1 for n in m.graph.node if n.op_type == "BatchNormalization")
        wnodes = onnx_weight_nodes(m)
        init_names = {i.name for i in m.graph.initializer} | set(identity_aliases(m))
        pnames = {k for k, _ in ref.named_parameters()}
        for node, op, w in wnodes:
            assert w in init_names and w in pnames, (name, node, w)
            pnrows.append((name, node, op, w))
        if isinstance(ref, (ResNet8, MobileNetSE)):
            assert n_bn > 0, "BatchNormalization nodes were folded away"

        def case(cname, mdl):
            c, logits = evaluate(mdl, xte, yte)
            rows.append((name, cname, c, len(xte), f"{100.0 * c / len(xte):.4f}"))
            print(f"  {name:13s} {cname:22s} {c:5d}/{len(xte)}  {100.0 * c / len(xte):.4f}%",
                  flush=True)
            return c, logits

        base_correct, base_logits = case("base", ref)
        np.save(os.path.join(FIX, f"{name}_logits256.npy"),
                base_logits[:256].numpy().astype(np.float32))
        # independent check of the .onnx file with a float64 numpy interpreter
        ref_np = onnx_numpy_ref.run(onnx.load(path), xte[:256].numpy())[0]
        diff = float(np.abs(ref_np - base_logits[:256].numpy()).max())
        agree = int((ref_np.argmax(1) == base_logits[:256].numpy().argmax(1)).sum())
        print(f"  onnx numpy check: max|diff| {diff:.2e}, argmax agree {agree}/256", flush=True)
        assert diff < 1e-3 and agree == 256

        for r in (50, 70, 90):
            mm = copy.deepcopy(ref)
            k, total = global_magnitude(mm, r / 100.0)
            case(f"global_magnitude_{r}", mm)
        mm = copy.deepcopy(ref)
        removed = l1_channel(mm, conv_name, bn_name)
        case("l1_channel_50", mm)
        node = [n for n, op, w in wnodes if w == conv_name + ".weight"]
        assert len(node) == 1
        l1rows.append((name, node[0], conv_name + ".weight", " ".join(map(str, removed))))
        for bits in (8, 4):
            mm = copy.deepcopy(ref)
            fake_quant(mm, bits)
            case(f"int{bits}_channel_sym", mm)

        summary.append(dict(name=name, params=n_params(ref), train_s=ttrain,
                            top1=100.0 * base_correct / len(xte), ops=ops, bn=n_bn,
                            size=os.path.getsize(path)))

        if name == "lenet5":
            sgd_step_fixture(ref, xtr_u8, ytr)

    write_csv("fixtures.csv", ["model", "case", "correct", "total", "top1"], rows, only)
    write_csv("l1_channel_cases.csv",
              ["model", "onnx_node", "weight_initializer", "removed_channels"], l1rows, only)
    write_csv("param_names.csv", ["model", "onnx_node", "op", "weight_initializer"],
              pnrows, only)
    r50 = None
    if do_r50:
        r50 = resnet50_const(os.path.join(FIX, "resnet50_const.onnx.gz"))

    print("\n==== summary ====")
    print(f"{'model':13s} {'params':>8s} {'top1%':>8s} {'train_s':>8s} {'onnx_B':>9s} BN")
    for s in summary:
        print(f"{s['name']:13s} {s['params']:8d} {s['top1']:8.2f} {s['train_s']:8.0f} "
              f"{s['size']:9d} {s['bn']}")
        print(f"{'':13s} ops: {' '.join(s['ops'])}")
    print(f"\n{'model':13s} {'case':22s} {'correct':>7s} {'top1%':>9s}")
    for r in rows:
        print(f"{r[0]:13s} {r[1]:22s} {r[2]:7d} {r[4]:>9s}")
    if r50:
        print(f"\nresnet50_const: conv+gemm weight+bias elements = {r50['total']} "
              f"({r50['conv_gemm_nodes']} Conv/Gemm nodes, {r50['n_initializers']} initializers, "
              f"{r50['identity_from_init']} Identity-of-initializer nodes, "
              f"{r50['bn_nodes']} BN nodes), onnx {r50['onnx_bytes']} B, "
              f"gz {r50['gz_bytes']} B")
    print(f"total time {time.time() - t_all:.0f}s")


def sgd_step_fixture(ref, xtr_u8, ytr):
    model = copy.deepcopy(ref)
    model.train()
    xb = preprocess(xtr_u8[:32])
    yb = ytr[:32]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    opt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    d = os.path.join(FIX, "lenet5_sgd_step")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(FIX, "lenet5_sgd_step_loss.txt"), "w") as f:
        f.write(repr(loss.item()) + "\n")
    for k, p in model.named_parameters():
        np.save(os.path.join(d, f"{k}.npy"), p.detach().numpy().astype(np.float32))
    print(f"  lenet5 sgd step: loss {loss.item()!r}", flush=True)


if __name__ == "__main__":
    main()
