/* Training: every op's backward pass against double-precision central differences on small
 * random shapes, the losses likewise, SGD against PyTorch's update rule, and one training step
 * of lenet5 against PyTorch's (sample_models/fixtures/lenet5_sgd_step). Then the fine-tuning
 * API: masks held, QAT on the grid, determinism across thread counts, gradual pruning reaching
 * its target, progress and cancellation. */
#include "model.h"
#include "testutil.h"
#include "train_tape.h"

#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One thread unless a test asks for more (the determinism test does): the shapes here are
 * small, and on a shared machine idle OpenMP threads only spin. */
static void one_thread(void) { omp_set_num_threads(1); }
TestSuite(train_grad, .init = one_thread);
TestSuite(train_loss, .init = one_thread);
TestSuite(train_optim, .init = one_thread);
TestSuite(train_oracle, .init = one_thread);
TestSuite(train_api, .init = one_thread);
TestSuite(train, .init = one_thread);

/* ---- building small graphs by hand ---- */

static uint64_t rng_state = 12345;

static double urand(void) /* [0, 1) */
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float frand(float lo, float hi) { return lo + (hi - lo) * (float)urand(); }

static sb_shape shp(int rank, const int64_t *d)
{
    sb_shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.dim[i] = d[i];
    return s;
}
#define SHAPE(...) shp(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__})

static sb_graph *gb_new(void)
{
    sb_graph *g = calloc(1, sizeof *g);
    g->opset = 13;
    g->inputs = calloc(8, sizeof(int));
    g->input_decl = calloc(8, sizeof(sb_shape));
    g->outputs = calloc(8, sizeof(int));
    return g;
}

static int gb_input(sb_graph *g, sb_shape s)
{
    char name[32];
    snprintf(name, sizeof name, "in%d", g->n_inputs);
    int v = sb_graph_add_value(g, name, SB_VAL_INPUT);
    g->values[v].dtype = SB_F32;
    g->values[v].shape = s;
    g->input_decl[g->n_inputs] = s;
    if (g->n_inputs == 0)
        g->declared_input = s;
    g->inputs[g->n_inputs++] = v;
    return v;
}

/* A float constant with values uniform in [lo, hi). */
static int gb_const(sb_graph *g, sb_shape s, float lo, float hi)
{
    char name[32];
    snprintf(name, sizeof name, "c%d", g->n_values);
    int v = sb_graph_add_value(g, name, SB_VAL_CONST);
    g->values[v].dtype = SB_F32;
    g->values[v].shape = s;
    int64_t n = sb_shape_count(&s);
    float *d = malloc((size_t)n * sizeof *d + 4);
    for (int64_t i = 0; i < n; i++)
        d[i] = frand(lo, hi);
    g->values[v].data = d;
    return v;
}

static int gb_i64(sb_graph *g, int n, const int64_t *vals)
{
    int v = sb_graph_add_value(g, "shape", SB_VAL_CONST);
    g->values[v].dtype = SB_I64;
    g->values[v].shape = SHAPE(n);
    g->values[v].data = malloc((size_t)n * sizeof(int64_t));
    memcpy(g->values[v].data, vals, (size_t)n * sizeof(int64_t));
    return v;
}

/* Appends a node reading `in` (n_in values) with one new output; returns the node. */
static sb_node *gb_node(sb_graph *g, sb_op op, int n_in, const int *in)
{
    g->nodes = realloc(g->nodes, ((size_t)g->n_nodes + 1) * sizeof *g->nodes);
    sb_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    char name[32];
    snprintf(name, sizeof name, "n%d", g->n_nodes);
    n->name = strdup(name);
    n->op = op;
    n->n_in = n_in;
    n->n_out = 1;
    n->in = malloc(((size_t)n_in + 1) * sizeof(int));
    memcpy(n->in, in, (size_t)n_in * sizeof(int));
    n->out = malloc(sizeof(int));
    snprintf(name, sizeof name, "v%d", g->n_nodes);
    int y = sb_graph_add_value(g, name, SB_VAL_ACT);
    g->values[y].dtype = SB_F32;
    g->values[y].producer = g->n_nodes;
    n->out[0] = y;
    for (int j = 0; j < n_in; j++)
        if (in[j] >= 0)
            g->values[in[j]].consumers++;
    if (op == SB_OP_ADD || op == SB_OP_MUL)
        n->a.axis = SB_NUMPY_BROADCAST;
    if (op == SB_OP_GEMM)
        n->a.gemm.alpha = n->a.gemm.beta = 1;
    if (op == SB_OP_BATCHNORM)
        n->a.bn.epsilon = 1e-5f;
    g->n_nodes++;
    return n;
}

static int out_of(sb_graph *g) { return g->nodes[g->n_nodes - 1].out[0]; }

static void gb_finish(sb_graph *g)
{
    int y = out_of(g);
    g->outputs[g->n_outputs++] = y;
    g->values[y].consumers++;
}

static sb_window win2(int k, int s, int p, int d, int group)
{
    return (sb_window){.spatial = 2, .kernel = {k, k}, .stride = {s, s}, .dilation = {d, d},
                       .pad_begin = {p, p}, .pad_end = {p, p}, .group = group};
}

/* ---- the gradient check ---- */

typedef struct gc_opts {
    float xlo, xhi;    /* input range */
    bool spaced;       /* inputs: distinct values at least 0.05 apart (max pooling) */
    double h, atol, rtol;
    sb_bn_mode bn;
} gc_opts;

static double loss_of(sb_tape *t, const float *r)
{
    sb_error err = {0};
    cr_assert_eq(sb_tape_forward(t, &err), SB_OK, "%s", err.msg);
    const float *y = t->act[t->logits];
    double l = 0;
    for (int64_t i = 0; i < sb_tape_count(t, t->logits); i++)
        l += (double)y[i] * r[i];
    return l;
}

static int check_elems(sb_tape *t, const float *r, float *x, const float *ana, int64_t n,
                       const gc_opts *o, const char *what)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + (float)o->h;
        double lp = loss_of(t, r);
        x[i] = keep - (float)o->h;
        double lm = loss_of(t, r);
        x[i] = keep;
        double step = ((double)(keep + (float)o->h) - (double)(keep - (float)o->h));
        double num = (lp - lm) / step;
        double a = ana[i];
        if (fabs(num - a) > o->atol + o->rtol * fmax(fabs(num), fabs(a))) {
            if (bad < 5)
                cr_log_error("%s[%lld]: analytic %.6g, numeric %.6g", what, (long long)i, a, num);
            bad++;
        }
    }
    return bad;
}

/* dL/d(input) and dL/d(every trained constant) of L = sum(y * r) for random r. */
static void grad_check(sb_graph *g, const gc_opts *o)
{
    sb_tape *t = NULL;
    sb_error err = {0};
    int batch = (int)g->input_decl[0].dim[0];
    int threads = omp_get_max_threads();
    omp_set_num_threads(1); /* hundreds of tiny passes: threads would only add overhead */
    sb_tape_options to = {.bn = o->bn, .input_grad = true, .all_consts = true};
    cr_assert_eq(sb_tape_new(g, batch, &to, &t, &err), SB_OK, "%s", err.msg);
    sb_graph_free(g);
    for (int i = 0; i < t->g->n_inputs; i++) {
        int v = t->g->inputs[i];
        int64_t n = sb_tape_count(t, v);
        float *x = t->act[v];
        for (int64_t k = 0; k < n; k++)
            x[k] = frand(o->xlo, o->xhi);
        if (o->spaced) { /* a shuffled ladder */
            for (int64_t k = 0; k < n; k++)
                x[k] = (float)(k - n / 2) * 0.05f;
            for (int64_t k = n - 1; k > 0; k--) {
                int64_t j = (int64_t)(urand() * (double)(k + 1));
                float tmp = x[k];
                x[k] = x[j], x[j] = tmp;
            }
        }
    }
    int64_t ny = sb_tape_count(t, t->logits);
    float *r = malloc((size_t)ny * sizeof *r);
    for (int64_t i = 0; i < ny; i++)
        r[i] = frand(-1, 1);
    loss_of(t, r);
    sb_tape_zero_grad(t);
    memcpy(t->grad[t->logits], r, (size_t)ny * sizeof *r);
    sb_tape_backward(t);
    /* Snapshot the analytic gradients: the numeric loop runs more forward passes. */
    int bad = 0, checked = 0;
    for (int i = 0; i < t->g->n_inputs; i++) {
        int v = t->g->inputs[i];
        int64_t n = sb_tape_count(t, v);
        float *ana = malloc((size_t)n * sizeof *ana);
        memcpy(ana, t->grad[v], (size_t)n * sizeof *ana);
        bad += check_elems(t, r, t->act[v], ana, n, o, "input");
        checked += (int)n;
        free(ana);
    }
    for (int k = 0; k < t->n_params; k++) {
        sb_tparam *p = &t->params[k];
        float *ana = malloc((size_t)p->n * sizeof *ana);
        memcpy(ana, p->grad, (size_t)p->n * sizeof *ana);
        bad += check_elems(t, r, p->w, ana, p->n, o, t->g->values[p->value].name);
        checked += (int)p->n;
        free(ana);
    }
    cr_expect_eq(bad, 0, "%d of %d gradient entries disagree with central differences", bad,
                 checked);
    cr_expect_gt(checked, 0);
    free(r);
    sb_tape_free(t);
    omp_set_num_threads(threads);
}

static const gc_opts SMOOTH = {.xlo = -1, .xhi = 1, .h = 1e-2, .atol = 5e-4, .rtol = 2e-3};

/* ---- per-op gradient checks ---- */

static void conv_case(int n, int c, int h, int w, int m, int k, int s, int p, int d, int group,
                      bool bias)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(n, c, h, w));
    int wt = gb_const(g, SHAPE(m, c / group, k, k), -0.5f, 0.5f);
    int in[3] = {x, wt, bias ? gb_const(g, SHAPE(m), -0.5f, 0.5f) : -1};
    sb_node *nd = gb_node(g, SB_OP_CONV, bias ? 3 : 2, in);
    nd->a.win = win2(k, s, p, d, group);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

Test(train_grad, conv_dense) { conv_case(2, 3, 6, 5, 4, 3, 1, 1, 1, 1, true); }
Test(train_grad, conv_stride_dilation_pad) { conv_case(2, 2, 9, 8, 3, 3, 2, 2, 2, 1, true); }
Test(train_grad, conv_grouped) { conv_case(2, 4, 5, 5, 6, 3, 1, 1, 1, 2, false); }
Test(train_grad, conv_depthwise) { conv_case(2, 3, 7, 6, 6, 3, 2, 1, 1, 3, true); }
Test(train_grad, conv_pointwise) { conv_case(3, 5, 4, 4, 4, 1, 1, 0, 1, 1, true); }

Test(train_grad, conv_asymmetric_pads)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 2, 6, 7));
    int in[2] = {x, gb_const(g, SHAPE(3, 2, 2, 3), -0.5f, 0.5f)};
    sb_node *nd = gb_node(g, SB_OP_CONV, 2, in);
    nd->a.win = (sb_window){.spatial = 2, .kernel = {2, 3}, .stride = {1, 2},
                            .dilation = {1, 1}, .pad_begin = {0, 1}, .pad_end = {1, 0},
                            .group = 1};
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

static void gemm_case(int ta, int tb, float alpha, float beta, sb_shape cshape)
{
    int M = 3, K = 5, N = 4;
    sb_graph *g = gb_new();
    int a = gb_input(g, ta ? SHAPE(K, M) : SHAPE(M, K));
    int b = gb_const(g, tb ? SHAPE(N, K) : SHAPE(K, N), -1, 1);
    int in[3] = {a, b, gb_const(g, cshape, -1, 1)};
    sb_node *nd = gb_node(g, SB_OP_GEMM, 3, in);
    nd->a.gemm = (__typeof__(nd->a.gemm)){alpha, beta, ta, tb};
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

Test(train_grad, gemm_transb_bias) { gemm_case(0, 1, 1, 1, SHAPE(4)); }
Test(train_grad, gemm_transa_alpha_beta) { gemm_case(1, 0, 0.5f, 2, SHAPE(1, 4)); }
Test(train_grad, gemm_full_c) { gemm_case(1, 1, 1.5f, 0.5f, SHAPE(3, 4)); }
Test(train_grad, gemm_column_c) { gemm_case(0, 0, 1, 1, SHAPE(3, 1)); }
Test(train_grad, gemm_alpha_zero) { gemm_case(0, 1, 0, 1.5f, SHAPE(4)); }

Test(train_grad, matmul_const_b)
{
    sb_graph *g = gb_new();
    int in[2] = {gb_input(g, SHAPE(2, 3, 4)), gb_const(g, SHAPE(4, 5), -1, 1)};
    gb_node(g, SB_OP_MATMUL, 2, in);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

static void bn_case(sb_bn_mode mode)
{
    sb_graph *g = gb_new();
    int in[5] = {gb_input(g, SHAPE(3, 4, 3, 2)), gb_const(g, SHAPE(4), 0.5f, 1.5f),
                 gb_const(g, SHAPE(4), -1, 1), gb_const(g, SHAPE(4), -0.5f, 0.5f),
                 gb_const(g, SHAPE(4), 0.5f, 2)};
    gb_node(g, SB_OP_BATCHNORM, 5, in);
    gb_finish(g);
    gc_opts o = SMOOTH;
    o.bn = mode;
    grad_check(g, &o);
}

Test(train_grad, batchnorm_frozen) { bn_case(SB_BN_FROZEN); }
Test(train_grad, batchnorm_training) { bn_case(SB_BN_TRAIN); }

/* Element-wise activations, with inputs kept away from their kinks. */
static void act_case(sb_op op, float lo, float hi)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 3, 4, 4));
    sb_node *nd = gb_node(g, op, 1, &x);
    if (op == SB_OP_HARDSIGMOID)
        nd->a.hsig.alpha = 1.0f / 6, nd->a.hsig.beta = 0.5f;
    gb_finish(g);
    gc_opts o = SMOOTH;
    o.xlo = lo, o.xhi = hi;
    grad_check(g, &o);
}

Test(train_grad, relu_positive) { act_case(SB_OP_RELU, 0.05f, 2); }
Test(train_grad, relu_negative) { act_case(SB_OP_RELU, -2, -0.05f); }
Test(train_grad, sigmoid) { act_case(SB_OP_SIGMOID, -3, 3); }
Test(train_grad, hardsigmoid_linear) { act_case(SB_OP_HARDSIGMOID, -2.9f, 2.9f); }
Test(train_grad, hardsigmoid_saturated) { act_case(SB_OP_HARDSIGMOID, 3.1f, 5); }
Test(train_grad, hardswish_middle) { act_case(SB_OP_HARDSWISH, -2.9f, 2.9f); }
Test(train_grad, hardswish_high) { act_case(SB_OP_HARDSWISH, 3.1f, 5); }
Test(train_grad, hardswish_low) { act_case(SB_OP_HARDSWISH, -5, -3.1f); }

/* Clip with its bounds as inputs (opset 13), inputs on a grid that avoids the bounds. */
Test(train_grad, clip)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 3, 5));
    int lo = gb_const(g, SHAPE(1), -0.5f, -0.5f), hi = gb_const(g, SHAPE(1), 0.5f, 0.5f);
    int in[3] = {x, lo, hi};
    gb_node(g, SB_OP_CLIP, 3, in);
    gb_finish(g);
    sb_tape *t = NULL;
    sb_error err = {0};
    sb_tape_options to = {.input_grad = true};
    cr_assert_eq(sb_tape_new(g, 2, &to, &t, &err), SB_OK, "%s", err.msg);
    sb_graph_free(g);
    float *xs = sb_tape_input(t, 0), r[30];
    for (int i = 0; i < 30; i++)
        xs[i] = -1.0f + 0.07f * (float)i + 0.013f, r[i] = frand(-1, 1);
    for (int i = 0; i < 30; i++) /* keep clear of the bounds by more than h */
        if (fabsf(fabsf(xs[i]) - 0.5f) < 0.02f)
            xs[i] += 0.03f;
    loss_of(t, r);
    sb_tape_zero_grad(t);
    memcpy(t->grad[t->logits], r, sizeof r);
    sb_tape_backward(t);
    float *dx = t->grad[t->g->inputs[0]];
    for (int i = 0; i < 30; i++) {
        float want = xs[i] >= -0.5f && xs[i] <= 0.5f ? r[i] : 0;
        cr_expect_eq(dx[i], want, "x=%g: dx %g, want %g", xs[i], dx[i], want);
        /* and the central difference agrees */
        float keep = xs[i];
        xs[i] = keep + 1e-2f;
        double lp = loss_of(t, r);
        xs[i] = keep - 1e-2f;
        double lm = loss_of(t, r);
        xs[i] = keep;
        cr_expect(fabs((lp - lm) / 2e-2 - want) < 1e-3, "x=%g: numeric %g", keep,
                  (lp - lm) / 2e-2);
    }
    sb_tape_free(t);
}

static void pool_case(sb_op op, sb_window w, bool spaced)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 2, 7, 6));
    sb_node *nd = gb_node(g, op, 1, &x);
    nd->a.win = w;
    gb_finish(g);
    gc_opts o = SMOOTH;
    o.spaced = spaced;
    grad_check(g, &o);
}

Test(train_grad, maxpool_2x2) { pool_case(SB_OP_MAXPOOL, win2(2, 2, 0, 1, 1), true); }
Test(train_grad, maxpool_overlapping_padded)
{
    pool_case(SB_OP_MAXPOOL, win2(3, 2, 1, 1, 1), true);
}
Test(train_grad, avgpool_exclude_pad) { pool_case(SB_OP_AVGPOOL, win2(3, 1, 1, 1, 1), false); }
Test(train_grad, avgpool_include_pad)
{
    sb_window w = win2(3, 2, 1, 1, 1);
    w.count_include_pad = 1;
    pool_case(SB_OP_AVGPOOL, w, false);
}

Test(train_grad, global_avgpool)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 3, 4, 5));
    gb_node(g, SB_OP_GLOBALAVGPOOL, 1, &x);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

/* Add and Mul: same shapes, the squeeze-excite broadcast [N,C,1,1], a constant [C,1,1]. */
static void binary_case(sb_op op, sb_shape a, sb_shape b, bool b_const)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, a);
    int in[2] = {x, b_const ? gb_const(g, b, -1, 1) : gb_input(g, b)};
    gb_node(g, op, 2, in);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

Test(train_grad, add_same) { binary_case(SB_OP_ADD, SHAPE(2, 3, 4), SHAPE(2, 3, 4), false); }
Test(train_grad, mul_same) { binary_case(SB_OP_MUL, SHAPE(2, 3, 4), SHAPE(2, 3, 4), false); }
Test(train_grad, mul_se_broadcast)
{
    binary_case(SB_OP_MUL, SHAPE(2, 3, 4, 5), SHAPE(2, 3, 1, 1), false);
}
Test(train_grad, add_se_broadcast)
{
    binary_case(SB_OP_ADD, SHAPE(2, 3, 4, 5), SHAPE(2, 3, 1, 1), false);
}
Test(train_grad, mul_const_channel)
{
    binary_case(SB_OP_MUL, SHAPE(2, 3, 4, 5), SHAPE(3, 1, 1), true);
}
Test(train_grad, add_both_broadcast)
{
    binary_case(SB_OP_ADD, SHAPE(2, 1, 5), SHAPE(3, 1), false);
}

Test(train_grad, concat_axis1)
{
    sb_graph *g = gb_new();
    int in[3] = {gb_input(g, SHAPE(2, 2, 3, 3)), gb_input(g, SHAPE(2, 3, 3, 3)),
                 gb_input(g, SHAPE(2, 1, 3, 3))};
    gb_node(g, SB_OP_CONCAT, 3, in)->a.axis = 1;
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

/* Softmax (axis 1) feeding a Mul, so the softmax is not the (skipped) last node. */
Test(train_grad, softmax)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(3, 6));
    gb_node(g, SB_OP_SOFTMAX, 1, &x)->a.axis = 1;
    int in[2] = {out_of(g), gb_const(g, SHAPE(6), 0.5f, 2)};
    gb_node(g, SB_OP_MUL, 2, in);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

/* Flatten and Reshape pass the gradient through (conv -> flatten -> gemm, reshape -> gemm). */
Test(train_grad, flatten_reshape_identity)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 2, 3, 3));
    int in[3] = {x, gb_const(g, SHAPE(3, 2, 2, 2), -0.5f, 0.5f), gb_const(g, SHAPE(3), -1, 1)};
    gb_node(g, SB_OP_CONV, 3, in)->a.win = win2(2, 1, 0, 1, 1);
    int f = out_of(g);
    gb_node(g, SB_OP_FLATTEN, 1, &f)->a.axis = 1;
    int id = out_of(g);
    gb_node(g, SB_OP_IDENTITY, 1, &id);
    int gin[3] = {out_of(g), gb_const(g, SHAPE(4, 12), -1, 1), gb_const(g, SHAPE(4), -1, 1)};
    sb_node *gm = gb_node(g, SB_OP_GEMM, 3, gin);
    gm->a.gemm.trans_b = 1;
    int shape_v = gb_i64(g, 2, (int64_t[]){0, -1});
    int rin[2] = {out_of(g), shape_v};
    gb_node(g, SB_OP_RESHAPE, 2, rin);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

/* A squeeze-excite block with a residual: the paths that share values accumulate. */
Test(train_grad, se_residual_block)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(2, 4, 5, 5));
    int in[3] = {x, gb_const(g, SHAPE(4, 1, 3, 3), -0.5f, 0.5f), -1};
    gb_node(g, SB_OP_CONV, 2, in)->a.win = win2(3, 1, 1, 1, 4);
    int dw = out_of(g);
    int bn[5] = {dw, gb_const(g, SHAPE(4), 0.5f, 1.5f), gb_const(g, SHAPE(4), -0.5f, 0.5f),
                 gb_const(g, SHAPE(4), -0.2f, 0.2f), gb_const(g, SHAPE(4), 0.5f, 1.5f)};
    gb_node(g, SB_OP_BATCHNORM, 5, bn);
    int b = out_of(g);
    gb_node(g, SB_OP_SIGMOID, 1, &b);
    int a = out_of(g);
    gb_node(g, SB_OP_GLOBALAVGPOOL, 1, &a);
    int p = out_of(g);
    int c1[3] = {p, gb_const(g, SHAPE(2, 4, 1, 1), -1, 1), gb_const(g, SHAPE(2), -0.5f, 0.5f)};
    gb_node(g, SB_OP_CONV, 3, c1)->a.win = win2(1, 1, 0, 1, 1);
    int s1 = out_of(g);
    gb_node(g, SB_OP_SIGMOID, 1, &s1);
    int c2[3] = {out_of(g), gb_const(g, SHAPE(4, 2, 1, 1), -1, 1),
                 gb_const(g, SHAPE(4), -0.5f, 0.5f)};
    gb_node(g, SB_OP_CONV, 3, c2)->a.win = win2(1, 1, 0, 1, 1);
    int s2 = out_of(g);
    gb_node(g, SB_OP_HARDSIGMOID, 1, &s2)->a.hsig = (__typeof__(g->nodes[0].a.hsig)){0.2f, 0.5f};
    int gate = out_of(g);
    int mul[2] = {a, gate};
    gb_node(g, SB_OP_MUL, 2, mul);
    int add[2] = {out_of(g), x};
    gb_node(g, SB_OP_ADD, 2, add);
    gb_finish(g);
    grad_check(g, &SMOOTH);
}

/* Activation FakeQuant: the forward pass on the grid, the gradient straight through inside
 * the range and zero where it saturates. */
Test(train, fakequant_ste)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(1, 8));
    gb_node(g, SB_OP_FAKEQUANT, 1, &x)->a.fq = (__typeof__(g->nodes[0].a.fq)){0.1f, 10, 0, 20};
    gb_finish(g);
    sb_tape *t = NULL;
    sb_error err = {0};
    sb_tape_options to = {.input_grad = true};
    cr_assert_eq(sb_tape_new(g, 1, &to, &t, &err), SB_OK, "%s", err.msg);
    sb_graph_free(g);
    float xs[8] = {-2, -1.04f, -0.33f, 0, 0.26f, 0.96f, 1.2f, 3};
    memcpy(sb_tape_input(t, 0), xs, sizeof xs);
    cr_assert_eq(sb_tape_forward(t, &err), SB_OK);
    const float *y = t->act[t->logits];
    float want[8] = {-1, -1, -0.3f, 0, 0.3f, 1, 1, 1};
    for (int i = 0; i < 8; i++)
        cr_expect(fabsf(y[i] - want[i]) < 1e-6f, "y[%d] = %g, want %g", i, y[i], want[i]);
    sb_tape_zero_grad(t);
    for (int i = 0; i < 8; i++)
        t->grad[t->logits][i] = 1;
    sb_tape_backward(t);
    float dwant[8] = {0, 1, 1, 1, 1, 1, 0, 0};
    for (int i = 0; i < 8; i++)
        cr_expect_eq(t->grad[t->g->inputs[0]][i], dwant[i], "dx[%d]", i);
    sb_tape_free(t);
}

/* ---- losses ---- */

static void loss_grad_check(const float *t, double T, double alpha)
{
    enum { N = 3, C = 5 };
    float s[N * C], d[N * C];
    int labels[N] = {2, 0, 4};
    for (int i = 0; i < N * C; i++)
        s[i] = frand(-2, 2);
    sb_loss_kd(s, t, labels, N, C, T, alpha, d, NULL);
    for (int i = 0; i < N * C; i++) {
        float keep = s[i];
        s[i] = keep + 1e-3f;
        double lp = sb_loss_kd(s, t, labels, N, C, T, alpha, NULL, NULL);
        s[i] = keep - 1e-3f;
        double lm = sb_loss_kd(s, t, labels, N, C, T, alpha, NULL, NULL);
        s[i] = keep;
        double num = (lp - lm) / ((double)(keep + 1e-3f) - (double)(keep - 1e-3f));
        cr_expect(fabs(num - d[i]) < 1e-5 + 1e-4 * fabs(num), "d[%d]: analytic %g numeric %g",
                  i, d[i], num);
    }
}

Test(train_loss, cross_entropy_value_and_gradient)
{
    float s[4] = {1, 2, 3, 0.5f};
    int y = 2, correct = 0;
    float d[4];
    double l = sb_loss_ce(s, &y, 1, 4, d, &correct);
    double lse = log(exp(1.0) + exp(2.0) + exp(3.0) + exp(0.5));
    cr_expect(fabs(l - (lse - 3)) < 1e-12, "loss %.15g", l);
    cr_expect_eq(correct, 1);
    loss_grad_check(NULL, 1, 0);
}

Test(train_loss, distillation_value_and_gradient)
{
    float t[15];
    for (int i = 0; i < 15; i++)
        t[i] = frand(-3, 3);
    loss_grad_check(t, 4, 0.7);
    loss_grad_check(t, 1, 1);
    loss_grad_check(t, 2.5, 0.3);
    /* by hand, one row: alpha T^2 KL(pt || ps) + (1 - alpha) CE */
    float s[3] = {0.2f, -1, 2}, tt[3] = {1, 0.5f, -0.5f};
    int y = 1;
    double T = 2, alpha = 0.6, ps[3], pt[3], zs = 0, zt = 0, kl = 0, z1 = 0;
    for (int k = 0; k < 3; k++)
        zs += exp(s[k] / T), zt += exp(tt[k] / T), z1 += exp(s[k]);
    for (int k = 0; k < 3; k++)
        ps[k] = exp(s[k] / T) / zs, pt[k] = exp(tt[k] / T) / zt;
    for (int k = 0; k < 3; k++)
        kl += pt[k] * log(pt[k] / ps[k]);
    double want = alpha * T * T * kl + (1 - alpha) * -log(exp(s[1]) / z1);
    double got = sb_loss_kd(s, tt, &y, 1, 3, T, alpha, NULL, NULL);
    cr_expect(fabs(got - want) < 1e-12, "kd %.15g want %.15g", got, want);
}

/* ---- the optimizer ---- */

/* A one-parameter graph: y = x * w (Mul with a trained constant). */
static sb_tape *scalar_tape(float w0)
{
    sb_graph *g = gb_new();
    int in[2] = {gb_input(g, SHAPE(1, 1)), gb_const(g, SHAPE(1, 1), w0, w0)};
    gb_node(g, SB_OP_MUL, 2, in);
    gb_finish(g);
    sb_tape *t = NULL;
    sb_error err = {0};
    sb_tape_options to = {.all_consts = true};
    cr_assert_eq(sb_tape_new(g, 1, &to, &t, &err), SB_OK, "%s", err.msg);
    sb_graph_free(g);
    return t;
}

Test(train_optim, sgd_momentum_weight_decay_as_pytorch)
{
    sb_tape *t = scalar_tape(1.5f);
    cr_assert_eq(t->n_params, 1);
    sb_tparam *p = &t->params[0];
    float lr = 0.1f, mom = 0.9f, wd = 0.01f, grads[3] = {0.5f, -0.25f, 2};
    float w = 1.5f, buf = 0;
    for (int k = 0; k < 3; k++) {
        p->grad[0] = grads[k];
        sb_sgd_step(t, lr, mom, wd);
        float d = grads[k] + wd * w; /* torch.optim.SGD */
        buf = k == 0 ? d : mom * buf + d;
        w = w - lr * buf;
        cr_expect_eq(p->w[0], w, "step %d: %.9g, want %.9g", k, p->w[0], w);
    }
    sb_tape_free(t);
}

Test(train_optim, clip_grad_norm_as_pytorch)
{
    sb_tape *t = scalar_tape(1);
    t->params[0].grad[0] = -3;
    cr_expect(fabs(sb_clip_grad_norm(t, 10) - 3) < 1e-12);
    cr_expect_eq(t->params[0].grad[0], -3.0f, "under the limit: unchanged");
    cr_expect(fabs(sb_clip_grad_norm(t, 1) - 3) < 1e-12);
    cr_expect(fabsf(t->params[0].grad[0] + (float)(3.0 / (3 + 1e-6))) < 1e-7, "%g",
              t->params[0].grad[0]);
    sb_tape_free(t);
}

Test(train_optim, masked_weights_stay_zero)
{
    sb_tape *t = scalar_tape(0);
    sb_tparam *p = &t->params[0];
    p->mask = calloc(1, 1);
    p->grad[0] = 3;
    sb_sgd_step(t, 0.1f, 0.9f, 0.01f);
    sb_sgd_step(t, 0.1f, 0.9f, 0.01f);
    cr_expect_eq(p->w[0], 0.0f);
    sb_tape_free(t);
}

/* ---- one step of lenet5 against PyTorch ---- */

static sb_model *sample(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, SB_SAMPLE_DIR "/%s.onnx", name);
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_load(path, &m, &err), SB_OK, "%s", err.msg);
    return m;
}

static sb_dataset *train_split(void)
{
    sb_dataset *d = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "train", &d, &err), SB_OK, "%s", err.msg);
    return d;
}

static double read_double(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    double v = NAN;
    cr_assert_eq(fscanf(f, "%lf", &v), 1);
    fclose(f);
    return v;
}

Test(train_oracle, lenet5_one_sgd_step_matches_pytorch)
{
    sb_model *m = sample("lenet5");
    sb_dataset *d = train_split();
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK);
    sb_tape *t = NULL;
    cr_assert_eq(sb_tape_new(m->g, 32, NULL, &t, &err), SB_OK, "%s", err.msg);
    int labels[32];
    sb_dataset_fill(d, &pp, 0, 32, sb_tape_input(t, 0));
    for (int i = 0; i < 32; i++)
        labels[i] = sb_dataset_label(d, i);
    cr_assert_eq(sb_tape_forward(t, &err), SB_OK);
    sb_tape_zero_grad(t);
    double loss = sb_loss_ce(t->act[t->logits], labels, 32, 10, t->grad[t->logits], NULL);
    sb_tape_backward(t);
    sb_sgd_step(t, 0.01f, 0.9f, 5e-4f);
    double want = read_double(SB_FIXTURE_DIR "/lenet5_sgd_step_loss.txt");
    cr_expect(fabs(loss - want) < 1e-5, "loss %.9g, PyTorch %.9g", loss, want);
    cr_log_info("loss %.9g, PyTorch %.9g", loss, want);
    static const char *const names[] = {"conv1.weight", "conv1.bias", "conv2.weight",
                                        "conv2.bias",   "fc1.weight", "fc1.bias",
                                        "fc2.weight",   "fc2.bias",   "fc3.weight",
                                        "fc3.bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, SB_FIXTURE_DIR "/lenet5_sgd_step/%s.npy", names[i]);
        int64_t n = 0;
        float *ref = sb_test_read_npy_f32(path, &n);
        cr_assert(ref, "cannot read %s", path);
        int k = sb_tape_find_param(t, sb_graph_find_value(t->g, names[i]));
        cr_assert_geq(k, 0, "%s is not a trained parameter", names[i]);
        cr_assert_eq(t->params[k].n, n, "%s: %lld values, fixture %lld", names[i],
                     (long long)t->params[k].n, (long long)n);
        double worst = 0;
        for (int64_t j = 0; j < n; j++)
            worst = fmax(worst, fabs((double)t->params[k].w[j] - ref[j]));
        cr_expect(worst < 1e-4, "%s: max |diff| %g", names[i], worst);
        cr_log_info("%s: max |w - w_pytorch| = %.3g", names[i], worst);
        free(ref);
    }
    sb_tape_free(t);
    sb_dataset_free(d);
    sb_model_free(m);
}

/* resnet8 and mobilenet_se, one step on 16 images, BatchNorm frozen (eval mode) and in training
 * mode, against PyTorch (tests/data/train/make_step_fixtures.py). */
static void model_step(const char *model, const char *mode, sb_bn_mode bn,
                       const char *const *names, int n_names, const char *const *stats)
{
    sb_model *m = sample(model);
    sb_dataset *d = train_split();
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK);
    sb_tape *t = NULL;
    sb_tape_options to = {.bn = bn};
    cr_assert_eq(sb_tape_new(m->g, 16, &to, &t, &err), SB_OK, "%s", err.msg);
    int labels[16];
    sb_dataset_fill(d, &pp, 0, 16, sb_tape_input(t, 0));
    for (int i = 0; i < 16; i++)
        labels[i] = sb_dataset_label(d, i);
    cr_assert_eq(sb_tape_forward(t, &err), SB_OK);
    sb_tape_zero_grad(t);
    double loss = sb_loss_ce(t->act[t->logits], labels, 16, 10, t->grad[t->logits], NULL);
    sb_tape_backward(t);
    sb_sgd_step(t, 0.01f, 0.9f, 5e-4f);
    char path[512];
    snprintf(path, sizeof path, "tests/data/train/%s_%s_loss.txt", model, mode);
    double want = read_double(path);
    cr_expect(fabs(loss - want) < 1e-5, "%s %s: loss %.9g, PyTorch %.9g", model, mode, loss,
              want);
    cr_log_info("%s %s: loss %.9g, PyTorch %.9g", model, mode, loss, want);
    for (int i = 0; i < n_names + 2; i++) {
        const char *name = i < n_names ? names[i] : stats[i - n_names];
        if (i >= n_names && bn != SB_BN_TRAIN)
            break;
        snprintf(path, sizeof path, "tests/data/train/%s_%s_%s.npy", model, mode, name);
        int64_t n = 0;
        float *ref = sb_test_read_npy_f32(path, &n);
        cr_assert(ref, "cannot read %s", path);
        int v = sb_graph_find_value(t->g, name);
        cr_assert_geq(v, 0, "%s not found", name);
        cr_assert_eq(sb_shape_count(&t->g->values[v].shape), n, "%s: size", name);
        const float *w = t->g->values[v].data;
        double worst = 0;
        for (int64_t j = 0; j < n; j++)
            worst = fmax(worst, fabs((double)w[j] - ref[j]) / fmax(1, fabs(ref[j])));
        cr_expect(worst < 1e-4, "%s %s %s: max |diff| %g", model, mode, name, worst);
        cr_log_info("%s %s %s: max |w - w_pytorch| = %.3g", model, mode, name, worst);
        free(ref);
    }
    sb_tape_free(t);
    sb_dataset_free(d);
    sb_model_free(m);
}

static const char *const resnet8_names[] = {
    "conv1.weight", "bn1.weight", "bn1.bias", "layer2.0.downsample.0.weight",
    "layer2.0.downsample.1.weight", "layer2.0.bn2.bias", "fc.weight", "fc.bias"};
static const char *const resnet8_stats[] = {"bn1.running_mean", "bn1.running_var"};
static const char *const mobilenet_names[] = {
    "stem.0.weight", "stem.1.weight", "blocks.0.dw.0.weight", "blocks.0.dw.1.bias",
    "blocks.0.se.fc1.weight", "blocks.0.se.fc1.bias", "blocks.0.se.fc2.bias",
    "blocks.4.dw.0.weight", "fc.weight", "fc.bias"};
static const char *const mobilenet_stats[] = {"blocks.0.dw.1.running_mean",
                                              "blocks.0.dw.1.running_var"};

Test(train_oracle, resnet8_step_bn_frozen)
{
    model_step("resnet8", "frozen", SB_BN_FROZEN, resnet8_names, 8, resnet8_stats);
}
Test(train_oracle, resnet8_step_bn_training)
{
    model_step("resnet8", "train", SB_BN_TRAIN, resnet8_names, 8, resnet8_stats);
}
Test(train_oracle, mobilenet_se_step_bn_frozen)
{
    model_step("mobilenet_se", "frozen", SB_BN_FROZEN, mobilenet_names, 10, mobilenet_stats);
}
Test(train_oracle, mobilenet_se_step_bn_training)
{
    model_step("mobilenet_se", "train", SB_BN_TRAIN, mobilenet_names, 10, mobilenet_stats);
}

/* ---- the fine-tuning API ---- */

static sb_model *compressed(const sb_model *base, const char *prune, const char *quant)
{
    sb_config c = {0};
    sb_error err = {0};
    sb_model *out = NULL;
    cr_assert_eq(sb_config_new(base, &c, &err), SB_OK);
    if (prune)
        cr_assert_eq(sb_config_apply_prune_flag(base, &c, prune, &err), SB_OK, "%s", err.msg);
    if (quant)
        cr_assert_eq(sb_config_apply_quant_flag(base, &c, quant, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_compress(base, &c, NULL, true, &out, &err), SB_OK, "%s", err.msg);
    sb_config_free(&c);
    return out;
}

static sb_train_options quick(int steps, int batch, int limit)
{
    sb_train_options o = sb_train_options_default();
    o.steps = steps;
    o.batch = batch;
    o.limit = limit;
    return o;
}

/* The API tests train on the (smaller, quicker to load) evaluation split where the images
 * do not matter. */
static sb_dataset *quick_split(void)
{
    sb_dataset *d = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &d, &err), SB_OK, "%s", err.msg);
    return d;
}

static sb_model *finetune_on(const sb_model *teacher, const sb_model *student,
                             const sb_train_options *o, sb_train_result *res, bool quick_data)
{
    sb_dataset *d = quick_data ? quick_split() : train_split();
    sb_preprocess pp;
    sb_error err = {0};
    sb_model *out = NULL;
    cr_assert_eq(sb_preprocess_from_model(student, &pp, &err), SB_OK);
    cr_assert_eq(sb_finetune(teacher, student, d, &pp, o, &out, res, &err), SB_OK, "%s",
                 err.msg);
    sb_dataset_free(d);
    return out;
}

static sb_model *finetune(const sb_model *teacher, const sb_model *student,
                          const sb_train_options *o, sb_train_result *res)
{
    return finetune_on(teacher, student, o, res, true);
}

static const float *layer_w(const sb_model *m, int l, int64_t *n)
{
    const sb_value *v = &m->g->values[m->g->nodes[m->layers[l].node].in[1]];
    *n = sb_shape_count(&v->shape);
    return v->data;
}

Test(train_api, pruned_weights_stay_zero_and_the_rest_learns)
{
    sb_model *base = sample("lenet5");
    sb_model *st = compressed(base, "global=0.9", NULL);
    sb_train_options o = quick(12, 32, 384);
    sb_train_result res;
    sb_model *ft = finetune(NULL, st, &o, &res);
    cr_expect_eq(res.steps, 12);
    cr_expect_eq(res.images, 12 * 32);
    int64_t zeros = 0, total = 0, moved = 0;
    for (int l = 0; l < st->n_layers; l++) {
        int64_t n, n2;
        const float *a = layer_w(st, l, &n), *b = layer_w(ft, l, &n2);
        cr_assert_eq(n, n2);
        for (int64_t i = 0; i < n; i++) {
            if (a[i] == 0)
                cr_assert_eq(b[i], 0.0f, "layer %d weight %lld revived", l, (long long)i);
            zeros += a[i] == 0;
            moved += a[i] != 0 && a[i] != b[i];
        }
        total += n;
    }
    cr_expect(fabs((double)zeros / total - 0.9) < 1e-3, "sparsity %g", (double)zeros / total);
    cr_expect_gt(moved, (total - zeros) / 2, "only %lld of the kept weights moved",
                 (long long)moved);
    cr_expect_eq(ft->cfg.n_layers, st->n_layers, "the configuration travels with the model");
    sb_model_free(ft);
    sb_model_free(st);
    sb_model_free(base);
}

/* QAT: after training, every row of a 4-bit per-channel symmetric layer is on its grid. */
Test(train_api, quantised_layers_come_back_on_their_grid)
{
    sb_model *base = sample("lenet5");
    sb_model *st = compressed(base, NULL, "all=4");
    sb_train_options o = quick(6, 32, 192);
    sb_model *ft = finetune(NULL, st, &o, NULL);
    int64_t changed = 0;
    for (int l = 0; l < ft->n_layers; l++) {
        int64_t n, n0;
        const float *w = layer_w(ft, l, &n), *w0 = layer_w(st, l, &n0);
        int64_t rows = ft->g->values[ft->g->nodes[ft->layers[l].node].in[1]].shape.dim[0];
        int64_t per = n / rows;
        for (int64_t r = 0; r < rows; r++) {
            float amax = 0;
            for (int64_t k = 0; k < per; k++)
                amax = fmaxf(amax, fabsf(w[r * per + k]));
            float scale = amax / 7;
            for (int64_t k = 0; k < per && scale > 0; k++) {
                float q = w[r * per + k] / scale;
                cr_assert(fabsf(q - nearbyintf(q)) < 1e-3f && fabsf(q) <= 7.001f,
                          "layer %d row %lld: %g is not on the 4-bit grid", l, (long long)r, q);
            }
        }
        for (int64_t i = 0; i < n; i++)
            changed += w[i] != w0[i];
    }
    cr_expect_gt(changed, 0, "training changed no quantised weight");
    sb_model_free(ft);
    sb_model_free(st);
    sb_model_free(base);
}

static bool same_weights(const sb_model *a, const sb_model *b)
{
    if (a->g->n_values != b->g->n_values)
        return false;
    for (int v = 0; v < a->g->n_values; v++) {
        const sb_value *x = &a->g->values[v], *y = &b->g->values[v];
        if (x->kind != SB_VAL_CONST || x->dtype != SB_F32)
            continue;
        if (memcmp(x->data, y->data, (size_t)sb_shape_count(&x->shape) * sizeof(float)))
            return false;
    }
    return true;
}

/* Same seed: the same bits with 1 thread and with 2 (resnet8: BatchNorm, residual adds,
 * distillation, a short last batch). */
Test(train_api, deterministic_across_thread_counts)
{
    sb_model *base = sample("resnet8");
    sb_model *st = compressed(base, "global=0.5", NULL);
    sb_train_options o = quick(3, 24, 60);
    o.distill = true;
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    sb_model *a = finetune(base, st, &o, NULL);
    omp_set_num_threads(2);
    sb_model *b = finetune(base, st, &o, NULL);
    omp_set_num_threads(threads);
    cr_expect(same_weights(a, b), "1 and 2 threads trained different weights");
    cr_expect(!same_weights(a, st), "training changed nothing");
    sb_model_free(a), sb_model_free(b), sb_model_free(st), sb_model_free(base);
}

Test(train_api, agp_schedule)
{
    cr_expect(fabs(sb_agp_sparsity(0.1, 0.9, 0, 4) - 0.1) < 1e-12);
    cr_expect_eq(sb_agp_sparsity(0.1, 0.9, 4, 4), 0.9);
    cr_expect(fabs(sb_agp_sparsity(0, 0.8, 2, 4) - (0.8 - 0.8 / 8)) < 1e-12);
    cr_expect(fabs(sb_agp_sparsity(0, 0.8, 1, 4) - (0.8 - 0.8 * 27 / 64)) < 1e-12);
    cr_expect_eq(sb_agp_sparsity(0, 0.8, 9, 4), 0.8);
}

typedef struct seen {
    double sparsity[64];
    int n, stop_at;
} seen;

static bool record(const sb_train_progress *p, void *user)
{
    seen *s = user;
    if (s->n < 64)
        s->sparsity[s->n++] = p->sparsity;
    return s->stop_at && p->step >= s->stop_at;
}

static sb_config config_of(const sb_model *m, const char *prune)
{
    sb_config c = {0};
    sb_error err = {0};
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    cr_assert_eq(sb_config_apply_prune_flag(m, &c, prune, &err), SB_OK, "%s", err.msg);
    return c;
}

/* sb_finetune_agp with base as its own teacher, recording the progress in *s. */
static sb_model *agp_run(const sb_model *base, const sb_config *c, const sb_dataset *d,
                         sb_train_options o, seen *s)
{
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(base, &pp, &err), SB_OK);
    o.progress = record;
    o.user = s;
    sb_model *ft = NULL;
    cr_assert_eq(sb_finetune_agp(base, base, c, d, &pp, &o, &ft, NULL, &err), SB_OK, "%s",
                 err.msg);
    return ft;
}

/* Gradual pruning: sparsity rises on the schedule and ends exactly at the target. */
Test(train_api, gradual_pruning_reaches_the_target)
{
    sb_model *base = sample("lenet5");
    sb_config c = config_of(base, "global=0.8");
    sb_dataset *d = quick_split();
    sb_train_options o = quick(8, 16, 128);
    o.agp_steps = 4;
    o.agp_span = 0.5; /* pruning at steps 0, 1, 2, 3 */
    seen s = {0};
    sb_model *ft = agp_run(base, &c, d, o, &s);
    cr_assert_eq(s.n, 8);
    for (int k = 0; k < 4; k++)
        cr_expect(fabs(s.sparsity[k] - sb_agp_sparsity(0, 0.8, k + 1, 4)) < 2e-3,
                  "step %d: sparsity %g, schedule %g", k, s.sparsity[k],
                  sb_agp_sparsity(0, 0.8, k + 1, 4));
    for (int k = 4; k < 8; k++)
        cr_expect(fabs(s.sparsity[k] - 0.8) < 1e-4, "step %d: sparsity %g", k, s.sparsity[k]);
    int64_t zeros = 0, total = 0;
    for (int l = 0; l < ft->n_layers; l++) {
        int64_t n;
        const float *w = layer_w(ft, l, &n);
        for (int64_t i = 0; i < n; i++)
            zeros += w[i] == 0;
        total += n;
    }
    cr_expect_eq(zeros, (int64_t)nearbyint(0.8 * total), "%lld zeros of %lld", (long long)zeros,
                 (long long)total);
    sb_model_free(ft);
    sb_dataset_free(d);
    sb_config_free(&c);
    sb_model_free(base);
}

Test(train_api, progress_cancels_between_steps)
{
    sb_model *base = sample("lenet5");
    sb_dataset *d = quick_split();
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(base, &pp, &err), SB_OK);
    sb_train_options o = quick(10, 8, 100);
    seen s = {.stop_at = 2};
    o.progress = record;
    o.user = &s;
    sb_model *ft = (sb_model *)1;
    sb_train_result res;
    cr_expect_eq(sb_finetune(NULL, base, d, &pp, &o, &ft, &res, &err), SB_ERR_CANCELLED);
    cr_expect_null(ft);
    cr_expect_eq(res.steps, 2);
    volatile int cancel = 1;
    o.progress = NULL;
    o.cancel = &cancel;
    cr_expect_eq(sb_finetune(NULL, base, d, &pp, &o, &ft, &res, &err), SB_ERR_CANCELLED);
    cr_expect_eq(res.steps, 0);
    sb_dataset_free(d);
    sb_model_free(base);
}

Test(train_api, bad_options_are_errors)
{
    sb_model *base = sample("lenet5");
    sb_dataset *d = quick_split();
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_preprocess_from_model(base, &pp, &err), SB_OK);
    sb_model *ft = NULL;
    sb_train_options o = quick(1, 8, 8);
    o.distill = true; /* no teacher */
    cr_expect_eq(sb_finetune(NULL, base, d, &pp, &o, &ft, NULL, &err), SB_ERR_ARG);
    cr_expect(strstr(err.msg, "teacher"), "%s", err.msg);
    o = quick(1, 0, 8);
    err = (sb_error){0};
    cr_expect_eq(sb_finetune(NULL, base, d, &pp, &o, &ft, NULL, &err), SB_ERR_ARG);
    o = quick(1, 8, 8);
    o.lr = -1;
    err = (sb_error){0};
    cr_expect_eq(sb_finetune(NULL, base, d, &pp, &o, &ft, NULL, &err), SB_ERR_ARG);
    sb_dataset_free(d);
    sb_model_free(base);
}

/* Distillation from the uncompressed model repairs a pruned lenet5 quickly, and the result
 * survives an ONNX export and reload. */
Test(train_api, distillation_recovers_accuracy_and_exports)
{
    sb_model *base = sample("lenet5");
    sb_model *st = compressed(base, "global=0.9", NULL);
    sb_train_options o = quick(40, 64, 2560);
    o.distill = true;
    sb_train_result res;
    sb_model *ft = finetune_on(base, st, &o, &res, false);
    cr_expect_lt(res.last_loss, res.first_loss);
    sb_dataset *test = NULL;
    sb_preprocess pp;
    sb_error err = {0};
    cr_assert_eq(sb_dataset_open(sb_test_data_dir(), "test", &test, &err), SB_OK);
    cr_assert_eq(sb_preprocess_from_model(base, &pp, &err), SB_OK);
    sb_eval_options eo = {.limit = 1000};
    sb_eval_result before, after, reloaded;
    cr_assert_eq(sb_eval(st, test, &pp, &eo, &before, &err), SB_OK);
    cr_assert_eq(sb_eval(ft, test, &pp, &eo, &after, &err), SB_OK);
    cr_expect_gt(after.correct1, before.correct1 + 200, "before %d, after %d of 1000",
                 before.correct1, after.correct1);
    char path[] = "/tmp/slimbench_train_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(sb_model_export_onnx(ft, path, &err), SB_OK, "%s", err.msg);
    sb_model *back = NULL;
    cr_assert_eq(sb_model_load(path, &back, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(sb_eval(back, test, &pp, &eo, &reloaded, &err), SB_OK);
    cr_expect_eq(reloaded.correct1, after.correct1);
    unlink(path);
    sb_eval_result_free(&before), sb_eval_result_free(&after), sb_eval_result_free(&reloaded);
    sb_model_free(back), sb_model_free(ft), sb_model_free(st), sb_model_free(base);
    sb_dataset_free(test);
}

/* ---- gradual channel pruning ---- */

/* conv 1x1 (1 -> 4 channels, hand-set weights) -> BatchNorm -> Relu -> GAP -> Gemm (4 -> 2). */
static sb_model *tiny_channel_model(void)
{
    sb_graph *g = gb_new();
    int x = gb_input(g, SHAPE(1, 1, 3, 3));
    int w = gb_const(g, SHAPE(4, 1, 1, 1), 0, 0), b = gb_const(g, SHAPE(4), 0, 0);
    static const float wv[4] = {0.5f, -0.1f, 2.0f, 0.05f}, bv[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    memcpy(g->values[w].data, wv, sizeof wv);
    memcpy(g->values[b].data, bv, sizeof bv);
    gb_node(g, SB_OP_CONV, 3, (int[]){x, w, b})->a.win = win2(1, 1, 0, 1, 1);
    int bn[5] = {out_of(g), gb_const(g, SHAPE(4), 1, 1), gb_const(g, SHAPE(4), 0.5f, 0.5f),
                 gb_const(g, SHAPE(4), 0, 0), gb_const(g, SHAPE(4), 1, 1)};
    gb_node(g, SB_OP_BATCHNORM, 5, bn);
    int r = out_of(g);
    gb_node(g, SB_OP_RELU, 1, &r);
    int p = out_of(g);
    gb_node(g, SB_OP_GLOBALAVGPOOL, 1, &p);
    int f = out_of(g);
    gb_node(g, SB_OP_FLATTEN, 1, &f)->a.axis = 1;
    int gin[3] = {out_of(g), gb_const(g, SHAPE(2, 4), -1, 1), gb_const(g, SHAPE(2), -1, 1)};
    gb_node(g, SB_OP_GEMM, 3, gin)->a.gemm.trans_b = 1;
    gb_finish(g);
    sb_model *m = NULL;
    sb_error err = {0};
    cr_assert_eq(sb_model_from_graph(g, "tiny", &m, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(m->n_layers, 2);
    cr_assert_geq(m->layers[0].bn_node, 0);
    return m;
}

static const float *tparam(const sb_tape *t, int value)
{
    int k = sb_tape_find_param(t, value);
    cr_assert_geq(k, 0);
    return t->params[k].w;
}

/* Channel 3 (|w| 0.05) goes first, then channel 1 (0.1): their weight, bias and BatchNorm scale
 * and shift are zero and stay zero while the kept channels train; their activations are zero. */
Test(train_api, channel_pruning_on_the_tape_masks_the_weakest_channels)
{
    sb_model *m = tiny_channel_model();
    sb_config c = {0};
    sb_error err = {0};
    cr_assert_eq(sb_config_new(m, &c, &err), SB_OK);
    c.layer[0] = (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.5, .wbits = 32};
    cr_assert_eq(sb_config_validate(m, &c, &err), SB_OK, "%s", err.msg);
    sb_tape *t = NULL;
    cr_assert_eq(sb_tape_new(m->g, 4, &(sb_tape_options){.bn = SB_BN_TRAIN}, &t, &err), SB_OK);
    cr_assert_eq(sb_tape_bind_layers(t, m, &c, false, &err), SB_OK, "%s", err.msg);
    const sb_node *conv = &t->g->nodes[m->layers[0].node];
    const sb_node *bn = &t->g->nodes[m->layers[0].bn_node];
    const float *w = tparam(t, conv->in[1]), *b = tparam(t, conv->in[2]);
    const float *gamma = tparam(t, bn->in[1]), *beta = tparam(t, bn->in[2]);
    int group = sb_model_layer_group(m, 0);
    bool **removed = NULL;
    int ng = 0;
    /* f 0.5: 25 % of 4 channels = one */
    cr_assert_eq(sb_tape_prune_channels(t, &c, 0.5, &removed, &ng, &err), SB_OK, "%s", err.msg);
    cr_assert_eq(ng, sb_model_num_groups(m));
    bool want1[4] = {false, false, false, true}, want2[4] = {false, true, false, true};
    for (int ch = 0; ch < 4; ch++)
        cr_expect_eq(removed[group][ch], want1[ch], "step 1, channel %d", ch);
    cr_expect_eq(w[3], 0.0f);
    cr_expect_eq(w[1], -0.1f);
    sb_channels_choice_free(removed, ng);
    cr_assert_eq(sb_tape_prune_channels(t, &c, 1.0, &removed, &ng, &err), SB_OK, "%s", err.msg);
    for (int ch = 0; ch < 4; ch++)
        cr_expect_eq(removed[group][ch], want2[ch], "step 2, channel %d", ch);
    sb_channels_choice_free(removed, ng);
    float w0 = w[0], w2 = w[2];
    int labels[4] = {0, 1, 0, 1};
    for (int step = 0; step < 5; step++) {
        float *in = sb_tape_input(t, 0);
        for (int i = 0; i < 4 * 9; i++)
            in[i] = frand(-1, 1);
        cr_assert_eq(sb_tape_forward(t, &err), SB_OK);
        const float *y = t->act[bn->out[0]];
        for (int i = 0; i < 4; i++)
            for (int ch = 1; ch < 4; ch += 2)
                for (int k = 0; k < 9; k++)
                    cr_assert_eq(y[(i * 4 + ch) * 9 + k], 0.0f, "BatchNorm output of channel %d",
                                 ch);
        sb_tape_zero_grad(t);
        sb_loss_ce(t->act[t->logits], labels, 4, 2, t->grad[t->logits], NULL);
        sb_tape_backward(t);
        sb_sgd_step(t, 0.1f, 0.9f, 5e-4f);
        for (int ch = 1; ch < 4; ch += 2) {
            cr_assert_eq(w[ch], 0.0f, "step %d: weight of channel %d", step, ch);
            cr_assert_eq(b[ch], 0.0f, "step %d: bias of channel %d", step, ch);
            cr_assert_eq(gamma[ch], 0.0f, "step %d: BN scale of channel %d", step, ch);
            cr_assert_eq(beta[ch], 0.0f, "step %d: BN shift of channel %d", step, ch);
        }
    }
    cr_expect_neq(w[0], w0, "the kept channels learn");
    cr_expect_neq(w[2], w2, "the kept channels learn");
    sb_tape_free(t);
    sb_config_free(&c);
    sb_model_free(m);
}

static double top1_of(const sb_model *m, const sb_dataset *d, int limit)
{
    sb_preprocess pp;
    sb_error err = {0};
    sb_eval_result r;
    cr_assert_eq(sb_preprocess_from_model(m, &pp, &err), SB_OK);
    sb_eval_options eo = {.limit = limit};
    cr_assert_eq(sb_eval((sb_model *)m, d, &pp, &eo, &r, &err), SB_OK, "%s", err.msg);
    double top1 = 100.0 * r.correct1 / r.images;
    sb_eval_result_free(&r);
    return top1;
}

/* Gradual L1 pruning of lenet5's conv2 (16 -> 8 channels): the pruned fraction follows the
 * schedule in whole channels, the result is thinned to the shapes sb_compress gives, and it is
 * more accurate than the one-shot pruned model. */
Test(train_api, gradual_channel_pruning_thins_to_the_target)
{
    sb_model *base = sample("lenet5");
    sb_config c = config_of(base, "conv2=0.5:l1");
    sb_dataset *d = train_split();
    sb_train_options o = quick(40, 64, 2560);
    o.agp_steps = 4;
    o.agp_span = 0.1; /* pruning at steps 0, 1, 2, 3 */
    o.distill = true;
    seen s = {0};
    sb_model *ft = agp_run(base, &c, d, o, &s);
    /* masked fraction of conv2's weights: round(f_k x 0.5 x 16) whole channels of 16 */
    static const int channels[4] = {5, 7, 8, 8}; /* f_k = 1 - (1 - k/4)^3 */
    for (int k = 0; k < 4; k++)
        cr_expect(fabs(s.sparsity[k] - channels[k] / 16.0) < 1e-9, "step %d: %g", k,
                  s.sparsity[k]);
    cr_expect_eq(ft->layers[1].out_channels, 8);
    sb_model *once = compressed(base, "conv2=0.5:l1", NULL);
    cr_assert_eq(ft->g->n_values, once->g->n_values);
    for (int l = 0; l < ft->n_layers; l++)
        cr_expect_eq(ft->layers[l].params, once->layers[l].params, "layer %d", l);
    sb_dataset *test = quick_split();
    double a_once = top1_of(once, test, 1000), a_ft = top1_of(ft, test, 1000);
    cr_log_info("lenet5 conv2 16 -> 8 channels: one-shot %.1f %%, gradual + 40 steps %.1f %%",
                a_once, a_ft);
    cr_expect_gt(a_ft, a_once, "one-shot %.1f %%, gradual %.1f %%", a_once, a_ft);
    sb_model_free(once), sb_model_free(ft), sb_model_free(base);
    sb_dataset_free(test), sb_dataset_free(d);
    sb_config_free(&c);
}

/* Every epoch begun gets its wall time; the partial last one too. */
Test(train_api, epoch_times_are_recorded)
{
    sb_model *base = sample("lenet5");
    sb_train_options o = quick(0, 32, 64);
    o.epochs = 2.5; /* 2 + 2 + 1 steps */
    sb_train_result res;
    sb_model *ft = finetune(NULL, base, &o, &res);
    cr_expect_eq(res.steps, 5);
    cr_assert_eq(res.n_epoch_times, 3);
    double sum = 0;
    for (int e = 0; e < 3; e++) {
        cr_expect_gt(res.epoch_seconds[e], 0.0, "epoch %d", e);
        sum += res.epoch_seconds[e];
    }
    cr_expect_leq(sum, res.seconds);
    sb_model_free(ft);
    sb_model_free(base);
}
