/* The optimizer and what constrains it: SGD with momentum and weight decay as PyTorch computes
 * it, pruning masks held fixed, and quantisation-aware training (the forward pass reads
 * fake-quantised weights, the update goes to float shadow weights: a straight-through
 * estimator). */
#include "prune.h"
#include "train_tape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sb_tape_requantize(sb_tape *t)
{
    for (int k = 0; k < t->n_params; k++) {
        sb_tparam *p = &t->params[k];
        if (!p->shadow)
            continue;
        memcpy(p->w, p->shadow, (size_t)p->n * sizeof(float));
        sb_quant_weights(p->w, p->rows, p->cols, p->out_axis, &p->q);
    }
}

void sb_sgd_step(sb_tape *t, float lr, float momentum, float wd)
{
    for (int k = 0; k < t->n_params; k++) {
        sb_tparam *p = &t->params[k];
        float *w = p->shadow ? p->shadow : p->w;
        const float *g = p->grad;
        float *buf = p->mom;
        const uint8_t *mask = p->mask;
        const bool first = !p->mom_ready;
#pragma omp parallel for schedule(static) if (p->n >= 65536)
        for (int64_t i = 0; i < p->n; i++) {
            if (mask && !mask[i])
                continue;
            float d = g[i] + wd * w[i];
            float b = first ? d : momentum * buf[i] + d;
            buf[i] = b;
            w[i] = w[i] - lr * b;
        }
        p->mom_ready = true;
    }
    sb_tape_requantize(t);
}

double sb_clip_grad_norm(sb_tape *t, double max_norm)
{
    double sq = 0;
    for (int k = 0; k < t->n_params; k++) {
        const sb_tparam *p = &t->params[k];
        for (int64_t i = 0; i < p->n; i++)
            if (!p->mask || p->mask[i])
                sq += (double)p->grad[i] * p->grad[i];
    }
    double norm = sqrt(sq);
    if (max_norm > 0 && norm > max_norm) {
        float f = (float)(max_norm / (norm + 1e-6)); /* PyTorch's clip_grad_norm_ */
        for (int k = 0; k < t->n_params; k++)
            for (int64_t i = 0; i < t->params[k].n; i++)
                t->params[k].grad[i] *= f;
    }
    return norm;
}

static bool prunes(const sb_config *cfg, int l)
{
    if (!cfg || l >= cfg->n_layers)
        return false;
    const sb_layer_config *lc = &cfg->layer[l];
    return (lc->prune == SB_PRUNE_MAGNITUDE && lc->ratio > 0) ||
           (lc->prune == SB_PRUNE_GLOBAL && cfg->global_ratio > 0) || lc->prune == SB_PRUNE_L1;
}

static sb_status mask_zeros(sb_tparam *p, sb_error *err)
{
    if (!p->mask && !(p->mask = malloc((size_t)p->n + 1)))
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    const float *w = p->shadow ? p->shadow : p->w;
    for (int64_t i = 0; i < p->n; i++)
        p->mask[i] = w[i] != 0.0f;
    return SB_OK;
}

/* Per-channel parameters (bias, BatchNorm scale and shift) of the output channels whose weight
 * rows are all zero: channels that L1 pruning zeroed instead of removing. */
static sb_status mask_dead_channels(sb_tape *t, const sb_tparam *w, int value, sb_error *err)
{
    int k = sb_tape_find_param(t, value);
    if (k < 0)
        return SB_OK;
    sb_tparam *p = &t->params[k];
    int64_t rows = w->rows, per = w->cols;
    if (p->n != rows || w->out_axis != 0)
        return SB_OK;
    if (!p->mask && !(p->mask = malloc((size_t)p->n + 1)))
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int64_t r = 0; r < rows; r++) {
        bool dead = true;
        for (int64_t c = 0; c < per && dead; c++)
            dead = w->w[r * per + c] == 0.0f;
        p->mask[r] = !dead;
    }
    return SB_OK;
}

sb_status sb_tape_bind_layers(sb_tape *t, const sb_model *m, const sb_config *cfg,
                              bool keep_zeros, sb_error *err)
{
    if (cfg && cfg->n_layers && cfg->n_layers != m->n_layers)
        return sb_error_set(err, SB_ERR_ARG,
                            "the configuration has %d layers but the model %d; it was made for "
                            "another model",
                            cfg->n_layers, m->n_layers);
    for (int l = 0; l < m->n_layers; l++) {
        const sb_layer *ly = &m->layers[l];
        const sb_node *n = &t->g->nodes[ly->node];
        int k = sb_tape_find_param(t, n->in[1]);
        if (k < 0)
            continue;
        sb_tparam *p = &t->params[k];
        const sb_shape *ws = &t->g->values[p->value].shape;
        p->layer = l;
        p->out_axis = ly->out_axis;
        p->rows = ws->dim[0];
        p->cols = p->rows ? p->n / p->rows : 0;
        const sb_layer_config *lc = cfg && l < cfg->n_layers ? &cfg->layer[l] : NULL;
        if (lc && lc->wbits < 32) {
            p->q = *lc;
            if (!(p->shadow = malloc((size_t)p->n * sizeof(float) + 1)))
                return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
            memcpy(p->shadow, p->w, (size_t)p->n * sizeof(float));
        }
        sb_status s = SB_OK;
        if (keep_zeros || prunes(cfg, l))
            s = mask_zeros(p, err);
        if (!s && lc && lc->prune == SB_PRUNE_L1 && n->op == SB_OP_CONV) {
            if (n->n_in > 2 && n->in[2] >= 0)
                s = mask_dead_channels(t, p, n->in[2], err);
            if (!s && ly->bn_node >= 0)
                for (int j = 1; j <= 2 && !s; j++)
                    s = mask_dead_channels(t, p, t->g->nodes[ly->bn_node].in[j], err);
        }
        if (s)
            return s;
    }
    return SB_OK;
}
