"""Tiny numpy interpreter for the ONNX ops used by slimbench's sample models.

Independent of PyTorch; make_models.py uses it to check that each exported
.onnx file reproduces the PyTorch logits.  Computes in float64 by default.

    python3 onnx_numpy_ref.py model.onnx   # runs a zero input, prints logits
"""
import sys

import numpy as np
import onnx
import onnx.numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(a, nd):
    p = list(a.get("pads", [0] * (2 * nd)))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("auto_pad")
    return p[:nd], p[nd:]


def _windows(x, kh, kw, sh, sw, dh, dw):
    """x: N,C,H,W (already padded) -> N,C,OH,OW,kh,kw view."""
    n, c, h, w = x.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw),
        (s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw), writeable=False)


def conv(x, w, b, a):
    g = a.get("group", 1)
    kh, kw = w.shape[2:]
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    (pt, pl), (pb, pr) = _pads(a, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    win = _windows(xp, kh, kw, sh, sw, dh, dw)  # N,C,OH,OW,kh,kw
    n, c = x.shape[:2]
    cout = w.shape[0]
    cig, cog = c // g, cout // g
    outs = []
    for gi in range(g):
        wg = w[gi * cog:(gi + 1) * cog]                      # cog,cig,kh,kw
        xg = win[:, gi * cig:(gi + 1) * cig]                 # N,cig,OH,OW,kh,kw
        outs.append(np.einsum("ncyxij,ocij->noyx", xg, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def maxpool(x, a):
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    (pt, pl), (pb, pr) = _pads(a, 2)
    if a.get("ceil_mode", 0):
        raise NotImplementedError("ceil_mode")
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=-np.inf)
    return _windows(xp, kh, kw, sh, sw, 1, 1).max(axis=(4, 5))


def run(model, x, dtype=np.float64):
    """Evaluate the graph on input x; returns the list of graph outputs."""
    g = model.graph
    env = {i.name: onnx.numpy_helper.to_array(i).astype(dtype)
           if onnx.numpy_helper.to_array(i).dtype.kind == "f"
           else onnx.numpy_helper.to_array(i) for i in g.initializer}
    env[g.input[0].name] = np.asarray(x, dtype=dtype)
    for node in g.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "BatchNormalization":
            xx, s, bb, m, v = i
            eps = a.get("epsilon", 1e-5)
            sh = (1, -1) + (1,) * (xx.ndim - 2)
            y = (xx - m.reshape(sh)) / np.sqrt(v.reshape(sh) + eps) * s.reshape(sh) + bb.reshape(sh)
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "MaxPool":
            y = maxpool(i[0], a)
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Gemm":
            aa = i[0].T if a.get("transA", 0) else i[0]
            bb = i[1].T if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (aa @ bb)
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "HardSigmoid":
            y = np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)
        elif op == "HardSwish":
            y = i[0] * np.clip(i[0] / 6 + 0.5, 0, 1)
        elif op == "Identity":
            y = i[0]
        elif op == "Constant":
            y = onnx.numpy_helper.to_array(a["value"])
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = y
    return [env[o.name] for o in g.output]


if __name__ == "__main__":
    m = onnx.load(sys.argv[1])
    print(run(m, np.zeros((1, 1, 28, 28)))[0])
