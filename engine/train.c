/* Fine-tuning: mini-batches from a dataset through the tape, cross-entropy or distillation
 * against a teacher's cached logits, SGD, progress and cancellation between steps; gradual
 * pruning on top. */
#include "model.h"
#include "train_tape.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

sb_train_options sb_train_options_default(void)
{
    return (sb_train_options){
        .epochs = 1, .batch = 64, .lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f,
        .temperature = 4, .alpha = 0.7f, .bn = SB_BN_TRAIN, .shuffle = true, .seed = 1,
        .agp_steps = 10, .agp_initial = 0, .agp_span = 0.5};
}

double sb_agp_sparsity(double s_i, double s_f, int k, int n)
{
    if (n <= 0)
        return s_f;
    double f = k < 0 ? 0 : k > n ? 1 : (double)k / n;
    return s_f + (s_i - s_f) * (1 - f) * (1 - f) * (1 - f);
}

/* ---- checks ---- */

static sb_status check_options(const sb_train_options *o, const sb_model *teacher,
                               sb_error *err)
{
    if (o->batch < 1 || o->batch > 65536)
        return sb_error_set(err, SB_ERR_ARG, "the batch size must be from 1 to 65536, not %d",
                            o->batch);
    if (o->steps < 0 || !(o->epochs >= 0) || (o->steps == 0 && o->epochs <= 0))
        return sb_error_set(err, SB_ERR_ARG, "give a positive number of epochs or steps");
    if (!(o->lr > 0) || !(o->momentum >= 0 && o->momentum < 1) || !(o->weight_decay >= 0) ||
        !(o->clip_norm >= 0))
        return sb_error_set(err, SB_ERR_ARG,
                            "learning rate must be > 0, momentum in [0, 1), weight decay and "
                            "gradient clipping >= 0");
    if (o->distill && !teacher)
        return sb_error_set(err, SB_ERR_ARG, "distillation needs a teacher model");
    if (o->distill && (!(o->temperature > 0) || !(o->alpha >= 0 && o->alpha <= 1)))
        return sb_error_set(err, SB_ERR_ARG,
                            "distillation wants a temperature > 0 and alpha in [0, 1]");
    if (o->agp_steps < 0 || !(o->agp_initial >= 0 && o->agp_initial < 1) ||
        !(o->agp_span > 0 && o->agp_span <= 1))
        return sb_error_set(err, SB_ERR_ARG,
                            "gradual pruning wants steps >= 1, an initial fraction in [0, 1) "
                            "and a span in (0, 1]");
    return SB_OK;
}

static sb_status check_data(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                            bool need_labels, sb_error *err)
{
    sb_status s = sb_eval_check(m, d, pp, err);
    if (s == SB_ERR_ARG && !need_labels && !sb_dataset_has_labels(d)) {
        err->status = SB_OK; /* the only complaint was the missing labels */
        err->msg[0] = 0;
        return SB_OK;
    }
    if (s)
        sb_error_prefix(err, "training data: ");
    return s;
}

/* ---- the teacher: a plan over its own graph copy, logits cached per image ---- */

typedef struct teacher_run {
    sb_graph *g;
    sb_plan *plan;
    int classes;
    bool probs;       /* its output is a Softmax: logits are log-probabilities */
    float *cache;     /* per image, or NULL when the set is too large */
    uint8_t *have;
    double seconds;
} teacher_run;

#define TEACHER_CACHE_BYTES ((size_t)1 << 30)

static void teacher_free(teacher_run *tc)
{
    sb_plan_free(tc->plan);
    sb_graph_free(tc->g);
    free(tc->cache);
    free(tc->have);
}

static sb_status teacher_new(const sb_model *m, int batch, int images, int classes, teacher_run *tc,
                             sb_error *err)
{
    memset(tc, 0, sizeof *tc);
    if (!(tc->g = sb_graph_clone(m->g)))
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    sb_status s = sb_plan_new(tc->g, batch, &tc->plan, err);
    if (s) {
        sb_error_prefix(err, "teacher: ");
        return s;
    }
    int out = tc->g->outputs[0];
    int64_t n = sb_shape_count(&tc->plan->shapes[out]);
    tc->classes = (int)(n / batch);
    if (tc->classes != classes || n % batch)
        return sb_error_set(err, SB_ERR_SHAPE,
                            "the teacher has %d outputs per image, the student %d: distillation "
                            "needs the same classes",
                            tc->classes, classes);
    int prod = tc->g->values[out].producer;
    tc->probs = prod >= 0 && tc->g->nodes[prod].op == SB_OP_SOFTMAX;
    size_t bytes = (size_t)images * (size_t)classes * sizeof(float);
    if (bytes <= TEACHER_CACHE_BYTES) {
        tc->cache = malloc(bytes + 1);
        tc->have = calloc((size_t)images + 1, 1);
        if (!tc->cache || !tc->have) {
            free(tc->cache), free(tc->have);
            tc->cache = NULL, tc->have = NULL;
        }
    }
    return SB_OK;
}

/* Teacher logits for the batch in `in` (images idx[0..count)). */
static sb_status teacher_logits(teacher_run *tc, const float *in, size_t per_image, const int *idx,
                                int count, float *out, sb_error *err)
{
    bool all = tc->cache != NULL;
    for (int i = 0; all && i < count; i++)
        all = tc->have[idx[i]];
    size_t row = (size_t)tc->classes;
    if (!all) {
        double t0 = omp_get_wtime();
        float *x = sb_plan_value(tc->plan, tc->g->inputs[0]);
        memcpy(x, in, (size_t)count * per_image * sizeof(float));
        memset(x + (size_t)count * per_image, 0,
               (size_t)(tc->plan->batch - count) * per_image * sizeof(float));
        sb_status s = sb_plan_run(tc->plan, NULL, err);
        if (s)
            return s;
        const float *y = sb_plan_value(tc->plan, tc->g->outputs[0]);
        for (int i = 0; i < count; i++) {
            float *o = out + i * row;
            for (size_t k = 0; k < row; k++)
                o[k] = tc->probs ? logf(fmaxf(y[i * row + k], 1e-30f)) : y[i * row + k];
            if (tc->cache) {
                memcpy(tc->cache + (size_t)idx[i] * row, o, row * sizeof(float));
                tc->have[idx[i]] = 1;
            }
        }
        tc->seconds += omp_get_wtime() - t0;
        return SB_OK;
    }
    for (int i = 0; i < count; i++)
        memcpy(out + i * row, tc->cache + (size_t)idx[i] * row, row * sizeof(float));
    return SB_OK;
}

/* ---- gradual pruning ---- */

typedef struct agp_plan {
    const sb_config *cfg; /* target ratios */
    int n;                /* pruning steps */
    int *at;              /* training step of pruning step k+1 */
    int next;             /* pruning steps done */
    double initial;
    bool channels;        /* cfg prunes channels (L1) */
    bool **removed;       /* the last channel choice, per group */
    int n_groups;
} agp_plan;

/* Pruning step k+1 at fraction f of the targets: magnitude, then channels (whose choice is kept
 * for thinning the result). */
static sb_status agp_prune(sb_tape *t, agp_plan *ap, double f, sb_error *err)
{
    sb_status s = sb_tape_prune_magnitude(t, ap->cfg, f, err);
    if (s || !ap->channels)
        return s;
    sb_channels_choice_free(ap->removed, ap->n_groups);
    return sb_tape_prune_channels(t, ap->cfg, f, &ap->removed, &ap->n_groups, err);
}

/* Fraction of zeros over the masked weights. */
static double masked_sparsity(const sb_tape *t)
{
    int64_t zeros = 0, total = 0;
    for (int k = 0; k < t->n_params; k++) {
        const sb_tparam *p = &t->params[k];
        if (!p->mask || p->slot != 1 || p->layer < 0)
            continue;
        const float *w = p->shadow ? p->shadow : p->w;
        for (int64_t i = 0; i < p->n; i++)
            zeros += w[i] == 0.0f;
        total += p->n;
    }
    return total ? (double)zeros / (double)total : 0;
}

/* ---- the loop ---- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void permute(int *perm, int n, uint64_t seed, int epoch, bool shuffle)
{
    for (int i = 0; i < n; i++)
        perm[i] = i;
    if (!shuffle)
        return;
    uint64_t st = seed ^ (0xd1b54a32d192ed03ULL * (uint64_t)(epoch + 1));
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(splitmix(&st) % (uint64_t)(i + 1));
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

typedef struct loop_state {
    sb_tape *t;
    const sb_dataset *data;
    const sb_preprocess *pp;
    const sb_train_options *o;
    teacher_run *tc;        /* NULL: no distillation */
    agp_plan *agp;      /* NULL: no gradual pruning */
    int images, classes, steps;
} loop_state;

static double lr_at(const sb_train_options *o, int step, int steps)
{
    if (o->lr_schedule == SB_LR_COSINE && steps > 1)
        return o->lr * 0.5 * (1 + cos(M_PI * step / steps));
    return o->lr;
}

/* Wall time of epoch e (-1: none yet), the teacher's share included. */
static void note_epoch_time(sb_train_result *res, int e, double seconds)
{
    if (e < 0)
        return;
    int slot = e < SB_EPOCH_TIMES ? e : SB_EPOCH_TIMES - 1;
    res->epoch_seconds[slot] += seconds;
    res->n_epoch_times = slot + 1;
}

static sb_status run_loop(loop_state *ls, sb_train_result *res, sb_error *err)
{
    sb_tape *t = ls->t;
    const sb_train_options *o = ls->o;
    int B = t->cap, N = ls->images, C = ls->classes;
    size_t per_image = (size_t)(sb_tape_count(t, t->g->inputs[0]) / t->batch);
    int *perm = malloc(((size_t)N + 1) * sizeof *perm);
    int *labels = malloc(((size_t)B + 1) * sizeof *labels);
    float *tlog = malloc(((size_t)B * C + 1) * sizeof *tlog);
    if (!perm || !labels || !tlog) {
        free(perm), free(labels), free(tlog);
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    }
    bool has_labels = sb_dataset_has_labels(ls->data);
    double t0 = omp_get_wtime(), t_epoch = t0, tail_loss = 0;
    int tail_steps = 0, epoch = -1, pos = N, ep_correct = 0, ep_images = 0;
    sb_train_progress prog = {.steps = ls->steps, .sparsity = masked_sparsity(t)};
    sb_status s = SB_OK;
    for (int step = 0; step < ls->steps && !s; step++) {
        if (o->cancel && __atomic_load_n(o->cancel, __ATOMIC_RELAXED)) {
            s = sb_error_set(err, SB_ERR_CANCELLED, "training cancelled");
            break;
        }
        while (ls->agp && ls->agp->next < ls->agp->n && ls->agp->at[ls->agp->next] <= step) {
            ls->agp->next++;
            double f = sb_agp_sparsity(ls->agp->initial, 1.0, ls->agp->next, ls->agp->n);
            if ((s = agp_prune(t, ls->agp, f, err)))
                break;
            prog.sparsity = masked_sparsity(t);
        }
        if (s)
            break;
        if (pos >= N) { /* a new epoch */
            note_epoch_time(res, epoch, omp_get_wtime() - t_epoch);
            t_epoch = omp_get_wtime();
            epoch++;
            permute(perm, N, o->seed, epoch, o->shuffle);
            pos = 0;
            ep_correct = ep_images = 0;
            tail_loss = 0, tail_steps = 0;
        }
        int count = N - pos < B ? N - pos : B;
        if (count != t->batch && (s = sb_tape_set_batch(t, count, err)))
            break;
        float *in = sb_tape_input(t, 0);
        for (int i = 0; i < count; i++) {
            sb_dataset_fill(ls->data, ls->pp, perm[pos + i], 1, in + (size_t)i * per_image);
            labels[i] = has_labels ? sb_dataset_label(ls->data, perm[pos + i]) : -1;
        }
        if (ls->tc && (s = teacher_logits(ls->tc, in, per_image, perm + pos, count, tlog, err)))
            break;
        if ((s = sb_tape_forward(t, err)))
            break;
        sb_tape_zero_grad(t);
        int correct = 0;
        const float *logits = t->act[t->logits];
        float *d = t->grad[t->logits];
        double loss = ls->tc ? sb_loss_kd(logits, tlog, labels, count, C, o->temperature,
                                          o->alpha, d, &correct)
                             : sb_loss_ce(logits, labels, count, C, d, &correct);
        if (!isfinite(loss)) {
            s = sb_error_set(err, SB_ERR_ARG,
                             "training diverged: the loss is %f at step %d; lower the learning "
                             "rate (--lr)",
                             loss, step + 1);
            break;
        }
        sb_tape_backward(t);
        if (o->clip_norm > 0)
            sb_clip_grad_norm(t, o->clip_norm);
        sb_sgd_step(t, (float)lr_at(o, step, ls->steps), o->momentum, o->weight_decay);
        pos += count;
        res->steps++;
        res->images += count;
        if (step == 0)
            res->first_loss = loss;
        ep_correct += correct;
        ep_images += count;
        tail_loss += loss;
        tail_steps++;
        res->last_loss = tail_loss / tail_steps;
        res->train_accuracy = 100.0 * ep_correct / ep_images;
        prog = (sb_train_progress){.step = step + 1, .steps = ls->steps, .epoch = epoch,
                                   .loss = loss, .accuracy = res->train_accuracy,
                                   .sparsity = prog.sparsity, .seconds = omp_get_wtime() - t0};
        if (o->progress && o->progress(&prog, o->user))
            s = sb_error_set(err, SB_ERR_CANCELLED, "training cancelled");
    }
    note_epoch_time(res, epoch, omp_get_wtime() - t_epoch);
    res->epochs = N ? (double)res->images / N : 0;
    free(perm), free(labels), free(tlog);
    return s;
}

/* ---- entry points ---- */

/* Removes the channels that gradual pruning zeroed, as sb_compress does. */
static sb_status thin(sb_model **m, bool *const *removed, sb_error *err)
{
    sb_graph *g = sb_graph_clone((*m)->g);
    if (!g)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    sb_status s = sb_channels_prune(*m, g, removed, true, err);
    if (s) {
        sb_graph_free(g);
        return s;
    }
    sb_model *thinned = NULL;
    if ((s = sb_model_from_graph(g, sb_model_path(*m), &thinned, err)))
        return s;
    sb_model_free(*m);
    *m = thinned;
    return SB_OK;
}

static sb_status train_model(const sb_model *teacher_m, const sb_model *student,
                             const sb_config *cfg, const sb_dataset *data,
                             const sb_preprocess *pp, const sb_train_options *o, agp_plan *agp,
                             sb_model **out, sb_train_result *res, sb_error *err)
{
    double t0 = omp_get_wtime();
    sb_tape *t = NULL;
    teacher_run tc = {0};
    bool use_teacher = o->distill;
    sb_status s = check_data(student, data, pp, !(use_teacher && o->alpha >= 1), err);
    int images = sb_dataset_count(data);
    if (o->limit > 0 && o->limit < images)
        images = o->limit;
    if (!s && images < 1)
        s = sb_error_set(err, SB_ERR_ARG, "the training data has no images");
    int batch = o->batch < images ? o->batch : images;
    if (!s)
        s = sb_tape_new(student->g, batch, &(sb_tape_options){.bn = o->bn}, &t, err);
    if (!s)
        s = sb_tape_bind_layers(t, student, cfg, o->keep_zeros, err);
    int classes = 0;
    if (!s) {
        int64_t n = sb_tape_count(t, t->logits);
        classes = (int)(n / batch);
        const sb_shape *ls = &t->g->values[t->logits].shape;
        if (ls->rank != 2 || n % batch || classes < 1 || classes > 4096)
            s = sb_error_set(err, SB_ERR_UNSUPPORTED,
                             "training needs logits of shape [batch, classes] (up to 4096)");
    }
    if (!s && use_teacher)
        s = teacher_new(teacher_m, batch, images, classes, &tc, err);
    /* whole epochs (the last batch of each may be short), then a fraction of one */
    int per_epoch = (images + batch - 1) / batch;
    double whole = floor(o->epochs + 1e-9);
    int steps = o->steps > 0 ? o->steps
                             : (int)whole * per_epoch +
                                   (int)ceil((o->epochs - whole) * images / batch - 1e-9);
    if (!s && agp) {
        agp->at = calloc((size_t)agp->n + 1, sizeof *agp->at);
        if (!agp->at)
            s = sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        for (int k = 0; !s && k < agp->n; k++)
            agp->at[k] = (int)floor(k * o->agp_span * steps / agp->n);
    }
    if (!s) {
        loop_state ls = {.t = t, .data = data, .pp = pp, .o = o,
                         .tc = use_teacher ? &tc : NULL, .agp = agp, .images = images,
                         .classes = classes, .steps = steps};
        s = run_loop(&ls, res, err);
    }
    if (!s) { /* the result: a new model from the trained graph */
        sb_graph *g = sb_graph_clone(t->g);
        s = g ? sb_model_from_graph(g, sb_model_path(student), out, err)
              : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
        if (!s && agp && agp->removed)
            s = thin(out, agp->removed, err);
        if (!s && cfg && cfg->n_layers)
            s = sb_config_copy(cfg, &(*out)->cfg, err);
        if (s) {
            sb_model_free(*out);
            *out = NULL;
        }
    }
    res->teacher_seconds = tc.seconds;
    if (agp) {
        free(agp->at);
        sb_channels_choice_free(agp->removed, agp->n_groups);
    }
    teacher_free(&tc);
    sb_tape_free(t);
    res->seconds = omp_get_wtime() - t0;
    return s;
}

sb_status sb_finetune(const sb_model *teacher, const sb_model *student, const sb_dataset *train,
                      const sb_preprocess *pp, const sb_train_options *o, sb_model **out,
                      sb_train_result *res, sb_error *err)
{
    sb_train_result dummy;
    res = res ? res : &dummy;
    memset(res, 0, sizeof *res);
    *out = NULL;
    sb_status s = check_options(o, teacher, err);
    if (s)
        return s;
    return train_model(teacher, student, &student->cfg, train, pp, o, NULL, out, res, err);
}

sb_status sb_finetune_agp(const sb_model *teacher, const sb_model *base, const sb_config *cfg,
                          const sb_dataset *train, const sb_preprocess *pp,
                          const sb_train_options *o, sb_model **out, sb_train_result *res,
                          sb_error *err)
{
    sb_train_result dummy;
    res = res ? res : &dummy;
    memset(res, 0, sizeof *res);
    *out = NULL;
    sb_status s = check_options(o, teacher, err);
    if (!s && o->agp_steps < 1)
        s = sb_error_set(err, SB_ERR_ARG, "gradual pruning needs at least one pruning step");
    if (s)
        return s;
    /* The start: cfg without pruning (the ratios grow during training). */
    sb_config start = {0};
    sb_model *student = NULL;
    agp_plan ap = {.cfg = cfg, .n = o->agp_steps, .initial = o->agp_initial};
    if ((s = sb_config_validate(base, cfg, err)) || (s = sb_config_copy(cfg, &start, err)))
        return s;
    for (int l = 0; l < start.n_layers; l++) {
        ap.channels |= start.layer[l].prune == SB_PRUNE_L1 && start.layer[l].ratio > 0;
        start.layer[l].prune = SB_PRUNE_NONE;
        start.layer[l].ratio = 0;
    }
    start.global_ratio = 0;
    sb_calib_data calib = {.data = train, .pp = pp};
    s = sb_compress(base, &start, &calib, true, &student, err);
    sb_config_free(&start);
    if (s)
        return s;
    /* Masks for every layer the target prunes, from the start. */
    sb_train_options oo = *o;
    s = train_model(teacher, student, cfg, train, pp, &oo, &ap, out, res, err);
    sb_model_free(student);
    return s;
}
