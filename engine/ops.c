/* The operators, one function each, dispatched by one switch. Every output element is computed
 * independently of the thread partition, so results do not depend on the thread count. */
#include "kernels/sparse.h"
#include "par.h"
#include "plan.h"
#include "prune.h"
#include "qplan.h"

#include <math.h>
#include <string.h>

#define PAR_MIN (1 << 18) /* below this many elements, threads cost more than they save */

typedef struct op_ctx {
    const sb_plan *p;
    const sb_step *st;
    const sb_node *n;
} op_ctx;

static float *in_data(const op_ctx *c, int i) { return sb_plan_value(c->p, c->n->in[i]); }
static const sb_shape *in_shape(const op_ctx *c, int i) { return &c->p->shapes[c->n->in[i]]; }
static float *out_data(const op_ctx *c) { return sb_plan_value(c->p, c->st->out_value); }
static const sb_shape *out_shape(const op_ctx *c) { return &c->p->shapes[c->n->out[0]]; }
static bool has_in(const op_ctx *c, int i) { return i < c->n->n_in && c->n->in[i] >= 0; }

sb_conv_geom sb_step_conv_geom(const sb_plan *p, const sb_step *st)
{
    const sb_node *n = &p->g->nodes[st->node];
    return sb_conv_geometry(&p->shapes[n->in[0]], &p->shapes[n->out[0]], &st->win);
}

static void op_conv(const op_ctx *c)
{
    sb_conv_geom geom = sb_step_conv_geom(c->p, c->st);
    const float *w = c->st->weight ? c->st->weight : in_data(c, 1);
    const float *b = c->st->bias ? c->st->bias : has_in(c, 2) ? in_data(c, 2) : NULL;
    if (c->st->csr)
        sb_conv2d_sparse(&geom, (int)in_shape(c, 0)->dim[0], in_data(c, 0), c->st->csr, b,
                         &c->st->act, out_data(c), c->p->scratch);
    else
        sb_conv2d_ex(&geom, (int)in_shape(c, 0)->dim[0], in_data(c, 0), w, c->st->packed, b,
                     &c->st->act, out_data(c), c->p->scratch);
}

/* ---- broadcasting ---- */

typedef struct bcast {
    int rank;
    int64_t dim[SB_MAX_RANK];
    int64_t sa[SB_MAX_RANK], sb[SB_MAX_RANK]; /* element strides, 0 on broadcast axes */
} bcast;

static void strides_for(const sb_shape *in, const sb_shape *out, int64_t *st)
{
    int64_t s = 1;
    for (int i = out->rank - 1; i >= 0; i--) {
        int j = i - (out->rank - in->rank);
        int64_t d = j >= 0 ? in->dim[j] : 1;
        st[i] = d == 1 ? 0 : s;
        s *= d;
    }
}

static bcast make_bcast(const sb_shape *a, const sb_shape *b, const sb_shape *out)
{
    bcast bc = {.rank = out->rank};
    memcpy(bc.dim, out->dim, sizeof bc.dim);
    strides_for(a, out, bc.sa);
    strides_for(b, out, bc.sb);
    return bc;
}

/* The loops are written out per op (not through a function pointer) so they vectorise. */
static void binary_row(bool mul, const float *a, int64_t sa, const float *b, int64_t sb,
                       float *o, int64_t n)
{
    if (sa == 1 && sb == 1) {
        if (mul)
            for (int64_t k = 0; k < n; k++)
                o[k] = a[k] * b[k];
        else
            for (int64_t k = 0; k < n; k++)
                o[k] = a[k] + b[k];
    } else if (sa == 1 && sb == 0) {
        float v = b[0];
        if (mul)
            for (int64_t k = 0; k < n; k++)
                o[k] = a[k] * v;
        else
            for (int64_t k = 0; k < n; k++)
                o[k] = a[k] + v;
    } else {
        for (int64_t k = 0; k < n; k++)
            o[k] = mul ? a[k * sa] * b[k * sb] : a[k * sa] + b[k * sb];
    }
}

/* out = a (op) b over the broadcast shape, rows of the last axis at a time. */
static void binary_bcast(const bcast *bc, const float *a, const float *b, float *out, bool mul)
{
    int r = bc->rank;
    int64_t inner = r ? bc->dim[r - 1] : 1, rows = 1;
    for (int i = 0; i < r - 1; i++)
        rows *= bc->dim[i];
    int64_t ia_step = r ? bc->sa[r - 1] : 0, ib_step = r ? bc->sb[r - 1] : 0;
    SB_FOR(sb_fork((double)rows * inner, PAR_MIN), int64_t, row, rows, {
        int64_t ia = 0, ib = 0, rem = row;
        for (int d = r - 2; d >= 0; d--) {
            int64_t idx = rem % bc->dim[d];
            rem /= bc->dim[d];
            ia += idx * bc->sa[d];
            ib += idx * bc->sb[d];
        }
        if (ia_step == 0 && ib_step == 1) /* a broadcast: swap (both ops commute) */
            binary_row(mul, b + ib, 1, a + ia, 0, out + row * inner, inner);
        else
            binary_row(mul, a + ia, ia_step, b + ib, ib_step, out + row * inner, inner);
    });
}

/* a [rows x inner] (op) one value of b per row: the SE scale (N,C,H,W * N,C,1,1) and its
 * kind. True when the shapes have that form (either operand may be the per-row one). */
static bool per_row_binary(const op_ctx *c, bool mul, const float *a, const float *b, float *o)
{
    const sb_shape *os = out_shape(c), *as = in_shape(c, 0), *bs = in_shape(c, 1);
    int64_t n = sb_shape_count(os), na = sb_shape_count(as), nb = sb_shape_count(bs);
    if (os->rank != 4 || as->rank != 4 || bs->rank != 4 || (na == n) == (nb == n))
        return false;
    const sb_shape *small = na == n ? bs : as;
    if (small->dim[0] != os->dim[0] || small->dim[1] != os->dim[1] || small->dim[2] != 1 ||
        small->dim[3] != 1)
        return false;
    const float *full = na == n ? a : b, *row = na == n ? b : a;
    int64_t rows = os->dim[0] * os->dim[1], inner = os->dim[2] * os->dim[3];
    SB_FOR(sb_fork((double)n, PAR_MIN), int64_t, r, rows,
           binary_row(mul, full + r * inner, 1, row + r, 0, o + r * inner, inner););
    return true;
}

static void op_binary(const op_ctx *c, bool mul)
{
    const float *a = in_data(c, 0), *b = in_data(c, 1);
    float *o = out_data(c);
    int64_t n = sb_shape_count(out_shape(c));
    if (sb_shape_count(in_shape(c, 0)) == n && sb_shape_count(in_shape(c, 1)) == n) {
        int64_t chunk = 4096, chunks = (n + chunk - 1) / chunk;
        SB_FOR(sb_fork((double)n, PAR_MIN), int64_t, i, chunks, {
            int64_t len = i == chunks - 1 ? n - i * chunk : chunk;
            binary_row(mul, a + i * chunk, 1, b + i * chunk, 1, o + i * chunk, len);
        });
    } else if (!per_row_binary(c, mul, a, b, o)) {
        sb_shape b_shape = sb_binary_b_shape(c->n, in_shape(c, 0), in_shape(c, 1));
        bcast bc = make_bcast(in_shape(c, 0), &b_shape, out_shape(c));
        binary_bcast(&bc, a, b, o, mul);
    }
    sb_act_apply_n(&c->st->act, o, (size_t)n);
}

/* ---- activations ---- */

static sb_act clip_act(const op_ctx *c)
{
    sb_act a = {SB_ACT_CLIP, c->n->a.clip.min, c->n->a.clip.max};
    if (c->p->g->opset >= 11) {
        a.a = has_in(c, 1) ? in_data(c, 1)[0] : -INFINITY;
        a.b = has_in(c, 2) ? in_data(c, 2)[0] : INFINITY;
    }
    return a;
}

static void op_unary(const op_ctx *c)
{
    sb_act act = {SB_ACT_NONE, 0, 0};
    switch (c->n->op) {
    case SB_OP_RELU: act.kind = SB_ACT_RELU; break;
    case SB_OP_SIGMOID: act.kind = SB_ACT_SIGMOID; break;
    case SB_OP_HARDSWISH: act.kind = SB_ACT_HARDSWISH; break;
    case SB_OP_HARDSIGMOID:
        act = (sb_act){SB_ACT_HARDSIGMOID, c->n->a.hsig.alpha, c->n->a.hsig.beta};
        break;
    case SB_OP_CLIP: act = clip_act(c); break;
    default: break;
    }
    int64_t n = sb_shape_count(out_shape(c));
    const float *x = in_data(c, 0);
    float *y = out_data(c);
    if (x != y)
        memcpy(y, x, (size_t)n * sizeof *y);
    sb_act_apply_n(&act, y, (size_t)n);
}

static void op_softmax(const op_ctx *c)
{
    const sb_shape *s = in_shape(c, 0);
    int axis = c->n->a.axis < 0 ? c->n->a.axis + s->rank : c->n->a.axis;
    int64_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < s->rank; i++) {
        if (i < axis)
            outer *= s->dim[i];
        else if (i == axis || c->p->g->opset < 13) /* before 13: a 2-D coercion at axis */
            len *= s->dim[i];
        else
            inner *= s->dim[i];
    }
    const float *x = in_data(c, 0);
    float *y = out_data(c);
    SB_FOR(sb_fork((double)outer * inner * len, PAR_MIN), int64_t, oi, outer * inner, {
        const int64_t o = oi / inner, i = oi % inner;
        const float *xr = x + o * len * inner + i;
        float *yr = y + o * len * inner + i;
        float mx = -INFINITY, sum = 0;
        for (int64_t k = 0; k < len; k++)
            mx = fmaxf(mx, xr[k * inner]);
        for (int64_t k = 0; k < len; k++)
            sum += yr[k * inner] = expf(xr[k * inner] - mx);
        for (int64_t k = 0; k < len; k++)
            yr[k * inner] /= sum;
    });
}

/* ---- pooling ---- */

typedef struct pool_geom {
    int64_t planes, H, W, OH, OW;
} pool_geom;

static pool_geom pool_geometry(const op_ctx *c)
{
    const sb_shape *x = in_shape(c, 0), *y = out_shape(c);
    bool one_d = c->st->win.spatial == 1;
    return (pool_geom){.planes = x->dim[0] * x->dim[1],
                       .H = one_d ? 1 : x->dim[2], .W = x->dim[x->rank - 1],
                       .OH = one_d ? 1 : y->dim[2], .OW = y->dim[y->rank - 1]};
}

/* One output element of a max or average pool over plane x. */
static float pool_at(const sb_window *w, const pool_geom *pg, const float *x, int64_t oh,
                     int64_t ow, bool is_max)
{
    int64_t h0 = oh * w->stride[0] - w->pad_begin[0], w0 = ow * w->stride[1] - w->pad_begin[1];
    float best = -INFINITY, sum = 0;
    int64_t count = 0;
    for (int i = 0; i < w->kernel[0]; i++) {
        int64_t h = h0 + (int64_t)i * w->dilation[0];
        if (h < 0 || h >= pg->H)
            continue;
        for (int j = 0; j < w->kernel[1]; j++) {
            int64_t ww = w0 + (int64_t)j * w->dilation[1];
            if (ww < 0 || ww >= pg->W)
                continue;
            float v = x[h * pg->W + ww];
            best = v > best ? v : best;
            sum += v;
            count++;
        }
    }
    if (is_max)
        return best;
    if (w->count_include_pad) { /* padding counts, but not windows hanging past it */
        int64_t hend = h0 + (int64_t)(w->kernel[0] - 1) * w->dilation[0] + 1;
        int64_t wend = w0 + (int64_t)(w->kernel[1] - 1) * w->dilation[1] + 1;
        int64_t hlim = pg->H + w->pad_end[0], wlim = pg->W + w->pad_end[1];
        int64_t hs = (hend < hlim ? hend : hlim) - h0, ws = (wend < wlim ? wend : wlim) - w0;
        count = ((hs + w->dilation[0] - 1) / w->dilation[0]) *
                ((ws + w->dilation[1] - 1) / w->dilation[1]);
    }
    return count ? sum / (float)count : 0.0f;
}

/* Windows that never leave the image (no padding, dilation 1): the same comparisons or sums in
 * the same order as pool_at, without its bounds checks. */
static bool pool_inside(const sb_window *w, const pool_geom *pg)
{
    for (int d = 0; d < w->spatial && d < 2; d++)
        if (w->pad_begin[d] || w->pad_end[d] || w->dilation[d] != 1)
            return false;
    return (pg->OH - 1) * w->stride[0] + w->kernel[0] <= pg->H &&
           (pg->OW - 1) * w->stride[1] + w->kernel[1] <= pg->W && w->spatial == 2;
}

static void pool_plane_inside(const sb_window *w, const pool_geom *pg, const float *x, float *y,
                              bool is_max)
{
    const int kh = w->kernel[0], kw = w->kernel[1];
    const float count = (float)(kh * kw);
    for (int64_t oh = 0; oh < pg->OH; oh++)
        for (int64_t ow = 0; ow < pg->OW; ow++) {
            const float *b = x + oh * w->stride[0] * pg->W + ow * w->stride[1];
            float best = -INFINITY, sum = 0;
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++) {
                    float v = b[i * pg->W + j];
                    best = v > best ? v : best;
                    sum += v;
                }
            y[oh * pg->OW + ow] = is_max ? best : sum / count;
        }
}

/* Widest input row the row-wise max pool keeps on the stack. */
#define POOL_ROW_MAX 4096

/* MaxPool without dilation, one output row at a time: the max over the window's rows inside
 * the image for every input column (contiguous, vectorised), then over the window's columns.
 * Padding never wins a max, so skipping it is exact, and max is exact in any order. */
static bool maxpool_by_rows(const sb_window *w, const pool_geom *pg, bool is_max)
{
    return is_max && w->spatial == 2 && w->dilation[0] == 1 && w->dilation[1] == 1 &&
           pg->W <= POOL_ROW_MAX;
}

static void clip_window(int64_t start, int k, int64_t n, int64_t *lo, int64_t *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + k < n ? start + k : n;
}

static void maxpool_plane_rows(const sb_window *w, const pool_geom *pg, const float *x, float *y)
{
    float m[POOL_ROW_MAX];
    for (int64_t oh = 0; oh < pg->OH; oh++) {
        int64_t h0, h1;
        clip_window(oh * w->stride[0] - w->pad_begin[0], w->kernel[0], pg->H, &h0, &h1);
        for (int64_t j = 0; j < pg->W; j++)
            m[j] = -INFINITY;
        for (int64_t h = h0; h < h1; h++) {
            const float *r = x + h * pg->W;
            for (int64_t j = 0; j < pg->W; j++)
                m[j] = r[j] > m[j] ? r[j] : m[j];
        }
        for (int64_t ow = 0; ow < pg->OW; ow++) {
            int64_t j0, j1;
            clip_window(ow * w->stride[1] - w->pad_begin[1], w->kernel[1], pg->W, &j0, &j1);
            float best = -INFINITY;
            for (int64_t j = j0; j < j1; j++)
                best = m[j] > best ? m[j] : best;
            y[oh * pg->OW + ow] = best;
        }
    }
}

static void op_pool(const op_ctx *c, bool is_max)
{
    pool_geom pg = pool_geometry(c);
    const sb_window *w = &c->st->win;
    const float *x = in_data(c, 0);
    float *y = out_data(c);
    const bool fork = sb_fork((double)pg.planes * pg.OH * pg.OW, PAR_MIN / 4);
    if (maxpool_by_rows(w, &pg, is_max)) {
        SB_FOR(fork, int64_t, p, pg.planes,
               maxpool_plane_rows(w, &pg, x + p * pg.H * pg.W, y + p * pg.OH * pg.OW););
        return;
    }
    if (pool_inside(w, &pg)) {
        SB_FOR(fork, int64_t, p, pg.planes,
               pool_plane_inside(w, &pg, x + p * pg.H * pg.W, y + p * pg.OH * pg.OW, is_max););
        return;
    }
    SB_FOR(fork, int64_t, p, pg.planes, {
        for (int64_t oh = 0; oh < pg.OH; oh++)
            for (int64_t ow = 0; ow < pg.OW; ow++)
                y[(p * pg.OH + oh) * pg.OW + ow] =
                    pool_at(w, &pg, x + p * pg.H * pg.W, oh, ow, is_max);
    });
}

static void op_global_avgpool(const op_ctx *c)
{
    const sb_shape *s = in_shape(c, 0);
    int64_t planes = s->dim[0] * s->dim[1], size = sb_shape_count(s) / (planes ? planes : 1);
    sb_global_avgpool(in_data(c, 0), planes, size, out_data(c));
}

static void op_batchnorm(const op_ctx *c)
{
    const sb_shape *s = in_shape(c, 0);
    int64_t n = s->dim[0], ch = s->dim[1], size = n * ch > 0 ? sb_shape_count(s) / (n * ch) : 0;
    const float *x = in_data(c, 0), *gamma = in_data(c, 1), *beta = in_data(c, 2);
    const float *mean = in_data(c, 3), *var = in_data(c, 4);
    float *y = out_data(c);
    float eps = c->n->a.bn.epsilon;
    SB_FOR(sb_fork((double)n * ch * size, PAR_MIN), int64_t, ik, n * ch, {
        const int64_t k = ik % ch;
        float scale = gamma[k] / sqrtf(var[k] + eps);
        const float *xp = x + ik * size;
        float *yp = y + ik * size;
        for (int64_t j = 0; j < size; j++)
            yp[j] = (xp[j] - mean[k]) * scale + beta[k];
    });
    sb_act_apply_n(&c->st->act, y, (size_t)(n * ch * size));
}

static void op_concat(const op_ctx *c)
{
    const sb_shape *os = out_shape(c);
    int axis = c->n->a.axis < 0 ? c->n->a.axis + os->rank : c->n->a.axis;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < os->rank; i++)
        *(i < axis ? &outer : i > axis ? &inner : &(int64_t){0}) *= os->dim[i];
    float *y = out_data(c);
    int64_t row = os->dim[axis] * inner, at = 0;
    for (int k = 0; k < c->n->n_in; k++) {
        int64_t chunk = in_shape(c, k)->dim[axis] * inner;
        const float *x = in_data(c, k);
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * row + at, x + o * chunk, (size_t)chunk * sizeof *y);
        at += chunk;
    }
}

/* ---- Gemm and MatMul ---- */

/* Adds beta * C (broadcast to M x N) to y. */
static void add_gemm_c(const op_ctx *c, float *y, int64_t m, int64_t n)
{
    sb_shape ys = {.rank = 2, .dim = {m, n}};
    bcast bc = make_bcast(&ys, in_shape(c, 2), &ys);
    const float *cd = in_data(c, 2);
    float beta = c->n->a.gemm.beta;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            y[i * n + j] += beta * cd[i * bc.sb[0] + j * bc.sb[1]];
}

static void op_gemm(const op_ctx *c)
{
    const sb_shape *as = in_shape(c, 0), *bs = in_shape(c, 1);
    const sb_node *n = c->n;
    int ta = n->a.gemm.trans_a, tb = n->a.gemm.trans_b;
    int m = (int)as->dim[ta], k = (int)as->dim[!ta], nn = (int)bs->dim[!tb];
    const float *b = c->st->weight ? c->st->weight : in_data(c, 1);
    float *y = out_data(c);
    bool has_c = has_in(c, 2) && n->a.gemm.beta != 0.0f;
    const sb_shape *cs = has_c ? in_shape(c, 2) : NULL;
    bool c_is_row_vector = has_c && sb_shape_count(cs) == nn && cs->dim[cs->rank - 1] == nn &&
                           n->a.gemm.beta == 1.0f && n->a.gemm.alpha != 0.0f;
    sb_epilogue ep = {.alpha = n->a.gemm.alpha, .act = c->st->act};
    if (c_is_row_vector) {
        ep.bias_kind = SB_BIAS_COL;
        ep.bias = c->st->bias ? c->st->bias : in_data(c, 2);
    } else if (has_c) {
        ep.act = (sb_act){SB_ACT_NONE, 0, 0};
    }
    if (n->a.gemm.alpha == 0.0f) /* the kernel reads alpha 0 as 1: here it means no product */
        memset(y, 0, (size_t)m * (size_t)nn * sizeof *y);
    else if (c->st->csr)
        sb_gemm_sparse(ta, m, k, in_data(c, 0), (int)as->dim[1], c->st->csr, &ep, y, nn,
                       c->p->scratch);
    else
        sb_sgemm(ta, tb, m, nn, k, in_data(c, 0), (int)as->dim[1], b, (int)bs->dim[1], y, nn,
                 &ep);
    if (has_c && !c_is_row_vector) {
        add_gemm_c(c, y, m, nn);
        sb_act_apply_n(&c->st->act, y, (size_t)m * (size_t)nn);
    }
}

static void op_matmul(const op_ctx *c)
{
    sb_shape a = *in_shape(c, 0), b = *in_shape(c, 1);
    if (a.rank == 1)
        a = (sb_shape){.rank = 2, .dim = {1, a.dim[0]}};
    if (b.rank == 1)
        b = (sb_shape){.rank = 2, .dim = {b.dim[0], 1}};
    int64_t m = a.dim[a.rank - 2], k = a.dim[a.rank - 1], n = b.dim[b.rank - 1];
    const float *ad = in_data(c, 0), *bd = in_data(c, 1);
    float *y = out_data(c);
    if (b.rank == 2) { /* the common case: one GEMM over all leading rows of A */
        int64_t rows = sb_shape_count(&a) / k;
        sb_sgemm(0, 0, (int)rows, (int)n, (int)k, ad, (int)k, bd, (int)n, y, (int)n, NULL);
        return;
    }
    sb_shape ba = a, bb = b, batch = {0};
    ba.rank -= 2, bb.rank -= 2;
    batch.rank = ba.rank > bb.rank ? ba.rank : bb.rank;
    for (int i = 0; i < batch.rank; i++) {
        int ia = i - (batch.rank - ba.rank), ib = i - (batch.rank - bb.rank);
        int64_t da = ia >= 0 ? ba.dim[ia] : 1, db = ib >= 0 ? bb.dim[ib] : 1;
        batch.dim[i] = da > db ? da : db;
    }
    bcast bc = make_bcast(&ba, &bb, &batch);
    int64_t count = sb_shape_count(&batch);
    for (int64_t t = 0; t < count; t++) {
        int64_t ia = 0, ib = 0, rem = t;
        for (int d = batch.rank - 1; d >= 0; d--) {
            int64_t idx = rem % batch.dim[d];
            rem /= batch.dim[d];
            ia += idx * bc.sa[d], ib += idx * bc.sb[d];
        }
        sb_sgemm(0, 0, (int)m, (int)n, (int)k, ad + ia * m * k, (int)k, bd + ib * k * n, (int)n,
                 y + t * m * n, (int)n, NULL);
    }
}

/* As QuantizeLinear then DequantizeLinear: saturate(round(x / scale) + zp), back to float. */
static void op_fakequant(const op_ctx *c)
{
    const sb_qparams q = {c->n->a.fq.scale, c->n->a.fq.zero_point, c->n->a.fq.qmin,
                          c->n->a.fq.qmax};
    sb_fake_quant_n(in_data(c, 0), out_data(c), sb_shape_count(out_shape(c)), &q);
}

static void op_copy(const op_ctx *c)
{
    if (in_data(c, 0) != out_data(c))
        memcpy(out_data(c), in_data(c, 0), (size_t)sb_shape_count(out_shape(c)) * sizeof(float));
}

void sb_op_run(const sb_plan *p, const sb_step *st)
{
    if (st->q && sb_qop_run(p, st))
        return;
    op_ctx c = {p, st, &p->g->nodes[st->node]};
    switch (c.n->op) {
    case SB_OP_CONV: op_conv(&c); break;
    case SB_OP_GEMM: op_gemm(&c); break;
    case SB_OP_MATMUL: op_matmul(&c); break;
    case SB_OP_ADD: op_binary(&c, false); break;
    case SB_OP_MUL: op_binary(&c, true); break;
    case SB_OP_RELU:
    case SB_OP_CLIP:
    case SB_OP_SIGMOID:
    case SB_OP_HARDSIGMOID:
    case SB_OP_HARDSWISH: op_unary(&c); break;
    case SB_OP_SOFTMAX: op_softmax(&c); break;
    case SB_OP_MAXPOOL: op_pool(&c, true); break;
    case SB_OP_AVGPOOL: op_pool(&c, false); break;
    case SB_OP_GLOBALAVGPOOL: op_global_avgpool(&c); break;
    case SB_OP_BATCHNORM: op_batchnorm(&c); break;
    case SB_OP_CONCAT: op_concat(&c); break;
    case SB_OP_FLATTEN:
    case SB_OP_RESHAPE:
    case SB_OP_IDENTITY:
    case SB_OP_DROPOUT: op_copy(&c); break; /* run only for constants; others alias */
    case SB_OP_FAKEQUANT: op_fakequant(&c); break;
    case SB_OP_CONSTANT:
    case SB_OP_COUNT: break;
    }
}
