/* Sensitivity analysis: each layer (for L1, each channel group) pruned alone over a range of
 * ratios, evaluated on real data. */
#include "model.h"

#include <stdlib.h>

/* The layers a sweep visits: for L1 the first producer of each prunable group. */
static bool visits(const sb_model *m, const sb_sweep_options *o, int l)
{
    if (o->layers) {
        for (int i = 0; i < o->n_layers; i++)
            if (o->layers[i] == l)
                return true;
        return false;
    }
    if (o->method != SB_PRUNE_L1)
        return true;
    int g = sb_model_layer_group(m, l);
    if (g < 0 || !m->chan->groups[g].prunable)
        return false;
    for (int k = 0; k < l; k++)
        if (sb_model_layer_group(m, k) == g)
            return false;
    return true;
}

int sb_sweep_count(const sb_model *m, const sb_sweep_options *o)
{
    int n = 0;
    for (int l = 0; l < m->n_layers; l++)
        n += visits(m, o, l);
    return n * o->n_ratios;
}

static sb_status one_point(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                           const sb_sweep_options *o, sb_config *cfg, sb_actcache *cache,
                           sb_sweep_point *pt, sb_error *err)
{
    sb_layer_config *lc = &cfg->layer[pt->layer];
    *lc = SB_LAYER_DEFAULT;
    lc->prune = pt->ratio > 0 ? o->method : SB_PRUNE_NONE;
    lc->ratio = pt->ratio;
    sb_model *cm = NULL;
    sb_eval_result r = {0};
    sb_eval_options eo = {.limit = o->limit, .cancel = o->cancel, .cache = cache};
    sb_status s = sb_compress(m, cfg, NULL, true, &cm, err);
    if (!s)
        s = sb_eval(cm, d, pp, &eo, &r, err);
    pt->images = r.images, pt->correct1 = r.correct1, pt->correct5 = r.correct5;
    pt->loss = r.loss;
    sb_eval_result_free(&r);
    sb_model_free(cm);
    *lc = SB_LAYER_DEFAULT;
    return s;
}

sb_status sb_sweep(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                   const sb_sweep_options *o, sb_sweep_point *points, sb_error *err)
{
    if (o->method != SB_PRUNE_MAGNITUDE && o->method != SB_PRUNE_L1)
        return sb_error_set(err, SB_ERR_ARG, "a sweep prunes by magnitude or by L1 channels");
    sb_config cfg;
    sb_actcache *cache = NULL; /* a layer's ratios share its cut: all but one resume there, and
                                  that one at the previous layer's cut (layers go in order) */
    sb_status s = sb_config_new(m, &cfg, err);
    if (!s)
        s = sb_actcache_new(m, 0, &cache, err);
    int total = sb_sweep_count(m, o), done = 0;
    for (int l = 0; l < m->n_layers && !s; l++) {
        if (!visits(m, o, l))
            continue;
        for (int r = 0; r < o->n_ratios && !s; r++, done++) {
            points[done] = (sb_sweep_point){.layer = l, .ratio = o->ratios[r]};
            s = one_point(m, d, pp, o, &cfg, cache, &points[done], err);
            if (!s && o->progress && o->progress(done + 1, total, o->user))
                s = sb_error_set(err, SB_ERR_CANCELLED, "sweep cancelled");
        }
    }
    sb_actcache_free(cache);
    sb_config_free(&cfg);
    return s;
}
