/* Convolution for training: the forward pass through the engine's kernel (sb_conv2d), the
 * backward pass as GEMMs over im2col columns, one image at a time:
 *   dW_i = dY_i col(X_i)^T        (per image, then summed over images in batch order)
 *   dX_i = col2im(W^T dY_i)
 * Depthwise convolutions (one input channel per group) use direct loops instead. Images are
 * spread over threads; each image's partial weight gradient has its own buffer, so the sum's
 * order, and its bits, never depend on the thread count. */
#include "train_tape.h"

#include <omp.h>
#include <string.h>

sb_conv_geom sb_train_conv_geom(const sb_tape *t, const sb_node *n)
{
    return sb_conv_geometry(&t->g->values[n->in[0]].shape, &t->g->values[n->out[0]].shape,
                            &n->a.win);
}

static bool is_pointwise(const sb_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
           g->OH == g->H && g->OW == g->W;
}

static size_t col_floats(const sb_conv_geom *g)
{
    return (size_t)(g->C / g->group) * g->kh * g->kw * g->OH * g->OW;
}

size_t sb_train_conv_work(const sb_tape *t, int node, int threads)
{
    const sb_node *n = &t->g->nodes[node];
    sb_conv_geom g = sb_train_conv_geom(t, n);
    size_t fwd = sb_conv2d_scratch(&g, t->cap, threads);
    size_t wn = (size_t)sb_shape_count(&t->g->values[n->in[1]].shape);
    size_t bwd = (size_t)t->cap * wn + (size_t)threads * 2 * col_floats(&g);
    return fwd > bwd ? fwd : bwd;
}

void sb_train_conv_forward(sb_tape *t, int node)
{
    const sb_node *n = &t->g->nodes[node];
    sb_conv_geom g = sb_train_conv_geom(t, n);
    const float *b = n->n_in > 2 && n->in[2] >= 0 ? t->act[n->in[2]] : NULL;
    sb_conv2d(&g, t->batch, t->act[n->in[0]], t->act[n->in[1]], b, NULL, t->act[n->out[0]],
              t->work);
}

/* Output columns [*lo, *hi) whose input column ow*sw - pl + j*dw lies inside [0, W). */
static void col_range(const sb_conv_geom *g, int j, int *lo, int *hi)
{
    int off = j * g->dw - g->pl; /* iw = ow * sw + off */
    *lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    *hi = g->W - 1 - off < 0 ? 0 : (g->W - 1 - off) / g->sw + 1;
    *hi = *hi < g->OW ? *hi : g->OW;
    *lo = *lo < *hi ? *lo : *hi;
}

/* cols[(c*kh + i)*kw + j][oh*OW + ow] = x[c][oh*sh - pt + i*dh][ow*sw - pl + j*dw], or 0. */
static void im2col(const sb_conv_geom *g, int Cg, const float *x, float *cols)
{
    const int P = g->OH * g->OW;
    for (int c = 0; c < Cg; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                float *dst = cols + (size_t)((c * g->kh + i) * g->kw + j) * P;
                int lo, hi;
                col_range(g, j, &lo, &hi);
                const int off = j * g->dw - g->pl;
                for (int oh = 0; oh < g->OH; oh++) {
                    int ih = oh * g->sh - g->pt + i * g->dh;
                    float *d = dst + (size_t)oh * g->OW;
                    if (ih < 0 || ih >= g->H) {
                        memset(d, 0, (size_t)g->OW * sizeof *d);
                        continue;
                    }
                    const float *row = x + ((size_t)c * g->H + ih) * g->W;
                    for (int ow = 0; ow < lo; ow++)
                        d[ow] = 0;
                    if (g->sw == 1)
                        memcpy(d + lo, row + lo + off, (size_t)(hi - lo) * sizeof *d);
                    else
                        for (int ow = lo; ow < hi; ow++)
                            d[ow] = row[ow * g->sw + off];
                    for (int ow = hi; ow < g->OW; ow++)
                        d[ow] = 0;
                }
            }
}

/* The adjoint of im2col: dx[c][ih][iw] += the column entries that read it. */
static void col2im_add(const sb_conv_geom *g, int Cg, const float *cols, float *dx)
{
    const int P = g->OH * g->OW;
    for (int c = 0; c < Cg; c++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const float *src = cols + (size_t)((c * g->kh + i) * g->kw + j) * P;
                int lo, hi;
                col_range(g, j, &lo, &hi);
                const int off = j * g->dw - g->pl;
                for (int oh = 0; oh < g->OH; oh++) {
                    int ih = oh * g->sh - g->pt + i * g->dh;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    float *row = dx + ((size_t)c * g->H + ih) * g->W;
                    const float *s = src + (size_t)oh * g->OW;
                    if (g->sw == 1)
                        for (int ow = lo; ow < hi; ow++)
                            row[ow + off] += s[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            row[ow * g->sw + off] += s[ow];
                }
            }
}

/* One image, grouped or dense: pw (may be NULL) gets this image's dW, dx (may be NULL) += dX. */
static void gemm_image(const sb_conv_geom *g, const float *x, const float *w, const float *dy,
                       float *pw, float *dx, float *buf)
{
    const int Cg = g->C / g->group, Mg = g->M / g->group;
    const int K = Cg * g->kh * g->kw, P = g->OH * g->OW;
    const size_t plane = (size_t)g->H * g->W;
    const bool pointwise = is_pointwise(g);
    float *col = buf, *dcol = buf + (size_t)K * P;
    for (int gi = 0; gi < g->group; gi++) {
        const float *xg = x + (size_t)gi * Cg * plane;
        const float *dyg = dy + (size_t)gi * Mg * P;
        if (pw) {
            const float *B = xg;
            if (!pointwise) {
                im2col(g, Cg, xg, col);
                B = col;
            }
            sb_sgemm(0, 1, Mg, K, P, dyg, P, B, P, pw + (size_t)gi * Mg * K, K, NULL);
        }
        if (dx) {
            sb_sgemm(1, 0, K, P, Mg, w + (size_t)gi * Mg * K, K, dyg, P, dcol, P, NULL);
            float *dxg = dx + (size_t)gi * Cg * plane;
            if (pointwise)
                for (size_t k = 0; k < (size_t)K * P; k++)
                    dxg[k] += dcol[k];
            else
                col2im_add(g, Cg, dcol, dxg);
        }
    }
}

/* One image of a depthwise convolution (one input channel per group, M = mult x C), tap by
 * tap so that the inner loops run along output rows. */
static void dw_image(const sb_conv_geom *g, const float *x, const float *w, const float *dy,
                     float *pw, float *dx)
{
    const int mult = g->M / g->C, taps = g->kh * g->kw;
    const size_t plane = (size_t)g->H * g->W, P = (size_t)g->OH * g->OW;
    for (int c = 0; c < g->C; c++)
        for (int q = 0; q < mult; q++) {
            const int m = c * mult + q;
            const float *xc = x + c * plane, *dym = dy + m * P, *wm = w + (size_t)m * taps;
            float *dxc = dx ? dx + c * plane : NULL;
            for (int i = 0; i < g->kh; i++)
                for (int j = 0; j < g->kw; j++) {
                    int lo, hi;
                    col_range(g, j, &lo, &hi);
                    const int off = j * g->dw - g->pl;
                    const float wt = wm[i * g->kw + j];
                    float acc = 0;
                    for (int oh = 0; oh < g->OH; oh++) {
                        const int ih = oh * g->sh - g->pt + i * g->dh;
                        if (ih < 0 || ih >= g->H)
                            continue;
                        const float *d = dym + (size_t)oh * g->OW;
                        const float *xr = xc + (size_t)ih * g->W;
                        if (pw)
                            for (int ow = lo; ow < hi; ow++)
                                acc += d[ow] * xr[ow * g->sw + off];
                        if (dxc) {
                            float *dr = dxc + (size_t)ih * g->W;
                            for (int ow = lo; ow < hi; ow++)
                                dr[ow * g->sw + off] += d[ow] * wt;
                        }
                    }
                    if (pw)
                        pw[(size_t)m * taps + i * g->kw + j] = acc;
                }
        }
}

void sb_train_conv_backward(sb_tape *t, int node)
{
    const sb_node *n = &t->g->nodes[node];
    sb_conv_geom g = sb_train_conv_geom(t, n);
    const int N = t->batch;
    const float *x = t->act[n->in[0]], *w = t->act[n->in[1]], *dy = t->grad[n->out[0]];
    float *dx = t->need_grad[n->in[0]] ? t->grad[n->in[0]] : NULL;
    float *dw = t->need_grad[n->in[1]] ? t->grad[n->in[1]] : NULL;
    int bv = n->n_in > 2 ? n->in[2] : -1;
    float *db = bv >= 0 && t->need_grad[bv] ? t->grad[bv] : NULL;
    const size_t P = (size_t)g.OH * g.OW, in_n = (size_t)g.C * g.H * g.W, out_n = g.M * P;
    const size_t wn = (size_t)sb_shape_count(&t->g->values[n->in[1]].shape);
    if (db) {
#pragma omp parallel for schedule(static) if ((size_t)N * out_n >= 65536)
        for (int m = 0; m < g.M; m++) {
            double s = 0;
            for (int i = 0; i < N; i++) { /* 16 float lanes: vectorised, in a fixed order */
                const float *d = dy + i * out_n + m * P;
                float lane[16] = {0};
                size_t p = 0;
                for (; p + 16 <= P; p += 16)
                    for (int l = 0; l < 16; l++)
                        lane[l] += d[p + l];
                for (int l = 0; l < 16; l++)
                    s += lane[l];
                for (; p < P; p++)
                    s += d[p];
            }
            db[m] += (float)s;
        }
    }
    if (!dw && !dx)
        return;
    float *partial = t->work, *bufs = t->work + (dw ? (size_t)N * wn : 0);
    const size_t per_thread = 2 * col_floats(&g);
    const bool depthwise = g.group > 1 && g.group == g.C;
    int T = omp_get_max_threads();
    T = T > t->threads ? t->threads : T;
#pragma omp parallel for num_threads(T) schedule(dynamic)
    for (int i = 0; i < N; i++) {
        float *pw = dw ? partial + (size_t)i * wn : NULL;
        float *dxi = dx ? dx + i * in_n : NULL;
        if (depthwise)
            dw_image(&g, x + i * in_n, w, dy + i * out_n, pw, dxi);
        else
            gemm_image(&g, x + i * in_n, w, dy + i * out_n, pw, dxi,
                       bufs + (size_t)omp_get_thread_num() * per_thread);
    }
    if (dw) { /* over the images in order, in blocks of weights (contiguous reads) */
        const size_t blk = 1024, nblk = (wn + blk - 1) / blk;
#pragma omp parallel for schedule(static) if ((size_t)N * wn >= 65536)
        for (size_t b = 0; b < nblk; b++) {
            size_t k0 = b * blk, k1 = k0 + blk < wn ? k0 + blk : wn;
            float acc[1024];
            memcpy(acc, partial + k0, (k1 - k0) * sizeof *acc);
            for (int i = 1; i < N; i++) {
                const float *pi = partial + (size_t)i * wn;
                for (size_t k = k0; k < k1; k++)
                    acc[k - k0] += pi[k];
            }
            for (size_t k = k0; k < k1; k++)
                dw[k] += acc[k - k0];
        }
    }
}
