#include "ui_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A job waiting to run. */
typedef struct job {
    bool set;
    ui_job_kind kind;
    uint64_t gen;   /* eval/latency/file: the edit (0: base); sweep: the sweep id */
    sb_config cfg;  /* eval/file: owned snapshot (n_layers 0 when none) */
    int layer;      /* sweep */
    sb_prune_method method;
    ui_file_op op;  /* file */
    char path[UI_PATH_MAX];
    ui_weights *wt; /* eval/file/train: fine-tuned weights of that edit (a reference), or NULL */
    sb_train_options train; /* train */
    bool agp;
} job;

enum { BASE = 0, EDIT = 1 }; /* queue and mailbox rows: the base model's jobs, the others */

struct ui_worker {
    ui_worker_opts o;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake[2];         /* self-pipe: [0] polled by the UI, [1] written here */
    volatile int cancel; /* read by the engine between batches */
    /* under mu */
    job pending[2][UI_JOB_COUNT];
    bool quit, busy, running_base, preempted;
    ui_job_kind running_kind;
    uint64_t running_gen;
    ui_job_report box[2][UI_JOB_COUNT]; /* the latest report of each kind */
    bool fresh[2][UI_JOB_COUNT];        /* changed since the UI last took it */
    ui_model_stats *stats;              /* not yet taken */
    ui_layer_times *times[2];           /* per-layer times not yet taken, [BASE] and [EDIT] */
    ui_weights *trained;                /* a finished fine-tune, not yet taken */
    uint64_t trained_gen;
    /* the worker thread's own */
    sb_eval_result base_res; /* predictions: the reference for agreement */
    bool base_evaluated, base_timed;
    sb_latency base_lat;
    sb_model *cm; /* the newest compressed model */
    ui_weights *cm_wt; /* when cm is fine-tuned weights: the reference that keeps it */
    uint64_t cm_gen;
    sb_eval_result cm_res; /* its evaluation, when cm_evaluated */
    bool cm_evaluated, cm_timed;
    sb_latency cm_lat;
    sb_dataset *train; /* calibration data, opened on first need */
    sb_actcache *cache; /* the base's activations for edited models' evaluations, or NULL */
};

static void job_clear(job *j)
{
    if (j->set)
        sb_config_free(&j->cfg);
    ui_weights_unref(j->wt);
    memset(j, 0, sizeof *j);
}

static void poke(ui_worker *w)
{
    char c = 1;
    ssize_t n = write(w->wake[1], &c, 1); /* a full pipe already means "wake up" */
    (void)n;
}

/* Jobs that measure one model; generation 0's are the base model's. */
static bool per_model(ui_job_kind k)
{
    return k == UI_JOB_EVAL || k == UI_JOB_LATENCY || k == UI_JOB_LAYERS;
}

static int row_of(const ui_job_report *r)
{
    return per_model(r->kind) && r->generation == 0 ? BASE : EDIT;
}

static void post(ui_worker *w, const ui_job_report *r)
{
    pthread_mutex_lock(&w->mu);
    w->box[row_of(r)][r->kind] = *r;
    w->fresh[row_of(r)][r->kind] = true;
    pthread_mutex_unlock(&w->mu);
    poke(w);
}

static void finish(ui_job_report *r, sb_status st, const sb_error *err)
{
    r->state = st == SB_OK              ? UI_JOB_DONE
               : st == SB_ERR_CANCELLED ? UI_JOB_CANCELLED
                                        : UI_JOB_FAILED;
    if (st)
        snprintf(r->error, sizeof r->error, "%.*s", (int)sizeof r->error - 1,
                 err->msg[0] ? err->msg : sb_status_str(st));
}

/* ---- evaluation ---- */

typedef struct progress_ctx {
    ui_worker *w;
    ui_job_report *r;
} progress_ctx;

/* Called by the engine after each batch, on this worker thread. */
static bool on_progress(const sb_eval_progress *p, void *user)
{
    progress_ctx *c = user;
    ui_worker *w = c->w;
    int row = row_of(c->r);
    pthread_mutex_lock(&w->mu);
    ui_job_report *r = &w->box[row][UI_JOB_EVAL];
    if (r->generation == c->r->generation && r->state == UI_JOB_RUNNING) {
        r->progress = *p;
        w->fresh[row][UI_JOB_EVAL] = true;
    }
    pthread_mutex_unlock(&w->mu);
    poke(w);
    return false; /* cancellation goes through opt.cancel */
}

static bool needs_calibration(const sb_config *c)
{
    for (int i = 0; i < c->n_layers; i++)
        if (c->layer[i].act8)
            return true;
    return false;
}

static sb_status calibration(ui_worker *w, const sb_config *c, sb_calib_data *cd, sb_error *err)
{
    *cd = (sb_calib_data){0};
    if (!needs_calibration(c))
        return SB_OK;
    if (!w->train) {
        if (!w->o.data_dir)
            return sb_error_set(err, SB_ERR_ARG,
                                "activation quantisation (a8) calibrates on the training split, "
                                "but there is no data directory: start with --data DIR");
        sb_status s = sb_dataset_open(w->o.data_dir, "train", &w->train, err);
        if (s) {
            sb_error_prefix(err, "a8 calibrates on the training split: ");
            return s;
        }
    }
    *cd = (sb_calib_data){.data = w->train, .pp = &w->o.pp};
    return SB_OK;
}

/* cm becomes the current edit's model (owned, or kept by the reference wt) and its numbers go
 * to the UI. */
static void set_cm(ui_worker *w, sb_model *cm, ui_weights *wt, uint64_t gen)
{
    if (w->cm_wt)
        ui_weights_unref(w->cm_wt);
    else
        sb_model_free(w->cm);
    sb_eval_result_free(&w->cm_res);
    w->cm = cm;
    w->cm_wt = wt;
    w->cm_gen = gen;
    w->cm_evaluated = w->cm_timed = false;
    ui_model_stats *st = ui_model_stats_new(cm, gen);
    pthread_mutex_lock(&w->mu);
    ui_model_stats_free(w->stats);
    w->stats = st;
    pthread_mutex_unlock(&w->mu);
    poke(w);
}

/* Compresses the base with cfg into w->cm (the previous one stays on failure). */
static sb_status build(ui_worker *w, const sb_config *cfg, uint64_t gen, sb_error *err)
{
    sb_calib_data cd;
    sb_model *cm = NULL;
    sb_status s = calibration(w, cfg, &cd, err);
    if (!s)
        s = sb_compress(w->o.model, cfg, &cd, true, &cm, err);
    if (!s)
        set_cm(w, cm, NULL, gen);
    return s;
}

/* The model of edit gen: fine-tuned weights as they are, else cfg compressed from the base. */
static sb_status model_of(ui_worker *w, const job *j, sb_error *err)
{
    if (w->cm && w->cm_gen == j->gen)
        return SB_OK;
    if (j->wt)
        set_cm(w, j->wt->model, ui_weights_ref(j->wt), j->gen);
    return j->wt ? SB_OK : build(w, &j->cfg, j->gen, err);
}

/* A first estimate from a few images at a small batch: a plan for a full batch takes the engine
 * far longer to build than those images take to run (see the notes), so this puts a number on
 * screen well before the first full batch. Only cancellation is an error here. */
static sb_status peek(ui_worker *w, sb_model *m, const sb_eval_options *full, progress_ctx *ctx,
                      sb_error *err)
{
    enum { PEEK_IMAGES = 16 };
    int total = sb_dataset_count(w->o.data);
    total = full->limit > 0 && full->limit < total ? full->limit : total;
    if (total < 8 * PEEK_IMAGES)
        return SB_OK;
    sb_eval_options o = {.batch = PEEK_IMAGES,
                         .limit = PEEK_IMAGES,
                         .cancel = full->cancel,
                         .reference = full->reference,
                         .cache = full->cache};
    sb_eval_result r = {0};
    sb_error ignored = {0};
    sb_status st = sb_eval(m, w->o.data, &w->o.pp, &o, &r, &ignored);
    if (st == SB_OK) {
        sb_eval_progress p = {.done = r.images,
                              .total = total,
                              .correct1 = r.correct1,
                              .correct5 = r.correct5,
                              .agree = r.agree};
        on_progress(&p, ctx);
    }
    sb_eval_result_free(&r);
    return st == SB_ERR_CANCELLED ? sb_error_set(err, st, "evaluation cancelled") : SB_OK;
}

static void run_eval(ui_worker *w, const job *j, ui_job_report *r)
{
    progress_ctx ctx = {w, r};
    sb_eval_options opt = {
        .limit = w->o.eval_limit, .progress = on_progress, .user = &ctx, .cancel = &w->cancel};
    sb_eval_result res = {0};
    sb_error err = {0};
    sb_model *m = w->o.model;
    sb_status st = SB_OK;
    if (j->gen) {
        if ((st = model_of(w, j, &err)))
            sb_error_prefix(&err, "not applied: ");
        m = w->cm;
        opt.reference = w->base_evaluated ? w->base_res.pred : NULL;
        opt.cache = w->cache; /* the base and the eval set never change in a worker's life */
    }
    if (!st)
        st = peek(w, m, &opt, &ctx, &err);
    if (!st)
        st = sb_eval(m, w->o.data, &w->o.pp, &opt, &res, &err);
    pthread_mutex_lock(&w->mu);
    r->progress = w->box[row_of(r)][UI_JOB_EVAL].progress;
    pthread_mutex_unlock(&w->mu);
    if (!st) {
        r->progress = (sb_eval_progress){.done = res.images,
                                         .total = res.images,
                                         .correct1 = res.correct1,
                                         .correct5 = res.correct5,
                                         .agree = opt.reference ? res.agree : -1};
        r->seconds = res.seconds;
        r->cached = res.cached;
        sb_eval_result *keep = j->gen ? &w->cm_res : &w->base_res;
        sb_eval_result_free(keep);
        *keep = res; /* predictions and counts, for agreement and the report */
        res.pred = NULL;
        *(j->gen ? &w->cm_evaluated : &w->base_evaluated) = true;
    }
    finish(r, st, &err);
    sb_eval_result_free(&res);
}

static void run_latency(ui_worker *w, const job *j, ui_job_report *r)
{
    sb_error err = {0};
    sb_model *m = j->gen == 0 ? w->o.model : w->cm && w->cm_gen == j->gen ? w->cm : NULL;
    sb_status st = m ? sb_latency_measure(m, w->o.latency_seconds, &w->cancel, &r->latency, &err)
                     : sb_error_set(&err, SB_ERR_ARG, "no model for these settings");
    if (!st)
        sb_model_kernel_summary(m, r->kernels, sizeof r->kernels);
    if (!st && j->gen == 0) {
        w->base_lat = r->latency;
        w->base_timed = true;
    } else if (!st) {
        w->cm_lat = r->latency;
        w->cm_timed = true;
    }
    finish(r, st, &err);
}

/* ---- per-layer times ---- */

enum { LAYER_ROUNDS = 3 }; /* rounds of the edited and the base model, alternating */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per layer (and for the run, at index n): the median of the rounds' medians, the least min. */
static void combine(const sb_layer_time *round, int n, sb_layer_time *out, sb_layer_time *run)
{
    for (int i = 0; i <= n; i++) {
        double med[LAYER_ROUNDS], lo = round[i].min_ms;
        for (int k = 0; k < LAYER_ROUNDS; k++) {
            med[k] = round[k * (n + 1) + i].median_ms;
            lo = round[k * (n + 1) + i].min_ms < lo ? round[k * (n + 1) + i].min_ms : lo;
        }
        qsort(med, LAYER_ROUNDS, sizeof *med, cmp_double);
        *(i < n ? &out[i] : run) = (sb_layer_time){med[LAYER_ROUNDS / 2], lo};
    }
}

/* Times m (and the base model beside it when base is set) in alternating rounds, so load on the
 * machine falls on both alike and the speed-ups compare like with like. */
static sb_status time_layers(ui_worker *w, sb_model *m, bool base, ui_layer_times *t,
                             sb_error *err)
{
    const int n = t->n_layers, models = base ? 2 : 1;
    const double each = w->o.latency_seconds / (LAYER_ROUNDS * models);
    sb_layer_time *round = calloc((size_t)(2 * LAYER_ROUNDS * (n + 1)), sizeof *round);
    sb_status st = round ? SB_OK : sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    for (int k = 0; k < LAYER_ROUNDS * models && !st; k++) {
        sb_layer_time *at = &round[(k % models * LAYER_ROUNDS + k / models) * (n + 1)];
        st = sb_latency_layers(k % models ? w->o.model : m, each, &w->cancel, at, &at[n], err);
    }
    if (!st) {
        combine(round, n, t->layer, &t->run);
        if (base)
            combine(&round[LAYER_ROUNDS * (n + 1)], n, t->base, &t->base_run);
    }
    free(round);
    return st;
}

/* Per-layer batch-1 times of generation gen's model (after its latency), and of the base model
 * in the same job for an edit; handed over whole. */
static void run_layers(ui_worker *w, const job *j, ui_job_report *r)
{
    sb_error err = {0};
    sb_model *m = j->gen == 0 ? w->o.model : w->cm && w->cm_gen == j->gen ? w->cm : NULL;
    bool pair = j->gen != 0 && m && sb_model_num_layers(m) == sb_model_num_layers(w->o.model);
    ui_layer_times *t = m ? ui_layer_times_new(sb_model_num_layers(m), j->gen, pair) : NULL;
    sb_status st = !m   ? sb_error_set(&err, SB_ERR_ARG, "no model for these settings")
                   : !t ? sb_error_set(&err, SB_ERR_NOMEM, "out of memory")
                        : time_layers(w, m, pair, t, &err);
    if (!st) {
        t->threads = r->threads;
        int row = j->gen ? EDIT : BASE;
        pthread_mutex_lock(&w->mu);
        ui_layer_times_free(w->times[row]);
        w->times[row] = t;
        t = NULL;
        pthread_mutex_unlock(&w->mu);
    }
    ui_layer_times_free(t);
    finish(r, st, &err);
}

/* ---- sensitivity ---- */

typedef struct sweep_ctx {
    ui_worker *w;
    uint64_t id;
} sweep_ctx;

static bool on_sweep_progress(int done, int total, void *user)
{
    sweep_ctx *c = user;
    pthread_mutex_lock(&c->w->mu);
    ui_job_report *r = &c->w->box[EDIT][UI_JOB_SWEEP];
    if (r->generation == c->id && r->state == UI_JOB_RUNNING) {
        r->progress.done = done;
        r->progress.total = total;
        c->w->fresh[EDIT][UI_JOB_SWEEP] = true;
    }
    pthread_mutex_unlock(&c->w->mu);
    poke(c->w);
    return false;
}

static void run_sweep(ui_worker *w, const job *j, ui_job_report *r)
{
    double ratios[UI_SWEEP_MAX];
    for (int i = 0; i < UI_SWEEP_MAX; i++)
        ratios[i] = i / 10.0;
    sweep_ctx ctx = {w, j->gen};
    sb_sweep_options o = {.method = j->method,
                          .ratios = ratios,
                          .n_ratios = UI_SWEEP_MAX,
                          .layers = &j->layer,
                          .n_layers = 1,
                          .limit = w->o.sweep_limit,
                          .progress = on_sweep_progress,
                          .user = &ctx,
                          .cancel = &w->cancel};
    sb_error err = {0};
    r->layer = j->layer;
    r->method = j->method;
    r->progress = (sb_eval_progress){.total = UI_SWEEP_MAX};
    sb_status st = sb_sweep_count(w->o.model, &o) == UI_SWEEP_MAX
                       ? sb_sweep(w->o.model, w->o.data, &w->o.pp, &o, r->points, &err)
                       : sb_error_set(&err, SB_ERR_ARG, "this layer cannot be swept");
    if (!st) {
        r->n_points = UI_SWEEP_MAX;
        r->progress.done = UI_SWEEP_MAX;
    }
    finish(r, st, &err);
}

/* ---- files ---- */

static bool is_base_config(const sb_config *c)
{
    for (int i = 0; i < c->n_layers; i++)
        if (!sb_layer_config_is_default(&c->layer[i]))
            return false;
    return true;
}

static void run_file(ui_worker *w, const job *j, ui_job_report *r)
{
    sb_error err = {0};
    sb_status st = SB_OK;
    bool base = j->gen == 0 || (is_base_config(&j->cfg) && !j->wt);
    r->op = j->op;
    snprintf(r->path, sizeof r->path, "%s", j->path);
    if (!base)
        st = model_of(w, j, &err);
    sb_model *m = base ? w->o.model : w->cm;
    bool measured = base ? w->base_evaluated : w->cm_evaluated;
    if (!st && j->op == UI_FILE_EXPORT_ONNX) {
        st = sb_model_export_onnx(m, j->path, &err);
        snprintf(r->error, sizeof r->error, "exported %s%s", j->path,
                 base    ? " (no compression: the settings change nothing)"
                 : j->wt ? " (the fine-tuned weights)"
                         : "");
    } else if (!st) {
        sb_measurement mb = {w->o.model, w->base_evaluated ? &w->base_res : NULL,
                             w->base_timed ? &w->base_lat : NULL};
        sb_measurement mc = {m, measured ? (base ? &w->base_res : &w->cm_res) : NULL,
                             (base ? w->base_timed : w->cm_timed) ? (base ? &w->base_lat
                                                                          : &w->cm_lat)
                                                                   : NULL};
        st = sb_report_save_csv(&mb, &mc, j->path, &err);
        snprintf(r->error, sizeof r->error, "wrote the report %s%s%s", j->path,
                 !mc.eval      ? " (accuracy not measured yet for these settings)"
                 : !mc.latency ? " (latency not measured yet for these settings)"
                               : "",
                 j->wt ? " (fine-tuned weights: the CSV does not say so)" : "");
    }
    finish(r, st, &err);
}

/* ---- fine-tuning ---- */

static bool on_train_progress(const sb_train_progress *p, void *user)
{
    progress_ctx *c = user;
    pthread_mutex_lock(&c->w->mu);
    ui_job_report *r = &c->w->box[EDIT][UI_JOB_TRAIN];
    if (r->generation == c->r->generation && r->state == UI_JOB_RUNNING) {
        r->train = *p;
        c->w->fresh[EDIT][UI_JOB_TRAIN] = true;
    }
    pthread_mutex_unlock(&c->w->mu);
    poke(c->w);
    return false; /* cancellation goes through o.cancel */
}

static sb_status open_train(ui_worker *w, sb_error *err)
{
    if (w->train)
        return SB_OK;
    if (!w->o.data_dir)
        return sb_error_set(err, SB_ERR_ARG, "fine-tuning needs the training split, but there "
                                             "is no data directory: start with --data DIR");
    sb_status s = sb_dataset_open(w->o.data_dir, "train", &w->train, err);
    if (s)
        sb_error_prefix(err, "fine-tuning trains on the training split: ");
    return s;
}

static void train_note(const job *j, const sb_train_result *res, char *buf, size_t n)
{
    const sb_train_options *o = &j->train;
    int len = snprintf(buf, n, "%d steps (%.3g epochs), lr %g", res->steps, res->epochs, o->lr);
    if (o->distill && len > 0 && (size_t)len < n)
        len += snprintf(buf + len, n - (size_t)len, ", distilled T %g alpha %g", o->temperature,
                        o->alpha);
    if (j->agp && len > 0 && (size_t)len < n)
        snprintf(buf + len, n - (size_t)len, ", AGP %d", o->agp_steps);
}

/* Fine-tunes the model of edit j->gen (gradual pruning: from the base model) with the base
 * model as the teacher; the trained weights wait in w->trained for the UI. */
static void run_train(ui_worker *w, const job *j, ui_job_report *r)
{
    progress_ctx ctx = {w, r};
    sb_train_options o = j->train;
    o.progress = on_train_progress;
    o.user = &ctx;
    o.cancel = &w->cancel;
    sb_error err = {0};
    sb_train_result res = {0};
    sb_model *out = NULL;
    sb_status st = open_train(w, &err);
    if (!st && !j->agp)
        st = model_of(w, j, &err);
    if (!st)
        st = j->agp ? sb_finetune_agp(w->o.model, w->o.model, &j->cfg, w->train, &w->o.pp, &o,
                                      &out, &res, &err)
                    : sb_finetune(w->o.model, w->cm, w->train, &w->o.pp, &o, &out, &res, &err);
    pthread_mutex_lock(&w->mu);
    r->train = w->box[EDIT][UI_JOB_TRAIN].train;
    pthread_mutex_unlock(&w->mu);
    if (!st) {
        char note[96];
        train_note(j, &res, note, sizeof note);
        snprintf(r->error, sizeof r->error, "%s", note);
        r->train.step = r->train.steps = res.steps;
        r->seconds = res.seconds;
        ui_weights *wt = ui_weights_new(out, note);
        if (!wt)
            st = sb_error_set(&err, SB_ERR_NOMEM, "out of memory");
        pthread_mutex_lock(&w->mu);
        ui_weights_unref(w->trained);
        w->trained = wt;
        w->trained_gen = j->gen;
        pthread_mutex_unlock(&w->mu);
    }
    finish(r, st, &err);
}

/* ---- the queue ---- */

/* The next job in priority order: the base model's accuracy and latency, files, evaluation,
 * latency, per-layer times (the base's, then the edit's), fine-tuning, sweeps. */
static job *pick(ui_worker *w)
{
    static const struct {
        int row;
        ui_job_kind kind;
    } order[] = {{BASE, UI_JOB_EVAL},   {BASE, UI_JOB_LATENCY}, {EDIT, UI_JOB_FILE},
                 {EDIT, UI_JOB_EVAL},   {EDIT, UI_JOB_LATENCY}, {BASE, UI_JOB_LAYERS},
                 {EDIT, UI_JOB_LAYERS}, {EDIT, UI_JOB_TRAIN},   {EDIT, UI_JOB_SWEEP}};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (w->pending[order[i].row][order[i].kind].set)
            return &w->pending[order[i].row][order[i].kind];
    return NULL;
}

/* Waits for a job and takes it (j owns it then); false when asked to quit. */
static bool next_job(ui_worker *w, job *j, ui_job_report *r)
{
    pthread_mutex_lock(&w->mu);
    job *p;
    while (!w->quit && !(p = pick(w)))
        pthread_cond_wait(&w->cv, &w->mu);
    bool go = !w->quit;
    if (go) {
        *j = *p;
        memset(p, 0, sizeof *p); /* ownership moved to j */
        *r = (ui_job_report){.kind = j->kind,
                             .state = UI_JOB_RUNNING,
                             .generation = j->gen,
                             .threads = omp_get_max_threads(),
                             .layer = j->layer,
                             .method = j->method};
        w->busy = true;
        w->preempted = false;
        w->running_kind = j->kind;
        w->running_gen = j->gen;
        w->running_base = row_of(r) == BASE;
        __atomic_store_n(&w->cancel, 0, __ATOMIC_RELAXED);
        w->box[row_of(r)][r->kind] = *r;
        w->fresh[row_of(r)][r->kind] = true;
    }
    pthread_mutex_unlock(&w->mu);
    poke(w);
    return go;
}

/* A sweep, or the base model's per-layer times, cancelled to make way for an evaluation waits
 * again behind it. */
static bool requeue(ui_worker *w, job *j, ui_job_report *r)
{
    bool again = false;
    int row = row_of(r);
    pthread_mutex_lock(&w->mu);
    if (w->preempted && !w->quit &&
        (j->kind == UI_JOB_SWEEP || (j->kind == UI_JOB_LAYERS && row == BASE)) &&
        !w->pending[row][j->kind].set) {
        w->pending[row][j->kind] = *j;
        memset(j, 0, sizeof *j);
        r->state = UI_JOB_QUEUED;
        again = true;
    }
    pthread_mutex_unlock(&w->mu);
    return again;
}

static void *worker_main(void *arg)
{
    ui_worker *w = arg;
    if (w->o.threads > 0) /* OpenMP's thread count is per thread: set it where jobs run */
        omp_set_num_threads(w->o.threads);
    job j;
    ui_job_report r;
    while (next_job(w, &j, &r)) {
        switch (j.kind) {
        case UI_JOB_EVAL: run_eval(w, &j, &r); break;
        case UI_JOB_LATENCY: run_latency(w, &j, &r); break;
        case UI_JOB_SWEEP: run_sweep(w, &j, &r); break;
        case UI_JOB_FILE: run_file(w, &j, &r); break;
        case UI_JOB_TRAIN: run_train(w, &j, &r); break;
        case UI_JOB_LAYERS: run_layers(w, &j, &r); break;
        default: break;
        }
        if (r.state == UI_JOB_CANCELLED)
            requeue(w, &j, &r);
        job_clear(&j);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        pthread_mutex_unlock(&w->mu);
        post(w, &r);
    }
    return NULL;
}

static int start_thread(ui_worker *w)
{
    /* Signals (SIGWINCH, SIGINT) must reach the UI thread and interrupt its poll(), so this
     * thread and the OpenMP threads it creates block them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

ui_worker *ui_worker_new(const ui_worker_opts *o)
{
    ui_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->o = *o;
    if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(w);
        return NULL;
    }
    sb_error err = {0};
    if (sb_actcache_new(o->model, 0, &w->cache, &err) != SB_OK)
        w->cache = NULL; /* evaluations then run every image from the input */
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = start_thread(w);
    if (rc) {
        close(w->wake[0]);
        close(w->wake[1]);
        sb_actcache_free(w->cache);
        free(w);
        errno = rc;
        return NULL;
    }
    return w;
}

void ui_worker_free(ui_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    for (int row = 0; row < 2; row++)
        for (int k = 0; k < UI_JOB_COUNT; k++)
            job_clear(&w->pending[row][k]);
    ui_model_stats_free(w->stats);
    ui_layer_times_free(w->times[BASE]);
    ui_layer_times_free(w->times[EDIT]);
    ui_weights_unref(w->trained);
    sb_eval_result_free(&w->base_res);
    sb_eval_result_free(&w->cm_res);
    if (w->cm_wt)
        ui_weights_unref(w->cm_wt);
    else
        sb_model_free(w->cm);
    sb_dataset_free(w->train);
    sb_actcache_free(w->cache);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    close(w->wake[0]);
    close(w->wake[1]);
    free(w);
}

int ui_worker_fd(const ui_worker *w) { return w->wake[0]; }

static void cancel_running(ui_worker *w) { __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED); }

/* Queues j (taking its Config) in its slot, replacing what was queued there. */
static void enqueue(ui_worker *w, job *j)
{
    int row = per_model(j->kind) && j->gen == 0 ? BASE : EDIT;
    job_clear(&w->pending[row][j->kind]);
    w->pending[row][j->kind] = *j;
    w->pending[row][j->kind].set = true;
    pthread_cond_signal(&w->cv);
}

static bool snapshot(const sb_config *cfg, job *j)
{
    sb_error err = {0};
    return !cfg || sb_config_copy(cfg, &j->cfg, &err) == SB_OK;
}

bool ui_worker_submit_eval(ui_worker *w, uint64_t gen, const sb_config *cfg, ui_weights *wt)
{
    job j = {.kind = UI_JOB_EVAL, .gen = gen};
    if (!snapshot(gen ? cfg : NULL, &j))
        return false;
    j.wt = gen ? ui_weights_ref(wt) : NULL;
    pthread_mutex_lock(&w->mu);
    if (gen) {
        job_clear(&w->pending[EDIT][UI_JOB_LATENCY]); /* an older edit's */
        job_clear(&w->pending[EDIT][UI_JOB_LAYERS]);
        bool older = w->running_gen < gen && per_model(w->running_kind);
        bool base_layers = w->running_base && w->running_kind == UI_JOB_LAYERS;
        if (w->busy && ((!w->running_base && (older || w->running_kind == UI_JOB_SWEEP)) ||
                        base_layers)) {
            w->preempted = w->running_kind == UI_JOB_SWEEP || base_layers;
            cancel_running(w);
        }
    }
    enqueue(w, &j);
    pthread_mutex_unlock(&w->mu);
    return true;
}

void ui_worker_submit_latency(ui_worker *w, uint64_t gen)
{
    job j = {.kind = UI_JOB_LATENCY, .gen = gen};
    pthread_mutex_lock(&w->mu);
    enqueue(w, &j);
    pthread_mutex_unlock(&w->mu);
}

void ui_worker_submit_layers(ui_worker *w, uint64_t gen)
{
    job j = {.kind = UI_JOB_LAYERS, .gen = gen};
    pthread_mutex_lock(&w->mu);
    enqueue(w, &j);
    pthread_mutex_unlock(&w->mu);
}

void ui_worker_submit_sweep(ui_worker *w, uint64_t id, int layer, sb_prune_method method)
{
    job j = {.kind = UI_JOB_SWEEP, .gen = id, .layer = layer, .method = method};
    pthread_mutex_lock(&w->mu);
    if (w->busy && w->running_kind == UI_JOB_SWEEP)
        cancel_running(w); /* the newer sweep replaces it */
    enqueue(w, &j);
    pthread_mutex_unlock(&w->mu);
}

bool ui_worker_submit_file(ui_worker *w, ui_file_op op, const char *path, uint64_t gen,
                           const sb_config *cfg, ui_weights *wt)
{
    job j = {.kind = UI_JOB_FILE, .gen = gen, .op = op};
    snprintf(j.path, sizeof j.path, "%s", path);
    if (!snapshot(cfg, &j))
        return false;
    j.wt = ui_weights_ref(wt);
    pthread_mutex_lock(&w->mu);
    enqueue(w, &j);
    pthread_mutex_unlock(&w->mu);
    return true;
}

bool ui_worker_submit_train(ui_worker *w, uint64_t gen, const sb_config *cfg, ui_weights *wt,
                            const sb_train_options *o, bool agp)
{
    job j = {.kind = UI_JOB_TRAIN, .gen = gen, .train = *o, .agp = agp};
    if (!snapshot(cfg, &j))
        return false;
    j.wt = agp ? NULL : ui_weights_ref(wt);
    pthread_mutex_lock(&w->mu);
    if (w->busy && w->running_kind == UI_JOB_SWEEP) {
        w->preempted = true; /* the sweep waits behind the training */
        cancel_running(w);
    }
    enqueue(w, &j);
    pthread_mutex_unlock(&w->mu);
    return true;
}

ui_weights *ui_worker_take_trained(ui_worker *w, uint64_t *gen)
{
    pthread_mutex_lock(&w->mu);
    ui_weights *wt = w->trained;
    *gen = w->trained_gen;
    w->trained = NULL;
    pthread_mutex_unlock(&w->mu);
    return wt;
}

void ui_worker_cancel(ui_worker *w, ui_job_kind kind)
{
    pthread_mutex_lock(&w->mu);
    job_clear(&w->pending[EDIT][kind]);
    if (w->busy && !w->running_base && w->running_kind == kind) {
        w->preempted = false;
        cancel_running(w);
    }
    pthread_mutex_unlock(&w->mu);
}

int ui_worker_take(ui_worker *w, ui_job_report *out)
{
    char buf[256];
    while (read(w->wake[0], buf, sizeof buf) > 0)
        ;
    int n = 0;
    pthread_mutex_lock(&w->mu);
    for (int row = 0; row < 2; row++)
        for (int k = 0; k < UI_JOB_COUNT; k++)
            if (w->fresh[row][k]) {
                out[n++] = w->box[row][k];
                w->fresh[row][k] = false;
            }
    pthread_mutex_unlock(&w->mu);
    return n;
}

ui_layer_times *ui_worker_take_times(ui_worker *w)
{
    pthread_mutex_lock(&w->mu);
    int row = w->times[BASE] ? BASE : EDIT;
    ui_layer_times *t = w->times[row];
    w->times[row] = NULL;
    pthread_mutex_unlock(&w->mu);
    return t;
}

ui_model_stats *ui_worker_take_stats(ui_worker *w)
{
    pthread_mutex_lock(&w->mu);
    ui_model_stats *st = w->stats;
    w->stats = NULL;
    pthread_mutex_unlock(&w->mu);
    return st;
}
