/* Kernels: sb_sgemm and sb_conv2d against naive double-precision references on awkward shapes,
 * activations against their ONNX/PyTorch definitions, and the determinism contract (bit-identical
 * outputs for 1 or 2 threads, any batch size, inside or outside a parallel region).
 *
 * The ISA-specific suites set SB_ISA before the first kernel call; Criterion runs every test in
 * its own process, so each one really dispatches to the path it names (on a CPU that has it). */
#include "kernels/kernels.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_ref.h"
#include "testutil.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int rng_int(int n)
{
    return (int)(rng_u32() % (uint32_t)n);
}

static float rng_float(void)
{
    return (float)rng_u32() / 4294967296.0f * 2.0f - 1.0f;
}

static float *rand_buf(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    cr_assert(p);
    for (size_t i = 0; i < n; i++)
        p[i] = rng_float();
    return p;
}

static sb_act rand_act(void)
{
    return ref_acts(rng_int(REF_N_ACTS));
}

/* ---- GEMM reference ---- */

typedef struct gemm_case {
    int ta, tb, M, N, K, lda, ldb, ldc;
    sb_epilogue ep;
} gemm_case;

static void ref_gemm(const gemm_case *c, const float *A, const float *B, double *ref, double *scale)
{
    const double alpha = c->ep.alpha == 0 ? 1 : c->ep.alpha;
    for (int i = 0; i < c->M; i++) {
        for (int j = 0; j < c->N; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < c->K; k++) {
                double a = c->ta ? A[(size_t)k * c->lda + i] : A[(size_t)i * c->lda + k];
                double b = c->tb ? B[(size_t)j * c->ldb + k] : B[(size_t)k * c->ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            double bias = 0;
            if (c->ep.bias_kind == SB_BIAS_ROW)
                bias = c->ep.bias[i];
            else if (c->ep.bias_kind == SB_BIAS_COL)
                bias = c->ep.bias[j];
            else if (c->ep.bias_kind == SB_BIAS_SCALAR)
                bias = c->ep.bias[0];
            const double r = ref_act(&c->ep.act, alpha * s + bias);
            ref[(size_t)i * c->N + j] = r;
            /* 1.5: the steepest activation slope (HardSwish at 3). */
            scale[(size_t)i * c->N + j] = 1.5 * (fabs(alpha) * mag + fabs(bias)) + fabs(r);
        }
    }
}

/* Runs one case with ld padding and checks it; C's padding must stay untouched. */
static void run_gemm_case(gemm_case c)
{
    const int ar = c.ta ? c.K : c.M, br = c.tb ? c.N : c.K;
    float *A = rand_buf((size_t)ar * c.lda), *B = rand_buf((size_t)br * c.ldb);
    float *bias = rand_buf((size_t)(c.M > c.N ? c.M : c.N));
    float *C = malloc(sizeof(float) * (size_t)c.M * c.ldc);
    double *ref = malloc(sizeof(double) * (size_t)c.M * c.N);
    double *scale = malloc(sizeof(double) * (size_t)c.M * c.N);
    float *got = malloc(sizeof(float) * (size_t)c.M * c.N);
    for (size_t i = 0; i < (size_t)c.M * c.ldc; i++)
        C[i] = 12345.0f;
    c.ep.bias = c.ep.bias_kind ? bias : NULL;
    sb_sgemm(c.ta, c.tb, c.M, c.N, c.K, A, c.lda, B, c.ldb, C, c.ldc, &c.ep);
    ref_gemm(&c, A, B, ref, scale);
    for (int i = 0; i < c.M; i++) {
        memcpy(got + (size_t)i * c.N, C + (size_t)i * c.ldc, sizeof(float) * c.N);
        for (int j = c.N; j < c.ldc; j++)
            cr_assert(C[(size_t)i * c.ldc + j] == 12345.0f, "padding of C written");
    }
    char what[160];
    snprintf(what, sizeof what, "gemm %c%c M=%d N=%d K=%d alpha=%g bias=%d act=%d",
             c.ta ? 'T' : 'N', c.tb ? 'T' : 'N', c.M, c.N, c.K, (double)c.ep.alpha, c.ep.bias_kind,
             c.ep.act.kind);
    check_close(what, got, ref, scale, (size_t)c.M * c.N);
    free(A), free(B), free(bias), free(C), free(ref), free(scale), free(got);
}

static gemm_case gemm_case_new(int ta, int tb, int M, int N, int K, int pad)
{
    gemm_case c = {.ta = ta, .tb = tb, .M = M, .N = N, .K = K};
    c.lda = (ta ? M : K) + pad;
    c.ldb = (tb ? K : N) + pad;
    c.ldc = N + pad;
    if (c.lda < 1)
        c.lda = 1;
    if (c.ldb < 1)
        c.ldb = 1;
    return c;
}

static void gemm_random_cases(int count)
{
    static const int sizes[] = {1, 2, 3, 5, 7, 12, 13, 17, 31, 32, 33, 48, 65, 129};
    static const float alphas[] = {1.0f, 0.0f, 0.5f, -2.0f};
    const int ns = (int)(sizeof sizes / sizeof sizes[0]);
    for (int t = 0; t < count; t++) {
        gemm_case c = gemm_case_new(rng_int(2), rng_int(2), sizes[rng_int(ns)], sizes[rng_int(ns)],
                                    sizes[rng_int(ns)], rng_int(3) * 5);
        c.ep.alpha = alphas[rng_int(4)];
        c.ep.bias_kind = (sb_bias_kind)rng_int(4);
        c.ep.act = rand_act();
        run_gemm_case(c);
    }
}

/* Every trans combination on shapes that cross the KC (192), MC (144) and NC (512) block edges. */
static void gemm_block_edges(void)
{
    for (int t = 0; t < 4; t++) {
        gemm_case c = gemm_case_new(t & 1, t >> 1, 150, 2100, 530, 3);
        c.ep = (sb_epilogue){.bias_kind = SB_BIAS_COL, .alpha = 0.75f, .act = {SB_ACT_RELU}};
        run_gemm_case(c);
    }
    run_gemm_case(gemm_case_new(0, 0, 1, 3000, 700, 0));
    run_gemm_case(gemm_case_new(0, 1, 300, 5, 1000, 1));
}

/* The SIMD epilogues apply activations in registers; they must give exactly what
 * sb_act_apply_n gives on the stored product. */
static void gemm_epilogue_act_is_act_c(void)
{
    static const sb_act acts[] = {
        {SB_ACT_RELU, 0, 0},      {SB_ACT_CLIP, -0.25f, 0.5f}, {SB_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {SB_ACT_HARDSWISH, 0, 0}, {SB_ACT_SIGMOID, 0, 0},
    };
    const int M = 29, N = 37, K = 211;
    float *A = rand_buf((size_t)M * K), *B = rand_buf((size_t)K * N), *bias = rand_buf(N);
    float *plain = malloc(sizeof(float) * M * N), *fused = malloc(sizeof(float) * M * N);
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        sb_epilogue ep = {.bias_kind = SB_BIAS_COL, .bias = bias, .alpha = 3.0f};
        sb_sgemm(0, 0, M, N, K, A, K, B, N, plain, N, &ep);
        sb_act_apply_n(&acts[a], plain, (size_t)M * N);
        ep.act = acts[a];
        sb_sgemm(0, 0, M, N, K, A, K, B, N, fused, N, &ep);
        check_same("activation fused in the GEMM epilogue", plain, fused, (size_t)M * N);
    }
    free(A), free(B), free(bias), free(plain), free(fused);
}

#define GEMM_ISA_TESTS(ISA)                                                                        \
    Test(gemm_##ISA, random_shapes)                                                                \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_random_cases(300);                                                                    \
    }                                                                                              \
    Test(gemm_##ISA, block_edges)                                                                  \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_block_edges();                                                                        \
    }                                                                                              \
    Test(gemm_##ISA, epilogue_activation_matches_act_c)                                            \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_epilogue_act_is_act_c();                                                              \
    }

GEMM_ISA_TESTS(avx512)
GEMM_ISA_TESTS(avx2)
GEMM_ISA_TESTS(generic)

Test(gemm, isa_override_selects_generic)
{
    setenv("SB_ISA", "generic", 1);
    cr_assert_str_eq(sb_kernels_isa(), "generic");
}

Test(gemm, k_zero_gives_bias_and_activation)
{
    float bias[3] = {-1.0f, 0.25f, 2.0f}, C[6];
    sb_epilogue ep = {.bias_kind = SB_BIAS_COL, .bias = bias, .act = {SB_ACT_RELU}};
    sb_sgemm(0, 0, 2, 3, 0, NULL, 1, NULL, 3, C, 3, &ep);
    for (int i = 0; i < 6; i++)
        cr_assert_float_eq(C[i], fmaxf(bias[i % 3], 0.0f), 0.0f);
}

Test(gemm, null_epilogue_is_plain_product)
{
    const float A[4] = {1, 2, 3, 4}, B[4] = {5, 6, 7, 8};
    float C[4];
    sb_sgemm(0, 0, 2, 2, 2, A, 2, B, 2, C, 2, NULL);
    cr_assert(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50);
}

/* ---- GEMM determinism ---- */

typedef struct gemm_data {
    gemm_case c;
    float *A, *B, *bias;
} gemm_data;

static gemm_data gemm_data_new(int ta, int tb, int M, int N, int K)
{
    gemm_data d = {.c = gemm_case_new(ta, tb, M, N, K, 0)};
    d.A = rand_buf((size_t)M * K);
    d.B = rand_buf((size_t)K * N);
    d.bias = rand_buf((size_t)(M > N ? M : N));
    d.c.ep = (sb_epilogue){
        .bias_kind = SB_BIAS_COL, .bias = d.bias, .alpha = 1.5f, .act = {SB_ACT_HARDSWISH}};
    return d;
}

static void gemm_data_free(gemm_data *d)
{
    free(d->A), free(d->B), free(d->bias);
}

/* Rows [m0, m0+m) of the problem in d as an m-row problem of their own. */
static void gemm_rows(const gemm_data *d, int m0, int m, float *C)
{
    const gemm_case *c = &d->c;
    const float *A = c->ta ? d->A + m0 : d->A + (size_t)m0 * c->lda;
    sb_sgemm(c->ta, c->tb, m, c->N, c->K, A, c->lda, d->B, c->ldb, C, c->N, &c->ep);
}

static float *gemm_threads(const gemm_data *d, int threads)
{
    float *C = malloc(sizeof(float) * (size_t)d->c.M * d->c.N);
    omp_set_num_threads(threads);
    gemm_rows(d, 0, d->c.M, C);
    return C;
}

static void gemm_det_thread_count(void)
{
    /* Shapes that split along N, along M, and a tall skinny transposed one. */
    static const int shapes[][5] = {
        {0, 0, 200, 300, 400},
        {0, 0, 500, 20, 300},
        {1, 1, 77, 513, 600},
        {0, 1, 256, 1000, 512},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        gemm_data d =
            gemm_data_new(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4]);
        float *c1 = gemm_threads(&d, 1), *c2 = gemm_threads(&d, 2), *c3 = gemm_threads(&d, 3);
        check_same("1 vs 2 threads", c1, c2, (size_t)d.c.M * d.c.N);
        check_same("1 vs 3 threads", c1, c3, (size_t)d.c.M * d.c.N);
        free(c1), free(c2), free(c3);
        gemm_data_free(&d);
    }
}

/* Row m of an M-row product equals the same row computed in a 1-row or 7-row problem: batch 1
 * and batch 256 inference give identical logits. */
static void gemm_det_rows_independent_of_m(void)
{
    for (int t = 0; t < 4; t++) {
        gemm_data d = gemm_data_new(t & 1, t >> 1, 256, 45, 700);
        omp_set_num_threads(2);
        float *all = gemm_threads(&d, 2);
        float one[45], seven[7 * 45];
        for (int m = 0; m < 256; m += 37) {
            gemm_rows(&d, m, 1, one);
            check_same("row alone", one, all + (size_t)m * 45, 45);
        }
        for (int m0 = 0; m0 + 7 <= 256; m0 += 50) {
            gemm_rows(&d, m0, 7, seven);
            check_same("7-row batch", seven, all + (size_t)m0 * 45, 7 * 45);
        }
        free(all);
        gemm_data_free(&d);
    }
}

static void gemm_det_inside_parallel_region(void)
{
    gemm_data d = gemm_data_new(0, 1, 300, 200, 333);
    float *outside = gemm_threads(&d, 2);
    float *inside = malloc(sizeof(float) * 300 * 200);
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        gemm_rows(&d, 0, 300, inside);
    }
    check_same("inside vs outside a parallel region", outside, inside, 300 * 200);
    free(outside), free(inside);
    gemm_data_free(&d);
}

/* ---- activations ---- */

static float act_specials[] = {0.0f,       -0.0f,     1.0f,  -1.0f,  3.0f,  -3.0f,
                               2.9999998f, 6.0f,      -6.0f, 1e-30f, 1e30f, -1e30f,
                               INFINITY,   -INFINITY, 0.5f,  1.5f,   100.0f};

static void act_n_matches_scalar(void)
{
    static const sb_act acts[] = {
        {SB_ACT_RELU, 0, 0},      {SB_ACT_CLIP, -1.5f, 2.0f}, {SB_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {SB_ACT_HARDSWISH, 0, 0}, {SB_ACT_SIGMOID, 0, 0},     {SB_ACT_NONE, 0, 0},
        {SB_ACT_XHARDSIGMOID, 1.0f / 6.0f, 0.5f},
    };
    const size_t n = 1000 + sizeof act_specials / sizeof act_specials[0];
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        for (size_t i = 0; i < n; i++)
            x[i] = i < 1000 ? rng_float() * 10 : act_specials[i - 1000];
        /* Every length and offset, so vector bodies and scalar tails both get compared. */
        for (size_t len = 0; len < 40; len++) {
            memcpy(y, x, sizeof(float) * n);
            sb_act_apply_n(&acts[a], y + 3, len);
            for (size_t i = 0; i < len; i++) {
                float want = sb_act_apply(&acts[a], x[i + 3]);
                cr_assert(memcmp(&want, &y[i + 3], sizeof want) == 0, "act %d len %zu", (int)a,
                          len);
            }
        }
        memcpy(y, x, sizeof(float) * n);
        sb_act_apply_n(&acts[a], y, n);
        for (size_t i = 0; i < n; i++) {
            float want = sb_act_apply(&acts[a], x[i]);
            cr_assert(memcmp(&want, &y[i], sizeof want) == 0 || (isnan(want) && isnan(y[i])),
                      "act kind %d at %g: %g vs %g", acts[a].kind, (double)x[i], (double)want,
                      (double)y[i]);
        }
    }
    free(x), free(y);
}

Test(act_avx512, vector_matches_scalar)
{
    use_isa("avx512");
    act_n_matches_scalar();
}

Test(act_avx2, vector_matches_scalar)
{
    use_isa("avx2");
    act_n_matches_scalar();
}

Test(act, hardswish_is_pytorch_formula_bit_for_bit)
{
    const sb_act hs = {SB_ACT_HARDSWISH, 0, 0};
    for (int i = 0; i < 100000; i++) {
        float x = rng_float() * 8;
        float t = fminf(fmaxf(x + 3.0f, 0.0f), 6.0f);
        float want = x * t / 6.0f;
        float got = sb_act_apply(&hs, x);
        cr_assert(memcmp(&want, &got, sizeof got) == 0, "hardswish(%.9g)", (double)x);
    }
}

/* The fused epilogue for Mul(x, HardSigmoid(x)) computes exactly what the two ONNX nodes do. */
Test(act, xhardsigmoid_is_mul_of_onnx_hardsigmoid_bit_for_bit)
{
    const float a = 1.0f / 6.0f, b = 0.5f;
    const sb_act xh = {SB_ACT_XHARDSIGMOID, a, b};
    for (int i = 0; i < 100000; i++) {
        float x = rng_float() * 8;
        float ax = a * x;
        float h = fmaxf(0.0f, fminf(1.0f, ax + b));
        float want = x * h;
        float got = sb_act_apply(&xh, x);
        cr_assert(memcmp(&want, &got, sizeof got) == 0, "x*hardsigmoid(%.9g)", (double)x);
    }
}

Test(act, onnx_definitions)
{
    const sb_act acts[] = {
        {SB_ACT_RELU, 0, 0},      {SB_ACT_CLIP, -0.5f, 0.75f}, {SB_ACT_HARDSIGMOID, 0.2f, 0.5f},
        {SB_ACT_HARDSWISH, 0, 0}, {SB_ACT_SIGMOID, 0, 0},
    };
    for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
        for (int i = 0; i < 10000; i++) {
            float x = rng_float() * 10;
            double want = ref_act(&acts[a], x);
            cr_assert(fabs(sb_act_apply(&acts[a], x) - want) <= 1e-6 * (1 + fabs(want)),
                      "kind %d at %g", acts[a].kind, (double)x);
        }
    }
    const sb_act relu = {SB_ACT_RELU, 0, 0}, sig = {SB_ACT_SIGMOID, 0, 0};
    cr_assert(isnan(sb_act_apply(&relu, NAN)), "NaN must propagate through Relu");
    cr_assert(sb_act_apply(&sig, -INFINITY) == 0.0f && sb_act_apply(&sig, INFINITY) == 1.0f);
}

/* ---- convolution ---- */

typedef struct conv_case {
    sb_conv_geom g;
    int pb, pr; /* bottom/right padding, to derive OH/OW */
    int n, has_bias;
    sb_act act;
} conv_case;

static conv_case conv_case_new(int C, int H, int W, int M, int kh, int kw, int s, int d, int p,
                               int group)
{
    conv_case c = {.g = {.C = C,
                         .H = H,
                         .W = W,
                         .M = M,
                         .kh = kh,
                         .kw = kw,
                         .sh = s,
                         .sw = s,
                         .dh = d,
                         .dw = d,
                         .pt = p,
                         .pl = p,
                         .group = group},
                   .pb = p,
                   .pr = p,
                   .n = 2,
                   .has_bias = 1};
    return c;
}

static void conv_finish(conv_case *c)
{
    sb_conv_geom *g = &c->g;
    g->OH = (g->H + g->pt + c->pb - ((g->kh - 1) * g->dh + 1)) / g->sh + 1;
    g->OW = (g->W + g->pl + c->pr - ((g->kw - 1) * g->dw + 1)) / g->sw + 1;
}

static void ref_conv(const conv_case *c, const float *x, const float *w, const float *bias,
                     double *ref, double *scale)
{
    const sb_conv_geom *g = &c->g;
    const int Cg = g->C / g->group, Mg = g->M / g->group;
    size_t o = 0;
    for (int n = 0; n < c->n; n++)
        for (int m = 0; m < g->M; m++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++, o++) {
                    double s = bias ? bias[m] : 0, mag = bias ? fabs(bias[m]) : 0;
                    for (int cg = 0; cg < Cg; cg++) {
                        const int ch = m / Mg * Cg + cg;
                        for (int i = 0; i < g->kh; i++)
                            for (int j = 0; j < g->kw; j++) {
                                int ih = oh * g->sh - g->pt + i * g->dh;
                                int iw = ow * g->sw - g->pl + j * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                                    continue;
                                double p =
                                    (double)w[((size_t)(m * Cg + cg) * g->kh + i) * g->kw + j] *
                                    x[(((size_t)n * g->C + ch) * g->H + ih) * g->W + iw];
                                s += p;
                                mag += fabs(p);
                            }
                    }
                    ref[o] = ref_act(&c->act, s);
                    scale[o] = 1.5 * mag + fabs(ref[o]);
                }
}

static size_t conv_in_n(const conv_case *c)
{
    return (size_t)c->n * c->g.C * c->g.H * c->g.W;
}

static size_t conv_out_n(const conv_case *c)
{
    return (size_t)c->n * c->g.M * c->g.OH * c->g.OW;
}

/* Runs sb_conv2d with exactly the scratch it asks for (ASan catches any overrun). */
static float *conv_run(const conv_case *c, const float *x, const float *w, const float *bias)
{
    const size_t sn = sb_conv2d_scratch(&c->g, c->n, omp_get_max_threads());
    float *scratch = sn ? malloc(sizeof(float) * sn) : NULL;
    float *y = malloc(sizeof(float) * conv_out_n(c));
    sb_conv2d(&c->g, c->n, x, w, c->has_bias ? bias : NULL, &c->act, y, scratch);
    free(scratch);
    return y;
}

static void run_conv_case(conv_case c)
{
    conv_finish(&c);
    const sb_conv_geom *g = &c.g;
    float *x = rand_buf(conv_in_n(&c));
    float *w = rand_buf((size_t)g->M * (g->C / g->group) * g->kh * g->kw);
    float *bias = rand_buf((size_t)g->M);
    double *ref = malloc(sizeof(double) * conv_out_n(&c));
    double *scale = malloc(sizeof(double) * conv_out_n(&c));
    float *y = conv_run(&c, x, w, bias);
    ref_conv(&c, x, w, c.has_bias ? bias : NULL, ref, scale);
    char what[200];
    snprintf(what, sizeof what,
             "conv n=%d C=%d %dx%d M=%d k=%dx%d s=%d,%d d=%d,%d p=%d,%d/%d,%d g=%d act=%d", c.n,
             g->C, g->H, g->W, g->M, g->kh, g->kw, g->sh, g->sw, g->dh, g->dw, g->pt, g->pl, c.pb,
             c.pr, g->group, c.act.kind);
    check_close(what, y, ref, scale, conv_out_n(&c));
    free(x), free(w), free(bias), free(ref), free(scale), free(y);
}

/* Geometries covering every path and edge: 3x3 same, strides 2 and 3, dilation 2, groups,
 * depthwise with and without multiplier, pointwise, strided pointwise, 1-D, asymmetric pads,
 * kernels wider than the padded input region, odd sizes. */
static conv_case conv_cases(int i)
{
    switch (i) {
    case 0:
        return conv_case_new(3, 17, 17, 8, 3, 3, 1, 1, 1, 1);
    case 1:
        return conv_case_new(5, 33, 29, 7, 3, 3, 2, 1, 1, 1);
    case 2:
        return conv_case_new(4, 20, 23, 6, 5, 5, 3, 1, 2, 1);
    case 3:
        return conv_case_new(6, 15, 16, 9, 3, 3, 1, 2, 2, 1);
    case 4:
        return conv_case_new(8, 13, 11, 12, 3, 3, 1, 1, 1, 4);
    case 5:
        return conv_case_new(16, 19, 21, 16, 3, 3, 1, 1, 1, 16);
    case 6:
        return conv_case_new(16, 19, 21, 16, 3, 3, 2, 1, 1, 16);
    case 7:
        return conv_case_new(7, 9, 40, 21, 5, 5, 1, 2, 3, 7);
    case 8:
        return conv_case_new(5, 7, 7, 10, 3, 3, 3, 1, 1, 5);
    case 9:
        return conv_case_new(33, 14, 14, 65, 1, 1, 1, 1, 0, 1);
    case 10:
        return conv_case_new(17, 15, 15, 31, 1, 1, 2, 1, 0, 1);
    case 11:
        return conv_case_new(1, 28, 28, 6, 5, 5, 1, 1, 2, 1);
    case 12:
        return conv_case_new(3, 1, 129, 5, 1, 7, 1, 1, 3, 1);
    case 13:
        return conv_case_new(4, 1, 65, 8, 1, 3, 2, 2, 1, 2);
    case 14:
        return conv_case_new(6, 1, 50, 6, 1, 5, 1, 1, 2, 6);
    case 15:
        return conv_case_new(2, 3, 3, 4, 3, 3, 1, 1, 2, 1);
    case 16:
        return conv_case_new(32, 7, 7, 64, 3, 3, 1, 1, 1, 1);
    case 17:
        return conv_case_new(12, 9, 9, 6, 3, 3, 1, 1, 1, 3);
    case 18:
        return conv_case_new(3, 65, 66, 4, 7, 7, 2, 1, 3, 1);
    case 19:
        return conv_case_new(10, 35, 35, 10, 3, 3, 3, 3, 4, 10);
    /* Big enough for im2col and depthwise to spread channels over threads at batch 1. */
    case 20:
        return conv_case_new(16, 40, 40, 16, 3, 3, 1, 1, 1, 1);
    case 21:
        return conv_case_new(32, 48, 45, 32, 3, 3, 2, 1, 1, 32);
    default: /* depthwise with a multiplier large enough to go through im2col + GEMM */
        return conv_case_new(4, 12, 13, 20, 3, 3, 1, 1, 1, 4);
    }
}
#define N_CONV_CASES 23

static void conv_all_cases(void)
{
    for (int i = 0; i < N_CONV_CASES; i++) {
        conv_case c = conv_cases(i);
        c.act = rand_act();
        c.n = 1 + rng_int(3);
        c.has_bias = i % 3 != 2;
        run_conv_case(c);
        /* Asymmetric padding: extra rows/columns at the bottom/right only. */
        c.pb += 1, c.pr += 2;
        run_conv_case(c);
    }
}

#define CONV_ISA_TESTS(ISA)                                                                        \
    Test(conv_##ISA, geometries)                                                                   \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        conv_all_cases();                                                                          \
    }                                                                                              \
    Test(conv_##ISA, geometries_two_threads)                                                       \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        omp_set_num_threads(2);                                                                    \
        conv_all_cases();                                                                          \
    }

CONV_ISA_TESTS(avx512)
CONV_ISA_TESTS(avx2)
CONV_ISA_TESTS(generic)

/* ---- convolution determinism ---- */

typedef struct conv_data {
    conv_case c;
    float *x, *w, *bias;
} conv_data;

static conv_data conv_data_new(conv_case c, int n)
{
    c.n = n;
    c.act = (sb_act){SB_ACT_RELU, 0, 0};
    conv_finish(&c);
    conv_data d = {.c = c};
    d.x = rand_buf(conv_in_n(&c));
    d.w = rand_buf((size_t)c.g.M * (c.g.C / c.g.group) * c.g.kh * c.g.kw);
    d.bias = rand_buf((size_t)c.g.M);
    return d;
}

/* Image i of the batch run as a batch of one. */
static float *conv_single(const conv_data *d, int i)
{
    conv_case one = d->c;
    one.n = 1;
    return conv_run(&one, d->x + (size_t)i * d->c.g.C * d->c.g.H * d->c.g.W, d->w, d->bias);
}

/* One geometry per strategy: im2col, pointwise, depthwise (with multiplier), grouped, and
 * im2col and depthwise large enough to run their channel loops in parallel. */
#define N_DET_CASES 7
static conv_case det_case(int i)
{
    static const int cases[N_DET_CASES] = {16, 9, 7, 4, 20, 21, 22};
    return conv_cases(cases[i]);
}

static void conv_det_batch_and_threads(void)
{
    for (int k = 0; k < N_DET_CASES; k++) {
        conv_data d = conv_data_new(det_case(k), 7);
        const size_t img = (size_t)d.c.g.M * d.c.g.OH * d.c.g.OW;
        omp_set_num_threads(2);
        float *batch2 = conv_run(&d.c, d.x, d.w, d.bias);
        omp_set_num_threads(1);
        float *batch1 = conv_run(&d.c, d.x, d.w, d.bias);
        check_same("batch of 7, 1 vs 2 threads", batch1, batch2, conv_out_n(&d.c));
        omp_set_num_threads(3); /* more threads than cores, and n not a multiple */
        float *batch3 = conv_run(&d.c, d.x, d.w, d.bias);
        check_same("batch of 7, 1 vs 3 threads", batch1, batch3, conv_out_n(&d.c));
        free(batch3);
        for (int i = 0; i < 7; i += 3) {
            for (int t = 1; t <= 3; t++) {
                omp_set_num_threads(t);
                float *one = conv_single(&d, i);
                check_same("image alone vs in a batch of 7", one, batch2 + i * img, img);
                free(one);
            }
        }
        free(batch1), free(batch2), free(d.x), free(d.w), free(d.bias);
    }
}

static void conv_det_inside_parallel_region(void)
{
    for (int k = 0; k < N_DET_CASES; k++) {
        conv_data d = conv_data_new(det_case(k), 3);
        omp_set_num_threads(2);
        float *outside = conv_run(&d.c, d.x, d.w, d.bias);
        float *inside = NULL;
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            inside = conv_run(&d.c, d.x, d.w, d.bias);
        }
        check_same("conv inside vs outside a parallel region", outside, inside, conv_out_n(&d.c));
        free(outside), free(inside), free(d.x), free(d.w), free(d.bias);
    }
}

Test(conv, scratch_matches_strategy)
{
    conv_case pw = conv_cases(9), dw = conv_cases(5), gen = conv_cases(0);
    conv_finish(&pw), conv_finish(&dw), conv_finish(&gen);
    cr_assert_eq(sb_conv2d_scratch(&pw.g, 8, 2), 0, "pointwise needs no scratch");
    cr_assert_gt(sb_conv2d_scratch(&dw.g, 1, 1), 0);
    const size_t one = sb_conv2d_scratch(&gen.g, 1, 2);
    cr_assert_eq(one, (size_t)gen.g.C * 9 * gen.g.OH * gen.g.OW, "one im2col buffer");
    cr_assert_eq(sb_conv2d_scratch(&gen.g, 8, 2), 2 * one, "one buffer per thread");
}

Test(conv, kernels_isa_name)
{
    const char *isa = sb_kernels_isa();
    cr_assert(strcmp(isa, "avx512") == 0 || strcmp(isa, "avx2") == 0 ||
              strcmp(isa, "generic") == 0);
}

/* A packed once and reused gives what sb_sgemm gives with A itself, bit for bit: several K
 * blocks, M not a multiple of any micro-tile, every epilogue part, 1 and 2 threads. */
static void gemm_prepacked_matches_plain(void)
{
    static const int shapes[][3] = {{64, 3136, 576}, {37, 49, 400}, {5, 300, 1000}, {130, 7, 20}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        gemm_data d = gemm_data_new(0, 0, shapes[s][0], shapes[s][1], shapes[s][2]);
        d.c.ep = (sb_epilogue){.bias_kind = SB_BIAS_ROW, .bias = d.bias, .alpha = 1.0f,
                               .act = {SB_ACT_XHARDSIGMOID, 1.0f / 6.0f, 0.5f}};
        const gemm_case *c = &d.c;
        float *packed = malloc(sizeof(float) * sb_sgemm_packed_a_floats(c->M, c->K));
        sb_sgemm_pack_a(c->M, c->K, d.A, c->lda, packed);
        float *want = gemm_threads(&d, 1);
        float *got = malloc(sizeof(float) * (size_t)c->M * c->N);
        for (int t = 1; t <= 2; t++) {
            omp_set_num_threads(t);
            sb_sgemm_prepacked(c->M, c->N, c->K, packed, d.B, c->ldb, got, c->N, &c->ep);
            check_same("prepacked A", want, got, (size_t)c->M * c->N);
        }
        free(packed), free(want), free(got);
        gemm_data_free(&d);
    }
}

/* The determinism contract holds within each ISA path (between paths fused and separate
 * multiply-adds may differ, which is accepted). */
#define DETERMINISM_TESTS(ISA)                                                                     \
    Test(determinism_##ISA, gemm_thread_count)                                                     \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_det_thread_count();                                                                   \
    }                                                                                              \
    Test(determinism_##ISA, gemm_rows_independent_of_m)                                            \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_det_rows_independent_of_m();                                                          \
    }                                                                                              \
    Test(determinism_##ISA, gemm_inside_parallel_region)                                           \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_det_inside_parallel_region();                                                         \
    }                                                                                              \
    Test(determinism_##ISA, conv_batch_and_threads)                                                \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        conv_det_batch_and_threads();                                                              \
    }                                                                                              \
    Test(determinism_##ISA, gemm_prepacked_matches_plain)                                          \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_prepacked_matches_plain();                                                            \
    }                                                                                              \
    Test(determinism_##ISA, conv_inside_parallel_region)                                           \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        conv_det_inside_parallel_region();                                                         \
    }

DETERMINISM_TESTS(avx512)
DETERMINISM_TESTS(avx2)
DETERMINISM_TESTS(generic)
