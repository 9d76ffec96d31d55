#!/usr/bin/python3
"""Writes the small ONNX files the loader tests use (python3-onnx and numpy only, no torch).
Run from this directory: /usr/bin/python3 make_fixtures.py"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def save(model, name, opset=13):
    model.opset_import[0].version = opset
    with open(name, "wb") as f:
        f.write(model.SerializeToString())


def tiny_graph(nodes, inits, in_shape=(1, 1, 4, 4), out_name="y", out_shape=(1, 3)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *in_shape[1:]])
    y = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", *out_shape[1:]])
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits))


def tiny_ok():
    inits = [numpy_helper.from_array(f32(2, 1, 3, 3), "conv.weight"),
             numpy_helper.from_array(f32(2), "conv.bias"),
             numpy_helper.from_array(f32(3, 8), "fc.weight"),
             numpy_helper.from_array(f32(3), "fc.bias")]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                              pads=[0, 0, 0, 0]),
             helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="/Flatten", axis=1),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="/fc/Gemm",
                              transB=1)]
    return tiny_graph(nodes, inits)


def main():
    ok = tiny_ok()
    save(ok, "tiny_ok.onnx")
    data = open("tiny_ok.onnx", "rb").read()
    open("truncated.onnx", "wb").write(data[: len(data) // 2])
    open("not_onnx.onnx", "wb").write(b"this is a text file, not a model\n" * 4)
    open("empty.onnx", "wb").write(b"")

    m = tiny_ok()
    m.graph.node[1].op_type = "Tanh2"
    save(m, "unsupported_op.onnx")

    m = tiny_ok()  # relu reads its own output through a second node: a cycle
    m.graph.node[1].input[0] = "loop"
    m.graph.node.insert(2, helper.make_node("Identity", ["r"], ["loop"], name="back"))
    save(m, "cycle.onnx")

    m = tiny_ok()
    m.graph.node[1].input[0] = "nowhere"
    save(m, "dangling.onnx")

    m = tiny_ok()  # raw_data shorter than the declared dims
    w = m.graph.initializer[2]
    w.raw_data = w.raw_data[:40]
    save(m, "short_initializer.onnx")

    m = tiny_ok()
    w = m.graph.initializer[0]
    w.data_location = TensorProto.EXTERNAL
    e = w.external_data.add()
    e.key, e.value = "location", "weights.bin"
    w.ClearField("raw_data")
    save(m, "external_data.onnx")

    m = tiny_ok()  # the Gemm expects 8 inputs; make the conv produce 3 channels (27 features)
    m.graph.initializer[0].CopyFrom(numpy_helper.from_array(f32(3, 1, 3, 3), "conv.weight"))
    m.graph.initializer[1].CopyFrom(numpy_helper.from_array(f32(3), "conv.bias"))
    save(m, "shape_mismatch.onnx")

    # PyTorch's exporter shares equal initializers through Identity nodes: two convs, one weight.
    wt = f32(1, 1, 1, 1)
    inits = [numpy_helper.from_array(wt, "a.weight")]
    nodes = [helper.make_node("Identity", ["a.weight"], ["b.weight"], name="Identity_0"),
             helper.make_node("Conv", ["x", "a.weight"], ["h"], name="/a/Conv"),
             helper.make_node("Conv", ["h", "b.weight"], ["y"], name="/b/Conv")]
    save(tiny_graph(nodes, inits, out_shape=(1, 1, 4, 4)), "shared_weight.onnx")

    # A model for 8x8 RGB input: evaluating it on 28x28 grey images is a shape error.
    inits = [numpy_helper.from_array(f32(10, 3 * 8 * 8), "fc.weight")]
    nodes = [helper.make_node("Flatten", ["x"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "fc.weight"], ["y"], name="/fc/Gemm", transB=1)]
    save(tiny_graph(nodes, inits, in_shape=(1, 3, 8, 8), out_shape=(1, 10)), "rgb8.onnx")


main()


def expected_stats():
    """Per-output-channel L1 norms of tiny_ok's layers, computed here with numpy, for the
    statistics test (independent of the engine)."""
    m = onnx.load("tiny_ok.onnx")
    w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    conv = np.abs(w["conv.weight"].astype(np.float64)).sum(axis=(1, 2, 3))
    fc = np.abs(w["fc.weight"].astype(np.float64)).sum(axis=1)
    with open("tiny_ok_l1.txt", "w") as f:
        f.write(" ".join("%.17g" % v for v in conv) + "\n")
        f.write(" ".join("%.17g" % v for v in fc) + "\n")


expected_stats()


def metadata_models():
    """tiny_ok with preprocessing metadata, good and bad, for the preprocessing tests."""
    cases = {
        "meta_fashion": {"preprocess.scale": "255", "preprocess.mean": "0.2860",
                         "preprocess.std": "0.3530"},
        "meta_rgb": {"preprocess.mean": "0.485,0.456,0.406", "preprocess.std": "0.229,0.224,0.225"},
        "meta_scale_bad": {"preprocess.scale": "255x"},
        "meta_scale_zero": {"preprocess.scale": "0"},
        "meta_std_zero": {"preprocess.std": "0.5, 0"},
        "meta_counts": {"preprocess.mean": "0.1,0.2,0.3", "preprocess.std": "1,2"},
        "meta_many": {"preprocess.mean": "1,2,3,4,5"},
    }
    for name, kv in cases.items():
        m = tiny_ok()
        for k, v in kv.items():
            e = m.metadata_props.add()
            e.key, e.value = k, v
        save(m, name + ".onnx")


metadata_models()
