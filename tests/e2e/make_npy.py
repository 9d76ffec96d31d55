#!/usr/bin/env python3
"""Evaluation sets for tests/e2e/memory.sh, written with the standard library only (no numpy).

  make_npy.py random DIR N C H W       N uint8 images (C,H,W) of a fixed pseudo-random pattern,
                                       int64 labels 0..N-1: DIR/test_images.npy, test_labels.npy
  make_npy.py tile IDX_DIR DIR REPEAT  the Fashion-MNIST test split as float32 images divided by
                                       255 exactly as torchvision's ToTensor does it (float32
                                       division, checked here against exact rational rounding),
                                       repeated REPEAT times, with its labels as int64
"""
import gzip
import os
import struct
import sys
from fractions import Fraction


def npy_header(descr, shape):
    d = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(d) + 1) % 64
    d = d + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode()


def float32_div_255(v):
    """The float32 nearest to v/255 (what float32 division gives), checked exactly."""
    f = struct.unpack("<f", struct.pack("<f", v / 255.0))[0]
    exact = Fraction(v, 255)
    for cand in (f, *(struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack("<f", f))[0] + k))[0]
                      for k in (-1, 1) if f > 0)):
        assert abs(Fraction(cand) - exact) >= abs(Fraction(f) - exact), v
    return struct.pack("<f", f)


def random_set(out, n, c, h, w):
    os.makedirs(out, exist_ok=True)
    x = 12345
    with open(os.path.join(out, "test_images.npy"), "wb") as f:
        f.write(npy_header("|u1", (n, c, h, w)))
        for _ in range(n):
            img = bytearray(c * h * w)
            for i in range(len(img)):
                x = (x * 1103515245 + 12345) & 0x7FFFFFFF
                img[i] = x >> 23
            f.write(img)
    with open(os.path.join(out, "test_labels.npy"), "wb") as f:
        f.write(npy_header("<i8", (n,)))
        f.write(b"".join(struct.pack("<q", i) for i in range(n)))


def tile_set(idx_dir, out, repeat):
    os.makedirs(out, exist_ok=True)
    with gzip.open(os.path.join(idx_dir, "t10k-images-idx3-ubyte.gz")) as f:
        _, n, h, w = struct.unpack(">IIII", f.read(16))
        pixels = f.read(n * h * w)
    with gzip.open(os.path.join(idx_dir, "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read(n)
    lut = [float32_div_255(v) for v in range(256)]
    block = b"".join(lut[p] for p in pixels)
    with open(os.path.join(out, "test_images.npy"), "wb") as f:
        f.write(npy_header("<f4", (n * repeat, 1, h, w)))
        for _ in range(repeat):
            f.write(block)
    lab = b"".join(struct.pack("<q", v) for v in labels)
    with open(os.path.join(out, "test_labels.npy"), "wb") as f:
        f.write(npy_header("<i8", (n * repeat,)))
        f.write(lab * repeat)


if __name__ == "__main__":
    if sys.argv[1] == "random":
        random_set(sys.argv[2], *(int(a) for a in sys.argv[3:7]))
    elif sys.argv[1] == "tile":
        tile_set(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)
