/* compress(base, config) → a new model: channel groups removed (or masked), magnitude pruning,
 * weight fake-quantisation, calibrated activation quantisation, in that order. */
#include "model.h"
#include "prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- structured ---- */

typedef struct unit_rank {
    double importance;
    int unit;
} unit_rank;

static int cmp_rank(const void *a, const void *b)
{
    const unit_rank *x = a, *y = b;
    if (x->importance != y->importance)
        return x->importance < y->importance ? -1 : 1;
    return x->unit - y->unit; /* ties: the lower channel index goes first */
}

/* Marks the round(ratio x units) least important units of group g (at least one stays). */
static sb_status choose_units(const sb_group *g, double ratio, bool *removed, sb_error *err)
{
    unit_rank *r = malloc(((size_t)g->n_units + 1) * sizeof *r);
    if (!r)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int u = 0; u < g->n_units; u++)
        r[u] = (unit_rank){g->importance[u], u};
    qsort(r, (size_t)g->n_units, sizeof *r, cmp_rank);
    int64_t k = sb_prune_count(ratio, g->n_units);
    if (k >= g->n_units)
        k = g->n_units - 1;
    for (int64_t i = 0; i < k; i++)
        removed[r[i].unit] = true;
    free(r);
    return SB_OK;
}

/* A group's ratio is the largest L1 ratio set on any of its producing layers. */
static double group_ratio(const sb_model *m, const sb_config *c, int group)
{
    double ratio = 0;
    for (int l = 0; l < m->n_layers; l++)
        if (m->chan->group_of_layer[l] == group && c->layer[l].prune == SB_PRUNE_L1)
            ratio = fmax(ratio, c->layer[l].ratio);
    return ratio;
}

sb_status sb_channels_choose(const sb_model *m, const sb_config *c, double scale,
                            bool ***removed, bool *any, sb_error *err)
{
    int ng = m->chan->n_groups;
    bool **r = calloc((size_t)ng + 1, sizeof *r);
    *removed = r;
    *any = false;
    sb_status s = r ? SB_OK : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int gi = 0; gi < ng && !s; gi++) {
        double ratio = scale * group_ratio(m, c, gi);
        if (ratio <= 0)
            continue;
        r[gi] = calloc((size_t)m->chan->groups[gi].n_units + 1, 1);
        s = r[gi] ? choose_units(&m->chan->groups[gi], ratio, r[gi], err)
                  : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        *any = true;
    }
    if (s) {
        sb_channels_choice_free(r, ng);
        *removed = NULL;
    }
    return s;
}

void sb_channels_choice_free(bool **removed, int n_groups)
{
    for (int gi = 0; removed && gi < n_groups; gi++)
        free(removed[gi]);
    free(removed);
}

static sb_status apply_structured(const sb_model *m, sb_graph *g, const sb_config *c, bool thin,
                                  sb_error *err)
{
    bool **removed = NULL, any = false;
    sb_status s = sb_channels_choose(m, c, 1.0, &removed, &any, err);
    if (!s && any)
        s = sb_channels_prune(m, g, removed, thin, err);
    sb_channels_choice_free(removed, m->chan->n_groups);
    return s;
}

/* ---- unstructured ---- */

static float *layer_weight(const sb_model *m, sb_graph *g, int l, int64_t *len)
{
    sb_value *w = &g->values[m->layers[l].weight];
    *len = sb_shape_count(&w->shape);
    return w->data;
}

static sb_status apply_magnitude(const sb_model *m, sb_graph *g, const sb_config *c,
                                 sb_error *err)
{
    float **globals = calloc((size_t)m->n_layers + 1, sizeof *globals);
    int64_t *glen = calloc((size_t)m->n_layers + 1, sizeof *glen);
    int n_global = 0;
    sb_status s = globals && glen ? SB_OK : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int l = 0; l < m->n_layers && !s; l++) {
        const sb_layer_config *lc = &c->layer[l];
        if (lc->prune == SB_PRUNE_GLOBAL) {
            globals[n_global] = layer_weight(m, g, l, &glen[n_global]);
            n_global++;
        } else if (lc->prune == SB_PRUNE_MAGNITUDE) {
            int64_t len;
            float *w = layer_weight(m, g, l, &len);
            s = sb_prune_magnitude(&w, &len, 1, lc->ratio, err);
        }
    }
    if (!s && n_global)
        s = sb_prune_magnitude(globals, glen, n_global, c->global_ratio, err);
    free(globals);
    free(glen);
    return s;
}

/* ---- quantisation ---- */

static void apply_weight_quant(const sb_model *m, sb_graph *g, const sb_config *c)
{
    for (int l = 0; l < m->n_layers; l++) {
        if (c->layer[l].wbits >= 32)
            continue;
        sb_value *w = &g->values[m->layers[l].weight];
        int64_t rows = w->shape.dim[0], cols = sb_shape_count(&w->shape) / (rows ? rows : 1);
        sb_quant_weights(w->data, rows, cols, m->layers[l].out_axis, &c->layer[l]);
    }
}

/* Puts a (not yet calibrated) FakeQuant in front of each act8 layer; returns their nodes. */
static sb_status insert_act_quant(const sb_model *m, sb_graph *g, const sb_config *c, int *fq,
                                  int *n_fq, sb_error *err)
{
    *n_fq = 0;
    for (int l = 0; l < m->n_layers; l++) {
        if (!c->layer[l].act8)
            continue;
        int node = sb_graph_find_node(g, m->g->nodes[m->layers[l].node].name);
        char name[600];
        snprintf(name, sizeof name, "%s/input_quant", m->g->nodes[m->layers[l].node].name);
        int at = node >= 0 ? sb_graph_insert_before(g, node, 0, SB_OP_FAKEQUANT, name) : -1;
        if (at < 0)
            return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        for (int k = 0; k < *n_fq; k++)
            fq[k] += fq[k] >= at; /* earlier insertions moved up */
        fq[(*n_fq)++] = at;
    }
    return SB_OK;
}

sb_status sb_compress(const sb_model *base, const sb_config *c, const sb_calib_data *calib,
                      bool thin, sb_model **out, sb_error *err)
{
    *out = NULL;
    sb_status s = sb_config_validate(base, c, err);
    if (s)
        return s;
    sb_graph *g = sb_graph_clone(base->g);
    int *fq = calloc((size_t)base->n_layers + 1, sizeof *fq), n_fq = 0;
    if (!g || !fq) {
        sb_graph_free(g);
        free(fq);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    if (!(s = apply_structured(base, g, c, thin, err)) && !(s = apply_magnitude(base, g, c, err))) {
        apply_weight_quant(base, g, c);
        s = insert_act_quant(base, g, c, fq, &n_fq, err);
    }
    if (!s && n_fq)
        s = sb_calibrate(g, fq, n_fq, c, calib, err);
    free(fq);
    if (s) {
        sb_graph_free(g);
        return s;
    }
    if ((s = sb_model_from_graph(g, base->path, out, err)))
        return s;
    return sb_config_copy(c, &(*out)->cfg, err);
}
