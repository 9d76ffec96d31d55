#!/usr/bin/python3
"""Self-test of bench/ort_run.js: builds a tiny random-weight CNN with torch, exports it
to ONNX (dynamic batch and a batch-1-fixed variant) with preprocess.* metadata, runs
the harness on the real test split and checks accuracy and --dump-logits against torch.

Usage: /usr/bin/python3 bench/selftest_ort.py [--data DIR]
Needs python3-torch, python3-onnx, node, and bench/install_ort.sh (run here first).
"""
import argparse, gzip, os, subprocess, sys, tempfile
import numpy as np, torch, torch.nn as nn, onnx

BENCH = os.path.dirname(os.path.abspath(__file__))
META = {"preprocess.scale": "255", "preprocess.mean": "0.2860", "preprocess.std": "0.3530"}


class Tiny(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 8, 3, padding=1)
        s.c2 = nn.Conv2d(8, 16, 3, padding=1)
        s.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(s, x):
        x = torch.max_pool2d(torch.relu(s.c1(x)), 2)
        x = torch.max_pool2d(torch.relu(s.c2(x)), 2)
        return s.fc(x.flatten(1))


def export(m, path, dynamic):
    torch.onnx.export(m, torch.zeros(1, 1, 28, 28), path, input_names=["input"],
                      output_names=["logits"], opset_version=13,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}} if dynamic else None)
    mp = onnx.load(path)
    for k, v in META.items():
        e = mp.metadata_props.add(); e.key = k; e.value = v
    onnx.checker.check_model(mp)
    onnx.save(mp, path)


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    subprocess.run(["bash", os.path.join(BENCH, "install_ort.sh")], check=True)
    torch.manual_seed(0)
    m = Tiny().eval()
    imgs = idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
    labs = idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz"), 8)
    x = imgs.astype(np.float32) / np.float32(255)
    x = (x - np.float32(0.2860)) / np.float32(0.3530)
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    ref_correct = int((ref.argmax(1) == labs).sum())

    passed = failed = 0
    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))
        passed, failed = passed + ok, failed + (not ok)

    with tempfile.TemporaryDirectory() as d:
        for variant, dynamic in (("tiny", True), ("tiny_b1", False)):
            model = os.path.join(d, variant + ".onnx")
            export(m, model, dynamic)
            dump = os.path.join(d, variant + "_logits.bin")
            r = subprocess.run(["node", os.path.join(BENCH, "ort_run.js"), model, "--data", a.data,
                                "--latency-seconds", "0.2", "--dump-logits", "8", dump],
                               capture_output=True, text=True)
            sys.stderr.write(r.stderr)
            print(r.stdout, end="")
            check(f"{variant}: exit 0", r.returncode == 0, f"rc={r.returncode}")
            if r.returncode != 0:
                continue
            hdr, row = r.stdout.strip().splitlines()
            rec = dict(zip(hdr.split(","), row.split(",")))
            check(f"{variant}: correct == torch ({ref_correct})", int(rec["correct"]) == ref_correct, rec["correct"])
            check(f"{variant}: batch column", rec["batch"] == ("256" if dynamic else "1"), rec["batch"])
            got = np.fromfile(dump, "<f4").reshape(8, 10)
            diff = float(np.abs(got - ref[:8]).max())
            check(f"{variant}: dump-logits vs torch max abs diff < 1e-5", diff < 1e-5, f"{diff:.3g}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
