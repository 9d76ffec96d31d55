/* Forward and backward passes of every operator for training, one pair per op, dispatched by
 * one switch each (Conv is in train_conv.c). The forward passes compute what ops.c computes;
 * the backward passes add dL/d(input) into the inputs' gradients. Reductions (over broadcast
 * axes, over the batch) are sums in a fixed order, in double, never split across threads. */
#include "prune.h"
#include "train_tape.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define PAR_MIN 32768 /* below this many elements, threads cost more than they save */

typedef struct tctx {
    sb_tape *t;
    const sb_node *n;
    int node;
} tctx;

static float *X(const tctx *c, int i) { return c->t->act[c->n->in[i]]; }
static float *Y(const tctx *c) { return c->t->act[c->n->out[0]]; }
static float *DY(const tctx *c) { return c->t->grad[c->n->out[0]]; }
static const sb_shape *XS(const tctx *c, int i) { return &c->t->g->values[c->n->in[i]].shape; }
static const sb_shape *YS(const tctx *c) { return &c->t->g->values[c->n->out[0]].shape; }
static bool has_in(const tctx *c, int i) { return i < c->n->n_in && c->n->in[i] >= 0; }
/* The gradient of input i when it is needed, else NULL. */
static float *DX(const tctx *c, int i)
{
    return has_in(c, i) && c->t->need_grad[c->n->in[i]] ? c->t->grad[c->n->in[i]] : NULL;
}

/* ---- broadcasting ---- */

/* Element strides of `in` aligned to `out` (numpy rules), 0 on broadcast axes. */
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

/* Offset into an input with strides st of output element `e`. */
static int64_t offset_of(const sb_shape *out, const int64_t *st, int64_t e)
{
    int64_t off = 0;
    for (int d = out->rank - 1; d >= 0; d--) {
        off += (e % out->dim[d]) * st[d];
        e /= out->dim[d];
    }
    return off;
}

/* dx[j] += scale * sum of src over the output elements that read x[j] (x broadcast to out).
 * Each dx element sums its terms in output order, in double. */
static void reduce_add(const float *src, const sb_shape *out, const sb_shape *xs, float scale,
                       float *dx)
{
    int r = out->rank;
    int64_t xst[SB_MAX_RANK], ost[SB_MAX_RANK], xdim[SB_MAX_RANK];
    strides_for(xs, out, xst);
    int64_t s = 1;
    for (int d = r - 1; d >= 0; d--) {
        ost[d] = s;
        s *= out->dim[d];
        int j = d - (r - xs->rank);
        xdim[d] = j >= 0 ? xs->dim[j] : 1;
    }
    int red[SB_MAX_RANK], nred = 0;
    int64_t rcount = 1;
    for (int d = 0; d < r; d++)
        if (xdim[d] != out->dim[d]) {
            red[nred++] = d;
            rcount *= out->dim[d];
        }
    int64_t nx = sb_shape_count(xs);
#pragma omp parallel for schedule(static) if (nx * rcount >= PAR_MIN)
    for (int64_t e = 0; e < nx; e++) {
        int64_t base = 0, rem = e;
        for (int d = r - 1; d >= 0; d--) {
            base += (rem % xdim[d]) * ost[d];
            rem /= xdim[d];
        }
        double acc = 0;
        for (int64_t k = 0; k < rcount; k++) {
            int64_t off = base, q = k;
            for (int m = nred - 1; m >= 0; m--) {
                off += (q % out->dim[red[m]]) * ost[red[m]];
                q /= out->dim[red[m]];
            }
            acc += src[off];
        }
        dx[e] += scale * (float)acc;
    }
}

static sb_shape b_shape(const tctx *c)
{
    return sb_binary_b_shape(c->n, XS(c, 0), XS(c, 1));
}

/* Two operands broadcast to an output, with adjacent axes merged where both operands allow it
 * (squeeze-excite's [N,C,H,W] x [N,C,1,1] becomes [NC, HW] x [NC, 1]). */
typedef struct bview {
    int rank;
    int64_t dim[SB_MAX_RANK], sa[SB_MAX_RANK], sb[SB_MAX_RANK];
} bview;

static bview make_view(const sb_shape *a, const sb_shape *b, const sb_shape *out)
{
    int64_t sa[SB_MAX_RANK], sb[SB_MAX_RANK];
    strides_for(a, out, sa);
    strides_for(b, out, sb);
    bview v = {0};
    for (int i = 0; i < out->rank; i++) {
        if (out->dim[i] == 1)
            continue; /* a unit axis moves nothing */
        int k = v.rank - 1;
        bool merge = k >= 0 && (sa[i] ? sa[i] * out->dim[i] == v.sa[k] : v.sa[k] == 0) &&
                     (sb[i] ? sb[i] * out->dim[i] == v.sb[k] : v.sb[k] == 0);
        if (merge) {
            v.dim[k] *= out->dim[i];
            v.sa[k] = sa[i], v.sb[k] = sb[i];
        } else {
            v.dim[v.rank] = out->dim[i];
            v.sa[v.rank] = sa[i], v.sb[v.rank] = sb[i];
            v.rank++;
        }
    }
    if (v.rank == 0)
        v = (bview){.rank = 1, .dim = {1}, .sa = {0}, .sb = {0}};
    return v;
}

/* o = a (+ or *) b over the view, a row of the last merged axis at a time. */
static void binary_view(const bview *v, const float *a, const float *b, float *o, bool mul)
{
    int r = v->rank;
    int64_t inner = v->dim[r - 1], rows = 1;
    for (int i = 0; i < r - 1; i++)
        rows *= v->dim[i];
    const int64_t xa = v->sa[r - 1], xb = v->sb[r - 1];
#pragma omp parallel for schedule(static) if (rows * inner >= PAR_MIN)
    for (int64_t row = 0; row < rows; row++) {
        int64_t ia = 0, ib = 0, rem = row;
        for (int d = r - 2; d >= 0; d--) {
            int64_t idx = rem % v->dim[d];
            rem /= v->dim[d];
            ia += idx * v->sa[d];
            ib += idx * v->sb[d];
        }
        const float *pa = a + ia, *pb = b + ib;
        float *po = o + row * inner;
        if (xa && xb) {
            if (mul)
                for (int64_t k = 0; k < inner; k++)
                    po[k] = pa[k] * pb[k];
            else
                for (int64_t k = 0; k < inner; k++)
                    po[k] = pa[k] + pb[k];
        } else if (xa) {
            const float u = *pb;
            if (mul)
                for (int64_t k = 0; k < inner; k++)
                    po[k] = pa[k] * u;
            else
                for (int64_t k = 0; k < inner; k++)
                    po[k] = pa[k] + u;
        } else if (xb) {
            const float u = *pa;
            if (mul)
                for (int64_t k = 0; k < inner; k++)
                    po[k] = u * pb[k];
            else
                for (int64_t k = 0; k < inner; k++)
                    po[k] = u + pb[k];
        } else {
            const float u = mul ? *pa * *pb : *pa + *pb;
            for (int64_t k = 0; k < inner; k++)
                po[k] = u;
        }
    }
}

static void fwd_binary(const tctx *c, bool mul)
{
    sb_shape bs = b_shape(c);
    bview v = make_view(XS(c, 0), &bs, YS(c));
    binary_view(&v, X(c, 0), X(c, 1), Y(c), mul);
}

/* dA += dY (Add) or dY * B (Mul), reduced to A's shape; likewise for B. */
static void bwd_binary(const tctx *c, bool mul)
{
    const sb_shape *ys = YS(c);
    int64_t n = sb_shape_count(ys);
    const float *dy = DY(c);
    sb_shape shp[2] = {*XS(c, 0), b_shape(c)};
    for (int k = 0; k < 2; k++) {
        float *dx = DX(c, k);
        if (!dx)
            continue;
        const float *src = dy;
        if (mul) { /* the product with the other operand, over the output shape */
            bview v = make_view(ys, &shp[1 - k], ys);
            binary_view(&v, dy, X(c, 1 - k), c->t->work, true);
            src = c->t->work;
        }
        if (sb_shape_count(&shp[k]) == n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
            for (int64_t i = 0; i < n; i++)
                dx[i] += src[i];
        } else {
            reduce_add(src, ys, &shp[k], 1.0f, dx);
        }
    }
}

/* ---- activations ---- */

static sb_act act_of(const tctx *c)
{
    const sb_node *n = c->n;
    switch (n->op) {
    case SB_OP_RELU: return (sb_act){SB_ACT_RELU, 0, 0};
    case SB_OP_SIGMOID: return (sb_act){SB_ACT_SIGMOID, 0, 0};
    case SB_OP_HARDSWISH: return (sb_act){SB_ACT_HARDSWISH, 0, 0};
    case SB_OP_HARDSIGMOID: return (sb_act){SB_ACT_HARDSIGMOID, n->a.hsig.alpha, n->a.hsig.beta};
    case SB_OP_CLIP: {
        sb_act a = {SB_ACT_CLIP, n->a.clip.min, n->a.clip.max};
        if (c->t->g->opset >= 11) {
            a.a = has_in(c, 1) ? X(c, 1)[0] : -INFINITY;
            a.b = has_in(c, 2) ? X(c, 2)[0] : INFINITY;
        }
        return a;
    }
    default: return (sb_act){SB_ACT_NONE, 0, 0};
    }
}

static void fwd_unary(const tctx *c)
{
    sb_act act = act_of(c);
    int64_t n = sb_shape_count(YS(c));
    memcpy(Y(c), X(c, 0), (size_t)n * sizeof(float));
    sb_act_apply_n(&act, Y(c), (size_t)n);
}

/* dL/dx from dL/dy, x and y; the derivatives at the kinks are PyTorch's. One loop per kind,
 * so that each vectorises. */
static void bwd_unary(const tctx *c)
{
    float *dx = DX(c, 0);
    if (!dx)
        return;
    sb_act act = act_of(c);
    const float *x = X(c, 0), *y = Y(c), *dy = DY(c);
    const int64_t n = sb_shape_count(YS(c));
    const float lo = act.a, hi = act.b;
    switch (act.kind) {
    case SB_ACT_RELU:
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            dx[i] += y[i] > 0 ? dy[i] : 0.0f;
        break;
    case SB_ACT_CLIP:
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            dx[i] += x[i] >= lo && x[i] <= hi ? dy[i] : 0.0f;
        break;
    case SB_ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i] * y[i] * (1 - y[i]);
        break;
    case SB_ACT_HARDSIGMOID:
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float u = lo * x[i] + hi;
            dx[i] += u > 0 && u < 1 ? dy[i] * lo : 0.0f;
        }
        break;
    case SB_ACT_HARDSWISH:
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float v = x[i];
            dx[i] += v < -3 ? 0.0f : v <= 3 ? dy[i] * (v / 3 + 0.5f) : dy[i];
        }
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            dx[i] += dy[i];
        break;
    }
}

/* As QuantizeLinear then DequantizeLinear; backward: straight through where not saturated. */
static void fwd_fakequant(const tctx *c)
{
    const sb_qparams q = {c->n->a.fq.scale, c->n->a.fq.zero_point, c->n->a.fq.qmin,
                          c->n->a.fq.qmax};
    sb_fake_quant_n(X(c, 0), Y(c), sb_shape_count(YS(c)), &q);
}

static void bwd_fakequant(const tctx *c)
{
    float *dx = DX(c, 0);
    if (!dx)
        return;
    const float *x = X(c, 0), *dy = DY(c);
    int64_t n = sb_shape_count(YS(c));
    float scale = c->n->a.fq.scale, zp = (float)c->n->a.fq.zero_point;
    float lo = (float)c->n->a.fq.qmin, hi = (float)c->n->a.fq.qmax;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float v = scale == 0 ? 0 : nearbyintf(x[i] / scale) + zp;
        dx[i] += scale == 0 || (v >= lo && v <= hi) ? dy[i] : 0;
    }
}

/* ---- softmax ---- */

typedef struct axis_split {
    int64_t outer, len, inner;
} axis_split;

static axis_split softmax_split(const tctx *c)
{
    const sb_shape *s = XS(c, 0);
    int axis = c->n->a.axis < 0 ? c->n->a.axis + s->rank : c->n->a.axis;
    axis_split a = {1, 1, 1};
    for (int i = 0; i < s->rank; i++) {
        if (i < axis)
            a.outer *= s->dim[i];
        else if (i == axis || c->t->g->opset < 13) /* before 13: a 2-D coercion at axis */
            a.len *= s->dim[i];
        else
            a.inner *= s->dim[i];
    }
    return a;
}

static void fwd_softmax(const tctx *c)
{
    axis_split a = softmax_split(c);
    const float *x = X(c, 0);
    float *y = Y(c);
#pragma omp parallel for collapse(2) schedule(static) if (a.outer * a.inner * a.len >= PAR_MIN)
    for (int64_t o = 0; o < a.outer; o++)
        for (int64_t i = 0; i < a.inner; i++) {
            const float *xr = x + o * a.len * a.inner + i;
            float *yr = y + o * a.len * a.inner + i;
            float mx = -INFINITY, sum = 0;
            for (int64_t k = 0; k < a.len; k++)
                mx = fmaxf(mx, xr[k * a.inner]);
            for (int64_t k = 0; k < a.len; k++)
                sum += yr[k * a.inner] = expf(xr[k * a.inner] - mx);
            for (int64_t k = 0; k < a.len; k++)
                yr[k * a.inner] /= sum;
        }
}

static void bwd_softmax(const tctx *c)
{
    float *dx = DX(c, 0);
    if (!dx)
        return;
    axis_split a = softmax_split(c);
    const float *y = Y(c), *dy = DY(c);
#pragma omp parallel for collapse(2) schedule(static) if (a.outer * a.inner * a.len >= PAR_MIN)
    for (int64_t o = 0; o < a.outer; o++)
        for (int64_t i = 0; i < a.inner; i++) {
            size_t base = (size_t)(o * a.len * a.inner + i);
            double dot = 0;
            for (int64_t k = 0; k < a.len; k++)
                dot += (double)dy[base + k * a.inner] * y[base + k * a.inner];
            for (int64_t k = 0; k < a.len; k++)
                dx[base + k * a.inner] +=
                    y[base + k * a.inner] * (float)(dy[base + k * a.inner] - dot);
        }
}

/* ---- pooling ---- */

typedef struct pool_geom {
    int64_t planes, H, W, OH, OW;
} pool_geom;

static pool_geom pool_geometry(const tctx *c)
{
    const sb_shape *x = XS(c, 0), *y = YS(c);
    bool one_d = c->n->a.win.spatial == 1;
    return (pool_geom){.planes = x->dim[0] * x->dim[1],
                       .H = one_d ? 1 : x->dim[2], .W = x->dim[x->rank - 1],
                       .OH = one_d ? 1 : y->dim[2], .OW = y->dim[y->rank - 1]};
}

/* Elements an average window divides by (ops.c's rule for count_include_pad). */
static int64_t avg_count(const sb_window *w, const pool_geom *pg, int64_t h0, int64_t w0,
                         int64_t valid)
{
    if (!w->count_include_pad)
        return valid;
    int64_t hend = h0 + (int64_t)(w->kernel[0] - 1) * w->dilation[0] + 1;
    int64_t wend = w0 + (int64_t)(w->kernel[1] - 1) * w->dilation[1] + 1;
    int64_t hlim = pg->H + w->pad_end[0], wlim = pg->W + w->pad_end[1];
    int64_t hs = (hend < hlim ? hend : hlim) - h0, ws = (wend < wlim ? wend : wlim) - w0;
    return ((hs + w->dilation[0] - 1) / w->dilation[0]) *
           ((ws + w->dilation[1] - 1) / w->dilation[1]);
}

/* Taps [*lo, *hi) of a window starting at `start` (dilation d, k taps) inside [0, n). */
static void tap_range(int64_t start, int k, int d, int64_t n, int *lo, int *hi)
{
    int64_t a = start >= 0 ? 0 : (-start + d - 1) / d;
    int64_t b = n - 1 - start < 0 ? 0 : (n - 1 - start) / d + 1;
    b = b < k ? b : k;
    *lo = (int)(a < b ? a : b);
    *hi = (int)b;
}

/* One window: the max (and where: the first maximum) or the average. */
static float pool_at(const sb_window *w, const pool_geom *pg, const float *x, int64_t oh,
                     int64_t ow, bool is_max, int64_t *where, int64_t *count)
{
    int64_t h0 = oh * w->stride[0] - w->pad_begin[0], w0 = ow * w->stride[1] - w->pad_begin[1];
    int ilo, ihi, jlo, jhi;
    tap_range(h0, w->kernel[0], w->dilation[0], pg->H, &ilo, &ihi);
    tap_range(w0, w->kernel[1], w->dilation[1], pg->W, &jlo, &jhi);
    float best = -INFINITY, sum = 0;
    *where = -1;
    for (int i = ilo; i < ihi; i++) {
        const int64_t h = h0 + (int64_t)i * w->dilation[0];
        const float *row = x + h * pg->W;
        for (int j = jlo; j < jhi; j++) {
            const int64_t ww = w0 + (int64_t)j * w->dilation[1];
            const float v = row[ww];
            if (*where < 0 || v > best) { /* the first maximum */
                best = v;
                *where = h * pg->W + ww;
            }
            sum += v;
        }
    }
    *count = avg_count(w, pg, h0, w0, (int64_t)(ihi - ilo) * (jhi - jlo));
    if (is_max)
        return best;
    return *count ? sum / (float)*count : 0.0f;
}

/* MaxPool also records where each maximum came from (in the tape's per-node save buffer). */
static void fwd_pool(const tctx *c, bool is_max)
{
    pool_geom pg = pool_geometry(c);
    const sb_window *w = &c->n->a.win;
    const float *x = X(c, 0);
    float *y = Y(c);
    int32_t *arg = is_max ? (int32_t *)c->t->saved[c->node] : NULL;
#pragma omp parallel for schedule(static) if (pg.planes * pg.OH * pg.OW >= PAR_MIN / 4)
    for (int64_t p = 0; p < pg.planes; p++)
        for (int64_t oh = 0; oh < pg.OH; oh++)
            for (int64_t ow = 0; ow < pg.OW; ow++) {
                int64_t where, count, o = (p * pg.OH + oh) * pg.OW + ow;
                y[o] = pool_at(w, &pg, x + p * pg.H * pg.W, oh, ow, is_max, &where, &count);
                if (arg)
                    arg[o] = (int32_t)where;
            }
}

/* Max: the gradient goes to the first maximum of each window; average: spread evenly. */
static void bwd_pool(const tctx *c, bool is_max)
{
    float *dx = DX(c, 0);
    if (!dx)
        return;
    pool_geom pg = pool_geometry(c);
    const sb_window *w = &c->n->a.win;
    const float *dy = DY(c);
    const int32_t *arg = is_max ? (const int32_t *)c->t->saved[c->node] : NULL;
#pragma omp parallel for schedule(static) if (pg.planes * pg.OH * pg.OW >= PAR_MIN / 4)
    for (int64_t p = 0; p < pg.planes; p++) {
        float *dxp = dx + p * pg.H * pg.W;
        for (int64_t oh = 0; oh < pg.OH; oh++)
            for (int64_t ow = 0; ow < pg.OW; ow++) {
                int64_t o = (p * pg.OH + oh) * pg.OW + ow;
                float g = dy[o];
                if (is_max) {
                    if (arg[o] >= 0)
                        dxp[arg[o]] += g;
                    continue;
                }
                int64_t h0 = oh * w->stride[0] - w->pad_begin[0];
                int64_t w0 = ow * w->stride[1] - w->pad_begin[1];
                int ilo, ihi, jlo, jhi;
                tap_range(h0, w->kernel[0], w->dilation[0], pg.H, &ilo, &ihi);
                tap_range(w0, w->kernel[1], w->dilation[1], pg.W, &jlo, &jhi);
                int64_t count = avg_count(w, &pg, h0, w0, (int64_t)(ihi - ilo) * (jhi - jlo));
                if (!count)
                    continue;
                float share = g / (float)count;
                for (int i = ilo; i < ihi; i++) {
                    int64_t h = h0 + (int64_t)i * w->dilation[0];
                    for (int j = jlo; j < jhi; j++)
                        dxp[h * pg.W + w0 + (int64_t)j * w->dilation[1]] += share;
                }
            }
    }
}

static void fwd_global_avgpool(const tctx *c)
{
    const sb_shape *s = XS(c, 0);
    int64_t planes = s->dim[0] * s->dim[1], size = sb_shape_count(s) / (planes ? planes : 1);
    sb_global_avgpool(X(c, 0), planes, size, Y(c));
}

static void bwd_global_avgpool(const tctx *c)
{
    float *dx = DX(c, 0);
    if (!dx)
        return;
    const sb_shape *s = XS(c, 0);
    int64_t planes = s->dim[0] * s->dim[1], size = sb_shape_count(s) / (planes ? planes : 1);
    const float *dy = DY(c);
#pragma omp parallel for schedule(static) if (planes * size >= PAR_MIN)
    for (int64_t p = 0; p < planes; p++) {
        float g = dy[p] / (float)size;
        for (int64_t i = 0; i < size; i++)
            dx[p * size + i] += g;
    }
}

/* ---- BatchNormalization ----
 * Frozen: y = (x - mean) * gamma / sqrt(var + eps) + beta with the running statistics.
 * Training: the batch's mean and (biased) variance, the running statistics updated with
 * momentum 0.1 and the unbiased variance, as PyTorch does. */

#define BN_MOMENTUM 0.1

static void bn_dims(const tctx *c, int64_t *n, int64_t *ch, int64_t *size)
{
    const sb_shape *s = XS(c, 0);
    *n = s->dim[0];
    *ch = s->dim[1];
    *size = *n * *ch > 0 ? sb_shape_count(s) / (*n * *ch) : 0;
}

static void fwd_batchnorm(const tctx *c)
{
    int64_t n, ch, size;
    bn_dims(c, &n, &ch, &size);
    const float *x = X(c, 0), *gamma = X(c, 1), *beta = X(c, 2);
    float *mean = X(c, 3), *var = X(c, 4), *y = Y(c);
    float eps = c->n->a.bn.epsilon;
    float *save = c->t->saved[c->node]; /* [0, ch): mean used, [ch, 2ch): 1/sqrt(var + eps) */
    bool train = c->t->opt.bn == SB_BN_TRAIN;
#pragma omp parallel for schedule(static) if (n * ch * size >= PAR_MIN)
    for (int64_t k = 0; k < ch; k++) {
        if (train) {
            double s = 0, s2 = 0, m = (double)(n * size);
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < size; j++)
                    s += x[(i * ch + k) * size + j];
            double mu = s / m;
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < size; j++) {
                    double d = x[(i * ch + k) * size + j] - mu;
                    s2 += d * d;
                }
            double v = s2 / m;
            save[k] = (float)mu;
            save[ch + k] = (float)(1.0 / sqrt(v + eps));
            mean[k] = (float)((1 - BN_MOMENTUM) * mean[k] + BN_MOMENTUM * mu);
            var[k] = (float)((1 - BN_MOMENTUM) * var[k] + BN_MOMENTUM * (m > 1 ? v * m / (m - 1) : v));
        } else {
            save[k] = mean[k];
            save[ch + k] = 1.0f / sqrtf(var[k] + eps);
        }
    }
#pragma omp parallel for collapse(2) schedule(static) if (n * ch * size >= PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < ch; k++) {
            float mu = save[k];
            float scale = train ? gamma[k] * save[ch + k] : gamma[k] / sqrtf(var[k] + eps);
            const float *xp = x + (i * ch + k) * size;
            float *yp = y + (i * ch + k) * size;
            for (int64_t j = 0; j < size; j++)
                yp[j] = (xp[j] - mu) * scale + beta[k];
        }
}

/* sum(dy) and sum(dy * (x - mu) * istd) over n floats: 16 independent float lanes (so the loop
 * vectorises without reassociation; the order is fixed), combined in double. */
#define LANES 16
static void bn_sums(const float *dy, const float *x, float mu, float istd, int64_t n, double *sdy,
                    double *sdyx)
{
    float a[LANES] = {0}, b[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) {
            a[l] += dy[j + l];
            b[l] += dy[j + l] * ((x[j + l] - mu) * istd);
        }
    double sa = 0, sb = 0;
    for (int l = 0; l < LANES; l++)
        sa += a[l], sb += b[l];
    for (; j < n; j++) {
        sa += dy[j];
        sb += (double)dy[j] * ((x[j] - mu) * istd);
    }
    *sdy += sa;
    *sdyx += sb;
}

static void bwd_batchnorm(const tctx *c)
{
    int64_t n, ch, size;
    bn_dims(c, &n, &ch, &size);
    const float *x = X(c, 0), *gamma = X(c, 1), *dy = DY(c);
    const float *save = c->t->saved[c->node];
    float *dx = DX(c, 0), *dgamma = DX(c, 1), *dbeta = DX(c, 2);
    bool train = c->t->opt.bn == SB_BN_TRAIN;
    double m = (double)(n * size);
#pragma omp parallel for schedule(static) if (n * ch * size >= PAR_MIN)
    for (int64_t k = 0; k < ch; k++) {
        double sdy = 0, sdyx = 0; /* sum dy, sum dy * xhat */
        const float mu = save[k], istd = save[ch + k];
        if (dgamma || (dx && train))
            for (int64_t i = 0; i < n; i++)
                bn_sums(dy + (i * ch + k) * size, x + (i * ch + k) * size, mu, istd, size, &sdy,
                        &sdyx);
        else if (dbeta)
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < size; j++)
                    sdy += dy[(i * ch + k) * size + j];
        if (dgamma)
            dgamma[k] += (float)sdyx;
        if (dbeta)
            dbeta[k] += (float)sdy;
        if (!dx)
            continue;
        const float g = gamma[k] * istd, mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
        for (int64_t i = 0; i < n; i++) {
            const float *xi = x + (i * ch + k) * size, *dyi = dy + (i * ch + k) * size;
            float *dxi = dx + (i * ch + k) * size;
            if (train)
                for (int64_t j = 0; j < size; j++)
                    dxi[j] += g * (dyi[j] - mdy - (xi[j] - mu) * istd * mdyx);
            else
                for (int64_t j = 0; j < size; j++)
                    dxi[j] += dyi[j] * g;
        }
    }
}

/* ---- Concat ---- */

static void concat_dims(const tctx *c, int *axis, int64_t *outer, int64_t *inner)
{
    const sb_shape *os = YS(c);
    *axis = c->n->a.axis < 0 ? c->n->a.axis + os->rank : c->n->a.axis;
    *outer = *inner = 1;
    for (int i = 0; i < os->rank; i++) {
        if (i < *axis)
            *outer *= os->dim[i];
        else if (i > *axis)
            *inner *= os->dim[i];
    }
}

static void concat_pass(const tctx *c, bool backward)
{
    int axis;
    int64_t outer, inner;
    concat_dims(c, &axis, &outer, &inner);
    int64_t row = YS(c)->dim[axis] * inner, at = 0;
    for (int k = 0; k < c->n->n_in; k++) {
        int64_t chunk = XS(c, k)->dim[axis] * inner;
        float *dx = backward ? DX(c, k) : NULL;
        for (int64_t o = 0; o < outer && (!backward || dx); o++) {
            if (backward)
                for (int64_t e = 0; e < chunk; e++)
                    dx[o * chunk + e] += DY(c)[o * row + at + e];
            else
                memcpy(Y(c) + o * row + at, X(c, k) + o * chunk, (size_t)chunk * sizeof(float));
        }
        at += chunk;
    }
}

/* ---- Gemm: Y = alpha op(A) op(B) + beta C ---- */

typedef struct gemm_dims {
    int ta, tb, m, k, n, lda, ldb;
} gemm_dims;

static gemm_dims gemm_dims_of(const tctx *c)
{
    const sb_shape *as = XS(c, 0), *bs = XS(c, 1);
    gemm_dims d = {.ta = c->n->a.gemm.trans_a, .tb = c->n->a.gemm.trans_b};
    d.m = (int)as->dim[d.ta];
    d.k = (int)as->dim[!d.ta];
    d.n = (int)bs->dim[!d.tb];
    d.lda = (int)as->dim[1];
    d.ldb = (int)bs->dim[1];
    return d;
}

static void fwd_gemm(const tctx *c)
{
    gemm_dims d = gemm_dims_of(c);
    float alpha = c->n->a.gemm.alpha, beta = c->n->a.gemm.beta;
    float *y = Y(c);
    bool has_c = has_in(c, 2) && beta != 0.0f;
    const sb_shape *cs = has_c ? XS(c, 2) : NULL;
    bool row_vector = has_c && sb_shape_count(cs) == d.n && cs->dim[cs->rank - 1] == d.n &&
                      beta == 1.0f;
    sb_epilogue ep = {.alpha = alpha};
    if (row_vector) {
        ep.bias_kind = SB_BIAS_COL;
        ep.bias = X(c, 2);
    }
    if (alpha == 0.0f) { /* the kernel reads alpha 0 as 1; here it means no product */
        memset(y, 0, (size_t)d.m * d.n * sizeof *y);
        row_vector = false;
    } else {
        sb_sgemm(d.ta, d.tb, d.m, d.n, d.k, X(c, 0), d.lda, X(c, 1), d.ldb, y, d.n, &ep);
    }
    if (has_c && !row_vector) {
        sb_shape ys = {.rank = 2, .dim = {d.m, d.n}};
        int64_t st[SB_MAX_RANK];
        strides_for(cs, &ys, st);
        const float *cd = X(c, 2);
        for (int64_t i = 0; i < (int64_t)d.m * d.n; i++)
            y[i] += beta * cd[offset_of(&ys, st, i)];
    }
}

static void add_into(float *dst, const float *src, int64_t n)
{
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

static void bwd_gemm(const tctx *c)
{
    gemm_dims d = gemm_dims_of(c);
    float alpha = c->n->a.gemm.alpha, beta = c->n->a.gemm.beta;
    const float *a = X(c, 0), *b = X(c, 1), *dy = DY(c);
    float *da = DX(c, 0), *db = DX(c, 1), *dc = DX(c, 2), *tmp = c->t->work;
    sb_epilogue ep = {.alpha = alpha};
    if (alpha == 0.0f) /* no product: A and B get no gradient */
        da = db = NULL;
    if (da) { /* op(A)' = alpha dY op(B)^T */
        if (!d.ta)
            sb_sgemm(0, !d.tb, d.m, d.k, d.n, dy, d.n, b, d.ldb, tmp, d.k, &ep);
        else
            sb_sgemm(d.tb, 1, d.k, d.m, d.n, b, d.ldb, dy, d.n, tmp, d.m, &ep);
        add_into(da, tmp, (int64_t)d.m * d.k);
    }
    if (db) { /* op(B)' = alpha op(A)^T dY */
        if (!d.tb)
            sb_sgemm(!d.ta, 0, d.k, d.n, d.m, a, d.lda, dy, d.n, tmp, d.n, &ep);
        else
            sb_sgemm(1, d.ta, d.n, d.k, d.m, dy, d.n, a, d.lda, tmp, d.k, &ep);
        add_into(db, tmp, (int64_t)d.k * d.n);
    }
    if (dc && beta != 0.0f) {
        sb_shape ys = {.rank = 2, .dim = {d.m, d.n}};
        reduce_add(dy, &ys, XS(c, 2), beta, dc);
    }
}

/* ---- MatMul with a 2-D second operand: [.., M, K] x [K, N] ---- */

static void matmul_dims(const tctx *c, int64_t *rows, int64_t *k, int64_t *n)
{
    const sb_shape *as = XS(c, 0), *bs = XS(c, 1);
    *k = as->dim[as->rank - 1];
    *rows = *k ? sb_shape_count(as) / *k : 0;
    *n = bs->dim[bs->rank - 1];
}

static void fwd_matmul(const tctx *c)
{
    int64_t rows, k, n;
    matmul_dims(c, &rows, &k, &n);
    sb_sgemm(0, 0, (int)rows, (int)n, (int)k, X(c, 0), (int)k, X(c, 1), (int)n, Y(c), (int)n,
             NULL);
}

static void bwd_matmul(const tctx *c)
{
    int64_t rows, k, n;
    matmul_dims(c, &rows, &k, &n);
    const float *a = X(c, 0), *b = X(c, 1), *dy = DY(c);
    float *da = DX(c, 0), *db = DX(c, 1), *tmp = c->t->work;
    if (da) {
        sb_sgemm(0, 1, (int)rows, (int)k, (int)n, dy, (int)n, b, (int)n, tmp, (int)k, NULL);
        add_into(da, tmp, rows * k);
    }
    if (db) {
        sb_sgemm(1, 0, (int)k, (int)n, (int)rows, a, (int)k, dy, (int)n, tmp, (int)n, NULL);
        add_into(db, tmp, k * n);
    }
}

/* ---- dispatch ---- */

size_t sb_train_op_work(const sb_tape *t, int node, int threads)
{
    const sb_node *n = &t->g->nodes[node];
    const sb_graph *g = t->g;
    int64_t most = 0;
    switch (n->op) {
    case SB_OP_CONV: return sb_train_conv_work(t, node, threads);
    case SB_OP_MUL: most = sb_shape_count(&g->values[n->out[0]].shape); break;
    case SB_OP_GEMM:
    case SB_OP_MATMUL:
        for (int j = 0; j < 2; j++) {
            int64_t c = sb_shape_count(&g->values[n->in[j]].shape);
            most = c > most ? c : most;
        }
        break;
    default: break;
    }
    return (size_t)most;
}

void sb_train_op_forward(sb_tape *t, int node)
{
    tctx c = {t, &t->g->nodes[node], node};
    switch (c.n->op) {
    case SB_OP_CONV: sb_train_conv_forward(t, node); break;
    case SB_OP_GEMM: fwd_gemm(&c); break;
    case SB_OP_MATMUL: fwd_matmul(&c); break;
    case SB_OP_ADD: fwd_binary(&c, false); break;
    case SB_OP_MUL: fwd_binary(&c, true); break;
    case SB_OP_RELU:
    case SB_OP_CLIP:
    case SB_OP_SIGMOID:
    case SB_OP_HARDSIGMOID:
    case SB_OP_HARDSWISH: fwd_unary(&c); break;
    case SB_OP_SOFTMAX: fwd_softmax(&c); break;
    case SB_OP_MAXPOOL: fwd_pool(&c, true); break;
    case SB_OP_AVGPOOL: fwd_pool(&c, false); break;
    case SB_OP_GLOBALAVGPOOL: fwd_global_avgpool(&c); break;
    case SB_OP_BATCHNORM: fwd_batchnorm(&c); break;
    case SB_OP_CONCAT: concat_pass(&c, false); break;
    case SB_OP_FAKEQUANT: fwd_fakequant(&c); break;
    case SB_OP_FLATTEN:
    case SB_OP_RESHAPE:
    case SB_OP_IDENTITY:
    case SB_OP_DROPOUT: /* Dropout is not applied: fine-tuning runs it as inference does */
        if (Y(&c) != X(&c, 0))
            memcpy(Y(&c), X(&c, 0), (size_t)sb_shape_count(YS(&c)) * sizeof(float));
        break;
    case SB_OP_CONSTANT:
    case SB_OP_COUNT: break;
    }
}

void sb_train_op_backward(sb_tape *t, int node)
{
    tctx c = {t, &t->g->nodes[node], node};
    switch (c.n->op) {
    case SB_OP_CONV: sb_train_conv_backward(t, node); break;
    case SB_OP_GEMM: bwd_gemm(&c); break;
    case SB_OP_MATMUL: bwd_matmul(&c); break;
    case SB_OP_ADD: bwd_binary(&c, false); break;
    case SB_OP_MUL: bwd_binary(&c, true); break;
    case SB_OP_RELU:
    case SB_OP_CLIP:
    case SB_OP_SIGMOID:
    case SB_OP_HARDSIGMOID:
    case SB_OP_HARDSWISH: bwd_unary(&c); break;
    case SB_OP_SOFTMAX: bwd_softmax(&c); break;
    case SB_OP_MAXPOOL: bwd_pool(&c, true); break;
    case SB_OP_AVGPOOL: bwd_pool(&c, false); break;
    case SB_OP_GLOBALAVGPOOL: bwd_global_avgpool(&c); break;
    case SB_OP_BATCHNORM: bwd_batchnorm(&c); break;
    case SB_OP_CONCAT: concat_pass(&c, true); break;
    case SB_OP_FAKEQUANT: bwd_fakequant(&c); break;
    case SB_OP_FLATTEN:
    case SB_OP_RESHAPE:
    case SB_OP_IDENTITY:
    case SB_OP_DROPOUT: {
        /* Aliased to the input (same gradient buffer) unless the input is a constant. */
        float *dx = DX(&c, 0);
        if (dx && dx != DY(&c))
            add_into(dx, DY(&c), sb_shape_count(YS(&c)));
        break;
    }
    case SB_OP_CONSTANT:
    case SB_OP_COUNT: break;
    }
}
