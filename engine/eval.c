/* Accuracy over a dataset: batches split into per-thread micro-batches (microbatch.c), with
 * progress and cancellation between batches; with an activation cache each micro-batch resumes
 * or captures its own images there. Per-image results do not depend on the batch size or the thread count, so the
 * accuracy is the same however it is run. */
#include "actcache.h"
#include "microbatch.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SB_EVAL_BATCH 64

sb_status sb_eval_check(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                        sb_error *err)
{
    sb_shape img = sb_dataset_image_shape(d), in = m->g->declared_input;
    if (m->g->n_inputs != 1)
        return sb_error_set(err, SB_ERR_UNSUPPORTED,
                            "the model has %d inputs; evaluation needs exactly one (the image)",
                            m->g->n_inputs);
    char a[64], b[64];
    bool fits = in.rank == 4 && img.rank == 3;
    for (int i = 0; fits && i < 3; i++)
        fits = in.dim[i + 1] < 0 || in.dim[i + 1] == img.dim[i];
    if (!fits)
        return sb_error_set(err, SB_ERR_SHAPE,
                            "the model's input is %s but the data's images are %s (CxHxW); "
                            "give --data DIR with matching images",
                            sb_shape_str(&in, a, sizeof a), sb_shape_str(&img, b, sizeof b));
    if ((pp->n_mean != 1 && pp->n_mean != img.dim[0]) || (pp->n_std != 1 && pp->n_std != img.dim[0]))
        return sb_error_set(err, SB_ERR_ARG,
                            "the preprocessing has %d means and %d standard deviations but the "
                            "images have %lld channels; give one value or one per channel",
                            pp->n_mean, pp->n_std, (long long)img.dim[0]);
    if (!sb_dataset_has_labels(d))
        return sb_error_set(err, SB_ERR_ARG,
                            "the evaluation data has no labels, so accuracy cannot be "
                            "measured; give --data DIR with a labels file");
    return SB_OK;
}

/* Ranks of the true label among the logits: 0 means top-1. Ties go to the lower index. */
static int label_rank(const float *logits, int classes, int label)
{
    if (!isfinite(logits[label])) /* a diverged model must not score: NaN compares false */
        return classes;
    int rank = 0;
    for (int k = 0; k < classes; k++)
        rank += logits[k] > logits[label] || (logits[k] == logits[label] && k < label);
    return rank;
}

static void score_batch(const sb_dataset *d, const float *logits, int classes, int start,
                        int count, const int *reference, sb_eval_result *res)
{
    for (int i = 0; i < count; i++) {
        const float *row = logits + (size_t)i * classes;
        int label = sb_dataset_label(d, start + i);
        bool valid = label >= 0 && label < classes;
        int rank = valid ? label_rank(row, classes, label) : classes;
        res->correct1 += rank < 1;
        res->correct5 += rank < 5;
        res->loss += valid ? sb_logsumexp(row, classes, 1.0) - row[label] : 0;
        res->pred[start + i] = sb_argmax(row, classes);
        res->agree += reference && reference[start + i] == res->pred[start + i];
    }
}

static sb_status run_batches(sb_mbrunner *r, int batch, const sb_dataset *d,
                             const sb_preprocess *pp, const sb_eval_options *opt,
                             sb_eval_result *res, float *logits, sb_error *err)
{
    int total = res->images;
    sb_eval_progress prog = {.total = total};
    for (int start = 0; start < total; start += batch) {
        int count = total - start < batch ? total - start : batch;
        sb_status s = sb_mbrunner_run(r, d, pp, opt->cache, start, count, logits, &res->cached,
                                      opt->cancel, err);
        if (s)
            return s;
        if (opt->cache)
            sb_actcache_batch_done(opt->cache, start, count);
        score_batch(d, logits, r->classes, start, count, opt->reference, res);
        prog.done = start + count;
        prog.correct1 = res->correct1;
        prog.correct5 = res->correct5;
        prog.agree = res->agree;
        bool stop = opt->progress && opt->progress(&prog, opt->user);
        if (stop || (opt->cancel && __atomic_load_n(opt->cancel, __ATOMIC_RELAXED)))
            return sb_error_set(err, SB_ERR_CANCELLED, "evaluation cancelled");
    }
    return SB_OK;
}

static double cpu_now(void)
{
    struct timespec ts;
    return clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0 ? ts.tv_sec + ts.tv_nsec * 1e-9 : 0;
}

sb_status sb_eval(sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                  const sb_eval_options *opt, sb_eval_result *res, sb_error *err)
{
    static const sb_eval_options defaults = {0};
    opt = opt ? opt : &defaults;
    memset(res, 0, sizeof *res);
    sb_status s = sb_eval_check(m, d, pp, err);
    if (s)
        return s;
    int total = sb_dataset_count(d);
    if (opt->limit > 0 && opt->limit < total)
        total = opt->limit;
    int batch = opt->batch > 0 ? opt->batch : SB_EVAL_BATCH;
    if (batch > total)
        batch = total > 0 ? total : 1;
    sb_mbrunner *r;
    if ((s = sb_mbrunner_new(m, batch, &r, err)))
        return s;
    res->images = total;
    res->pred = calloc((size_t)total + 1, sizeof *res->pred);
    float *logits = malloc((size_t)batch * (size_t)r->classes * sizeof *logits);
    if (!res->pred || !logits) {
        free(logits);
        sb_mbrunner_free(r);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    double t0 = omp_get_wtime(), c0 = cpu_now();
    if (opt->cache)
        s = sb_actcache_begin(opt->cache, m, r->plans[0], d, pp, err);
    if (!s)
        s = run_batches(r, batch, d, pp, opt, res, logits, err);
    if (opt->cache)
        sb_actcache_end(opt->cache);
    res->seconds = omp_get_wtime() - t0;
    res->cpu_seconds = cpu_now() - c0;
    free(logits);
    sb_mbrunner_free(r);
    res->loss /= res->images > 0 ? res->images : 1;
    return s;
}

void sb_eval_result_free(sb_eval_result *r)
{
    free(r->pred);
    r->pred = NULL;
}
