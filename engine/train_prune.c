/* Pruning during training (gradual pruning): magnitude pruning of the current weights, and
 * structured pruning of whole channel groups that keeps the tape's shapes — the channels'
 * weights, biases and BatchNorm scale and shift are zeroed and masked, and the model is thinned
 * once training ends. */
#include "model.h"
#include "prune.h"
#include "train_tape.h"

#include <stdlib.h>
#include <string.h>

static sb_status ensure_mask(sb_tparam *p, sb_error *err)
{
    if (p->mask)
        return SB_OK;
    if (!(p->mask = malloc((size_t)p->n + 1)))
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    memset(p->mask, 1, (size_t)p->n);
    return SB_OK;
}

/* Entry i of p is zero from now on. */
static void hold_zero(sb_tparam *p, int64_t i)
{
    p->mask[i] = 0;
    p->w[i] = 0;
    p->mom[i] = 0;
    if (p->shadow)
        p->shadow[i] = 0;
}

static sb_tparam *layer_param(sb_tape *t, int layer)
{
    for (int k = 0; k < t->n_params; k++)
        if (t->params[k].layer == layer && t->params[k].slot == 1)
            return &t->params[k];
    return NULL;
}

static sb_status mask_zeros_of(sb_tparam *p, const float *w, sb_error *err)
{
    for (int64_t i = 0; i < p->n; i++) {
        if (w[i] != 0.0f)
            continue;
        sb_status s = ensure_mask(p, err);
        if (s)
            return s;
        hold_zero(p, i);
    }
    return SB_OK;
}

sb_status sb_tape_prune_magnitude(sb_tape *t, const sb_config *c, double f, sb_error *err)
{
    float **gw = calloc((size_t)c->n_layers + 1, sizeof *gw);
    int64_t *glen = calloc((size_t)c->n_layers + 1, sizeof *glen);
    sb_tparam **gp = calloc((size_t)c->n_layers + 1, sizeof *gp);
    int ng = 0;
    sb_status s = gw && glen && gp ? SB_OK : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int l = 0; l < c->n_layers && !s; l++) {
        sb_tparam *p = layer_param(t, l);
        const sb_layer_config *lc = &c->layer[l];
        if (!p || (lc->prune != SB_PRUNE_MAGNITUDE && lc->prune != SB_PRUNE_GLOBAL))
            continue;
        float *w = p->shadow ? p->shadow : p->w;
        if (lc->prune == SB_PRUNE_GLOBAL) {
            gw[ng] = w, glen[ng] = p->n, gp[ng++] = p;
            continue;
        }
        s = sb_prune_magnitude(&w, &p->n, 1, f * lc->ratio, err);
        if (!s)
            s = mask_zeros_of(p, w, err);
    }
    if (!s && ng)
        s = sb_prune_magnitude(gw, glen, ng, f * c->global_ratio, err);
    for (int k = 0; !s && k < ng; k++)
        s = mask_zeros_of(gp[k], gw[k], err);
    free(gw), free(glen), free(gp);
    if (!s)
        sb_tape_requantize(t);
    return s;
}

/* Holds at zero every parameter entry that L1 pruning of `removed` zeroes: sb_channels_prune in
 * masking mode over a copy of the graph whose parameters are all ones shows which. */
static sb_status hold_pruned_channels(sb_tape *t, const sb_model *cur, bool *const *removed,
                                      sb_error *err)
{
    sb_graph *probe = sb_graph_clone(t->g);
    if (!probe)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int k = 0; k < t->n_params; k++) {
        float *d = probe->values[t->params[k].value].data;
        for (int64_t i = 0; i < t->params[k].n; i++)
            d[i] = 1.0f;
    }
    sb_status s = sb_channels_prune(cur, probe, removed, false, err);
    for (int k = 0; k < t->n_params && !s; k++) {
        sb_tparam *p = &t->params[k];
        const float *d = probe->values[p->value].data;
        for (int64_t i = 0; i < p->n && !s; i++)
            if (d[i] == 0.0f && !(s = ensure_mask(p, err)))
                hold_zero(p, i);
    }
    sb_graph_free(probe);
    return s;
}

sb_status sb_tape_prune_channels(sb_tape *t, const sb_config *c, double f, bool ***removed,
                                 int *n_groups, sb_error *err)
{
    *removed = NULL;
    *n_groups = 0;
    sb_graph *g = sb_graph_clone(t->g);
    if (!g)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    sb_model *cur = NULL; /* the tape's current weights rank the channels */
    bool any = false;
    sb_status s = sb_model_from_graph(g, "training", &cur, err);
    if (!s && !cur->chan)
        s = sb_error_set(err, SB_ERR_UNSUPPORTED, "no channel groups for structured pruning");
    if (!s)
        s = sb_channels_choose(cur, c, f, removed, &any, err);
    if (!s) {
        *n_groups = cur->chan->n_groups;
        if (any)
            s = hold_pruned_channels(t, cur, *removed, err);
    }
    if (s && *removed) {
        sb_channels_choice_free(*removed, cur->chan->n_groups);
        *removed = NULL, *n_groups = 0;
    }
    sb_model_free(cur);
    if (!s)
        sb_tape_requantize(t);
    return s;
}
