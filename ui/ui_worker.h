/* The one thread that runs engine jobs for the workbench (OpenMP inside the engine).
 * The UI thread submits jobs and collects reports; it never blocks on the engine. Reports go
 * through a mutex-protected mailbox, and a self-pipe wakes the UI's poll() loop. */
#ifndef UI_WORKER_H
#define UI_WORKER_H

#include "ui_state.h"

typedef struct ui_worker ui_worker;

typedef struct ui_worker_opts {
    sb_model *model; /* only the worker touches it while jobs run */
    const sb_dataset *data;
    sb_preprocess pp;
    int threads;            /* 0: OpenMP's default */
    double latency_seconds; /* time budget of a latency measurement */
} ui_worker_opts;

/* Starts the thread. Returns NULL with errno set on failure. */
ui_worker *ui_worker_new(const ui_worker_opts *o);
/* Cancels the running job and joins the thread. */
void ui_worker_free(ui_worker *w);
/* The descriptor to poll for reports. */
int ui_worker_fd(const ui_worker *w);
/* Queues a job (replacing any queued one); a running job of an older generation is cancelled. */
void ui_worker_submit(ui_worker *w, ui_job_kind kind, uint64_t generation);
/* Copies reports that changed since the last call into out (at most UI_JOB_COUNT); returns how
 * many. Drains the wake-up pipe. */
int ui_worker_take(ui_worker *w, ui_job_report *out);

#endif
