/* Loading ONNX files: clear errors for bad input, and layer statistics checked against values
 * derived by hand or by numpy (tests/data/onnx/make_fixtures.py). */
#include "slimbench.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define ONNX_DIR "tests/data/onnx/"

static sb_error load_error(const char *path)
{
    sb_model *m = NULL;
    sb_error err = {0};
    sb_status s = sb_model_load(path, &m, &err);
    cr_assert_neq(s, SB_OK, "%s loaded but should not have", path);
    cr_assert_null(m);
    return err;
}

Test(model_errors, missing_file)
{
    sb_error e = load_error(ONNX_DIR "no_such_model.onnx");
    cr_expect_eq(e.status, SB_ERR_IO);
    cr_expect_str_eq(e.msg, ONNX_DIR "no_such_model.onnx: cannot open: No such file or directory");
}

Test(model_errors, empty_file)
{
    sb_error e = load_error(ONNX_DIR "empty.onnx");
    cr_expect_str_eq(e.msg, ONNX_DIR "empty.onnx: the file is empty; expected an ONNX model");
}

Test(model_errors, not_onnx_and_truncated)
{
    const char *tail = ": not a valid ONNX model (the protobuf could not be decoded; the file may "
                       "be truncated or of another kind)";
    char want[512];
    sb_error e = load_error(ONNX_DIR "not_onnx.onnx");
    snprintf(want, sizeof want, "%s%s", ONNX_DIR "not_onnx.onnx", tail);
    cr_expect_str_eq(e.msg, want);
    e = load_error(ONNX_DIR "truncated.onnx");
    snprintf(want, sizeof want, "%s%s", ONNX_DIR "truncated.onnx", tail);
    cr_expect_str_eq(e.msg, want);
    cr_expect_eq(e.status, SB_ERR_FORMAT);
}

Test(model_errors, unsupported_operator_names_node_and_alternatives)
{
    sb_error e = load_error(ONNX_DIR "unsupported_op.onnx");
    cr_expect_eq(e.status, SB_ERR_UNSUPPORTED);
    cr_expect_str_eq(e.msg,
                     ONNX_DIR "unsupported_op.onnx: node '/relu/Relu': operator Tanh2 (opset 13) is "
                              "not supported; supported operators: Conv, Gemm, MatMul, Add, Mul, "
                              "Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Softmax, MaxPool, "
                              "AveragePool, GlobalAveragePool, BatchNormalization, Flatten, "
                              "Reshape, Concat, Identity, Dropout, Constant");
}

Test(model_errors, cycle)
{
    sb_error e = load_error(ONNX_DIR "cycle.onnx");
    cr_expect_str_eq(e.msg, ONNX_DIR "cycle.onnx: the graph has a cycle through node '/relu/Relu'");
}

Test(model_errors, dangling_input)
{
    sb_error e = load_error(ONNX_DIR "dangling.onnx");
    cr_expect_str_eq(e.msg, ONNX_DIR "dangling.onnx: node '/relu/Relu': input 'nowhere' is not "
                                     "produced by any node, initializer or graph input");
}

Test(model_errors, initializer_shorter_than_declared)
{
    sb_error e = load_error(ONNX_DIR "short_initializer.onnx");
    cr_expect_str_eq(e.msg, ONNX_DIR "short_initializer.onnx: tensor 'fc.weight': declares 24 "
                                     "elements (96 bytes) but holds 40 bytes; the file is "
                                     "truncated or corrupt");
}

Test(model_errors, external_data)
{
    sb_error e = load_error(ONNX_DIR "external_data.onnx");
    cr_expect_str_eq(e.msg, ONNX_DIR "external_data.onnx: tensor 'conv.weight' is stored in an "
                                     "external data file, which is not supported; re-export the "
                                     "model as a single file");
}

Test(model_errors, shape_mismatch)
{
    sb_error e = load_error(ONNX_DIR "shape_mismatch.onnx");
    cr_expect_eq(e.status, SB_ERR_SHAPE);
    cr_expect_str_eq(e.msg, ONNX_DIR "shape_mismatch.onnx: node '/fc/Gemm' (Gemm): inner "
                                     "dimensions differ (12 vs 8)");
}

static sb_model *load_ok(const char *path)
{
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), SB_OK, "%s", err.msg);
    return m;
}

static void read_l1_line(FILE *f, double *v, int n)
{
    for (int i = 0; i < n; i++)
        cr_assert_eq(fscanf(f, "%lf", &v[i]), 1);
}

/* tiny_ok: Conv 2x1x3x3 (+2 bias) on 1x4x4 → 2x2x2, then Gemm 8 → 3 (+3 bias). */
Test(model_stats, hand_derived_params_macs_and_numpy_l1)
{
    sb_model *m = load_ok(ONNX_DIR "tiny_ok.onnx");
    cr_assert_eq(sb_model_num_layers(m), 2);
    sb_layer_info conv, fc;
    sb_model_layer(m, 0, &conv);
    sb_model_layer(m, 1, &fc);
    cr_expect_str_eq(conv.name, "conv");
    cr_expect_eq(conv.params, 2 * 9 + 2);
    cr_expect_eq(conv.macs, 2 * 2 * 2 * 9);
    cr_expect_eq(conv.out_channels, 2);
    cr_expect_eq(fc.params, 3 * 8 + 3);
    cr_expect_eq(fc.macs, 3 * 8);
    cr_expect_eq(fc.out_channels, 3);
    double want_conv[2], want_fc[3];
    FILE *f = fopen(ONNX_DIR "tiny_ok_l1.txt", "r");
    cr_assert_not_null(f);
    read_l1_line(f, want_conv, 2);
    read_l1_line(f, want_fc, 3);
    fclose(f);
    for (int i = 0; i < 2; i++)
        cr_expect_float_eq(sb_model_layer_l1(m, 0)[i], want_conv[i], 1e-9);
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(sb_model_layer_l1(m, 1)[i], want_fc[i], 1e-9);
    cr_expect_float_eq(fc.l1_median, want_fc[0], 1e-9); /* 3.17 < 5.17 < 7.96 */
    sb_model_totals t = sb_model_totals_get(m);
    cr_expect_eq(t.params, 20 + 27);
    cr_expect_eq(t.macs, 72 + 24);
    sb_model_free(m);
}

Test(model_stats, layers_found_by_node_module_and_weight_name)
{
    sb_model *m = load_ok(ONNX_DIR "tiny_ok.onnx");
    cr_expect_eq(sb_model_find_layer(m, "conv"), 0);
    cr_expect_eq(sb_model_find_layer(m, "conv.weight"), 0);
    cr_expect_eq(sb_model_find_layer(m, "/conv/Conv"), 0);
    cr_expect_eq(sb_model_find_layer(m, "fc"), 1);
    cr_expect_eq(sb_model_find_layer(m, "fc.weight"), 1);
    cr_expect_eq(sb_model_find_layer(m, "conv.bias"), -1);
    cr_expect_eq(sb_model_find_layer(m, "nope"), -1);
    sb_model_free(m);
}

/* PyTorch shares equal initializers through Identity nodes; each layer keeps its own weight. */
Test(model_stats, shared_initializer_counts_for_each_layer)
{
    sb_model *m = load_ok(ONNX_DIR "shared_weight.onnx");
    cr_assert_eq(sb_model_num_layers(m), 2);
    sb_layer_info a, b;
    sb_model_layer(m, 0, &a);
    sb_model_layer(m, 1, &b);
    cr_expect_eq(a.params, 1);
    cr_expect_eq(b.params, 1);
    cr_expect_str_eq(b.name, "b");
    cr_expect_eq(sb_model_totals_get(m).params, 2);
    sb_model_free(m);
}

Test(model_stats, lenet5_sample_model)
{
    sb_model *m = load_ok(SB_SAMPLE_DIR "/lenet5.onnx");
    /* conv1 6@5x5 pad 2 on 28x28: 6*25+6 params, 28*28*6*25 MACs; conv2 16@5x5 on 14x14 → 10x10 */
    int conv1 = sb_model_find_layer(m, "conv1"), conv2 = sb_model_find_layer(m, "conv2.weight");
    cr_assert(conv1 >= 0 && conv2 >= 0);
    sb_layer_info l;
    sb_model_layer(m, conv1, &l);
    cr_expect_eq(l.params, 6 * 25 + 6);
    cr_expect_eq(l.macs, 28 * 28 * 6 * 25);
    sb_model_layer(m, conv2, &l);
    cr_expect_eq(l.params, 16 * 6 * 25 + 16);
    cr_expect_eq(l.macs, 10 * 10 * 16 * 6 * 25);
    cr_expect_str_eq(sb_model_meta(m, "preprocess.mean"), "0.2860");
    sb_model_free(m);
}

static void *gunzip_file(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    int got;
    while (f && buf && (got = gzread(f, buf + n, (unsigned)(cap - n))) > 0) {
        n += (size_t)got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    if (f)
        gzclose(f);
    *len = n;
    return buf;
}

/* torchvision ResNet-50 exported in eval mode: the exporter folds BatchNorm into the convs,
 * leaving 25,530,472 Conv/Gemm parameters, and the model needs 4.089 G MACs at 224x224. */
Test(model_stats, torchvision_resnet50_params_and_macs, .timeout = 120)
{
    size_t len;
    void *buf = gunzip_file(SB_FIXTURE_DIR "/resnet50_const.onnx.gz", &len);
    bool ok = buf && len > 1000000;
    if (!ok)
        free(buf);
    cr_assert(ok, "cannot read the ResNet-50 fixture");
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load_mem(buf, len, "resnet50", &m, &err), SB_OK, "%s", err.msg);
    free(buf);
    sb_model_totals t = sb_model_totals_get(m);
    cr_expect_eq(sb_model_num_layers(m), 54); /* 53 convs + fc */
    cr_expect_eq(t.params, 25530472);
    cr_expect(fabs((double)t.macs / 1e9 - 4.089) < 0.0005, "MACs %lld", (long long)t.macs);
    sb_model_free(m);
}

/* The per-step profile names the fused ops and kernels of each plan step. mobilenet_se's graph
 * has 67 nodes; fusion leaves 43 steps (each hard-swish Conv+BN+HardSigmoid+Mul is one step). */
static int count_steps(const sb_profile *p, const char *op, const char *kernel_prefix)
{
    int n = 0;
    for (int i = 0; i < p->n_steps; i++)
        n += strcmp(p->steps[i].op, op) == 0 &&
             strncmp(p->steps[i].kernel, kernel_prefix, strlen(kernel_prefix)) == 0;
    return n;
}

Test(model_profile, steps_name_fused_ops_and_kernels)
{
    sb_model *m = load_ok(SB_SAMPLE_DIR "/mobilenet_se.onnx");
    sb_profile p;
    sb_error err = {0};
    cr_assert_eq(sb_profile_steps(m, 1, 0.0, NULL, &p, &err), SB_OK, "%s", err.msg);
    cr_expect_eq(p.n_steps, 43);
    cr_expect_geq(p.runs, 3);
    /* stem + 5 expand + head are 1x1/3x3 GEMMs, 5 depthwise: all with the hard-swish pair */
    cr_expect_eq(count_steps(&p, "Conv+BatchNormalization+HardSigmoid+Mul", "1x1-gemm/"), 6);
    cr_expect_eq(count_steps(&p, "Conv+BatchNormalization+HardSigmoid+Mul", "implicit-gemm/"), 1);
    cr_expect_eq(count_steps(&p, "Conv+BatchNormalization+HardSigmoid+Mul", "dw-direct/"), 5);
    for (int i = 0; i < p.n_steps; i++)
        cr_expect(p.steps[i].median_ms >= 0 && p.steps[i].min_ms <= p.steps[i].median_ms);
    sb_profile_free(&p);
    sb_model_free(m);

    m = load_ok(SB_SAMPLE_DIR "/resnet8.onnx");
    cr_assert_eq(sb_profile_steps(m, 2, 0.0, NULL, &p, &err), SB_OK, "%s", err.msg);
    cr_expect_eq(p.batch, 2);
    cr_expect_eq(count_steps(&p, "Add+Relu", "elementwise"), 3);
    /* the downsample convs' BatchNorms sit after another conv in the node order: still folded */
    cr_expect_eq(count_steps(&p, "BatchNormalization", ""), 0);
    sb_profile_free(&p);
    sb_model_free(m);
}

/* A plan's conv workspace is sized for the threads of its time: raising the thread count after
 * a run must rebuild the plan (the old one overflowed its workspace, seen under ASan), and the
 * result does not depend on the thread count. */
Test(model_plan, more_threads_after_a_run)
{
    enum { N = 4, PER = 28 * 28, CLASSES = 10 };
    sb_model *m = load_ok(SB_SAMPLE_DIR "/resnet8.onnx");
    static float x[N * PER];
    for (int i = 0; i < N * PER; i++)
        x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    sb_tensor in = {.dtype = SB_F32, .shape = {.rank = 4, .dim = {N, 1, 28, 28}}, .data = x};
    sb_tensor out1, out2;
    sb_error err = {0};
    omp_set_num_threads(1);
    cr_assert_eq(sb_model_run(m, 1, &in, 1, &out1, &err), SB_OK, "%s", err.msg);
    omp_set_num_threads(2);
    cr_assert_eq(sb_model_run(m, 1, &in, 1, &out2, &err), SB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(out1.data, out2.data, N * CLASSES * sizeof(float)), 0);
    sb_tensor_free(&out1);
    sb_tensor_free(&out2);
    sb_model_free(m);
}
