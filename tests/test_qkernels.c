/* int8 kernels: convolutions (odd sizes, padding, strides, dilations, groups, depthwise) and
 * Gemms against a double-precision reference computed from the same integers; every ISA gives
 * the same bits, and so do 1 and 2 threads. Then a quantised sample model: its int8 plan
 * against the fake-quantised f32 plan (SB_INT8=0), per channel and per tensor. */
#include "kernels/qkernels.h"
#include "slimbench.h"
#include "compress.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int rng_int(int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(rng_u32() % (uint32_t)(hi - lo + 1));
}

static float rng_float(void)
{
    return (float)rng_u32() / 4294967296.0f * 2.0f - 1.0f;
}

static int cpu_runs(sb_qisa isa)
{
#if defined(__x86_64__) || defined(__i386__)
    if (isa == SB_QISA_VNNI)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vnni");
    if (isa == SB_QISA_AVX2)
        return __builtin_cpu_supports("avx2");
#endif
    return isa == SB_QISA_REF;
}

/* ---- one problem ---- */

typedef struct problem {
    sb_conv_geom g;
    int is_gemm, n, out_u8;
    sb_act act;
    int x_zp;
    float y_scale;
    int y_zp;
    uint8_t *x;
    int8_t *w;   /* M x Kg */
    float *scale, *bias;
} problem;

static int out_count(const problem *p)
{
    return p->is_gemm ? p->n * p->g.M : p->n * p->g.M * p->g.OH * p->g.OW;
}

static void random_conv(problem *p)
{
    sb_conv_geom *g = &p->g;
    do {
        const int groups = rng_int(0, 3) == 0 ? rng_int(2, 4) : 1;
        const bool dw = rng_int(0, 5) == 0;
        g->group = dw ? rng_int(1, 12) : groups;
        g->C = dw ? g->group : groups * rng_int(1, 9);
        g->M = dw ? g->group * rng_int(1, 2) : groups * rng_int(1, 21);
        g->H = rng_int(1, 17), g->W = rng_int(1, 19);
        g->kh = rng_int(1, 5), g->kw = rng_int(1, 5);
        g->sh = rng_int(1, 3), g->sw = rng_int(1, 3);
        g->dh = rng_int(1, 2), g->dw = rng_int(1, 2);
        g->pt = rng_int(0, 2), g->pl = rng_int(0, 2);
        const int pb = rng_int(0, 2), pr = rng_int(0, 2);
        g->OH = (g->H + g->pt + pb - ((g->kh - 1) * g->dh + 1)) / g->sh + 1;
        g->OW = (g->W + g->pl + pr - ((g->kw - 1) * g->dw + 1)) / g->sw + 1;
        if (g->H + g->pt + pb < (g->kh - 1) * g->dh + 1 || g->W + g->pl + pr < (g->kw - 1) * g->dw + 1)
            g->OH = 0;
    } while (g->OH <= 0 || g->OW <= 0);
    p->n = rng_int(1, 3);
}

static void random_gemm(problem *p)
{
    p->is_gemm = 1;
    p->g = (sb_conv_geom){.C = rng_int(1, 300), .H = 1, .W = 1, .M = rng_int(1, 60), .OH = 1,
                          .OW = 1, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
                          .group = 1};
    p->n = rng_int(1, 70);
}

static int kg_of(const problem *p)
{
    return p->is_gemm ? p->g.C : p->g.C / p->g.group * p->g.kh * p->g.kw;
}

static void fill(problem *p)
{
    const int M = p->g.M, Kg = kg_of(p);
    const size_t nx = (size_t)p->n * p->g.C * p->g.H * p->g.W;
    p->x = malloc(nx + 1);
    p->w = malloc((size_t)M * Kg + 1);
    p->scale = malloc(sizeof(float) * (size_t)M);
    p->bias = malloc(sizeof(float) * (size_t)M);
    for (size_t i = 0; i < nx; i++)
        p->x[i] = (uint8_t)rng_int(0, 255);
    /* mostly the extremes too: 255 x 127 products must not saturate anywhere */
    for (size_t i = 0; i < (size_t)M * Kg; i++)
        p->w[i] = (int8_t)(rng_int(0, 3) == 0 ? (rng_int(0, 1) ? 127 : -127) : rng_int(-127, 127));
    for (int o = 0; o < M; o++) {
        p->scale[o] = (0.5f + (rng_float() + 1.0f)) * 1e-4f;
        p->bias[o] = rng_float();
    }
    p->x_zp = rng_int(0, 255);
    p->act = (sb_act){(sb_act_kind)(rng_int(0, 2) == 0 ? SB_ACT_NONE : rng_int(0, 1) ? SB_ACT_RELU : SB_ACT_CLIP), 0.0f, 6.0f};
    p->y_scale = 0.02f + (rng_float() + 1.0f) * 0.01f;
    p->y_zp = p->act.kind == SB_ACT_NONE ? 128 : 0;
}

static void problem_free(problem *p)
{
    free(p->x), free(p->w), free(p->scale), free(p->bias);
}

static double act_ref(const sb_act *a, double v)
{
    if (a->kind == SB_ACT_RELU)
        return v > 0 ? v : 0;
    if (a->kind == SB_ACT_CLIP)
        return v < a->a ? a->a : v > a->b ? a->b : v;
    return v;
}

/* Output element `at` in double from the integers: (sum (x - zp) * w) * scale + bias. */
static double reference(const problem *p, int img, int o, int oh, int ow)
{
    const sb_conv_geom *g = &p->g;
    const int Kg = kg_of(p);
    int64_t acc = 0;
    if (p->is_gemm) {
        for (int k = 0; k < Kg; k++)
            acc += (int64_t)(p->x[(size_t)img * g->C + k] - p->x_zp) * p->w[(size_t)o * Kg + k];
    } else {
        const int Cg = g->C / g->group, Mg = g->M / g->group, gi = o / Mg;
        for (int c = 0; c < Cg; c++)
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++) {
                    const int ih = oh * g->sh - g->pt + i * g->dh;
                    const int iw = ow * g->sw - g->pl + j * g->dw;
                    int xv = p->x_zp;
                    if (ih >= 0 && ih < g->H && iw >= 0 && iw < g->W)
                        xv = p->x[(((size_t)img * g->C + gi * Cg + c) * g->H + ih) * g->W + iw];
                    acc += (int64_t)(xv - p->x_zp) *
                           p->w[(size_t)o * Kg + (c * g->kh + i) * g->kw + j];
                }
    }
    return act_ref(&p->act, (double)acc * p->scale[o] + p->bias[o]);
}

static void *run(const problem *p, sb_qisa isa, int threads)
{
    sb_qconv q = {.g = p->g, .is_gemm = p->is_gemm, .isa = isa, .act = p->act,
                  .x_zp = p->x_zp, .out_u8 = p->out_u8, .y_scale = p->y_scale, .y_zp = p->y_zp,
                  .y_qmin = 0, .y_qmax = 255};
    const int M = p->g.M;
    q.scale = malloc(sizeof(float) * (size_t)M);
    q.bias = malloc(sizeof(float) * (size_t)M);
    memcpy(q.scale, p->scale, sizeof(float) * (size_t)M);
    memcpy(q.bias, p->bias, sizeof(float) * (size_t)M);
    cr_assert_eq(sb_qconv_pack(&q, p->w), 0);
    omp_set_num_threads(threads);
    void *scratch = malloc(sb_qconv_scratch(&q, p->n, threads));
    void *y = malloc((size_t)out_count(p) * sizeof(float));
    sb_qconv_run(&q, p->n, p->x, y, scratch);
    free(scratch);
    sb_qconv_release(&q);
    return y;
}

static void check_against_reference(const problem *p, const void *y)
{
    const sb_conv_geom *g = &p->g;
    const int OH = p->is_gemm ? 1 : g->OH, OW = p->is_gemm ? 1 : g->OW;
    for (int img = 0; img < p->n; img++)
        for (int o = 0; o < g->M; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    const double v = reference(p, img, o, oh, ow);
                    const size_t at = p->is_gemm ? (size_t)img * g->M + o
                                                 : (((size_t)img * g->M + o) * OH + oh) * OW + ow;
                    if (p->out_u8) {
                        double q = nearbyint(v / p->y_scale) + p->y_zp;
                        q = q < 0 ? 0 : q > 255 ? 255 : q;
                        const int got = ((const uint8_t *)y)[at];
                        /* within one quantisation step of the exact value */
                        cr_assert(fabs(got - q) <= 1, "u8 at %zu: %d vs %.0f", at, got, q);
                    } else {
                        const float got = ((const float *)y)[at];
                        cr_assert(fabs(got - v) <= 1e-5 * (1 + fabs(v)),
                                  "at %zu (o %d): %.8g vs %.8g", at, o, got, v);
                    }
                }
}

static void check_problem(problem *p)
{
    void *first = NULL;
    for (sb_qisa isa = SB_QISA_REF; isa <= SB_QISA_VNNI; isa++) {
        if (!cpu_runs(isa))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            void *y = run(p, isa, threads);
            if (!first) {
                check_against_reference(p, y);
                first = y;
                continue;
            }
            cr_assert(memcmp(first, y, (size_t)out_count(p) * (p->out_u8 ? 1 : 4)) == 0,
                      "%s with %d threads differs from the reference kernel",
                      sb_qisa_name(isa), threads);
            free(y);
        }
    }
    free(first);
}

/* The fake-quantised f32 path: the f32 kernels on the dequantised input and weights. */
static float *run_f32(const problem *p, float x_scale)
{
    const sb_conv_geom *g = &p->g;
    const int M = g->M, Kg = kg_of(p);
    const size_t nx = (size_t)p->n * g->C * g->H * g->W;
    float *xf = malloc(sizeof(float) * nx), *wf = malloc(sizeof(float) * (size_t)M * Kg);
    float *y = malloc(sizeof(float) * (size_t)out_count(p));
    for (size_t i = 0; i < nx; i++)
        xf[i] = (float)(p->x[i] - p->x_zp) * x_scale;
    for (int o = 0; o < M; o++)
        for (int k = 0; k < Kg; k++)
            wf[(size_t)o * Kg + k] = (float)p->w[(size_t)o * Kg + k] * (p->scale[o] / x_scale);
    if (p->is_gemm) {
        sb_epilogue ep = {.bias_kind = SB_BIAS_COL, .bias = p->bias, .alpha = 1, .act = p->act};
        sb_sgemm(0, 1, p->n, M, Kg, xf, Kg, wf, Kg, y, M, &ep);
    } else {
        omp_set_num_threads(2);
        float *scratch = malloc(sizeof(float) * (sb_conv2d_scratch(g, p->n, 2) + 1));
        sb_conv2d(g, p->n, xf, wf, p->bias, &p->act, y, scratch);
        free(scratch);
    }
    free(xf), free(wf);
    return y;
}

Test(qkernels, random_layers_within_one_step_of_the_fake_quantised_f32_path)
{
    int differ = 0, total = 0;
    for (int t = 0; t < 100; t++) {
        problem p = {0};
        if (t % 3 == 2)
            random_gemm(&p);
        else
            random_conv(&p);
        fill(&p);
        const float x_scale = 1.0f / 64;
        float *f = run_f32(&p, x_scale);
        p.out_u8 = 0;
        float *yf = run(&p, sb_qisa_detect(), 2);
        p.out_u8 = 1;
        uint8_t *yq = run(&p, sb_qisa_detect(), 2);
        for (int i = 0; i < out_count(&p); i++) {
            cr_assert(fabsf(yf[i] - f[i]) <= 1e-4f * (1 + fabsf(f[i])), "%d: %g vs %g", i,
                      yf[i], f[i]);
            uint8_t ref;
            sb_quantize_u8(f + i, 1, p.y_scale, p.y_zp, 0, 255, &ref);
            cr_assert(abs(yq[i] - ref) <= 1, "%d: %d vs %d", i, yq[i], ref);
            differ += yq[i] != ref;
            total++;
        }
        free(f), free(yf), free(yq);
        problem_free(&p);
    }
    cr_log_info("requantised outputs one step from the f32 path's: %d of %d", differ, total);
    cr_expect(differ * 100 <= total, "%d of %d differ", differ, total);
}

Test(qkernels, random_convolutions_match_reference_on_every_isa)
{
    for (int t = 0; t < 120; t++) {
        problem p = {0};
        random_conv(&p);
        fill(&p);
        p.out_u8 = t % 2;
        check_problem(&p);
        problem_free(&p);
    }
}

Test(qkernels, random_gemms_match_reference_on_every_isa)
{
    for (int t = 0; t < 80; t++) {
        problem p = {0};
        random_gemm(&p);
        fill(&p);
        p.out_u8 = t % 2;
        check_problem(&p);
        problem_free(&p);
    }
}

/* A batch large enough for images to go to different threads, and one image big enough for
 * the im2col, pack and tile loops to be split. */
Test(qkernels, large_shapes_split_between_threads_identically)
{
    problem p = {.g = {.C = 32, .H = 30, .W = 29, .M = 40, .OH = 15, .OW = 15, .kh = 3, .kw = 3,
                       .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pt = 1, .pl = 1, .group = 1},
                 .n = 4};
    fill(&p);
    check_problem(&p);
    p.n = 1;
    p.out_u8 = 1;
    check_problem(&p);
    problem_free(&p);
}

Test(qkernels, quantize_matches_quantizelinear)
{
    const float x[] = {-1.0f, 0.0f, 0.05f, 0.15f, 0.25f, 1.0f, 100.0f, -100.0f, 0.35f, 12.7f,
                       1e20f, -1e20f, 0.45f, 0.55f, 2.5f, 3.5f, 0.1f};
    /* scale 0.1, zero point 10: round half to even on x / 0.1 */
    const int n = (int)(sizeof x / sizeof x[0]);
    uint8_t y[32];
    sb_quantize_u8(x, (size_t)n, 0.1f, 10, 0, 255, y);
    for (int i = 0; i < n; i++) {
        double q = nearbyint((double)(x[i] / 0.1f)) + 10;
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        cr_expect_eq(y[i], (int)q, "x = %g: %d vs %.0f", x[i], y[i], q);
    }
}

/* ---- a quantised sample model: int8 plan against the fake-quantised f32 plan ---- */

typedef struct evaluated {
    sb_eval_result r;
    char kernel[32];
} evaluated;

static evaluated compress_and_eval(const char *quant, bool int8, int threads)
{
    sb_model *m = NULL, *cm = NULL;
    sb_error err = {0};
    sb_preprocess pp;
    sb_dataset *train = NULL, *test = NULL;
    cr_assert_eq(sb_model_load(SB_SAMPLE_DIR "/resnet8.onnx", &m, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "train", &train, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &test, &err), SB_OK, "%s", err.msg);
    sb_config c;
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    cr_assert_eq(sb_config_apply_quant_flag(m, &c, quant, &err), SB_OK, "%s", err.msg);
    c.calib_images = 256;
    sb_calib_data cd = {.data = train, .pp = &pp};
    if (int8)
        unsetenv("SB_INT8");
    else
        setenv("SB_INT8", "0", 1);
    omp_set_num_threads(threads);
    cr_assert_eq(sb_compress(m, &c, &cd, true, &cm, &err), SB_OK, "%s", err.msg);
    evaluated e = {0};
    const int limit = sb_test_eval_limit();
    sb_eval_options opt = {.batch = 100, .limit = limit ? limit : 2000};
    cr_assert_eq(sb_eval(cm, test, &pp, &opt, &e.r, &err), SB_OK, "%s", err.msg);
    for (int i = 0; i < sb_model_num_layers(cm); i++) {
        const char *k = sb_model_layer_kernel(cm, i);
        cr_assert(k);
        if (i == 0)
            snprintf(e.kernel, sizeof e.kernel, "%s", k);
        else
            cr_assert_str_eq(k, e.kernel, "layer %d runs %s, layer 0 %s", i, k, e.kernel);
    }
    sb_config_free(&c);
    sb_model_free(cm);
    sb_model_free(m);
    sb_dataset_free(train);
    sb_dataset_free(test);
    return e;
}

static void int8_against_fake_quant(const char *quant)
{
    evaluated f = compress_and_eval(quant, false, 2), q = compress_and_eval(quant, true, 2);
    cr_assert_str_eq(f.kernel, "f32-dq");
    cr_assert_str_eq(q.kernel, sb_qisa_name(sb_qisa_detect()));
    int agree = 0;
    for (int i = 0; i < q.r.images; i++)
        agree += q.r.pred[i] == f.r.pred[i];
    const double acc_f = 100.0 * f.r.correct1 / f.r.images;
    const double acc_q = 100.0 * q.r.correct1 / q.r.images;
    cr_log_info("%s: top-1 fake-quant %.2f%%, int8 %.2f%%, agreement %.2f%% (%d images)", quant,
                acc_f, acc_q, 100.0 * agree / q.r.images, q.r.images);
    cr_expect(fabs(acc_q - acc_f) <= 0.5, "top-1 %.2f%% (int8) vs %.2f%% (fake quant)", acc_q,
              acc_f);
    cr_expect(agree >= 0.98 * q.r.images, "agreement %d / %d", agree, q.r.images);
    /* deterministic across thread counts */
    evaluated one = compress_and_eval(quant, true, 1);
    cr_expect(memcmp(one.r.pred, q.r.pred, sizeof(int) * (size_t)q.r.images) == 0);
    sb_eval_result_free(&one.r);
    sb_eval_result_free(&f.r);
    sb_eval_result_free(&q.r);
}

Test(qmodel, resnet8_int8_per_channel_close_to_fake_quant, .timeout = 600)
{
    int8_against_fake_quant("all=8:channel:a8");
}

Test(qmodel, resnet8_int8_per_tensor_4bit_close_to_fake_quant, .timeout = 600)
{
    int8_against_fake_quant("all=4:tensor:a8");
}

Test(qmodel, weight_only_quantisation_runs_dequantised)
{
    sb_model *m = NULL, *cm = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(SB_SAMPLE_DIR "/resnet8.onnx", &m, &err), SB_OK, "%s", err.msg);
    sb_config c;
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    cr_assert_eq(sb_config_apply_quant_flag(m, &c, "all=8:asym", &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_compress(m, &c, NULL, true, &cm, &err), SB_OK, "%s", err.msg);
    for (int i = 0; i < sb_model_num_layers(cm); i++)
        cr_expect_str_eq(sb_model_layer_kernel(cm, i), "f32-dq");
    cr_expect_str_eq(sb_model_layer_kernel(m, 0), "f32");
    sb_config_free(&c);
    sb_model_free(cm);
    sb_model_free(m);
}
