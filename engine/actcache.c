/* Activation cache: the base model's activations at cut points, so that re-evaluating after an
 * edit to a late layer runs only the steps from that layer on. The steps before a cut are the
 * base's own (same nodes, same constants, same fusion), so the cached values are exactly what
 * the full run would compute there, and the results are bit-identical. Each evaluation thread
 * restores and captures its own micro-batch's images: the store is per image. */
#include "actcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Cuts kept at once: the current edit's, the ones it resumed from, and earlier edits' (so that
 * going back to a layer, or undoing, does not pay a full run while the budget holds them). */
#define MAX_CUTS 4

typedef struct cut {
    char *node;          /* first node run for its images (in the plan that made it) */
    int n_vals;
    char **names;        /* the values live there, by name */
    int64_t *per;        /* and their floats per image */
    size_t image_floats; /* sum of per */
    float *store;        /* capacity images, image after image, each its values in order */
    size_t store_bytes;  /* allocated (the store only ever shrinks) */
    int capacity, filled; /* images [0, filled) are cached */
    unsigned long used;  /* when it last was made or resumed from (least recently used goes) */
    /* the evaluation in progress */
    int k;               /* step of the plan at the cut; -1: it does not serve this model */
    int *vals;           /* plan value index of each cached value */
    bool growing;        /* images from `filled` on are being captured */
    int captured;        /* images captured in the current batch (atomic) */
} cut;

struct sb_actcache {
    const sb_model *base;
    size_t budget;              /* bytes */
    const sb_dataset *data;     /* what the cached images came from (NULL: unbound) */
    sb_preprocess pp;
    cut cuts[MAX_CUTS];
    int n_cuts;
    unsigned long clock;
    /* the evaluation in progress: the serving cuts by step, earliest first */
    int order[MAX_CUTS];
    int n_order;
};

#define ENV_BUDGET "SB_ACTCACHE_MB"
#define UNKNOWN_RAM_BUDGET ((size_t)256 << 20)
#define MAX_BUDGET ((size_t)1 << 30)

sb_status sb_actcache_default_budget(size_t *bytes, sb_error *err)
{
    const char *env = getenv(ENV_BUDGET);
    if (env && *env) {
        char *end;
        errno = 0;
        unsigned long long mb = strtoull(env, &end, 10);
        if (errno || *end || env[0] == '-' || mb > ((size_t)-1 >> 20))
            return sb_error_set(err, SB_ERR_ARG,
                                "%s=%s: expected the activation cache's size in MiB, a whole "
                                "number (0 turns the cache off)",
                                ENV_BUDGET, env);
        *bytes = (size_t)mb << 20;
        return SB_OK;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t eighth = pages > 0 && page > 0 ? (size_t)pages / 8 * (size_t)page : UNKNOWN_RAM_BUDGET;
    *bytes = eighth < MAX_BUDGET ? eighth : MAX_BUDGET;
    return SB_OK;
}

sb_status sb_actcache_new(const sb_model *base, size_t budget_bytes, sb_actcache **out,
                          sb_error *err)
{
    *out = NULL;
    size_t budget = budget_bytes;
    sb_status s = budget ? SB_OK : sb_actcache_default_budget(&budget, err);
    if (s)
        return s;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    (*out)->base = base;
    (*out)->budget = budget;
    return SB_OK;
}

static void cut_free(cut *x)
{
    for (int i = 0; i < x->n_vals; i++)
        free(x->names[i]);
    free(x->names);
    free(x->per);
    free(x->vals);
    free(x->store);
    free(x->node);
    memset(x, 0, sizeof *x);
}

/* Removes cut i (later ones move down). */
static void drop_cut(sb_actcache *c, int i)
{
    cut_free(&c->cuts[i]);
    memmove(&c->cuts[i], &c->cuts[i + 1], (size_t)(c->n_cuts - i - 1) * sizeof c->cuts[0]);
    c->n_cuts--;
    memset(&c->cuts[c->n_cuts], 0, sizeof c->cuts[0]);
}

void sb_actcache_clear(sb_actcache *c)
{
    while (c->n_cuts)
        drop_cut(c, c->n_cuts - 1);
    c->n_order = 0;
    c->data = NULL;
}

void sb_actcache_free(sb_actcache *c)
{
    if (!c)
        return;
    sb_actcache_clear(c);
    free(c);
}

static size_t cut_bytes(const cut *x)
{
    return (size_t)x->capacity * x->image_floats * sizeof(float);
}

sb_actcache_info sb_actcache_get_info(const sb_actcache *c)
{
    sb_actcache_info info = {.cuts = c->n_cuts, .budget = c->budget};
    const cut *mru = NULL;
    for (int i = 0; i < c->n_cuts; i++) {
        info.bytes += cut_bytes(&c->cuts[i]);
        if (!mru || c->cuts[i].used > mru->used)
            mru = &c->cuts[i];
    }
    if (mru) {
        info.cut_node = mru->node;
        info.values = mru->n_vals;
        info.image_bytes = mru->image_floats * sizeof(float);
        info.images = mru->filled;
        info.capacity = mru->capacity;
    }
    return info;
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

/* Whether value v holds one slice per image: float, the batch leading, and at batch 1 (p1) the
 * same shape otherwise. */
static bool per_image_value(const sb_plan *p, const sb_plan *p1, int v)
{
    const sb_shape *s = &p->shapes[v], *s1 = &p1->shapes[v];
    if (p->g->values[v].dtype != SB_F32 || s->rank < 1 || s->dim[0] != p->batch ||
        s1->rank != s->rank || s1->dim[0] != 1)
        return false;
    return !memcmp(&s->dim[1], &s1->dim[1], (size_t)(s->rank - 1) * sizeof s->dim[0]);
}

/* Values of p produced before step k and read from step k on (or graph outputs), in value
 * order, into out (n_values entries); returns how many, or -1 when one of them is not kept per
 * image (then nothing can be cached there). */
static int live_at(const sb_plan *p, const sb_plan *p1, int k, int *out)
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
        n = per_image_value(p, p1, v) ? n : -1;
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

/* Whether the values live[0..n) of p are cut x's; fills x->vals. */
static bool matches(cut *x, const sb_plan *p, const int *live, int n)
{
    if (n != x->n_vals)
        return false;
    for (int i = 0; i < x->n_vals; i++) {
        x->vals[i] = -1;
        for (int j = 0; j < n && x->vals[i] < 0; j++)
            if (strcmp(p->g->values[live[j]].name, x->names[i]) == 0 &&
                per_image(p, live[j]) == x->per[i])
                x->vals[i] = live[j];
        if (x->vals[i] < 0)
            return false;
    }
    return true;
}

/* Sets each cut's step in p: the latest at or before `change` whose live values are the cut's
 * (-1: none, the cut does not serve p). live_n[k] is how many values live at step k (or -1),
 * lives + k * stride the values. */
static void place_cuts(sb_actcache *c, const sb_plan *p, int change, const int *lives,
                       const int *live_n, size_t stride)
{
    for (int i = 0; i < c->n_cuts; i++) {
        cut *x = &c->cuts[i];
        x->k = -1;
        for (int k = change; k > 0 && x->k < 0; k--)
            if (live_n[k] >= 0 && matches(x, p, lives + (size_t)k * stride, live_n[k]))
                x->k = k;
    }
}

/* A new cut at step k of p holding the values live[0..n), with room for no images yet. */
static sb_status cut_new(cut *x, const sb_plan *p, int k, const int *live, int n, sb_error *err)
{
    memset(x, 0, sizeof *x);
    x->names = calloc((size_t)n + 1, sizeof *x->names);
    x->per = calloc((size_t)n + 1, sizeof *x->per);
    x->vals = calloc((size_t)n + 1, sizeof *x->vals);
    x->node = strdup(p->g->nodes[p->steps[k].node].name);
    bool ok = x->names && x->per && x->vals && x->node;
    for (int i = 0; ok && i < n; i++, x->n_vals++) {
        x->vals[i] = live[i];
        x->per[i] = per_image(p, live[i]);
        x->image_floats += (size_t)x->per[i];
        ok = (x->names[i] = strdup(p->g->values[live[i]].name)) != NULL;
    }
    x->k = k;
    if (!ok) {
        cut_free(x);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory for the activation cache");
    }
    return SB_OK;
}

#define HUGE_PAGE ((size_t)2 << 20)
#define PAGE ((size_t)4096)

/* Gives cut x room for `images` images: a new store (in huge pages where the system has them:
 * a first touch per 4 KB page costs as much as the copy), or the first ones of its store, the
 * memory of the rest returned to the system; false when out of memory. */
static bool resize(cut *x, int images)
{
    size_t bytes = (size_t)images * x->image_floats * sizeof(float);
    if (x->store) {
        size_t keep = (bytes + PAGE - 1) / PAGE * PAGE;
        if (keep < x->store_bytes)
            madvise((char *)x->store + keep, x->store_bytes - keep, MADV_DONTNEED);
    } else {
        size_t n = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
        if (!(x->store = aligned_alloc(HUGE_PAGE, n)))
            return false;
        madvise(x->store, n, MADV_HUGEPAGE); /* advice only: it may be refused */
        x->store_bytes = n;
    }
    x->capacity = images; /* never more than an existing store holds (share_budget) */
    x->filled = x->filled < x->capacity ? x->filled : x->capacity;
    return true;
}

/* Shares the budget among the cuts in priority order: the cut at the change (new: it serves
 * the next edit, most likely at the same layer), the one this evaluation resumes from, then the
 * others, most recently used first. Each takes what is left (a cut may shrink: its first images
 * stay); a cut left without room is dropped, and so is the new one when memory runs out (the
 * evaluation then runs without it). */
static void share_budget(sb_actcache *c, int fresh, int source, int images)
{
    int rank[MAX_CUTS], n = 0;
    rank[n++] = fresh;
    if (source >= 0 && source != fresh)
        rank[n++] = source;
    for (; n < c->n_cuts; n++) {
        int best = -1;
        for (int i = 0; i < c->n_cuts; i++) {
            bool taken = false;
            for (int j = 0; j < n; j++)
                taken |= rank[j] == i;
            if (!taken && (best < 0 || c->cuts[i].used > c->cuts[best].used))
                best = i;
        }
        rank[n] = best;
    }
    size_t left = c->budget;
    int keep[MAX_CUTS];
    for (int r = 0; r < n; r++) {
        cut *x = &c->cuts[rank[r]];
        size_t fit = left / (x->image_floats * sizeof(float));
        int want = rank[r] == fresh ? images : x->capacity;
        want = fit < (size_t)want ? (int)fit : want;
        if (want > 0 && !resize(x, want)) /* only a new store can fail */
            want = 0;
        keep[rank[r]] = want > 0;
        left -= want > 0 ? cut_bytes(x) : 0;
    }
    for (int i = c->n_cuts - 1; i >= 0; i--)
        if (!keep[i])
            drop_cut(c, i);
}

/* The serving cut with the latest step, or -1. */
static int latest_serving(const sb_actcache *c)
{
    int best = -1;
    for (int i = 0; i < c->n_cuts; i++)
        if (c->cuts[i].k >= 0 && (best < 0 || c->cuts[i].k > c->cuts[best].k))
            best = i;
    return best;
}

/* Adds a cut at step `change` of p (values live[0..n)), resuming from the latest serving cut,
 * when one image's values fit the budget; the least recently used cut makes way when all
 * MAX_CUTS are taken. */
static sb_status add_cut(sb_actcache *c, const sb_plan *p, int change, const int *live, int n,
                         int images, sb_error *err)
{
    size_t one = 0;
    for (int i = 0; i < n; i++)
        one += (size_t)per_image(p, live[i]) * sizeof(float);
    if (n <= 0 || one > c->budget || images < 1)
        return SB_OK;
    if (c->n_cuts == MAX_CUTS) {
        int lru = 0;
        for (int i = 1; i < c->n_cuts; i++)
            lru = c->cuts[i].used < c->cuts[lru].used ? i : lru;
        drop_cut(c, lru);
    }
    int source = latest_serving(c);
    if (source >= 0)
        c->cuts[source].used = ++c->clock;
    sb_status s = cut_new(&c->cuts[c->n_cuts], p, change, live, n, err);
    if (s)
        return s;
    c->cuts[c->n_cuts++].used = ++c->clock;
    share_budget(c, c->n_cuts - 1, source, images);
    return SB_OK;
}

static void bind_data(sb_actcache *c, const sb_dataset *d, const sb_preprocess *pp)
{
    if (c->data != d || memcmp(&c->pp, pp, sizeof *pp) != 0)
        sb_actcache_clear(c);
    c->data = d;
    c->pp = *pp;
}

/* The values live at each step of p up to `upto`: live_n[k] of them (or -1) at lives + k * stride. */
static sb_status lives_of(const sb_plan *p, const sb_plan *p1, int upto, int **lives,
                          int **live_n, size_t *stride, sb_error *err)
{
    *stride = (size_t)p->g->n_values + 1;
    *lives = malloc(*stride * ((size_t)p->n_steps + 1) * sizeof **lives);
    *live_n = malloc(((size_t)p->n_steps + 1) * sizeof **live_n);
    if (!*lives || !*live_n) {
        free(*lives), free(*live_n);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k <= p->n_steps; k++)
        (*live_n)[k] = k > upto ? -1 : live_at(p, p1, k, *lives + (size_t)k * *stride);
    return SB_OK;
}

/* The serving cuts in step order, each growing while it has room; the latest (the one at the
 * change, else the one resumed from) counts as used. */
static void order_cuts(sb_actcache *c)
{
    c->n_order = 0;
    for (int i = 0; i < c->n_cuts; i++) {
        cut *x = &c->cuts[i];
        x->growing = x->filled < x->capacity;
        x->captured = 0;
        if (x->k < 0)
            continue;
        int j = c->n_order++;
        for (; j > 0 && c->cuts[c->order[j - 1]].k > x->k; j--)
            c->order[j] = c->order[j - 1];
        c->order[j] = i;
    }
    if (c->n_order > 0)
        c->cuts[c->order[c->n_order - 1]].used = ++c->clock;
}

sb_status sb_actcache_begin(sb_actcache *c, const sb_model *m, const sb_plan *p,
                            const sb_dataset *d, const sb_preprocess *pp, sb_error *err)
{
    bind_data(c, d, pp);
    c->n_order = 0;
    for (int i = 0; i < c->n_cuts; i++)
        c->cuts[i].k = -1;
    if (!c->base->plan1 || !m->plan1 || p->batch < 1)
        return SB_OK;
    int change = first_changed_step(c->base->plan1, p);
    if (change < 0)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    int *lives, *live_n;
    size_t stride;
    sb_status s = lives_of(p, m->plan1, change, &lives, &live_n, &stride, err);
    if (s)
        return s;
    place_cuts(c, p, change, lives, live_n, stride);
    bool at_change = false;
    for (int i = 0; i < c->n_cuts; i++)
        at_change |= c->cuts[i].k == change;
    /* A cut at the change serves this model, and most likely the next edit (the same layer
     * again), better than an earlier one: add one there, filled as this evaluation runs. Nothing
     * is worth keeping at step 0 (the input) or at the end. */
    if (!at_change && change > 0 && change < p->n_steps)
        s = add_cut(c, p, change, lives + (size_t)change * stride, live_n[change],
                    sb_dataset_count(d), err);
    if (!s)
        order_cuts(c);
    free(lives), free(live_n);
    return s;
}

void sb_actcache_end(sb_actcache *c)
{
    c->n_order = 0;
    for (int i = 0; i < c->n_cuts; i++)
        c->cuts[i].k = -1;
}

/* ---- running ---- */

static float *image_at(const cut *x, int image)
{
    return x->store + (size_t)image * x->image_floats;
}

/* Cut x's values of images [start, start + count) into p (the rest of the batch zeroed). */
static void restore(const cut *x, sb_plan *p, int start, int count)
{
    for (int i = 0, off = 0; i < x->n_vals; off += (int)x->per[i], i++) {
        float *dst = sb_plan_value(p, x->vals[i]);
        size_t n = (size_t)x->per[i];
        for (int j = 0; j < count; j++)
            memcpy(dst + (size_t)j * n, image_at(x, start + j) + off, n * sizeof(float));
        memset(dst + (size_t)count * n, 0, (size_t)(p->batch - count) * n * sizeof(float));
    }
}

/* Keeps images [from, to) of p's batch, which starts at image `start`. */
static void capture(cut *x, const sb_plan *p, int start, int from, int to)
{
    for (int i = 0, off = 0; i < x->n_vals; off += (int)x->per[i], i++) {
        const float *src = sb_plan_value(p, x->vals[i]);
        size_t n = (size_t)x->per[i];
        for (int j = from; j < to; j++)
            memcpy(image_at(x, j) + off, src + (size_t)(j - start) * n, n * sizeof(float));
    }
    __atomic_fetch_add(&x->captured, to - from, __ATOMIC_RELAXED);
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

sb_status sb_actcache_run(sb_actcache *c, sb_plan *p, int start, int count,
                          const volatile int *cancel, int *resumed, sb_error *err)
{
    int from = -1; /* in c->order: the latest cut holding all these images */
    for (int i = c->n_order - 1; i >= 0 && from < 0; i--)
        from = start + count <= c->cuts[c->order[i]].filled ? i : -1;
    int step = 0;
    sb_status s = SB_OK;
    if (from >= 0) {
        restore(&c->cuts[c->order[from]], p, start, count);
        step = c->cuts[c->order[from]].k;
        __atomic_fetch_add(resumed, count, __ATOMIC_RELAXED);
    } else {
        s = fill_input(p, c, start, count, err);
    }
    for (int i = from + 1; i < c->n_order && !s; i++) {
        cut *x = &c->cuts[c->order[i]];
        int lo = start > x->filled ? start : x->filled;
        int hi = start + count < x->capacity ? start + count : x->capacity;
        if (!x->growing || lo >= hi)
            continue;
        s = sb_plan_run_steps(p, step, x->k, cancel, err);
        step = x->k;
        if (!s)
            capture(x, p, start, lo, hi);
    }
    return s ? s : sb_plan_run_steps(p, step, p->n_steps, cancel, err);
}

void sb_actcache_batch_done(sb_actcache *c, int start, int count)
{
    for (int i = 0; i < c->n_order; i++) {
        cut *x = &c->cuts[c->order[i]];
        int to = start + count < x->capacity ? start + count : x->capacity;
        /* every image of the batch beyond `filled` captured: the prefix grows; else it stops */
        if (x->growing && start <= x->filled && x->filled < to && x->captured == to - x->filled)
            x->filled = to;
        else if (x->growing && x->filled < to)
            x->growing = false;
        x->captured = 0;
    }
}
