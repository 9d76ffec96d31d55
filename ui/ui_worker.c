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

struct ui_worker {
    ui_worker_opts o;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int wake[2];         /* self-pipe: [0] polled by the UI, [1] written here */
    volatile int cancel; /* read by the engine between batches */
    /* under mu */
    ui_job_kind want; /* queued job, UI_JOB_NONE if none */
    uint64_t want_gen;
    bool busy, quit;
    uint64_t running_gen;
    ui_job_report box[UI_JOB_COUNT]; /* the latest report of each kind */
    bool fresh[UI_JOB_COUNT];        /* changed since the UI last took it */
};

static void poke(ui_worker *w)
{
    char c = 1;
    ssize_t n = write(w->wake[1], &c, 1); /* a full pipe already means "wake up" */
    (void)n;
}

static void post(ui_worker *w, const ui_job_report *r)
{
    pthread_mutex_lock(&w->mu);
    w->box[r->kind] = *r;
    w->fresh[r->kind] = true;
    pthread_mutex_unlock(&w->mu);
    poke(w);
}

typedef struct eval_ctx {
    ui_worker *w;
    uint64_t gen;
} eval_ctx;

/* Called by the engine after each batch, on this worker thread. */
static bool on_progress(const sb_eval_progress *p, void *user)
{
    eval_ctx *c = user;
    pthread_mutex_lock(&c->w->mu);
    ui_job_report *r = &c->w->box[UI_JOB_EVAL];
    if (r->generation == c->gen && r->state == UI_JOB_RUNNING) {
        r->progress = *p;
        c->w->fresh[UI_JOB_EVAL] = true;
    }
    pthread_mutex_unlock(&c->w->mu);
    poke(c->w);
    return false; /* cancellation goes through opt.cancel */
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

static void run_eval(ui_worker *w, ui_job_report *r)
{
    eval_ctx ctx = {w, r->generation};
    sb_eval_options opt = {.progress = on_progress, .user = &ctx, .cancel = &w->cancel};
    sb_eval_result res;
    sb_error err = {0};
    sb_status st = sb_eval(w->o.model, w->o.data, &w->o.pp, &opt, &res, &err);
    pthread_mutex_lock(&w->mu);
    r->progress = w->box[UI_JOB_EVAL].progress;
    pthread_mutex_unlock(&w->mu);
    if (!st) {
        r->progress = (sb_eval_progress){.done = res.images,
                                         .total = res.images,
                                         .correct1 = res.correct1,
                                         .correct5 = res.correct5};
        r->seconds = res.seconds;
    }
    finish(r, st, &err);
    sb_eval_result_free(&res);
}

static void run_latency(ui_worker *w, ui_job_report *r)
{
    sb_error err = {0};
    finish(r, sb_latency_measure(w->o.model, w->o.latency_seconds, &w->cancel, &r->latency, &err), &err);
}

/* Waits for a job; returns false when asked to quit. Announces the job as running. */
static bool next_job(ui_worker *w, ui_job_report *r)
{
    pthread_mutex_lock(&w->mu);
    while (!w->quit && w->want == UI_JOB_NONE)
        pthread_cond_wait(&w->cv, &w->mu);
    bool go = !w->quit;
    if (go) {
        *r = (ui_job_report){.kind = w->want,
                             .state = UI_JOB_RUNNING,
                             .generation = w->want_gen,
                             .threads = omp_get_max_threads()};
        w->want = UI_JOB_NONE;
        w->busy = true;
        w->running_gen = r->generation;
        __atomic_store_n(&w->cancel, 0, __ATOMIC_RELAXED);
        w->box[r->kind] = *r;
        w->fresh[r->kind] = true;
    }
    pthread_mutex_unlock(&w->mu);
    poke(w);
    return go;
}

static void *worker_main(void *arg)
{
    ui_worker *w = arg;
    if (w->o.threads > 0) /* OpenMP's thread count is per thread: set it where jobs run */
        omp_set_num_threads(w->o.threads);
    ui_job_report r;
    while (next_job(w, &r)) {
        if (r.kind == UI_JOB_EVAL)
            run_eval(w, &r);
        else
            run_latency(w, &r);
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
    w->want = UI_JOB_NONE;
    if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = start_thread(w);
    if (rc) {
        close(w->wake[0]);
        close(w->wake[1]);
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
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    close(w->wake[0]);
    close(w->wake[1]);
    free(w);
}

int ui_worker_fd(const ui_worker *w) { return w->wake[0]; }

void ui_worker_submit(ui_worker *w, ui_job_kind kind, uint64_t generation)
{
    pthread_mutex_lock(&w->mu);
    w->want = kind;
    w->want_gen = generation;
    if (w->busy && w->running_gen < generation)
        __atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int ui_worker_take(ui_worker *w, ui_job_report *out)
{
    char buf[256];
    while (read(w->wake[0], buf, sizeof buf) > 0)
        ;
    int n = 0;
    pthread_mutex_lock(&w->mu);
    for (int k = 0; k < UI_JOB_COUNT; k++)
        if (w->fresh[k]) {
            out[n++] = w->box[k];
            w->fresh[k] = false;
        }
    pthread_mutex_unlock(&w->mu);
    return n;
}
