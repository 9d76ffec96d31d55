/* int8 execution of quantised layers: which steps run on the integer kernels, their integer
 * weights recovered from the fake-quantised ones, u8 activations between consecutive int8
 * layers, and the kernel name of every layer. */
#include "qplan.h"

#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Accumulators are int32: K x 255 x 127 must fit. */
#define Q_MAX_K (INT32_MAX / (255 * 127))

/* ---- integer weights ---- */

/* Weight (o, k) of a layer: w[o * rs + k * cs]. */
typedef struct wview {
    const float *w;
    int M, K;
    size_t rs, cs;
} wview;

static float wat(const wview *v, int o, int k)
{
    return v->w[(size_t)o * v->rs + (size_t)k * v->cs];
}

/* Whether rows [o0, o1) are integers times `scale` (to float rounding), with |k| <= kmax. */
static bool fits(const wview *v, int o0, int o1, float scale, int kmax)
{
    for (int o = o0; o < o1; o++)
        for (int k = 0; k < v->K; k++) {
            const float t = wat(v, o, k) / scale, r = nearbyintf(t);
            if (fabsf(t - r) > 1e-3f || fabsf(r) > (float)kmax)
                return false;
        }
    return true;
}

/* The scale quant.c would have used for rows [o0, o1) at some bit width (symmetric: amax /
 * qmax; asymmetric: range / qmax), tried widest first. 0 when none fits. */
static float group_scale(const wview *v, int o0, int o1, int kmax)
{
    static const int qmax_sym[] = {127, 31, 7, 1}, qmax_asym[] = {255, 63, 15, 3};
    float lo = 0, hi = 0;
    for (int o = o0; o < o1; o++)
        for (int k = 0; k < v->K; k++) {
            const float x = wat(v, o, k);
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
    const float amax = fmaxf(-lo, hi);
    if (amax == 0)
        return 1.0f;
    for (int i = 0; i < 4; i++) {
        const float s = amax / (float)qmax_sym[i];
        if (fits(v, o0, o1, s, kmax))
            return s;
    }
    for (int i = 0; i < 4; i++) {
        const float s = (hi - lo) / (float)qmax_asym[i];
        if (fits(v, o0, o1, s, kmax))
            return s;
    }
    return 0;
}

/* Per-channel scales s[M] with w = k * s[o], per tensor first, then per output channel.
 * Returns false when the weights are not quantised to integers of at most kmax. */
static bool recover_scales(const wview *v, int kmax, float *s)
{
    const float t = group_scale(v, 0, v->M, kmax);
    for (int o = 0; o < v->M; o++)
        s[o] = t;
    for (int o = 0; t == 0 && o < v->M; o++)
        if ((s[o] = group_scale(v, o, o + 1, kmax)) == 0)
            return false;
    return true;
}

static void integers(const wview *v, const float *s, int8_t *k)
{
    for (int o = 0; o < v->M; o++)
        for (int j = 0; j < v->K; j++)
            k[(size_t)o * v->K + j] = (int8_t)nearbyintf(wat(v, o, j) / s[o]);
}

/* ---- which steps ---- */

static bool gemm_shape_ok(const sb_plan *p, const sb_node *n)
{
    const sb_graph *g = p->g;
    if (n->a.gemm.trans_a || n->a.gemm.alpha != 1.0f || p->shapes[n->in[0]].rank != 2)
        return false;
    if (n->n_in < 3 || n->in[2] < 0 || n->a.gemm.beta == 0.0f)
        return true;
    const sb_shape *w = &g->values[n->in[1]].shape, *c = &p->shapes[n->in[2]];
    const int64_t N = w->dim[!n->a.gemm.trans_b];
    return n->a.gemm.beta == 1.0f && sb_value_f32(g, n->in[2]) && sb_shape_count(c) == N &&
           c->dim[c->rank - 1] == N;
}

static wview weight_view(const sb_plan *p, const sb_node *n)
{
    const sb_value *w = &p->g->values[n->in[1]];
    wview v = {.w = w->data};
    if (n->op == SB_OP_CONV) {
        v.M = (int)w->shape.dim[0];
        v.K = (int)(sb_shape_count(&w->shape) / (v.M ? v.M : 1));
        v.rs = (size_t)v.K, v.cs = 1;
    } else if (n->op == SB_OP_GEMM && n->a.gemm.trans_b) { /* N x K */
        v.M = (int)w->shape.dim[0], v.K = (int)w->shape.dim[1];
        v.rs = (size_t)v.K, v.cs = 1;
    } else { /* K x N (Gemm, MatMul) */
        v.M = (int)w->shape.dim[1], v.K = (int)w->shape.dim[0];
        v.rs = 1, v.cs = (size_t)v.M;
    }
    return v;
}

/* The calibrated u8 FakeQuant feeding n's input alone, or NULL. */
static const sb_node *input_quant(const sb_graph *g, const sb_node *n)
{
    const sb_value *x = &g->values[n->in[0]];
    if (x->producer < 0 || x->consumers != 1)
        return NULL;
    const sb_node *f = &g->nodes[x->producer];
    if (f->op != SB_OP_FAKEQUANT || !(f->a.fq.scale > 0) || f->a.fq.qmin < 0 ||
        f->a.fq.qmax > 255 || f->a.fq.zero_point < f->a.fq.qmin ||
        f->a.fq.zero_point > f->a.fq.qmax)
        return NULL;
    return f;
}

static bool int8_enabled(void)
{
    const char *e = getenv("SB_INT8");
    return !(e && (strcmp(e, "0") == 0 || strcmp(e, "off") == 0));
}

static sb_qstep *new_qstep(sb_qstep_kind kind, const char *kernel)
{
    sb_qstep *q = calloc(1, sizeof *q);
    if (q)
        q->kind = kind, q->kernel = kernel;
    return q;
}

/* Depthwise and other thin grouped convolutions (a few outputs or inputs per group) would be
 * GEMMs of nearly empty tiles: they stay on the f32 direct kernel, with dequantised weights. */
static bool gemm_shaped(const sb_plan *p, const sb_step *st)
{
    if (p->g->nodes[st->node].op != SB_OP_CONV)
        return true;
    const sb_conv_geom g = sb_step_conv_geom(p, st);
    return g.group == 1 || (g.M / g.group >= 8 && g.C / g.group * g.kh * g.kw >= 16);
}

/* Per-channel float scale of the weights the step multiplies by: recovered scale times the
 * folded BatchNorm's gamma / sqrt(var + eps), computed as plan.c folds it. */
static void fold_scales(const sb_plan *p, const sb_step *st, float *s)
{
    const sb_node *bn = NULL;
    for (int i = 0; i < st->n_fused && !bn; i++)
        if (p->g->nodes[st->fused[i]].op == SB_OP_BATCHNORM)
            bn = &p->g->nodes[st->fused[i]];
    if (!st->weight || !bn)
        return;
    const float *gamma = sb_value_f32(p->g, bn->in[1]), *var = sb_value_f32(p->g, bn->in[4]);
    const int M = (int)p->g->values[p->g->nodes[st->node].in[1]].shape.dim[0];
    for (int o = 0; o < M; o++)
        s[o] *= gamma[o] / sqrtf(var[o] + bn->a.bn.epsilon);
}

static const float *layer_bias(const sb_plan *p, const sb_step *st, const sb_node *n)
{
    if (st->bias)
        return st->bias;
    if (n->n_in > 2 && n->in[2] >= 0 && (n->op == SB_OP_CONV || n->a.gemm.beta != 0.0f))
        return sb_value_f32(p->g, n->in[2]);
    return NULL;
}

/* Builds the int8 layer for step st (input FakeQuant f); false when it cannot run so. */
static sb_status make_layer(const sb_plan *p, sb_step *st, const sb_node *f, const wview *v,
                            const float *s, const int8_t *k, sb_qstep **out, sb_error *err)
{
    const sb_node *n = &p->g->nodes[st->node];
    sb_qstep *q = new_qstep(SB_QSTEP_LAYER, sb_qisa_name(sb_qisa_detect()));
    if (!q)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    sb_qconv *qc = &q->qc;
    qc->isa = sb_qisa_detect();
    qc->act = st->act;
    qc->x_zp = f->a.fq.zero_point;
    if (n->op == SB_OP_CONV) {
        qc->g = sb_step_conv_geom(p, st);
    } else {
        qc->is_gemm = 1;
        qc->g = (sb_conv_geom){.C = v->K, .H = 1, .W = 1, .M = v->M, .OH = 1, .OW = 1, .kh = 1,
                               .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .group = 1};
    }
    qc->scale = malloc(sizeof(float) * (size_t)v->M);
    qc->bias = calloc((size_t)v->M, sizeof(float));
    if (!qc->scale || !qc->bias || sb_qconv_pack(qc, k)) {
        sb_qstep_free(q);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory packing '%s'", n->name);
    }
    const float *b = layer_bias(p, st, n);
    for (int o = 0; o < v->M; o++) {
        qc->scale[o] = f->a.fq.scale * s[o];
        qc->bias[o] = b ? b[o] : 0.0f;
    }
    *out = q;
    return SB_OK;
}

/* Decides one Conv/Gemm step: int8 layer, or f32 with a name saying whether its weights are
 * quantised (dequantised, as a weight-only deployment runs them). */
static sb_status choose_layer(sb_plan *p, sb_step *st, bool enabled, sb_error *err)
{
    const sb_node *n = &p->g->nodes[st->node];
    if (!sb_value_f32(p->g, n->in[1]) ||
        (n->op != SB_OP_CONV && p->g->values[n->in[1]].shape.rank != 2))
        return SB_OK;
    const bool runs = n->op == SB_OP_CONV || (n->op == SB_OP_GEMM && gemm_shape_ok(p, n));
    const wview v = weight_view(p, n);
    float *s = malloc(sizeof(float) * ((size_t)v.M + 1));
    int8_t *k = malloc((size_t)v.M * v.K + 1);
    if (!s || !k) {
        free(s), free(k);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    sb_status r = SB_OK;
    const sb_node *f = input_quant(p->g, n);
    const bool int8_ok = recover_scales(&v, 127, s);
    if (int8_ok && runs && f && enabled && v.K <= Q_MAX_K && gemm_shaped(p, st)) {
        integers(&v, s, k);
        fold_scales(p, st, s);
        r = make_layer(p, st, f, &v, s, k, &st->q, err);
    } else if (int8_ok || recover_scales(&v, 255, s)) {
        if (!(st->q = new_qstep(SB_QSTEP_LABEL, "f32-dq")))
            r = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    free(s), free(k);
    return r;
}

static int step_writing(const sb_plan *p, int value)
{
    for (int s = 0; s < p->n_steps; s++)
        if (p->steps[s].out_value == value)
            return s;
    return -1;
}

static bool is_int8(const sb_step *st)
{
    return st->q && st->q->kind == SB_QSTEP_LAYER;
}

/* The FakeQuant in front of int8 layer L: fused into an int8 producer that nothing else reads
 * (it then writes u8), else a step that quantises to u8. */
static sb_status place_input_quant(sb_plan *p, const sb_step *L, sb_error *err)
{
    const sb_graph *g = p->g;
    const int fnode = g->values[g->nodes[L->node].in[0]].producer;
    const sb_node *f = &g->nodes[fnode];
    sb_step *fs = &p->steps[sb_plan_step_of_node(p, fnode)];
    const int v = f->in[0], ps = step_writing(p, v);
    if (ps >= 0 && is_int8(&p->steps[ps]) && g->values[v].consumers == 1 &&
        g->values[v].kind == SB_VAL_ACT) {
        sb_qconv *qc = &p->steps[ps].q->qc;
        qc->out_u8 = 1;
        qc->y_scale = f->a.fq.scale, qc->y_zp = f->a.fq.zero_point;
        qc->y_qmin = f->a.fq.qmin, qc->y_qmax = f->a.fq.qmax;
        fs->kind = SB_STEP_ALIAS;
        return SB_OK;
    }
    if (!(fs->q = new_qstep(SB_QSTEP_QUANTIZE, "u8")))
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    fs->q->scale = f->a.fq.scale, fs->q->zp = f->a.fq.zero_point;
    fs->q->qmin = f->a.fq.qmin, fs->q->qmax = f->a.fq.qmax;
    return SB_OK;
}

sb_status sb_qplan_apply(sb_plan *p, sb_error *err)
{
    const bool enabled = int8_enabled();
    sb_status s = SB_OK;
    for (int i = 0; i < p->n_steps && !s; i++) {
        sb_step *st = &p->steps[i];
        const sb_op op = p->g->nodes[st->node].op;
        if (st->kind == SB_STEP_NODE &&
            (op == SB_OP_CONV || op == SB_OP_GEMM || op == SB_OP_MATMUL))
            s = choose_layer(p, st, enabled, err);
    }
    /* Producers come before consumers, so a producer's output format is final when its
     * consumer's FakeQuant is placed. */
    for (int i = 0; i < p->n_steps && !s; i++)
        if (is_int8(&p->steps[i]))
            s = place_input_quant(p, &p->steps[i], err);
    return s;
}

size_t sb_qplan_scratch_floats(const sb_plan *p)
{
    size_t most = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const sb_step *st = &p->steps[i];
        if (!is_int8(st))
            continue;
        const int n = (int)p->shapes[p->g->nodes[st->node].in[0]].dim[0];
        const size_t need = (sb_qconv_scratch(&st->q->qc, n, p->threads) + 3) / 4;
        most = need > most ? need : most;
    }
    return most;
}

void sb_qstep_free(sb_qstep *q)
{
    if (!q)
        return;
    sb_qconv_release(&q->qc);
    free(q);
}

bool sb_qop_run(const sb_plan *p, const sb_step *st)
{
    const sb_node *n = &p->g->nodes[st->node];
    const sb_shape *xs = &p->shapes[n->in[0]];
    void *x = sb_plan_value(p, n->in[0]), *y = sb_plan_value(p, st->out_value);
    switch (st->q->kind) {
    case SB_QSTEP_LAYER:
        sb_qconv_run(&st->q->qc, (int)xs->dim[0], x, y, p->scratch);
        return true;
    case SB_QSTEP_QUANTIZE:
        sb_quantize_u8(x, (size_t)sb_shape_count(xs), st->q->scale, st->q->zp, st->q->qmin,
                       st->q->qmax, y);
        return true;
    default:
        return false;
    }
}
