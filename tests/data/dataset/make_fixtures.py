#!/usr/bin/env python3
"""Writes the tiny dataset fixtures read by tests/test_dataset.c (numpy and the standard library
only). Run from anywhere:  python3 tests/data/dataset/make_fixtures.py
The output is deterministic (gzip mtime 0), so running it again leaves the files unchanged.

Pixel pattern used by the valid uint8 fixtures (the C test recomputes it): value k (flat C,H,W
index) of image i is (17*i + 31*k) % 256, except image 0 value 0, which is 255.
"""
import gzip
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def out(rel):
    full = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    return full


def write(rel, data):
    with open(out(rel), "wb") as f:
        f.write(data)


def gz(data, level=9):
    return gzip.compress(data, compresslevel=level, mtime=0)


def pattern(n, *shape):
    per = int(np.prod(shape))
    i = np.arange(n)[:, None]
    k = np.arange(per)[None, :]
    a = ((17 * i + 31 * k) % 256).astype(np.uint8)
    a[0, 0] = 255
    return a.reshape((n,) + shape)


def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


def idx(arr):
    return idx_header(0x08, arr.shape) + arr.astype(np.uint8).tobytes()


def npy(rel, arr, version=None):
    with open(out(rel), "wb") as f:
        np.lib.format.write_array(f, arr, version=version)


def npy_raw(header, version=b"\x01\x00"):
    """A .npy file with a hand-written header, padded like numpy does."""
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * (pad % 64) + b"\n"
    return b"\x93NUMPY" + version + struct.pack("<H", len(text)) + text


def valid():
    # IDX, test split plain; train split: gzip images, plain labels.
    write("idx/t10k-images-idx3-ubyte", idx(pattern(5, 4, 3)))
    write("idx/t10k-labels-idx1-ubyte", idx(np.array([3, 1, 4, 1, 5])))
    write("idx/train-images-idx3-ubyte.gz", gz(idx(pattern(3, 2, 2))))
    write("idx/train-labels-idx1-ubyte", idx(np.array([7, 0, 9])))
    # IDX 4-D (N,C,H,W), given as a file: labels found beside it (idx4 -> idx1).
    write("idx4/rgb-images-idx4-ubyte", idx(pattern(2, 3, 2, 2)))
    write("idx4/rgb-labels-idx1-ubyte", idx(np.array([1, 0])))
    # NumPy: uint8 (N,H,W) with int64 labels; float32 (N,C,H,W) with int32 labels.
    npy("npy_u1/test_images.npy", pattern(4, 3, 2))
    npy("npy_u1/test_labels.npy", np.array([2, 7, 1, 8], dtype="<i8"))
    f4 = (np.arange(3 * 2 * 2 * 2, dtype=np.float32) * np.float32(0.25) - 1).reshape(3, 2, 2, 2)
    npy("npy_f4/train_images.npy", f4.astype("<f4"))
    npy("npy_f4/train_labels.npy", np.array([0, 1, 2], dtype="<i4"))
    # Given as files: labels beside (x_images -> x_labels, uint8); format versions 2.0 and 3.0.
    npy("beside/x_images.npy", pattern(2, 2, 2))
    npy("beside/x_labels.npy", np.array([5, 6], dtype=np.uint8))
    npy("versions/v2_images.npy", pattern(2, 2, 2), version=(2, 0))
    npy("versions/v3_images.npy", pattern(2, 2, 2), version=(3, 0))
    # Images without labels.
    write("no_labels/t10k-images-idx3-ubyte", idx(pattern(2, 2, 2)))


def malformed():
    ok = idx(pattern(5, 4, 3))  # 16-byte header + 60 pixels
    write("bad/truncated-images-idx3-ubyte", ok[:16 + 50])
    write("bad/trailing-images-idx3-ubyte", ok + b"\x01\x02\x03")
    # Stored (level 0) gzip, so where the cut falls is exactly known: 10-byte gzip header,
    # 5-byte stored-block header, then the IDX bytes.
    stored = gz(ok, level=0)
    write("bad/cut-images-idx3-ubyte.gz", stored[:10 + 5 + 16 + 30])
    write("bad/notrailer-images-idx3-ubyte.gz", stored[:-8])
    crc = bytearray(gz(ok))
    crc[-8] ^= 0xFF
    write("bad/crc-images-idx3-ubyte.gz", bytes(crc))
    write("bad/badmagic-images-idx3-ubyte", b"P5\n4 3\n255\n" + bytes(12))  # a PGM image
    write("bad/float-images-idx3-ubyte", idx_header(0x0D, (2, 2, 2)) + bytes(32))
    write("bad/mismatch-images-idx3-ubyte", ok)
    write("bad/mismatch-labels-idx1-ubyte", idx(np.array([1, 2, 3, 4])))
    write("bad/labelrank-images-idx3-ubyte", idx(pattern(2, 2, 2)))
    write("bad/labelrank-labels-idx1-ubyte", idx(np.array([[1], [2]])))
    write("bad/absurd-images-idx3-ubyte", idx_header(0x08, (0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)))
    write("bad/huge-images-idx3-ubyte", idx_header(0x08, (100000, 1000, 1000)) + bytes(8))
    write("bad/empty-images-idx3-ubyte", idx_header(0x08, (0, 28, 28)))

    npy("bad/fortran_images.npy", np.asfortranarray(pattern(2, 3, 4)))
    write("bad/badheader_images.npy",
          npy_raw("{'descr': '|u1', 'fortran_order': False, 'shape': [2, 2, 2], }") + bytes(8))
    write("bad/v4_images.npy",
          npy_raw("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }",
                  version=b"\x04\x00") + bytes(8))
    with open(out("bad/truncated_images.npy"), "wb") as f:
        np.lib.format.write_array(f, pattern(3, 2, 2))
    with open(out("bad/truncated_images.npy"), "r+b") as f:
        f.truncate(os.path.getsize(out("bad/truncated_images.npy")) - 2)
    npy("bad/f8_images.npy", np.zeros((2, 2, 2), dtype="<f8"))
    nan = np.zeros((2, 2, 2), dtype="<f4")
    nan[1, 1, 0] = np.nan
    npy("bad/nan_images.npy", nan)
    npy("bad/nhwc_images.npy", np.zeros((2, 5, 5, 1), dtype=np.uint8))
    npy("bad/neg_images.npy", pattern(3, 2, 2))
    npy("bad/neg_labels.npy", np.array([0, -1, 2], dtype="<i8"))


if __name__ == "__main__":
    valid()
    malformed()
