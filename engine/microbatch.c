/* Batched evaluation as micro-batches: each thread owns a plan for a few images and runs
 * whole micro-batches through every layer. A plan at batch 256 walks ~10 MB per layer and so
 * streams every activation through memory; a micro-batch keeps its activations in the core's
 * L2 between layers, and threads never meet inside a layer (no fork/join per step, nothing
 * for a waiting thread to spin on). Per-image results do not depend on the batch size or the
 * thread count, so neither does anything computed from them. */
#include "microbatch.h"

#include "actcache.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Activations of one micro-batch should fit in a core's L2 alongside the weights it streams. */
#define MB_CACHE_BYTES (384 * 1024)
#define MB_MAX 32

/* Images per micro-batch for m: as many as fit the cache budget, 1 to MB_MAX; SB_MICROBATCH
 * overrides it (for measurements). */
static int microbatch_size(const sb_model *m)
{
    const char *env = getenv("SB_MICROBATCH");
    if (env && atoi(env) > 0)
        return atoi(env) < MB_MAX ? atoi(env) : MB_MAX;
    const sb_plan *p1 = m->plan1;
    size_t per_image = (p1->arena_floats + p1->scratch_floats) * sizeof(float);
    size_t mb = per_image ? MB_CACHE_BYTES / per_image : MB_MAX;
    return mb < 1 ? 1 : mb > MB_MAX ? MB_MAX : (int)mb;
}

void sb_mbrunner_free(sb_mbrunner *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_plans; i++)
        sb_plan_free(r->plans[i]);
    free(r->plans);
    free(r);
}

sb_status sb_mbrunner_new(sb_model *m, int batch, sb_mbrunner **out, sb_error *err)
{
    *out = NULL;
    sb_plan *p1;
    sb_status s = sb_model_plan(m, 1, &p1, err);
    if (s)
        return s;
    sb_mbrunner *r = calloc(1, sizeof *r);
    int threads = omp_get_max_threads();
    if (!r || !(r->plans = calloc((size_t)threads, sizeof *r->plans))) {
        free(r);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    r->mb = microbatch_size(m);
    if (r->mb > batch)
        r->mb = batch > 0 ? batch : 1;
    int want = (batch + r->mb - 1) / r->mb;
    r->m = m;
    for (; r->n_plans < threads && r->n_plans < want; r->n_plans++)
    {
        if ((s = sb_plan_new(m->g, r->mb, &r->plans[r->n_plans], err))) {
            sb_mbrunner_free(r);
            return s;
        }
        sb_plan_borrow_packs(r->plans[r->n_plans], p1); /* one copy of the packed weights */
    }
    const sb_graph *g = m->g;
    r->classes = (int)(sb_shape_count(&r->plans[0]->shapes[g->outputs[0]]) / r->mb);
    r->per_image = (size_t)(sb_shape_count(&r->plans[0]->shapes[g->inputs[0]]) / r->mb);
    *out = r;
    return SB_OK;
}

/* One call's images: where they come from, and the cache they resume from or fill. */
typedef struct mb_job {
    const sb_dataset *d;
    const sb_preprocess *pp;
    sb_actcache *cache;
    int *resumed;
    const volatile int *cancel;
} mb_job;

static sb_status run_from_input(const sb_mbrunner *r, sb_plan *p, const mb_job *j, int start,
                                int count, sb_error *err)
{
    float *in = sb_plan_value(p, r->m->g->inputs[0]);
    if (count < r->mb) /* a short tail runs padded with zeros */
        memset(in + (size_t)count * r->per_image, 0,
               (size_t)(r->mb - count) * r->per_image * sizeof *in);
    sb_status s = sb_dataset_read(j->d, j->pp, start, count, in, err);
    return s ? s : sb_plan_run(p, j->cancel, err);
}

/* Images [start, start + count) through plan p; logits to out (count x classes). */
static sb_status run_one(const sb_mbrunner *r, sb_plan *p, const mb_job *j, int start,
                         int count, float *out, sb_error *err)
{
    sb_status s = j->cache
                      ? sb_actcache_run(j->cache, p, start, count, j->cancel, j->resumed, err)
                      : run_from_input(r, p, j, start, count, err);
    if (!s)
        memcpy(out, sb_plan_value(p, r->m->g->outputs[0]),
               (size_t)count * (size_t)r->classes * sizeof *out);
    return s;
}

sb_status sb_mbrunner_run(sb_mbrunner *r, const sb_dataset *d, const sb_preprocess *pp,
                          sb_actcache *cache, int start, int count, float *logits,
                          int *resumed, const volatile int *cancel, sb_error *err)
{
    const mb_job j = {d, pp, cache, resumed, cancel};
    const int n_mb = (count + r->mb - 1) / r->mb;
    const int T = r->n_plans < n_mb ? r->n_plans : n_mb;
    sb_status status = SB_OK;
    if (T <= 1) {
        for (int i = 0; i < n_mb && !status; i++) {
            int c = count - i * r->mb < r->mb ? count - i * r->mb : r->mb;
            status = run_one(r, r->plans[0], &j, start + i * r->mb, c,
                             logits + (size_t)i * r->mb * r->classes, err);
        }
        return status;
    }
    /* Dynamic: a thread that loses its core to another process then takes fewer pieces. */
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int i = 0; i < n_mb; i++) {
        int c = count - i * r->mb < r->mb ? count - i * r->mb : r->mb;
        sb_error e = {0};
        if (run_one(r, r->plans[omp_get_thread_num()], &j, start + i * r->mb, c,
                    logits + (size_t)i * r->mb * r->classes, &e))
#pragma omp critical(sb_mbrunner_err)
            if (!status) {
                status = e.status;
                *err = e;
            }
    }
    return status;
}
