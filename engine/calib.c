/* Activation calibration: run the (weight-compressed) model over images of the training split,
 * observe the inputs of the FakeQuant nodes, and set each one's 8-bit scale and zero point from
 * the min-max range or from percentiles of the observed values. */
#include "model.h"
#include "prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CALIB_BATCH 64
#define HIST_BINS 4096

typedef struct observed {
    int value;
    float lo, hi;
    int64_t *hist; /* percentile: counts over [lo, hi] from the first pass */
} observed;

typedef struct calib_ctx {
    observed *obs;
    int n_obs;
    int images; /* real images in the current batch (the rest is padding) */
    bool histogram_pass;
} calib_ctx;

static void observe_minmax(observed *o, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        o->lo = x[i] < o->lo ? x[i] : o->lo;
        o->hi = x[i] > o->hi ? x[i] : o->hi;
    }
}

static void observe_hist(observed *o, const float *x, int64_t n)
{
    double width = ((double)o->hi - o->lo) / HIST_BINS;
    for (int64_t i = 0; i < n; i++) {
        int b = width > 0 ? (int)(((double)x[i] - o->lo) / width) : 0;
        o->hist[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
}

static void on_step(const sb_plan *p, int step, void *user)
{
    calib_ctx *cx = user;
    const sb_node *n = &p->g->nodes[p->steps[step].node];
    if (n->op != SB_OP_FAKEQUANT)
        return;
    for (int k = 0; k < cx->n_obs; k++) {
        observed *o = &cx->obs[k];
        if (o->value != n->in[0])
            continue;
        int64_t per = sb_shape_count(&p->shapes[o->value]) / p->batch;
        const float *x = sb_plan_value(p, o->value);
        if (cx->histogram_pass)
            observe_hist(o, x, per * cx->images);
        else
            observe_minmax(o, x, per * cx->images);
    }
}

static sb_status run_pass(sb_plan *p, const sb_calib_data *cd, int images, calib_ctx *cx,
                          sb_error *err)
{
    float *in = sb_plan_value(p, p->g->inputs[0]);
    size_t per = (size_t)(sb_shape_count(&p->shapes[p->g->inputs[0]]) / p->batch);
    sb_status s = SB_OK;
    for (int start = 0; start < images && !s; start += p->batch) {
        cx->images = images - start < p->batch ? images - start : p->batch;
        memset(in, 0, per * (size_t)p->batch * sizeof *in);
        s = sb_dataset_read(cd->data, cd->pp, start, cx->images, in, err);
        if (!s)
            s = sb_plan_run_observed(p, NULL, on_step, cx, err);
    }
    return s;
}

/* The value range holding `pct` percent of the observations, split evenly over both tails. */
static void percentile_range(const observed *o, double pct, float *lo, float *hi)
{
    int64_t total = 0, acc = 0;
    for (int b = 0; b < HIST_BINS; b++)
        total += o->hist[b];
    double tail = total * (100.0 - pct) / 200.0, width = ((double)o->hi - o->lo) / HIST_BINS;
    int b_lo = 0, b_hi = HIST_BINS - 1;
    while (b_lo < HIST_BINS - 1 && (acc += o->hist[b_lo]) <= tail)
        b_lo++;
    for (acc = 0; b_hi > 0 && (acc += o->hist[b_hi]) <= tail;)
        b_hi--;
    *lo = (float)(o->lo + b_lo * width);
    *hi = (float)(o->lo + (b_hi + 1) * width);
}

static sb_status calibrate_with(sb_plan *p, const int *fq, int n_fq, const sb_config *c,
                                const sb_calib_data *cd, calib_ctx *cx, sb_error *err)
{
    int images = c->calib_images < sb_dataset_count(cd->data) ? c->calib_images
                                                               : sb_dataset_count(cd->data);
    for (int k = 0; k < n_fq; k++)
        cx->obs[k] = (observed){.value = p->g->nodes[fq[k]].in[0]};
    sb_status s = run_pass(p, cd, images, cx, err);
    if (!s && c->calib == SB_CALIB_PERCENTILE) {
        for (int k = 0; k < n_fq && !s; k++)
            if (!(cx->obs[k].hist = calloc(HIST_BINS, sizeof(int64_t))))
                s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        cx->histogram_pass = true;
        if (!s)
            s = run_pass(p, cd, images, cx, err);
    }
    for (int k = 0; k < n_fq && !s; k++) {
        float lo = cx->obs[k].lo, hi = cx->obs[k].hi;
        if (c->calib == SB_CALIB_PERCENTILE)
            percentile_range(&cx->obs[k], c->percentile, &lo, &hi);
        sb_qparams q = sb_qparams_u8(lo, hi);
        sb_node *n = (sb_node *)&p->g->nodes[fq[k]];
        n->a.fq.scale = q.scale, n->a.fq.zero_point = q.zero_point;
        n->a.fq.qmin = q.qmin, n->a.fq.qmax = q.qmax;
    }
    return s;
}

sb_status sb_calibrate(sb_graph *g, const int *fq, int n_fq, const sb_config *c,
                       const sb_calib_data *cd, sb_error *err)
{
    if (!cd || !cd->data || sb_dataset_count(cd->data) == 0)
        return sb_error_set(err, SB_ERR_ARG,
                            "activation quantisation needs calibration images: the training "
                            "split next to the evaluation data (e.g. train-images-idx3-ubyte.gz)");
    sb_plan *p;
    sb_status s = sb_plan_new(g, CALIB_BATCH, &p, err);
    if (s)
        return s;
    sb_shape img = sb_dataset_image_shape(cd->data);
    const sb_shape *in = &p->shapes[g->inputs[0]];
    if (g->n_inputs != 1 || in->rank != 4 || in->dim[1] != img.dim[0] ||
        in->dim[2] != img.dim[1] || in->dim[3] != img.dim[2]) {
        char a[64], b[64];
        sb_plan_free(p);
        return sb_error_set(err, SB_ERR_SHAPE,
                            "activation calibration: the model's input is %s but the training "
                            "images are %s (CxHxW)",
                            sb_shape_str(in, a, sizeof a), sb_shape_str(&img, b, sizeof b));
    }
    calib_ctx cx = {.obs = calloc((size_t)n_fq + 1, sizeof *cx.obs), .n_obs = n_fq};
    s = cx.obs ? calibrate_with(p, fq, n_fq, c, cd, &cx, err)
               : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int k = 0; cx.obs && k < n_fq; k++)
        free(cx.obs[k].hist);
    free(cx.obs);
    sb_plan_free(p);
    return s;
}
