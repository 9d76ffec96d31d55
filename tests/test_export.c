/* ONNX export (engine/export.c). Float exports re-loaded by slimbench must give bit-identical
 * logits and layer statistics. Quantised weights are decoded from the written file ((q - zp) x
 * scale, as ONNX defines DequantizeLinear) and must equal the fake-quantised floats bit for bit.
 * Every export is run by ONNX Runtime and compared with slimbench's run of the in-memory model:
 * float exports through bench/ort_run.js (max |diff| 1e-4); quantised ones twice, unoptimised
 * (tests/e2e/ort_check.js --exact: the file as ONNX defines it) and as deployed (ort_run.js,
 * whose optimiser may rewrite QDQ: top-1 agreement). ORT checks skip only when node or build/ort
 * (bench/install_ort.sh) is missing.
 *
 * Hand-built models cover what the sample models do not: opset 6 (Clip/Softmax/broadcast forms
 * the export converts, a 1-D conv, a computed broadcast operand) and opset 14 (auto_pad,
 * ceil_mode, count_include_pad, a grouped dilated conv, Concat, a MatMul layer). */
#include "compress.h"
#include "model.h"
#include "testutil.h"

#include "onnx.pb-c.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_CHECK 64   /* images compared logit by logit */
#define N_AGREE 1000 /* images compared by top-1 prediction (quantised exports) */
#define CHUNK 100    /* images per sb_model_run call */
#define TOL_FLOAT 1e-4
#define TOL_QUANT 1e-3
#define MIN_AGREE 0.99

static const char *const sample_models[] = {"lenet5", "resnet8", "mobilenet_se"};
#define N_SAMPLES (int)(sizeof sample_models / sizeof sample_models[0])

/* ---- temporary directory, one per test ---- */

static char tmpdir[64];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/sb_export_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "cannot create a temporary directory");
}

static void teardown(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

TestSuite(export, .init = setup, .fini = teardown);

/* cr_skip_test leaves the test without running .fini: clean up first. */
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        teardown();                                                                                \
        cr_skip_test(__VA_ARGS__);                                                                 \
    } while (0)

static const char *tmp_file(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *tmp_file(char *buf, size_t n, const char *fmt, ...)
{
    int w = snprintf(buf, n, "%s/", tmpdir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + w, n - (size_t)w, fmt, ap);
    va_end(ap);
    return buf;
}

/* ---- running models ---- */

static sb_model *load(const char *path)
{
    sb_model *m = NULL;
    sb_error err = {0};
    sb_status s = sb_model_load(path, &m, &err);
    cr_assert_eq(s, SB_OK, "loading %s: %s", path, err.msg);
    return m;
}

static void export_to(const sb_model *m, const char *path)
{
    sb_error err = {0};
    sb_status s = sb_model_export_onnx(m, path, &err);
    cr_assert_eq(s, SB_OK, "exporting to %s: %s", path, err.msg);
}

/* The first n test images, preprocessed as the model's metadata says. */
static float *test_images(const sb_model *m, int n)
{
    sb_dataset *d = NULL;
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &d, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK, "%s", err.msg);
    cr_assert_geq(sb_dataset_count(d), n);
    sb_shape s = sb_dataset_image_shape(d);
    float *x = malloc((size_t)n * (size_t)sb_shape_count(&s) * sizeof *x);
    cr_assert_not_null(x);
    sb_dataset_fill(d, &pp, 0, n, x);
    sb_dataset_free(d);
    return x;
}

/* Logits of n images through sb_model_run, CHUNK at a time. */
static float *run_logits(sb_model *m, const float *x, int n, int *classes)
{
    sb_shape in = sb_model_input_shape(m);
    int64_t per = 1;
    for (int i = 1; i < in.rank; i++)
        per *= in.dim[i];
    float *out = NULL;
    for (int start = 0; start < n; start += CHUNK) {
        int b = n - start < CHUNK ? n - start : CHUNK;
        sb_tensor t = {.dtype = SB_F32, .shape = in, .data = (void *)(x + start * per)};
        t.shape.dim[0] = b;
        sb_tensor y = {0};
        sb_error err = {0};
        sb_status s = sb_model_run(m, 1, &t, 1, &y, &err);
        cr_assert_eq(s, SB_OK, "sb_model_run: %s", err.msg);
        int k = (int)(sb_shape_count(&y.shape) / b);
        if (!out) {
            *classes = k;
            out = malloc((size_t)n * (size_t)k * sizeof *out);
            cr_assert_not_null(out);
        }
        memcpy(out + (size_t)start * (size_t)k, y.data, (size_t)b * (size_t)k * sizeof *out);
        sb_tensor_free(&y);
    }
    return out;
}

static int argmax(const float *row, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        worst = d > worst || isnan(d) ? d : worst;
    }
    return worst;
}

static double agreement(const float *a, const float *b, int n, int k)
{
    int same = 0;
    for (int i = 0; i < n; i++)
        same += argmax(a + (size_t)i * k, k) == argmax(b + (size_t)i * k, k);
    return (double)same / n;
}

/* ---- ONNX Runtime through bench/ort_run.js ---- */

/* Whether node and onnxruntime-node are there. (tests/e2e/ort_check.js is part of the
 * repository: its absence is a failure, not a reason to skip.) */
static bool ort_installed(void)
{
    return system("node --version >/dev/null 2>&1") == 0 &&
           access("build/ort/node_modules/onnxruntime-node/package.json", R_OK) == 0;
}

/* Logits of the first n test images as ONNX Runtime computes them for the file at `model`. */
static float *ort_logits(const char *model, int n, int classes)
{
    char out[512], log[512], cmd[2048];
    tmp_file(out, sizeof out, "ort_logits.bin");
    tmp_file(log, sizeof log, "ort_run.log");
    snprintf(cmd, sizeof cmd,
             "node bench/ort_run.js '%s' --data '%s' --limit %d --batch %d --threads 1 "
             "--latency-seconds 0 --dump-logits %d '%s' >'%s' 2>&1",
             model, sb_test_data_dir(), n, CHUNK, n, out, log);
    if (system(cmd) != 0) {
        char text[4096] = {0};
        FILE *f = fopen(log, "r");
        if (f) {
            size_t got = fread(text, 1, sizeof text - 1, f);
            text[got] = 0;
            fclose(f);
        }
        cr_assert_fail("ONNX Runtime failed on %s:\n%s", model, text);
    }
    float *y = malloc((size_t)n * (size_t)classes * sizeof *y);
    FILE *f = fopen(out, "rb");
    cr_assert(y && f);
    size_t got = fread(y, sizeof *y, (size_t)n * (size_t)classes, f);
    fclose(f);
    cr_assert_eq(got, (size_t)n * (size_t)classes, "%s: ORT wrote %zu logits, expected %d x %d",
                 model, got, n, classes);
    return y;
}

/* Logits of ORT without graph optimisations (tests/e2e/ort_check.js --exact) on the inputs x
 * (n images of the model's input shape): the file executed as ONNX defines it. */
static float *ort_exact_logits(const char *model, const float *x, sb_shape in, int n, int classes)
{
    char xin[512], out[512], log[512], dims[128], cmd[2048];
    tmp_file(xin, sizeof xin, "ort_in.bin");
    tmp_file(out, sizeof out, "ort_exact.bin");
    tmp_file(log, sizeof log, "ort_check.log");
    in.dim[0] = n;
    size_t count = (size_t)sb_shape_count(&in);
    FILE *f = fopen(xin, "wb");
    cr_assert(f && fwrite(x, sizeof *x, count, f) == count);
    fclose(f);
    int w = 0;
    for (int i = 0; i < in.rank; i++)
        w += snprintf(dims + w, sizeof dims - (size_t)w, "%s%lld", i ? "," : "",
                      (long long)in.dim[i]);
    snprintf(cmd, sizeof cmd, "node tests/e2e/ort_check.js '%s' '%s' %s '%s' --exact >'%s' 2>&1",
             model, xin, dims, out, log);
    if (system(cmd) != 0) {
        char text[4096] = {0};
        if ((f = fopen(log, "r"))) {
            text[fread(text, 1, sizeof text - 1, f)] = 0;
            fclose(f);
        }
        cr_assert_fail("ONNX Runtime (unoptimised) failed on %s:\n%s", model, text);
    }
    float *y = malloc((size_t)n * (size_t)classes * sizeof *y);
    f = fopen(out, "rb");
    cr_assert(y && f);
    size_t got = fread(y, sizeof *y, (size_t)n * (size_t)classes, f);
    fclose(f);
    cr_assert_eq(got, (size_t)n * (size_t)classes, "%s: ORT wrote %zu logits, expected %d x %d",
                 model, got, n, classes);
    return y;
}

typedef enum {
    EXPORT_FLOAT,   /* float weights and activations */
    EXPORT_WEIGHTS, /* quantised weights (DequantizeLinear of constants) only */
    EXPORT_ACTS,    /* quantised activations (QuantizeLinear at run time), maybe weights too */
} export_kind;

/* Compares ORT on the exported file with slimbench's logits `ref` of the in-memory model on
 * inputs x (n test images, k classes).
 * Float exports: ORT as bench/ort_run.js runs it, max |diff| <= TOL_FLOAT on N_CHECK images.
 * Quantised exports (n = N_AGREE):
 *  - ORT as deployed (bench/ort_run.js, all optimisations) may rewrite QDQ into int8 kernels and
 *    even quantise float weights that sit between DQ and Q (WeightBiasQuantization), so only
 *    top-1 agreement >= MIN_AGREE is required of it; its max |diff| is reported;
 *  - ORT unoptimised executes the file as ONNX defines it: every image within TOL_QUANT for
 *    quantised weights. Quantised activations amplify the engines' ~1e-6 float differences into a
 *    whole quantisation step where a value sits at a rounding boundary, so there only a share
 *    MIN_EXACT_SHARE of the images must be within TOL_QUANT (a wrong scale, zero point or axis
 *    moves them all). */
#define MIN_EXACT_SHARE 0.90
static void check_against_ort(const char *what, const char *file, const float *x, sb_shape in,
                              const float *ref, int n, int k, export_kind kind)
{
    float *y = ort_logits(file, n, k);
    double diff = max_abs_diff(ref, y, (size_t)N_CHECK * (size_t)k);
    double agree = agreement(ref, y, n, k);
    fprintf(stderr, "export: %-26s ORT: max |diff| %.3g on %d images, top-1 agreement %.2f%% on %d",
            what, diff, N_CHECK, 100 * agree, n);
    if (kind == EXPORT_FLOAT) {
        fprintf(stderr, "\n");
        cr_expect_leq(diff, TOL_FLOAT, "%s: ORT's logits differ from slimbench's by %g (> %g)",
                      what, diff, TOL_FLOAT);
        cr_expect_eq(agree, 1.0, "%s: top-1 agreement %.4f", what, agree);
        free(y);
        return;
    }
    cr_expect_geq(agree, MIN_AGREE, "%s: top-1 agreement with ORT %.4f < %.2f", what, agree,
                  MIN_AGREE);
    float *e = ort_exact_logits(file, x, in, n, k);
    double ediff = max_abs_diff(ref, e, (size_t)n * (size_t)k);
    double eagree = agreement(ref, e, n, k);
    int within = 0;
    for (int i = 0; i < n; i++)
        within += max_abs_diff(ref + (size_t)i * k, e + (size_t)i * k, (size_t)k) <= TOL_QUANT;
    fprintf(stderr,
            "; unoptimised ORT: max |diff| %.3g, %d of %d images within %g, agreement "
            "%.2f%%\n",
            ediff, within, n, TOL_QUANT, 100 * eagree);
    cr_expect_geq(within, kind == EXPORT_WEIGHTS ? n : (int)ceil(MIN_EXACT_SHARE * n),
                  "%s: only %d of %d images within %g of unoptimised ORT (max |diff| %g)", what,
                  within, n, TOL_QUANT, ediff);
    cr_expect_geq(eagree, MIN_AGREE, "%s: top-1 agreement with unoptimised ORT %.4f", what, eagree);
    free(e);
    free(y);
}

/* ---- comparing two slimbench models ---- */

/* Layer statistics and totals equal; b may hold `extra_consts` more float constants (scalars the
 * export adds when it converts attributes into inputs). */
static void expect_same_layers(const sb_model *a, const sb_model *b, const char *what,
                               int64_t extra_consts)
{
    cr_assert_eq(sb_model_num_layers(a), sb_model_num_layers(b), "%s: layer count", what);
    for (int l = 0; l < sb_model_num_layers(a); l++) {
        sb_layer_info x, y;
        cr_assert_eq(sb_model_layer(a, l, &x), SB_OK);
        cr_assert_eq(sb_model_layer(b, l, &y), SB_OK);
        cr_expect_str_eq(x.name, y.name, "%s: layer %d name", what, l);
        cr_expect_str_eq(x.node_name, y.node_name, "%s: layer %d node", what, l);
        cr_expect_str_eq(x.weight_name, y.weight_name, "%s: layer %d weight", what, l);
        cr_expect_str_eq(x.op, y.op, "%s: layer %d op", what, l);
        cr_expect((x.bn_name == NULL) == (y.bn_name == NULL), "%s: layer %d BN", what, l);
        if (x.bn_name && y.bn_name)
            cr_expect_str_eq(x.bn_name, y.bn_name);
        cr_expect_eq(x.out_shape.rank, y.out_shape.rank);
        for (int d = 0; d < x.out_shape.rank; d++)
            cr_expect_eq(x.out_shape.dim[d], y.out_shape.dim[d], "%s: layer %d shape", what, l);
        cr_expect_eq(x.params, y.params, "%s: layer %d params", what, l);
        cr_expect_eq(x.macs, y.macs, "%s: layer %d MACs", what, l);
        cr_expect_eq(x.zeros, y.zeros, "%s: layer %d zeros", what, l);
        cr_expect_eq(x.out_channels, y.out_channels, "%s: layer %d channels", what, l);
        cr_expect(x.l1_min == y.l1_min && x.l1_median == y.l1_median && x.l1_max == y.l1_max,
                  "%s: layer %d L1 statistics", what, l);
        const double *la = sb_model_layer_l1(a, l), *lb = sb_model_layer_l1(b, l);
        cr_expect(memcmp(la, lb, (size_t)x.out_channels * sizeof *la) == 0,
                  "%s: layer %d per-channel L1", what, l);
    }
    sb_model_totals ta = sb_model_totals_get(a), tb = sb_model_totals_get(b);
    cr_expect(ta.params == tb.params && ta.macs == tb.macs && ta.zeros == tb.zeros,
              "%s: model totals", what);
    cr_expect_eq(tb.all_params - ta.all_params, extra_consts, "%s: float constants %lld vs %lld",
                 what, (long long)ta.all_params, (long long)tb.all_params);
}

/* ---- reading the written file back with protobuf-c ---- */

/* Float i of a raw_data payload (unpacked bytes need not be aligned for float). */
static float f32_at(const ProtobufCBinaryData *d, size_t i)
{
    float v;
    cr_assert_leq((i + 1) * sizeof v, d->len);
    memcpy(&v, d->data + i * sizeof v, sizeof v);
    return v;
}

static Onnx__ModelProto *read_onnx(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s was not written", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)len + 1);
    cr_assert(buf && fread(buf, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, (size_t)len, buf);
    free(buf);
    cr_assert_not_null(mp, "%s is not a valid ModelProto", path);
    return mp;
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

static const Onnx__NodeProto *producer_of(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_output; j++)
            if (strcmp(g->node[i]->output[j], name) == 0)
                return g->node[i];
    return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int count_op(const Onnx__GraphProto *g, const char *op)
{
    int k = 0;
    for (size_t i = 0; i < g->n_node; i++)
        k += strcmp(g->node[i]->op_type, op) == 0;
    return k;
}

static const char *meta_value(const Onnx__ModelProto *mp, const char *key)
{
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (strcmp(mp->metadata_props[i]->key, key) == 0)
            return mp->metadata_props[i]->value;
    return NULL;
}

/* What every export must hold: IR 8, opset max(original, 13) of the default domain, the
 * producer, metadata copied (+ slimbench.compressed for compressed models), a symbolic batch. */
static void check_envelope(const Onnx__ModelProto *mp, const sb_model *m, int64_t opset,
                           bool compressed)
{
    cr_expect_eq(mp->ir_version, 8);
    cr_assert_eq(mp->n_opset_import, 1);
    cr_expect(!mp->opset_import[0]->domain || !*mp->opset_import[0]->domain);
    cr_expect_eq(mp->opset_import[0]->version, opset);
    cr_expect_str_eq(mp->producer_name, "slimbench");
    const char *flag = meta_value(mp, "slimbench.compressed");
    if (compressed)
        cr_expect(flag && strcmp(flag, "1") == 0, "slimbench.compressed=1 is missing");
    else
        cr_expect_null(flag, "an uncompressed model is marked compressed");
    for (int i = 0; i < m->g->n_meta; i++) {
        const char *v = meta_value(mp, m->g->meta[i].key);
        cr_expect(v && strcmp(v, m->g->meta[i].value) == 0, "metadata %s lost", m->g->meta[i].key);
    }
    const Onnx__GraphProto *g = mp->graph;
    cr_assert_eq(g->n_input, 1);
    cr_assert_eq(g->n_output, 1);
    const Onnx__TensorShapeProto *in = g->input[0]->type->tensor_type->shape;
    const Onnx__TensorShapeProto *out = g->output[0]->type->tensor_type->shape;
    cr_assert(in && out && in->n_dim >= 2 && out->n_dim == 2);
    cr_expect_str_eq(in->dim[0]->dim_param, "batch");
    cr_expect_str_eq(out->dim[0]->dim_param, "batch");
    cr_expect_eq(out->dim[1]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE);
}

/* Every layer's weight must come from a DequantizeLinear whose decoded values, (q - zp) * scale
 * computed as ONNX defines it, equal the compressed model's fake-quantised floats bit for bit. */
static void check_qdq_weights(const Onnx__GraphProto *g, const sb_model *cm)
{
    for (int l = 0; l < cm->n_layers; l++) {
        const sb_layer_config *lc = &cm->cfg.layer[l];
        const sb_value *w = &cm->g->values[cm->layers[l].weight];
        const Onnx__NodeProto *dq = producer_of(g, w->name);
        cr_assert(dq && strcmp(dq->op_type, "DequantizeLinear") == 0,
                  "layer %d: weight '%s' is not dequantised", l, w->name);
        cr_assert_null(find_init(g, w->name), "'%s' is both an initializer and computed", w->name);
        const Onnx__TensorProto *q = find_init(g, dq->input[0]), *s = find_init(g, dq->input[1]),
                                *z = find_init(g, dq->input[2]);
        cr_assert(q && s && z, "layer %d: DequantizeLinear inputs are not initializers", l);
        int type = lc->asymmetric ? ONNX__TENSOR_PROTO__DATA_TYPE__UINT8
                                  : ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
        cr_expect_eq(q->data_type, type);
        cr_expect_eq(z->data_type, type);
        cr_expect_eq(s->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        cr_assert_eq((int)q->n_dims, w->shape.rank);
        for (int d = 0; d < w->shape.rank; d++)
            cr_assert_eq(q->dims[d], w->shape.dim[d]);
        int axis = cm->layers[l].out_axis;
        int64_t count = sb_shape_count(&w->shape), channels = w->shape.dim[axis];
        int64_t cols = count / w->shape.dim[0], per = count / channels;
        bool per_channel = lc->gran == SB_GRAN_CHANNEL;
        const Onnx__AttributeProto *ax = find_attr(dq, "axis");
        if (per_channel) {
            cr_assert(s->n_dims == 1 && s->dims[0] == channels && z->n_dims == 1);
            cr_expect(ax && ax->i == axis, "layer %d: per-channel axis", l);
        } else {
            cr_assert(s->n_dims == 0 && z->n_dims == 0, "layer %d: per-tensor scale", l);
        }
        cr_assert_eq(q->raw_data.len, (size_t)count);
        const float *wd = w->data;
        int lo = lc->asymmetric ? 0 : -((1 << (lc->wbits - 1)) - 1);
        int hi = lc->asymmetric ? (1 << lc->wbits) - 1 : (1 << (lc->wbits - 1)) - 1;
        int64_t bad = 0, out_of_range = 0;
        for (int64_t i = 0; i < count; i++) {
            int64_t c = !per_channel ? 0 : axis == 0 ? i / per : i % cols;
            int code = lc->asymmetric ? q->raw_data.data[i] : (int8_t)q->raw_data.data[i];
            int zp = lc->asymmetric ? z->raw_data.data[c] : (int8_t)z->raw_data.data[c];
            out_of_range += code < lo || code > hi;
            bad += (float)(code - zp) * f32_at(&s->raw_data, (size_t)c) != wd[i];
        }
        cr_expect_eq(out_of_range, 0, "layer %d: %lld codes outside [%d, %d]", l,
                     (long long)out_of_range, lo, hi);
        cr_expect_eq(bad, 0, "layer %d: %lld of %lld dequantised weights differ", l, (long long)bad,
                     (long long)count);
    }
}

/* Each FakeQuant node must be a QuantizeLinear/DequantizeLinear pair with its scale and u8 zero
 * point. */
static void check_act_quant(const Onnx__GraphProto *g, const sb_model *cm)
{
    int n_fq = 0;
    for (int i = 0; i < cm->g->n_nodes; i++) {
        const sb_node *n = &cm->g->nodes[i];
        if (n->op != SB_OP_FAKEQUANT)
            continue;
        n_fq++;
        const Onnx__NodeProto *dq = producer_of(g, cm->g->values[n->out[0]].name);
        cr_assert(dq && strcmp(dq->op_type, "DequantizeLinear") == 0);
        const Onnx__NodeProto *q = producer_of(g, dq->input[0]);
        cr_assert(q && strcmp(q->op_type, "QuantizeLinear") == 0);
        cr_expect_str_eq(q->input[0], cm->g->values[n->in[0]].name);
        const Onnx__TensorProto *s = find_init(g, q->input[1]), *z = find_init(g, q->input[2]);
        cr_assert(s && z && s->n_dims == 0 && z->n_dims == 0);
        cr_expect_eq(z->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__UINT8);
        cr_expect_eq(f32_at(&s->raw_data, 0), n->a.fq.scale);
        cr_expect_eq(z->raw_data.data[0], n->a.fq.zero_point);
    }
    cr_expect_eq(count_op(g, "QuantizeLinear"), n_fq);
}

/* ---- compression cases ---- */

typedef enum {
    CASE_MAGNITUDE, /* magnitude 50% on every layer */
    CASE_L1,        /* L1 50% on every prunable group, thinned */
    CASE_INT8,      /* int8 per-channel symmetric on every layer */
    CASE_INT4,      /* int4 per-tensor asymmetric on every layer */
    CASE_ACT8,      /* 8-bit activations (calibrated) on every layer */
    CASE_ALL,       /* L1 50% thinned + int8 per-channel + 8-bit activations */
} compress_case;

static const char *const case_names[] = {"magnitude50",      "l1_50", "int8_channel_sym",
                                         "int4_tensor_asym", "act8",  "l1_w8a8"};

static sb_model *compress(const sb_model *base, compress_case cc)
{
    sb_config c;
    sb_error err = {0};
    cr_assert_eq(sb_config_new(base, &c, &err), SB_OK, "%s", err.msg);
    for (int l = 0; l < c.n_layers; l++) {
        sb_layer_config *lc = &c.layer[l];
        int g = sb_model_layer_group(base, l);
        sb_group_info gi;
        bool prunable = g >= 0 && sb_model_group(base, g, &gi) == SB_OK && gi.prunable;
        switch (cc) {
        case CASE_MAGNITUDE:
            lc->prune = SB_PRUNE_MAGNITUDE, lc->ratio = 0.5;
            break;
        case CASE_L1:
            if (prunable)
                lc->prune = SB_PRUNE_L1, lc->ratio = 0.5;
            break;
        case CASE_INT8:
            lc->wbits = 8, lc->gran = SB_GRAN_CHANNEL, lc->asymmetric = false;
            break;
        case CASE_INT4:
            lc->wbits = 4, lc->gran = SB_GRAN_TENSOR, lc->asymmetric = true;
            break;
        case CASE_ACT8:
            lc->act8 = true;
            break;
        case CASE_ALL:
            if (prunable)
                lc->prune = SB_PRUNE_L1, lc->ratio = 0.5;
            lc->wbits = 8, lc->gran = SB_GRAN_CHANNEL, lc->act8 = true;
            break;
        }
    }
    sb_dataset *train = NULL;
    sb_preprocess pp;
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "train", &train, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_preprocess_from_model(base, &pp, &err), SB_OK, "%s", err.msg);
    sb_calib_data cd = {.data = train, .pp = &pp};
    sb_model *out = NULL;
    sb_status s = sb_compress(base, &c, &cd, true, &out, &err);
    sb_dataset_free(train);
    sb_config_free(&c);
    cr_assert_eq(s, SB_OK, "compressing (%s): %s", case_names[cc], err.msg);
    return out;
}

static bool quantised_case(compress_case cc)
{
    return cc != CASE_MAGNITUDE && cc != CASE_L1;
}

/* Compresses every sample model present, exports it and checks the file three ways. */
static void run_case(compress_case cc)
{
    bool ort = ort_installed();
    int checked = 0;
    for (int i = 0; i < N_SAMPLES; i++) {
        char src[256], dst[512], what[128];
        snprintf(src, sizeof src, SB_SAMPLE_DIR "/%s.onnx", sample_models[i]);
        if (access(src, R_OK) != 0) {
            cr_assert_neq(i, 0, "%s is missing", src);
            fprintf(stderr, "export: %s not present, not checked\n", src);
            continue;
        }
        snprintf(what, sizeof what, "%s %s", sample_models[i], case_names[cc]);
        sb_model *base = load(src);
        sb_model *cm = compress(base, cc);
        tmp_file(dst, sizeof dst, "%s_%s.onnx", sample_models[i], case_names[cc]);
        export_to(cm, dst);

        Onnx__ModelProto *mp = read_onnx(dst);
        check_envelope(mp, cm, 13, true);
        bool wq = cc == CASE_INT8 || cc == CASE_INT4 || cc == CASE_ALL;
        if (wq)
            check_qdq_weights(mp->graph, cm);
        else
            cr_expect_eq(count_op(mp->graph, "DequantizeLinear"),
                         cc == CASE_ACT8 ? cm->n_layers : 0);
        check_act_quant(mp->graph, cm);
        onnx__model_proto__free_unpacked(mp, NULL);

        int n = quantised_case(cc) ? N_AGREE : N_CHECK, k;
        float *x = test_images(cm, n);
        float *ref = run_logits(cm, x, n, &k);
        if (!quantised_case(cc)) { /* slimbench reads float exports: bit-identical */
            sb_model *back = load(dst);
            float *y = run_logits(back, x, n, &k);
            cr_expect(memcmp(ref, y, (size_t)n * (size_t)k * sizeof *y) == 0,
                      "%s: re-loaded export differs (max |diff| %g)", what,
                      max_abs_diff(ref, y, (size_t)n * (size_t)k));
            expect_same_layers(cm, back, what, 0);
            free(y);
            sb_model_free(back);
        }
        if (ort)
            check_against_ort(what, dst, x, sb_model_input_shape(cm), ref, n, k,
                              cc == CASE_ACT8 || cc == CASE_ALL ? EXPORT_ACTS
                              : quantised_case(cc)              ? EXPORT_WEIGHTS
                                                                : EXPORT_FLOAT);
        free(ref);
        free(x);
        sb_model_free(cm);
        sb_model_free(base);
        checked++;
    }
    if (!ort)
        SKIP("checked %d model(s) with slimbench only: ONNX Runtime is not installed "
             "(needs node, npm and bench/install_ort.sh)",
             checked);
}

Test(export, float_roundtrip_sample_models)
{
    bool ort = ort_installed();
    for (int i = 0; i < N_SAMPLES; i++) {
        char src[256], dst[512];
        snprintf(src, sizeof src, SB_SAMPLE_DIR "/%s.onnx", sample_models[i]);
        if (access(src, R_OK) != 0) {
            cr_assert_neq(i, 0, "%s is missing", src);
            fprintf(stderr, "export: %s not present, not checked\n", src);
            continue;
        }
        sb_model *m = load(src);
        tmp_file(dst, sizeof dst, "%s.onnx", sample_models[i]);
        export_to(m, dst);
        Onnx__ModelProto *mp = read_onnx(dst);
        check_envelope(mp, m, 13, false);
        cr_expect_eq(count_op(mp->graph, "DequantizeLinear"), 0);
        onnx__model_proto__free_unpacked(mp, NULL);

        sb_model *back = load(dst);
        expect_same_layers(m, back, sample_models[i], 0);
        int k;
        float *x = test_images(m, N_CHECK);
        float *ref = run_logits(m, x, N_CHECK, &k), *y = run_logits(back, x, N_CHECK, &k);
        cr_expect(memcmp(ref, y, (size_t)N_CHECK * (size_t)k * sizeof *y) == 0,
                  "%s: re-loaded export differs (max |diff| %g)", sample_models[i],
                  max_abs_diff(ref, y, (size_t)N_CHECK * (size_t)k));
        if (ort)
            check_against_ort(sample_models[i], dst, x, sb_model_input_shape(m), ref, N_CHECK, k,
                              EXPORT_FLOAT);
        free(ref), free(y), free(x);
        sb_model_free(back);
        sb_model_free(m);
    }
    if (!ort)
        SKIP("slimbench round trip checked; ONNX Runtime is not installed (needs node, "
             "npm and bench/install_ort.sh)");
}

Test(export, magnitude50)
{
    run_case(CASE_MAGNITUDE);
}
Test(export, l1_50_thinned)
{
    run_case(CASE_L1);
}
Test(export, int8_per_channel_symmetric)
{
    run_case(CASE_INT8);
}
Test(export, int4_per_tensor_asymmetric)
{
    run_case(CASE_INT4);
}
Test(export, act8)
{
    run_case(CASE_ACT8);
}
Test(export, l1_w8a8)
{
    run_case(CASE_ALL);
}

Test(export, tiny_model_without_metadata)
{
    sb_model *m = load("tests/data/onnx/tiny_ok.onnx");
    char dst[512];
    tmp_file(dst, sizeof dst, "tiny.onnx");
    export_to(m, dst);
    sb_model *back = load(dst);
    expect_same_layers(m, back, "tiny_ok", 0);
    float x[2 * 16];
    for (int i = 0; i < 32; i++)
        x[i] = (float)((i * 37) % 11) / 7.0f - 0.6f;
    sb_tensor t = {.dtype = SB_F32, .shape = {.rank = 4, .dim = {2, 1, 4, 4}}, .data = x};
    sb_tensor a = {0}, b = {0};
    sb_error err = {0};
    cr_assert_eq(sb_model_run(m, 1, &t, 1, &a, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_model_run(back, 1, &t, 1, &b, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_shape_count(&a.shape), sb_shape_count(&b.shape));
    cr_expect(memcmp(a.data, b.data, (size_t)sb_shape_count(&a.shape) * sizeof(float)) == 0);
    cr_expect_eq(back->g->n_meta, 0);
    sb_tensor_free(&a);
    sb_tensor_free(&b);
    sb_model_free(back);
    sb_model_free(m);
}

Test(export, unwritable_path_is_an_io_error)
{
    sb_model *m = load("tests/data/onnx/tiny_ok.onnx");
    sb_error err = {0};
    sb_status s = sb_model_export_onnx(m, "/nonexistent_dir/out.onnx", &err);
    cr_expect_eq(s, SB_ERR_IO);
    cr_expect(strstr(err.msg, "/nonexistent_dir/out.onnx") != NULL, "message: %s", err.msg);
    sb_error fresh = {0};
    cr_expect_eq(sb_model_export_onnx(m, "", &fresh), SB_ERR_ARG);
    sb_model_free(m);
}

/* ---- hand-built models ---- */

/* A bump allocator: the builder's messages live here until the test process ends. */
static unsigned char pool[1 << 21];
static size_t pool_used;

static void *palloc(size_t n)
{
    n = (n + 15) & ~(size_t)15;
    cr_assert_leq(pool_used + n, sizeof pool, "test model pool exhausted");
    void *p = pool + pool_used;
    pool_used += n;
    memset(p, 0, n);
    return p;
}

static char *pstr(const char *s)
{
    return strcpy(palloc(strlen(s) + 1), s);
}

typedef struct builder {
    Onnx__NodeProto *nodes[64];
    Onnx__TensorProto *inits[64];
    size_t n_nodes, n_inits;
    uint32_t rng;
} builder;

static float rnd(builder *b, float amp)
{
    b->rng = b->rng * 1664525u + 1013904223u;
    return amp * ((float)(b->rng >> 8) / (float)(1u << 24) * 2.0f - 1.0f);
}

/* A node; `inputs` is comma-separated, empty entries being omitted optional inputs. */
static Onnx__NodeProto *node(builder *b, const char *op, const char *name, const char *inputs,
                             const char *output)
{
    Onnx__NodeProto *n = palloc(sizeof *n);
    *n = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    n->op_type = pstr(op);
    n->name = pstr(name);
    n->input = palloc(16 * sizeof *n->input);
    char *list = pstr(inputs), *tok;
    while ((tok = strsep(&list, ",")) != NULL)
        n->input[n->n_input++] = tok;
    n->output = palloc(sizeof *n->output);
    n->output[0] = pstr(output);
    n->n_output = 1;
    n->attribute = palloc(8 * sizeof *n->attribute);
    b->nodes[b->n_nodes++] = n;
    return n;
}

static Onnx__AttributeProto *attr(Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = palloc(sizeof *a);
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = pstr(name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_i(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1, a->i = v;
}

static void attr_f(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1, a->f = v;
}

static void attr_s(Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1, a->s.data = (uint8_t *)pstr(v), a->s.len = strlen(v);
}

static void attr_is(Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    Onnx__AttributeProto *a = attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->ints = palloc((size_t)count * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *a->ints);
    a->n_ints = (size_t)count;
}

/* A float initializer of random values in [-amp, amp] (float_data, not raw_data). */
static void init_f(builder *b, const char *name, int rank, const int64_t *dims, float amp)
{
    Onnx__TensorProto *t = palloc(sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = pstr(name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->dims = palloc(((size_t)rank + 1) * sizeof *t->dims);
    int64_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= t->dims[i] = dims[i];
    t->n_dims = (size_t)rank;
    t->float_data = palloc((size_t)count * sizeof *t->float_data);
    t->n_float_data = (size_t)count;
    for (int64_t i = 0; i < count; i++)
        t->float_data[i] = rnd(b, amp);
    b->inits[b->n_inits++] = t;
}

static void init_i64(builder *b, const char *name, int count, const int64_t *v)
{
    Onnx__TensorProto *t = palloc(sizeof *t);
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    t->name = pstr(name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->dims = palloc(sizeof *t->dims);
    t->dims[0] = count;
    t->n_dims = 1;
    t->int64_data = palloc((size_t)count * sizeof *t->int64_data);
    memcpy(t->int64_data, v, (size_t)count * sizeof *v);
    t->n_int64_data = (size_t)count;
    b->inits[b->n_inits++] = t;
}

static void scalar_f(builder *b, const char *name, float v)
{
    init_f(b, name, 0, NULL, 0);
    b->inits[b->n_inits - 1]->float_data[0] = v;
}

static Onnx__ValueInfoProto *tensor_info(const char *name, bool image)
{
    Onnx__ValueInfoProto *vi = palloc(sizeof *vi);
    Onnx__TypeProto *tp = palloc(sizeof *tp);
    Onnx__TypeProto__Tensor *tt = palloc(sizeof *tt);
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    vi->name = pstr(name), vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, tp->tensor_type = tt;
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (!image)
        return vi;
    Onnx__TensorShapeProto *sp = palloc(sizeof *sp);
    *sp = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sp->dim = palloc(4 * sizeof *sp->dim);
    static const int64_t dims[4] = {-1, 1, 28, 28};
    for (int i = 0; i < 4; i++) {
        Onnx__TensorShapeProto__Dimension *d = palloc(sizeof *d);
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0)
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM,
            d->dim_param = pstr("N");
        else
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE,
            d->dim_value = dims[i];
        sp->dim[sp->n_dim++] = d;
    }
    tt->shape = sp;
    return vi;
}

/* Writes the model (input x: N x 1 x 28 x 28, output y) at `opset`, with ToTensor's scale. */
static void write_model(const builder *b, const char *path, int64_t opset)
{
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__OperatorSetIdProto os = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *oss[1] = {&os};
    Onnx__StringStringEntryProto meta = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    Onnx__StringStringEntryProto *metas[1] = {&meta};
    Onnx__ValueInfoProto *in[1] = {tensor_info("x", true)}, *out[1] = {tensor_info("y", false)};
    meta.key = "preprocess.scale", meta.value = "255";
    os.domain = "", os.has_version = 1, os.version = opset;
    g.name = "handmade";
    g.node = (Onnx__NodeProto **)b->nodes, g.n_node = b->n_nodes;
    g.initializer = (Onnx__TensorProto **)b->inits, g.n_initializer = b->n_inits;
    g.input = in, g.n_input = 1;
    g.output = out, g.n_output = 1;
    mp.has_ir_version = 1, mp.ir_version = opset < 9 ? 3 : 7;
    mp.opset_import = oss, mp.n_opset_import = 1;
    mp.graph = &g;
    mp.metadata_props = metas, mp.n_metadata_props = 1;
    size_t len = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    onnx__model_proto__pack(&mp, buf);
    FILE *f = fopen(path, "wb");
    cr_assert(f && fwrite(buf, 1, len, f) == len);
    fclose(f);
    free(buf);
}

#define INTS(...)                                                                                  \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[])                         \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }

/* Opset 6: BatchNormalization with is_test, Clip with min/max attributes, Mul with a legacy
 * broadcast axis, Softmax over C x H x W (the pre-13 coercion), a Reshape to N x 4 x 196, a 1-D
 * conv and pool, Dropout with is_test, Gemm with broadcast, a final Softmax on the last axis. */
static void build_legacy(builder *b)
{
    Onnx__NodeProto *n;
    init_f(b, "c1.weight", 4, (int64_t[]){4, 1, 3, 3}, 0.5f);
    init_f(b, "c1.bias", 1, (int64_t[]){4}, 0.1f);
    n = node(b, "Conv", "/c1/Conv", "x,c1.weight,c1.bias", "c1");
    attr_s(n, "auto_pad", "SAME_UPPER");
    attr_is(n, "strides", INTS(2, 2));
    for (int i = 0; i < 4; i++) { /* BN: gamma, beta, mean, var (positive) */
        static const char *const names[] = {"bn.weight", "bn.bias", "bn.mean", "bn.var"};
        init_f(b, names[i], 1, (int64_t[]){4}, 0.5f);
        if (i == 3)
            for (int c = 0; c < 4; c++)
                b->inits[b->n_inits - 1]->float_data[c] += 1.0f;
    }
    n = node(b, "BatchNormalization", "/bn/BatchNormalization",
             "c1,bn.weight,bn.bias,bn.mean,bn.var", "bn");
    attr_f(n, "epsilon", 1e-3f);
    attr_i(n, "is_test", 1);
    n = node(b, "Clip", "/clip/Clip", "bn", "clip");
    attr_f(n, "min", 0.0f);
    attr_f(n, "max", 0.75f);
    init_f(b, "gain", 1, (int64_t[]){4}, 2.0f);
    n = node(b, "Mul", "/gain/Mul", "clip,gain", "gained");
    attr_i(n, "broadcast", 1);
    attr_i(n, "axis", 1);
    n = node(b, "Softmax", "/soft1/Softmax", "gained", "soft1");
    attr_i(n, "axis", 1);
    init_i64(b, "seq_shape", 3, (int64_t[]){0, 4, 196});
    node(b, "Reshape", "/seq/Reshape", "soft1,seq_shape", "seq");
    init_f(b, "c2.weight", 3, (int64_t[]){6, 4, 5}, 0.5f);
    n = node(b, "Conv", "/c2/Conv", "seq,c2.weight", "c2");
    attr_is(n, "pads", INTS(2, 2));
    attr_is(n, "strides", INTS(2));
    n = node(b, "HardSigmoid", "/hsig/HardSigmoid", "c2", "hsig");
    attr_f(n, "alpha", 0.3f);
    attr_f(n, "beta", 0.4f);
    n = node(b, "MaxPool", "/pool/MaxPool", "hsig", "pool");
    attr_is(n, "kernel_shape", INTS(2));
    attr_is(n, "strides", INTS(2));
    n = node(b, "Dropout", "/drop/Dropout", "pool", "drop");
    attr_i(n, "is_test", 1);
    n = node(b, "Flatten", "/flat/Flatten", "drop", "flat");
    attr_i(n, "axis", 1);
    init_f(b, "fc.weight", 2, (int64_t[]){10, 294}, 0.2f);
    init_f(b, "fc.bias", 1, (int64_t[]){10}, 0.1f);
    n = node(b, "Gemm", "/fc/Gemm", "flat,fc.weight,fc.bias", "fc");
    attr_i(n, "transB", 1);
    attr_i(n, "broadcast", 1);
    attr_f(n, "alpha", 3.0f);
    init_f(b, "shift", 1, (int64_t[]){10}, 0.5f);
    n = node(b, "Add", "/shift/Add", "fc,shift", "shifted");
    attr_i(n, "broadcast", 1);
    n = node(b, "Softmax", "/out/Softmax", "shifted", "y");
    attr_i(n, "axis", 1);
}

/* Opset 14: Conv + Clip with constant bounds, a grouped dilated Conv, HardSwish, MaxPool with
 * SAME_LOWER, AveragePool with ceil_mode and count_include_pad, Concat, GlobalAveragePool,
 * Reshape, and a MatMul layer (output axis 1). */
static void build_modern(builder *b)
{
    Onnx__NodeProto *n;
    init_f(b, "a.weight", 4, (int64_t[]){8, 1, 3, 3}, 0.5f);
    init_f(b, "a.bias", 1, (int64_t[]){8}, 0.1f);
    n = node(b, "Conv", "/a/Conv", "x,a.weight,a.bias", "a");
    attr_is(n, "pads", INTS(1, 1, 1, 1));
    scalar_f(b, "lo", 0.0f);
    scalar_f(b, "hi", 6.0f);
    node(b, "Clip", "/a/Clip", "a,lo,hi", "a6");
    init_f(b, "b.weight", 4, (int64_t[]){8, 4, 3, 3}, 0.3f);
    n = node(b, "Conv", "/b/Conv", "a6,b.weight", "bconv");
    attr_i(n, "group", 2);
    attr_is(n, "dilations", INTS(2, 2));
    attr_is(n, "pads", INTS(2, 2, 2, 2));
    node(b, "HardSwish", "/b/HardSwish", "bconv", "bact");
    n = node(b, "MaxPool", "/mp/MaxPool", "bact", "mp");
    attr_is(n, "kernel_shape", INTS(3, 3));
    attr_is(n, "strides", INTS(2, 2));
    attr_s(n, "auto_pad", "SAME_LOWER");
    n = node(b, "AveragePool", "/ap/AveragePool", "mp", "ap");
    attr_is(n, "kernel_shape", INTS(3, 3));
    attr_is(n, "strides", INTS(2, 2));
    attr_is(n, "pads", INTS(1, 1, 1, 1));
    attr_i(n, "ceil_mode", 1);
    attr_i(n, "count_include_pad", 1);
    node(b, "Sigmoid", "/gate/Sigmoid", "ap", "gate");
    n = node(b, "Concat", "/cat/Concat", "ap,gate", "cat");
    attr_i(n, "axis", 1);
    node(b, "GlobalAveragePool", "/gap/GlobalAveragePool", "cat", "gap");
    init_i64(b, "flat_shape", 2, (int64_t[]){0, 16});
    node(b, "Reshape", "/flat/Reshape", "gap,flat_shape", "flat");
    init_f(b, "fc.weight", 2, (int64_t[]){16, 10}, 1.0f);
    node(b, "MatMul", "/fc/MatMul", "flat,fc.weight", "fc");
    node(b, "Identity", "/out/Identity", "fc", "y");
}

/* Opset 6, an SE-like gate written the old way: Mul(x [N,4,28,28], g [N,4], broadcast=1, axis=0)
 * with g computed, so the export needs an Unsqueeze (which slimbench itself does not run). */
static void build_legacy_gate(builder *b)
{
    Onnx__NodeProto *n;
    init_f(b, "c.weight", 4, (int64_t[]){4, 1, 3, 3}, 0.5f);
    n = node(b, "Conv", "/c/Conv", "x,c.weight", "c");
    attr_is(n, "pads", INTS(1, 1, 1, 1));
    node(b, "GlobalAveragePool", "/gap/GlobalAveragePool", "c", "gap");
    n = node(b, "Flatten", "/gflat/Flatten", "gap", "g");
    attr_i(n, "axis", 1);
    node(b, "Sigmoid", "/gate/Sigmoid", "g", "gate");
    n = node(b, "Mul", "/se/Mul", "c,gate", "gated");
    attr_i(n, "broadcast", 1);
    attr_i(n, "axis", 0);
    n = node(b, "Flatten", "/flat/Flatten", "gated", "flat");
    attr_i(n, "axis", 1);
    init_f(b, "fc.weight", 2, (int64_t[]){10, 3136}, 0.05f);
    n = node(b, "Gemm", "/fc/Gemm", "flat,fc.weight", "y");
    attr_i(n, "transB", 1);
}

/* Loads the hand-built model, exports it, checks the export's structure with `check`, then the
 * re-loaded export (bit-identical; unless slimbench cannot read what the conversion needed) and
 * ORT (1e-4) against slimbench on the original. */
static void check_handmade(void (*build)(builder *), int64_t opset, const char *name,
                           void (*check)(const Onnx__GraphProto *), int64_t extra_consts,
                           bool reload)
{
    static builder b;
    memset(&b, 0, sizeof b);
    b.rng = 12345;
    build(&b);
    char src[512], dst[512];
    tmp_file(src, sizeof src, "%s.onnx", name);
    tmp_file(dst, sizeof dst, "%s_export.onnx", name);
    write_model(&b, src, opset);
    sb_model *m = load(src);
    export_to(m, dst);
    Onnx__ModelProto *mp = read_onnx(dst);
    cr_expect_eq(mp->opset_import[0]->version, opset > 13 ? opset : 13);
    check(mp->graph);
    onnx__model_proto__free_unpacked(mp, NULL);

    int k;
    float *x = test_images(m, N_CHECK);
    float *ref = run_logits(m, x, N_CHECK, &k);
    if (reload) {
        sb_model *back = load(dst);
        expect_same_layers(m, back, name, extra_consts);
        float *y = run_logits(back, x, N_CHECK, &k);
        cr_expect(memcmp(ref, y, (size_t)N_CHECK * (size_t)k * sizeof *y) == 0,
                  "%s: re-loaded export differs (max |diff| %g)", name,
                  max_abs_diff(ref, y, (size_t)N_CHECK * (size_t)k));
        free(y);
        sb_model_free(back);
    }
    bool ort = ort_installed();
    if (ort)
        check_against_ort(name, dst, x, sb_model_input_shape(m), ref, N_CHECK, k, EXPORT_FLOAT);
    free(ref), free(x);
    sb_model_free(m);
    if (!ort && !reload)
        SKIP("%s: structure checked; its numbers need ONNX Runtime, which is not "
             "installed (needs node, npm and bench/install_ort.sh)",
             name);
}

static const Onnx__NodeProto *named(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (g->node[i]->name && strcmp(g->node[i]->name, name) == 0)
            return g->node[i];
    cr_assert_fail("no node '%s' in the export", name);
    return NULL;
}

static void expect_ints(const Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    cr_assert(a && (int)a->n_ints == count, "%s: attribute %s", n->name, name);
    for (int i = 0; i < count; i++)
        cr_expect_eq(a->ints[i], v[i], "%s: %s[%d]", n->name, name, i);
}

static void check_legacy_graph(const Onnx__GraphProto *g)
{
    const Onnx__NodeProto *clip = named(g, "/clip/Clip");
    cr_expect_eq(clip->n_attribute, 0);
    cr_assert_eq(clip->n_input, 3);
    const Onnx__TensorProto *lo = find_init(g, clip->input[1]), *hi = find_init(g, clip->input[2]);
    cr_assert(lo && hi && lo->n_dims == 0);
    cr_expect(f32_at(&lo->raw_data, 0) == 0.0f && f32_at(&hi->raw_data, 0) == 0.75f);
    /* Softmax over C x H x W spelt out; the last-axis one kept as it was */
    const Onnx__NodeProto *soft = named(g, "/soft1/Softmax");
    cr_expect_str_eq(producer_of(g, soft->input[0])->op_type, "Flatten");
    cr_expect_eq(find_attr(soft, "axis")->i, -1);
    cr_expect_str_eq(producer_of(g, "soft1")->op_type, "Reshape");
    cr_expect_eq(find_attr(named(g, "/out/Softmax"), "axis")->i, 1);
    /* the legacy broadcast operand re-shaped to 4 x 1 x 1 */
    const Onnx__TensorProto *gain = find_init(g, named(g, "/gain/Mul")->input[1]);
    cr_assert(gain && gain->n_dims == 3 && gain->dims[0] == 4 && gain->dims[1] == 1);
    cr_expect_null(find_init(g, "gain"), "the unaligned operand is still written");
    /* windows: auto_pad kept, 1-D windows written as 1-D */
    const Onnx__NodeProto *c1 = named(g, "/c1/Conv"), *c2 = named(g, "/c2/Conv");
    cr_expect_null(find_attr(c1, "pads"));
    cr_expect_eq(find_attr(c1, "auto_pad")->s.len, strlen("SAME_UPPER"));
    expect_ints(c2, "kernel_shape", INTS(5));
    expect_ints(c2, "pads", INTS(2, 2));
    expect_ints(c2, "strides", INTS(2));
    expect_ints(named(g, "/pool/MaxPool"), "kernel_shape", INTS(2));
    const Onnx__NodeProto *drop = named(g, "/drop/Dropout");
    cr_expect(drop->n_input == 1 && drop->n_attribute == 0);
    const Onnx__NodeProto *fc = named(g, "/fc/Gemm");
    cr_expect_null(find_attr(fc, "broadcast"));
    cr_expect_eq(find_attr(fc, "alpha")->f, 3.0f);
    cr_expect_eq(find_attr(named(g, "/hsig/HardSigmoid"), "alpha")->f, 0.3f);
    cr_expect_null(find_attr(named(g, "/bn/BatchNormalization"), "is_test"));
}

static void check_modern_graph(const Onnx__GraphProto *g)
{
    const Onnx__NodeProto *b = named(g, "/b/Conv");
    expect_ints(b, "dilations", INTS(2, 2));
    expect_ints(b, "kernel_shape", INTS(3, 3));
    cr_expect_eq(find_attr(b, "group")->i, 2);
    const Onnx__NodeProto *mp = named(g, "/mp/MaxPool");
    cr_expect(find_attr(mp, "auto_pad") && !find_attr(mp, "pads"));
    const Onnx__NodeProto *ap = named(g, "/ap/AveragePool");
    cr_expect_eq(find_attr(ap, "ceil_mode")->i, 1);
    cr_expect_eq(find_attr(ap, "count_include_pad")->i, 1);
    cr_expect_null(find_attr(ap, "dilations"), "AveragePool has dilations only from opset 19");
    cr_expect_eq(named(g, "/a/Clip")->n_input, 3);
    cr_expect_eq(find_attr(named(g, "/cat/Concat"), "axis")->i, 1);
    cr_expect_null(find_attr(named(g, "/flat/Reshape"), "allowzero"));
}

Test(export, opset6_model_is_converted_to_opset13)
{
    check_handmade(build_legacy, 6, "legacy", check_legacy_graph, 2, true); /* 2: Clip bounds */
}

static void check_gate_graph(const Onnx__GraphProto *g)
{
    const Onnx__NodeProto *mul = named(g, "/se/Mul");
    const Onnx__NodeProto *u = producer_of(g, mul->input[1]);
    cr_assert(u && strcmp(u->op_type, "Unsqueeze") == 0, "the gate is not unsqueezed");
    cr_expect_str_eq(u->input[0], "gate");
    const Onnx__TensorProto *axes = find_init(g, u->input[1]);
    cr_assert(axes && axes->n_dims == 1 && axes->dims[0] == 2);
    int64_t a[2];
    memcpy(a, axes->raw_data.data, sizeof a);
    cr_expect(a[0] == 2 && a[1] == 3, "Unsqueeze axes %lld, %lld", (long long)a[0],
              (long long)a[1]);
}

Test(export, opset6_computed_broadcast_operand_is_unsqueezed)
{
    check_handmade(build_legacy_gate, 6, "legacy_gate", check_gate_graph, 0, false);
}

Test(export, opset14_window_attributes)
{
    check_handmade(build_modern, 14, "modern", check_modern_graph, 0, true);
}

/* The MatMul layer quantises along axis 1; weights and activations quantised together. */
Test(export, opset14_matmul_per_channel_w8a8)
{
    static builder b;
    memset(&b, 0, sizeof b);
    b.rng = 777;
    build_modern(&b);
    char src[512], dst[512];
    tmp_file(src, sizeof src, "modern.onnx");
    tmp_file(dst, sizeof dst, "modern_w8a8.onnx");
    write_model(&b, src, 14);
    sb_model *base = load(src);
    sb_model *cm = compress(base, CASE_ALL);
    export_to(cm, dst);
    Onnx__ModelProto *mp = read_onnx(dst);
    cr_expect_eq(mp->opset_import[0]->version, 14);
    check_qdq_weights(mp->graph, cm);
    check_act_quant(mp->graph, cm);
    const Onnx__NodeProto *dq = producer_of(mp->graph, "fc.weight");
    cr_assert_not_null(dq);
    cr_expect_eq(find_attr(dq, "axis")->i, 1);
    onnx__model_proto__free_unpacked(mp, NULL);
    int k;
    float *x = test_images(cm, N_AGREE);
    float *ref = run_logits(cm, x, N_AGREE, &k);
    bool ort = ort_installed();
    if (ort)
        check_against_ort("modern l1_w8a8", dst, x, sb_model_input_shape(cm), ref, N_AGREE, k,
                          EXPORT_ACTS);
    free(ref), free(x);
    sb_model_free(cm);
    sb_model_free(base);
    if (!ort)
        SKIP("QDQ encoding checked; the numbers need ONNX Runtime, which is not "
             "installed (needs node, npm and bench/install_ort.sh)");
}
