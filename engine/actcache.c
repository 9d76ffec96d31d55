/* Activation cache: the base model's activations at a cut point, so that re-evaluating after an
 * edit to a late layer runs only the steps from that layer on. The steps before the cut are the
 * base's own (same nodes, same constants, same fusion), so the cached values are exactly what
 * the full run would compute there, and the results are bit-identical. */
#include "actcache.h"

#include <stdlib.h>
#include <string.h>

struct sb_actcache {
    const sb_model *base;
    size_t budget;              /* bytes */
    const sb_dataset *data;     /* what the cached images came from (NULL: unbound) */
    sb_preprocess pp;
    /* the cut: values live there, by name, and their floats per image */
    int n_vals;
    char **names;
    int64_t *per;
    size_t image_floats;        /* sum of per */
    char *cut_node;
    float *store;               /* per value: capacity x per floats, value after value */
    int capacity, filled;       /* images [0, filled) are cached */
    /* the evaluation in progress */
    sb_plan *p;
    int k;                      /* step of p at the cut; -1: run everything from the input */
    int *vals;                  /* p's value index of each cached value */
};

sb_status sb_actcache_new(const sb_model *base, size_t budget_bytes, sb_actcache **out,
                          sb_error *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    (*out)->base = base;
    (*out)->budget = budget_bytes ? budget_bytes : SB_ACTCACHE_DEFAULT_BUDGET;
    (*out)->k = -1;
    return SB_OK;
}

static void drop_cut(sb_actcache *c)
{
    for (int i = 0; i < c->n_vals; i++)
        free(c->names[i]);
    free(c->names);
    free(c->per);
    free(c->vals);
    free(c->store);
    free(c->cut_node);
    c->names = NULL, c->per = NULL, c->vals = NULL, c->store = NULL, c->cut_node = NULL;
    c->n_vals = c->capacity = c->filled = 0;
    c->image_floats = 0;
}

void sb_actcache_clear(sb_actcache *c)
{
    drop_cut(c);
    c->data = NULL;
}

void sb_actcache_free(sb_actcache *c)
{
    if (!c)
        return;
    drop_cut(c);
    free(c);
}

sb_actcache_info sb_actcache_get_info(const sb_actcache *c)
{
    return (sb_actcache_info){.cut_node = c->cut_node,
                              .values = c->n_vals,
                              .image_bytes = c->image_floats * sizeof(float),
                              .images = c->filled,
                              .capacity = c->capacity};
}

/* ---- where a model first differs from the base ---- */

static size_t value_bytes(const sb_value *v)
{
    return (size_t)sb_shape_count(&v->shape) * (v->dtype == SB_F32 ? 4 : 8);
}

/* Whether value v of g holds what value w of base b holds. */
static bool same_value(const sb_graph *b, int w, const sb_graph *g, int v, const bool *changed)
{
    const sb_value *x = &g->values[v], *y = &b->values[w];
    if (x->kind != y->kind || strcmp(x->name, y->name) != 0)
        return false;
    if (x->kind == SB_VAL_INPUT)
        return true;
    if (x->kind == SB_VAL_ACT)
        return x->producer >= 0 && !changed[x->producer];
    return x->dtype == y->dtype && x->shape.rank == y->shape.rank &&
           !memcmp(x->shape.dim, y->shape.dim, (size_t)x->shape.rank * sizeof x->shape.dim[0]) &&
           (x->data == y->data ||
            (x->data && y->data && !memcmp(x->data, y->data, value_bytes(x))));
}

/* Whether node i of g does what the base node of the same name does, on the same inputs. */
static bool node_same(const sb_graph *b, const sb_graph *g, int i, const bool *changed, int *j)
{
    const sb_node *n = &g->nodes[i];
    *j = sb_graph_find_node(b, n->name);
    if (*j < 0)
        return false;
    const sb_node *o = &b->nodes[*j];
    if (o->op != n->op || o->n_in != n->n_in || o->n_out != n->n_out ||
        memcmp(&o->a, &n->a, sizeof n->a) != 0)
        return false;
    for (int k = 0; k < n->n_out; k++)
        if (strcmp(g->values[n->out[k]].name, b->values[o->out[k]].name) != 0)
            return false;
    for (int k = 0; k < n->n_in; k++) {
        if ((n->in[k] < 0) != (o->in[k] < 0))
            return false;
        if (n->in[k] >= 0 && !same_value(b, o->in[k], g, n->in[k], changed))
            return false;
    }
    return true;
}

/* Whether step s of p fuses and runs like the base plan's step headed by base node j. */
static bool step_same(const sb_plan *bp, const int *step_of, int j, const sb_plan *p, int s)
{
    int bs = j >= 0 ? step_of[j] : -1;
    if (bs < 0)
        return false;
    const sb_step *x = &p->steps[s], *y = &bp->steps[bs];
    return x->kind == y->kind && x->act.kind == y->act.kind && x->act.a == y->act.a &&
           x->act.b == y->act.b && !x->weight == !y->weight && !x->bias == !y->bias &&
           strcmp(p->g->values[x->out_value].name, bp->g->values[y->out_value].name) == 0;
}

/* The first step of p (a plan of a model derived from the base, whose plan is bp) that differs
 * from the base's execution; p->n_steps when none does, -1 when out of memory. */
static int first_changed_step(const sb_plan *bp, const sb_plan *p)
{
    const sb_graph *b = bp->g, *g = p->g;
    bool *changed = calloc((size_t)g->n_nodes + 1, sizeof *changed);
    int *base_node = calloc((size_t)g->n_nodes + 1, sizeof *base_node);
    int *step_of = malloc(((size_t)b->n_nodes + 1) * sizeof *step_of);
    int first = -1;
    if (changed && base_node && step_of) {
        for (int j = 0; j < b->n_nodes; j++)
            step_of[j] = -1;
        for (int s = 0; s < bp->n_steps; s++)
            step_of[bp->steps[s].node] = s;
        for (int i = 0; i < g->n_nodes; i++)
            changed[i] = !node_same(b, g, i, changed, &base_node[i]);
        for (first = 0; first < p->n_steps; first++) {
            int head = p->steps[first].node;
            int end = first + 1 < p->n_steps ? p->steps[first + 1].node : g->n_nodes;
            bool same = step_same(bp, step_of, base_node[head], p, first);
            for (int i = head; i < end && same; i++)
                same = !changed[i];
            if (!same)
                break;
        }
    }
    free(changed), free(base_node), free(step_of);
    return first;
}

const char *sb_model_first_change(const sb_model *base, const sb_model *m)
{
    if (!base->plan1 || !m->plan1)
        return NULL;
    int k = first_changed_step(base->plan1, m->plan1);
    return k >= 0 && k < m->plan1->n_steps ? m->g->nodes[m->plan1->steps[k].node].name : NULL;
}

/* ---- the values live at a step ---- */

/* Values of p produced before step k and read from step k on (or graph outputs), in value
 * order, into out (n_values entries); returns how many, or -1 when one of them does not have
 * the batch as its leading dimension (then it cannot be kept per image). */
static int live_at(const sb_plan *p, int k, int *out)
{
    const sb_graph *g = p->g;
    int from = k < p->n_steps ? p->steps[k].node : g->n_nodes, n = 0;
    bool *read = calloc((size_t)g->n_values + 1, sizeof *read);
    if (!read)
        return -1;
    for (int i = from; i < g->n_nodes; i++)
        for (int j = 0; j < g->nodes[i].n_in; j++)
            if (g->nodes[i].in[j] >= 0)
                read[g->nodes[i].in[j]] = true;
    for (int i = 0; i < g->n_outputs; i++)
        read[g->outputs[i]] = true;
    for (int v = 0; v < g->n_values && n >= 0; v++) {
        const sb_value *x = &g->values[v];
        bool before = x->kind == SB_VAL_INPUT || (x->producer >= 0 && x->producer < from);
        if (!read[v] || !before || p->buffer_of[v] < 0)
            continue;
        const sb_shape *s = &p->shapes[v];
        n = s->rank > 0 && s->dim[0] == p->batch ? n : -1;
        if (n >= 0)
            out[n++] = v;
    }
    free(read);
    return n;
}

static int64_t per_image(const sb_plan *p, int v)
{
    return sb_shape_count(&p->shapes[v]) / p->batch;
}

/* Whether the values live at step k of p are the cut's; fills c->vals. */
static bool matches_cut(sb_actcache *c, const sb_plan *p, int k, int *live)
{
    if (live_at(p, k, live) != c->n_vals)
        return false;
    for (int i = 0; i < c->n_vals; i++) {
        c->vals[i] = -1;
        for (int j = 0; j < c->n_vals && c->vals[i] < 0; j++)
            if (strcmp(p->g->values[live[j]].name, c->names[i]) == 0 &&
                per_image(p, live[j]) == c->per[i])
                c->vals[i] = live[j];
        if (c->vals[i] < 0)
            return false;
    }
    return true;
}

/* Moves the cut to step k of p: the values live there, as many images as the budget holds. */
static sb_status set_cut(sb_actcache *c, const sb_plan *p, int k, const int *live, int n,
                         int images, sb_error *err)
{
    drop_cut(c);
    c->names = calloc((size_t)n + 1, sizeof *c->names);
    c->per = calloc((size_t)n + 1, sizeof *c->per);
    c->vals = calloc((size_t)n + 1, sizeof *c->vals);
    c->cut_node = strdup(p->g->nodes[p->steps[k].node].name);
    bool ok = c->names && c->per && c->vals && c->cut_node;
    for (int i = 0; ok && i < n; i++, c->n_vals++) {
        c->vals[i] = live[i];
        c->per[i] = per_image(p, live[i]);
        c->image_floats += (size_t)c->per[i];
        ok = (c->names[i] = strdup(p->g->values[live[i]].name)) != NULL;
    }
    size_t fit = c->image_floats ? c->budget / (c->image_floats * sizeof(float)) : 0;
    c->capacity = fit < (size_t)images ? (int)fit : images;
    if (ok && c->capacity > 0)
        ok = (c->store = malloc((size_t)c->capacity * c->image_floats * sizeof(float))) != NULL;
    if (!ok) {
        drop_cut(c);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory for the activation cache");
    }
    return SB_OK;
}

/* Whether one image's values live[0..n) fit in the budget. */
static bool fits_one(const sb_actcache *c, const sb_plan *p, const int *live, int n)
{
    size_t floats = 0;
    for (int i = 0; i < n; i++)
        floats += (size_t)per_image(p, live[i]);
    return floats * sizeof(float) <= c->budget;
}

/* The latest step at or before `change` whose live values are the cut's, or -1. */
static int serving_step(sb_actcache *c, const sb_plan *p, int change, int *live)
{
    if (!c->n_vals)
        return -1;
    for (int k = change; k > 0; k--)
        if (matches_cut(c, p, k, live))
            return k;
    return -1;
}

static void bind_data(sb_actcache *c, const sb_dataset *d, const sb_preprocess *pp)
{
    if (c->data != d || memcmp(&c->pp, pp, sizeof *pp) != 0)
        sb_actcache_clear(c);
    c->data = d;
    c->pp = *pp;
}

sb_status sb_actcache_begin(sb_actcache *c, const sb_model *m, sb_plan *p, const sb_dataset *d,
                            const sb_preprocess *pp, sb_error *err)
{
    bind_data(c, d, pp);
    c->p = p;
    c->k = -1;
    if (!c->base->plan1 || p->batch < 1)
        return SB_OK;
    int change = first_changed_step(c->base->plan1, p);
    int *live = malloc(((size_t)p->g->n_values + 1) * sizeof *live);
    if (change < 0 || !live) {
        free(live);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    sb_status s = SB_OK;
    c->k = serving_step(c, p, change, live);
    /* A cut at the change serves this model, and most likely the next edit (the same layer
     * again), better than an earlier one: move there, paying one full run. Nothing is worth
     * keeping at step 0 (the input) or at the end. */
    if (c->k != change && change > 0 && change < p->n_steps) {
        int n = live_at(p, change, live);
        if (n > 0 && fits_one(c, p, live, n) &&
            !(s = set_cut(c, p, change, live, n, sb_dataset_count(d), err)))
            c->k = c->capacity > 0 ? change : -1;
    }
    free(live);
    return s;
}

void sb_actcache_end(sb_actcache *c)
{
    c->p = NULL;
    c->k = -1;
}

/* ---- running ---- */

static float *stored(const sb_actcache *c, int i, int image)
{
    size_t off = 0;
    for (int j = 0; j < i; j++)
        off += (size_t)c->per[j] * (size_t)c->capacity;
    return c->store + off + (size_t)image * (size_t)c->per[i];
}

static void restore(const sb_actcache *c, sb_plan *p, int start, int count)
{
    for (int i = 0; i < c->n_vals; i++) {
        float *dst = sb_plan_value(p, c->vals[i]);
        size_t n = (size_t)c->per[i];
        memcpy(dst, stored(c, i, start), (size_t)count * n * sizeof(float));
        memset(dst + (size_t)count * n, 0, (size_t)(p->batch - count) * n * sizeof(float));
    }
}

/* Keeps images [from, to) of the batch starting at image `start`. */
static void capture(sb_actcache *c, const sb_plan *p, int start, int from, int to)
{
    for (int i = 0; i < c->n_vals; i++) {
        size_t n = (size_t)c->per[i];
        const float *src = sb_plan_value(p, c->vals[i]) + (size_t)(from - start) * n;
        memcpy(stored(c, i, from), src, (size_t)(to - from) * n * sizeof(float));
    }
    c->filled = to;
}

static sb_status fill_input(sb_plan *p, const sb_actcache *c, int start, int count, sb_error *err)
{
    const sb_graph *g = p->g;
    float *in = sb_plan_value(p, g->inputs[0]);
    size_t per = (size_t)per_image(p, g->inputs[0]);
    if (count < p->batch) /* the tail runs in the same plan, padded with zeros */
        memset(in + (size_t)count * per, 0, (size_t)(p->batch - count) * per * sizeof(float));
    return sb_dataset_read(c->data, &c->pp, start, count, in, err);
}

sb_status sb_actcache_run_batch(sb_actcache *c, sb_plan *p, int start, int count,
                                const volatile int *cancel, int *cached, sb_error *err)
{
    if (c->k >= 0 && start + count <= c->filled) {
        restore(c, p, start, count);
        *cached += count;
        return sb_plan_run_steps(p, c->k, p->n_steps, cancel, err);
    }
    sb_status s = fill_input(p, c, start, count, err);
    if (s)
        return s;
    if (c->k < 0)
        return sb_plan_run_steps(p, 0, p->n_steps, cancel, err);
    s = sb_plan_run_steps(p, 0, c->k, cancel, err);
    int to = start + count < c->capacity ? start + count : c->capacity;
    if (!s && start <= c->filled && c->filled < to)
        capture(c, p, start, c->filled, to);
    return s ? s : sb_plan_run_steps(p, c->k, p->n_steps, cancel, err);
}
