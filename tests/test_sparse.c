/* Sparse (CSR) kernels and the plan's per-layer kernel choice.
 *
 * Truth: a double-precision reference written from the definitions (within float rounding),
 * and the dense kernels bit for bit — skipping exact zero terms of an in-order multiply-add
 * chain that starts at +0 cannot change a finite result (kernels/sparse.h), so any difference
 * from the dense path is a bug, not rounding. The model-level test uses the same exact
 * comparison, i.e. tolerance 0. */
#include "compress.h"
#include "kernels/kernels.h"
#include "kernels/sparse.h"
#include "slimbench.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_ref.h"
#include "testutil.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static int rng_int(int n)
{
    return (int)(rng_u32() % (uint32_t)n);
}

static float rng_float(void)
{
    return (float)(rng_u32() >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* n floats in [-1, 1), each zero with probability `sparsity`. */
static float *rand_sparse(size_t n, double sparsity)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    cr_assert(p);
    for (size_t i = 0; i < n; i++) {
        const double u = (rng_u32() >> 8) / (double)(1u << 24);
        p[i] = u < sparsity ? 0.0f : rng_float();
    }
    return p;
}

static sb_act rand_act(void)
{
    return ref_acts(rng_int(REF_N_ACTS));
}

static const double sparsities[] = {0.0, 0.5, 0.9, 0.97, 1.0};
#define N_SPARSITIES 5

/* ---- convolution ---- */

typedef struct conv_case {
    sb_conv_geom g;
    int pb, pr, n;
} conv_case;

static conv_case conv_case_new(int C, int H, int W, int M, int kh, int kw, int s, int d, int p,
                               int group)
{
    conv_case c = {.g = {.C = C, .H = H, .W = W, .M = M, .kh = kh, .kw = kw, .sh = s, .sw = s,
                         .dh = d, .dw = d, .pt = p, .pl = p, .group = group},
                   .pb = p, .pr = p, .n = 1};
    return c;
}

static void conv_finish(conv_case *c)
{
    sb_conv_geom *g = &c->g;
    g->OH = (g->H + g->pt + c->pb - ((g->kh - 1) * g->dh + 1)) / g->sh + 1;
    g->OW = (g->W + g->pl + c->pr - ((g->kw - 1) * g->dw + 1)) / g->sw + 1;
}

/* Every non-depthwise path: 3x3 same, strides 2 and 3, dilation, groups, pointwise (in place
 * and strided), 1-D, a 7x7 stride-2 stem, padding wider than the kernel's reach, odd sizes,
 * and outputs wider than one column block (256) with rows not a multiple of a task (16). */
static conv_case conv_cases(int i)
{
    switch (i) {
    case 0: return conv_case_new(3, 17, 17, 8, 3, 3, 1, 1, 1, 1);
    case 1: return conv_case_new(5, 33, 29, 7, 3, 3, 2, 1, 1, 1);
    case 2: return conv_case_new(4, 20, 23, 6, 5, 5, 3, 1, 2, 1);
    case 3: return conv_case_new(6, 15, 16, 9, 3, 3, 1, 2, 2, 1);
    case 4: return conv_case_new(8, 13, 11, 12, 3, 3, 1, 1, 1, 4);
    case 5: return conv_case_new(33, 14, 14, 65, 1, 1, 1, 1, 0, 1);
    case 6: return conv_case_new(17, 15, 15, 31, 1, 1, 2, 1, 0, 1);
    case 7: return conv_case_new(3, 1, 129, 5, 1, 7, 1, 1, 3, 1);
    case 8: return conv_case_new(4, 1, 65, 8, 1, 3, 2, 2, 1, 2);
    case 9: return conv_case_new(2, 3, 3, 4, 3, 3, 1, 1, 2, 1);
    case 10: return conv_case_new(32, 7, 7, 64, 3, 3, 1, 1, 1, 1);
    case 11: return conv_case_new(3, 45, 47, 10, 7, 7, 2, 1, 3, 1);
    case 12: return conv_case_new(24, 30, 31, 37, 3, 3, 1, 1, 1, 1);
    default: return conv_case_new(4, 12, 13, 20, 3, 3, 1, 1, 1, 4);
    }
}
#define N_CONV_CASES 14

typedef struct conv_data {
    conv_case c;
    float *x, *w, *bias;
    sb_act act;
    sb_csr *csr;
} conv_data;

static size_t in_n(const conv_case *c)
{
    return (size_t)c->n * c->g.C * c->g.H * c->g.W;
}

static size_t out_n(const conv_case *c)
{
    return (size_t)c->n * c->g.M * c->g.OH * c->g.OW;
}

static size_t w_cols(const conv_case *c)
{
    return (size_t)(c->g.C / c->g.group) * c->g.kh * c->g.kw;
}

static conv_data conv_data_new(conv_case c, double sparsity)
{
    conv_finish(&c);
    conv_data d = {.c = c, .act = rand_act()};
    d.x = rand_sparse(in_n(&c), 0.0);
    d.w = rand_sparse((size_t)c.g.M * w_cols(&c), sparsity);
    d.bias = rng_int(3) ? rand_sparse((size_t)c.g.M, 0.0) : NULL;
    d.csr = sb_csr_from_dense(d.w, c.g.M, (int)w_cols(&c), (ptrdiff_t)w_cols(&c), 1);
    cr_assert(d.csr);
    return d;
}

static void conv_data_free(conv_data *d)
{
    free(d->x), free(d->w), free(d->bias);
    sb_csr_free(d->csr);
}

/* Runs the sparse (csr) or dense kernel with exactly the scratch sb_conv2d_scratch gives. */
static float *conv_run(const conv_data *d, bool sparse)
{
    const size_t sn = sb_conv2d_scratch(&d->c.g, d->c.n, omp_get_max_threads());
    float *scratch = sn ? malloc(sizeof(float) * sn) : NULL;
    float *y = malloc(sizeof(float) * out_n(&d->c));
    if (sparse)
        sb_conv2d_sparse(&d->c.g, d->c.n, d->x, d->csr, d->bias, &d->act, y, scratch);
    else
        sb_conv2d(&d->c.g, d->c.n, d->x, d->w, d->bias, &d->act, y, scratch);
    free(scratch);
    return y;
}

static void ref_conv(const conv_data *d, double *ref, double *scale)
{
    const sb_conv_geom *g = &d->c.g;
    const int Cg = g->C / g->group, Mg = g->M / g->group;
    size_t o = 0;
    for (int n = 0; n < d->c.n; n++)
        for (int m = 0; m < g->M; m++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++, o++) {
                    double s = d->bias ? d->bias[m] : 0, mag = fabs(s);
                    for (int cg = 0; cg < Cg; cg++)
                        for (int i = 0; i < g->kh; i++)
                            for (int j = 0; j < g->kw; j++) {
                                const int ih = oh * g->sh - g->pt + i * g->dh;
                                const int iw = ow * g->sw - g->pl + j * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W)
                                    continue;
                                const int ch = m / Mg * Cg + cg;
                                const double p =
                                    (double)d->w[((size_t)(m * Cg + cg) * g->kh + i) * g->kw + j] *
                                    d->x[(((size_t)n * g->C + ch) * g->H + ih) * g->W + iw];
                                s += p;
                                mag += fabs(p);
                            }
                    ref[o] = ref_act(&d->act, s);
                    scale[o] = 1.5 * mag + fabs(ref[o]);
                }
}

static void conv_check(conv_case c, double sparsity, int threads)
{
    omp_set_num_threads(threads);
    conv_data d = conv_data_new(c, sparsity);
    const size_t n = out_n(&d.c);
    float *sparse = conv_run(&d, true), *dense = conv_run(&d, false);
    double *ref = malloc(sizeof(double) * n), *scale = malloc(sizeof(double) * n);
    ref_conv(&d, ref, scale);
    char what[200];
    const sb_conv_geom *g = &d.c.g;
    snprintf(what, sizeof what,
             "sparse conv n=%d C=%d %dx%d M=%d k=%dx%d s=%d d=%d p=%d/%d,%d g=%d act=%d "
             "sparsity=%.2f threads=%d",
             d.c.n, g->C, g->H, g->W, g->M, g->kh, g->kw, g->sh, g->dh, g->pt, d.c.pb, d.c.pr,
             g->group, d.act.kind, sparsity, threads);
    check_close(what, sparse, ref, scale, n);
    check_same(what, sparse, dense, n);
    /* Prepared as a plan prepares it: taps read from the implicit GEMM's planes. */
    cr_assert(sb_conv2d_sparse_prepare(&d.c.g, d.csr));
    float *planes = conv_run(&d, true);
    strncat(what, " (planes)", sizeof what - strlen(what) - 1);
    check_same(what, planes, dense, n);
    free(sparse), free(dense), free(planes), free(ref), free(scale);
    conv_data_free(&d);
}

static void conv_all(int threads)
{
    for (int i = 0; i < N_CONV_CASES; i++)
        for (int s = 0; s < N_SPARSITIES; s++) {
            conv_case c = conv_cases(i);
            c.n = 1 + rng_int(3);
            conv_check(c, sparsities[s], threads);
            c.pb += 1, c.pr += 2; /* asymmetric padding: extra bottom/right only */
            conv_check(c, sparsities[s], threads);
        }
}

/* The same bits for 1, 2 and 3 threads, at batch 1 (threads share an image) and batch 5. */
static void conv_thread_counts(void)
{
    for (int batch = 1; batch <= 5; batch += 4) {
        conv_case c = conv_cases(12);
        c.n = batch;
        conv_data d = conv_data_new(c, 0.9);
        omp_set_num_threads(1);
        float *one = conv_run(&d, true);
        for (int t = 2; t <= 3; t++) {
            omp_set_num_threads(t);
            float *y = conv_run(&d, true);
            check_same("sparse conv, 1 thread vs more", one, y, out_n(&d.c));
            free(y);
        }
        free(one);
        conv_data_free(&d);
    }
}

/* ---- Gemm ---- */

typedef struct gemm_case {
    int ta, tb, m, k, nn;
    float alpha;
    bool bias;
    sb_act act;
} gemm_case;

static void gemm_check(gemm_case c, double sparsity, int threads)
{
    omp_set_num_threads(threads);
    float *A = rand_sparse((size_t)c.m * c.k, 0.0);
    float *B = rand_sparse((size_t)c.k * c.nn, sparsity); /* k x nn, or nn x k when tb */
    float *bias = rand_sparse((size_t)c.nn, 0.0);
    const int lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.nn;
    sb_csr *w = c.tb ? sb_csr_from_dense(B, c.nn, c.k, c.k, 1)
                     : sb_csr_from_dense(B, c.nn, c.k, 1, c.nn);
    cr_assert(w);
    sb_epilogue ep = {.bias_kind = c.bias ? SB_BIAS_COL : SB_BIAS_NONE,
                      .bias = c.bias ? bias : NULL, .alpha = c.alpha, .act = c.act};
    const size_t yn = (size_t)c.m * c.nn;
    float *sparse = malloc(sizeof(float) * yn), *dense = malloc(sizeof(float) * yn);
    float *scratch = malloc(sizeof(float) * (sb_gemm_sparse_scratch(c.ta, c.m, c.k, c.nn) + 1));
    sb_gemm_sparse(c.ta, c.m, c.k, A, lda, w, &ep, sparse, c.nn, scratch);
    sb_sgemm(c.ta, c.tb, c.m, c.nn, c.k, A, lda, B, ldb, dense, c.nn, &ep);
    double *ref = malloc(sizeof(double) * yn), *scale = malloc(sizeof(double) * yn);
    for (int i = 0; i < c.m; i++)
        for (int j = 0; j < c.nn; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < c.k; k++) {
                const double a = c.ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                const double b = c.tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
                mag += fabs(a * b);
            }
            s = s * (c.alpha == 0 ? 1 : c.alpha) + (c.bias ? bias[j] : 0);
            ref[(size_t)i * c.nn + j] = ref_act(&c.act, s);
            scale[(size_t)i * c.nn + j] = 1.5 * mag + fabs(s) + fabs(ref[(size_t)i * c.nn + j]);
        }
    char what[160];
    snprintf(what, sizeof what, "sparse gemm ta=%d tb=%d m=%d k=%d n=%d act=%d sparsity=%.2f",
             c.ta, c.tb, c.m, c.k, c.nn, c.act.kind, sparsity);
    check_close(what, sparse, ref, scale, yn);
    check_same(what, sparse, dense, yn);
    free(A), free(B), free(bias), free(sparse), free(dense), free(scratch), free(ref),
        free(scale);
    sb_csr_free(w);
}

static void gemm_all(int threads)
{
    static const int ms[] = {1, 3, 40}, ks[] = {1, 17, 300}, ns[] = {1, 10, 70};
    for (int i = 0; i < 27; i++)
        for (int s = 1; s < N_SPARSITIES; s++) {
            gemm_case c = {rng_int(2), rng_int(2), ms[i % 3], ks[i / 3 % 3], ns[i / 9],
                           rng_int(2) ? 1.0f : 0.5f, rng_int(2) != 0, rand_act()};
            gemm_check(c, sparsities[s], threads);
        }
}

#define SPARSE_ISA_TESTS(ISA)                                                                      \
    Test(sparse_##ISA, conv_one_thread)                                                            \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        conv_all(1);                                                                               \
    }                                                                                              \
    Test(sparse_##ISA, conv_two_threads)                                                           \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        conv_all(2);                                                                               \
    }                                                                                              \
    Test(sparse_##ISA, conv_thread_count_never_changes_bits)                                       \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        conv_thread_counts();                                                                      \
    }                                                                                              \
    Test(sparse_##ISA, gemm_one_and_two_threads)                                                   \
    {                                                                                              \
        use_isa(#ISA);                                                                             \
        gemm_all(1);                                                                               \
        gemm_all(2);                                                                               \
    }

SPARSE_ISA_TESTS(avx512)
SPARSE_ISA_TESTS(avx2)
SPARSE_ISA_TESTS(generic)

Test(sparse, csr_of_strided_matrix)
{
    const float w[2][3] = {{0, 2, 0}, {4, 0, 6}}; /* read as its 3 x 2 transpose */
    sb_csr *a = sb_csr_from_dense(&w[0][0], 3, 2, 1, 3);
    cr_assert(a);
    cr_assert_eq(a->nnz, 3);
    const int64_t rowptr[] = {0, 1, 2, 3};
    const int32_t col[] = {1, 0, 1};
    const float val[] = {4, 2, 6};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(a->rowptr[i], rowptr[i]);
    for (int i = 0; i < 3; i++)
        cr_assert(a->col[i] == col[i] && a->val[i] == val[i], "entry %d", i);
    sb_csr_free(a);
}

/* ---- the plan's choice, on a real model ---- */

static sb_model *pruned_resnet8(const char *flag, const char *sparse_mode)
{
    sb_error err = {0};
    sb_model *m = NULL, *cm = NULL;
    sb_config c;
    cr_assert_eq(sb_model_load(SB_SAMPLE_DIR "/resnet8.onnx", &m, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_config_apply_prune_flag(m, &c, flag, &err), SB_OK, "%s", err.msg);
    setenv("SB_SPARSE", sparse_mode, 1); /* read when the compressed model's plan is built */
    cr_assert_eq(sb_compress(m, &c, NULL, false, &cm, &err), SB_OK, "%s", err.msg);
    unsetenv("SB_SPARSE");
    sb_config_free(&c);
    sb_model_free(m);
    return cm;
}

static float *run_logits(sb_model *m, const sb_dataset *d, int first, int n, size_t *count)
{
    sb_error err = {0};
    sb_preprocess pp;
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK, "%s", err.msg);
    sb_tensor in = {.dtype = SB_F32, .shape = sb_model_input_shape(m)}, out = {0};
    in.shape.dim[0] = n;
    in.data = malloc(sizeof(float) * (size_t)sb_shape_count(&in.shape));
    sb_dataset_fill(d, &pp, first, n, in.data);
    cr_assert_eq(sb_model_run(m, 1, &in, 1, &out, &err), SB_OK, "%s", err.msg);
    *count = (size_t)sb_shape_count(&out.shape);
    float *logits = malloc(sizeof(float) * *count);
    memcpy(logits, out.data, sizeof(float) * *count);
    sb_tensor_free(&out);
    free(in.data);
    return logits;
}

Test(sparse_plan, pruned_90_runs_big_layers_sparse_with_identical_results)
{
    omp_set_num_threads(2); /* before any plan: a plan is sized for the threads it was made with */
    sb_model *sparse = pruned_resnet8("all=0.9", "auto");
    sb_model *dense = pruned_resnet8("all=0.9", "off");
    int n_sparse = 0;
    for (int i = 0; i < sb_model_num_layers(sparse); i++) {
        sb_layer_info info;
        cr_assert_eq(sb_model_layer(sparse, i, &info), SB_OK);
        const char *k = sb_model_layer_kernel(sparse, i);
        cr_assert(k, "layer %s has no kernel", info.name);
        cr_assert_str_eq(sb_model_layer_kernel(dense, i), "f32");
        if (info.params >= 1000 && strcmp(info.op, "Conv(dw)") != 0) {
            cr_expect_str_eq(k, "sparse-csr", "layer %s (%lld params, %lld zeros)", info.name,
                             (long long)info.params, (long long)info.zeros);
            n_sparse++;
        }
    }
    cr_assert_gt(n_sparse, 3);

    sb_error err = {0};
    sb_dataset *d = NULL;
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &d, &err), SB_OK, "%s", err.msg);
    size_t ns, nd;
    float *ls = run_logits(sparse, d, 0, 64, &ns), *ld = run_logits(dense, d, 0, 64, &nd);
    cr_assert_eq(ns, nd);
    check_same("logits, sparse vs dense kernels", ls, ld, ns);
    free(ls), free(ld);
    const int limit = sb_test_eval_limit() ? sb_test_eval_limit() : 2000;
    sb_eval_options opt = {.batch = 100, .limit = limit};
    sb_preprocess pp;
    cr_assert_eq(sb_preprocess_from_model(sparse, &pp, &err), SB_OK, "%s", err.msg);
    sb_eval_result rs = {0}, rd = {0};
    cr_assert_eq(sb_eval(sparse, d, &pp, &opt, &rs, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_eval(dense, d, &pp, &opt, &rd, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(rs.correct1, rd.correct1, "top-1: sparse %d, dense %d", rs.correct1,
                 rd.correct1);
    cr_assert_eq(rs.loss, rd.loss);
    sb_eval_result_free(&rs), sb_eval_result_free(&rd);
    sb_dataset_free(d);
    sb_model_free(sparse), sb_model_free(dense);
}

Test(sparse_plan, unpruned_model_stays_dense)
{
    sb_error err = {0};
    sb_model *m = NULL;
    cr_assert_eq(sb_model_load(SB_SAMPLE_DIR "/resnet8.onnx", &m, &err), SB_OK, "%s", err.msg);
    for (int i = 0; i < sb_model_num_layers(m); i++)
        cr_assert_str_eq(sb_model_layer_kernel(m, i), "f32");
    sb_model_free(m);
}
