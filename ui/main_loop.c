/* The workbench entry point and its terminal loop. This is the only file that owns the terminal
 * (and the only UI file the tests do not link): it loads the model before curses starts, so
 * errors reach stderr plainly, then polls the keyboard and the worker's wake-up pipe. */
#include "cli.h"

#include "ui_args.h"
#include "ui_draw.h"
#include "ui_edit.h"
#include "ui_keys.h"
#include "ui_session.h"
#include "ui_view.h"
#include "ui_worker.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { FRAME_MS = 50, IDLE_MS = 1000, SWEEP_IMAGES = 2000 };
#define LATENCY_SECONDS 1.0
#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist" /* as src/cli.c resolves it */

static volatile sig_atomic_t stop_signal;
static void on_stop(int sig) { stop_signal = sig; }

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The checks sb_eval would fail on, made before curses so the message reaches stderr. */
static int check_data(const sb_model *m, const sb_dataset *d, const sb_preprocess *pp)
{
    sb_error err = {0};
    size_t cache_bytes; /* the worker's activation cache: a malformed SB_ACTCACHE_MB stops here */
    return sb_eval_check(m, d, pp, &err) || sb_actcache_default_budget(&cache_bytes, &err)
               ? cli_fail(&err)
               : 0;
}

/* ---- the loop ---- */

typedef struct loop {
    ui_state *s;
    ui_worker *w;
    const sb_model *m;          /* the base model: configuration files are checked against it */
    char session[UI_PATH_MAX];  /* the autosave file, "" when there is no home directory */
    uint64_t submitted;         /* generation of the last evaluation handed to the worker */
    bool autosave;              /* the Config changed since the session file was written */
    bool autosave_failed;       /* ... and the last attempt failed (said once) */
    bool dirty;                 /* something changed since the last frame */
    bool urgent;                /* ... and it answers a key: no waiting for the frame timer */
    bool quit;
    double last_draw;
    FILE *trace;                /* SLIMBENCH_TRACE: timings of keys, reports and frames */
} loop;

static void trace_event(loop *lp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_event(loop *lp, const char *fmt, ...)
{
    if (!lp->trace)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(lp->trace, "%.3f ", now_ms());
    vfprintf(lp->trace, fmt, ap);
    fputc('\n', lp->trace);
    fflush(lp->trace);
    va_end(ap);
}

static void draw(loop *lp)
{
    double t0 = now_ms();
    ui_layout l = ui_layout_compute(COLS, LINES, lp->s);
    ui_table_set_page(lp->s, l.body_rows);
    erase();
    ui_view_current(lp->s)->draw(lp->s, &l);
    refresh();
    lp->dirty = lp->urgent = false;
    lp->last_draw = now_ms();
    trace_event(lp, "frame %.3f ms", lp->last_draw - t0);
}

static unsigned on_mouse(ui_state *s)
{
    MEVENT ev;
    if (getmouse(&ev) != OK)
        return 0;
    ui_layout l = ui_layout_compute(COLS, LINES, s);
    if (ev.bstate & BUTTON4_PRESSED)
        return ui_keys_mouse(s, &l, UI_MOUSE_WHEEL_UP, ev.y, ev.x);
    if (ev.bstate & BUTTON5_PRESSED)
        return ui_keys_mouse(s, &l, UI_MOUSE_WHEEL_DOWN, ev.y, ev.x);
    if (ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))
        return ui_keys_mouse(s, &l, UI_MOUSE_SELECT, ev.y, ev.x);
    return 0;
}

/* An edit: re-evaluate (cancelling the job of the older edit), or stop when the Config is the
 * base model again (its numbers are the baseline's). */
static void on_edit(loop *lp)
{
    ui_state *s = lp->s;
    if (s->generation == lp->submitted)
        return;
    lp->submitted = s->generation;
    lp->autosave = true;
    trace_event(lp, "edit gen %llu", (unsigned long long)s->generation);
    if (ui_state_is_base(s)) {
        ui_worker_cancel(lp->w, UI_JOB_EVAL);
        ui_worker_cancel(lp->w, UI_JOB_LATENCY);
        ui_worker_cancel(lp->w, UI_JOB_LAYERS);
    } else if (ui_worker_submit_eval(lp->w, s->generation, &s->cfg, s->weights)) {
        ui_state_job_queued(s, UI_JOB_EVAL, s->generation);
    } else {
        ui_state_error(s, "out of memory: cannot evaluate these settings");
    }
}

static bool config_is_base(const sb_config *c)
{
    for (int i = 0; i < c->n_layers; i++)
        if (!sb_layer_config_is_default(&c->layer[i]))
            return false;
    return true;
}

static void save_config(loop *lp, const ui_request *q)
{
    sb_error err = {0};
    if (sb_config_save_csv(lp->m, &lp->s->cfg, q->path, &err)) {
        ui_state_error(lp->s, "%s (the configuration is still here: try another path)", err.msg);
        return;
    }
    ui_state_mark_saved(lp->s);
    ui_state_message(lp->s, "saved the configuration to %s%s", q->path,
                     lp->s->weights ? " (not the fine-tuned weights: e exports them)" : "");
    lp->quit |= q->quit_after;
}

static void load_config(loop *lp, const ui_request *q)
{
    sb_error err = {0};
    sb_config c = {0};
    if (sb_config_load_csv(lp->m, q->path, &c, &err))
        ui_state_error(lp->s, "%s", err.msg); /* FILE:LINE:COLUMN: what is wrong */
    else
        ui_edit_load(lp->s, &c, q->path);
    sb_config_free(&c);
}

static void write_file(loop *lp, const ui_request *q, ui_file_op op)
{
    ui_state *s = lp->s;
    if (!ui_worker_submit_file(lp->w, op, q->path, s->generation, &s->cfg, s->weights)) {
        ui_state_error(s, "out of memory");
        return;
    }
    ui_state_job_queued(s, UI_JOB_FILE, s->generation);
    ui_state_message(s, "writing %s (after the running job)...", q->path);
}

static void start_finetune(loop *lp, const ui_request *q)
{
    ui_state *s = lp->s;
    if (!ui_worker_submit_train(lp->w, s->generation, &s->cfg, s->weights, &q->train, q->agp)) {
        s->job[UI_JOB_TRAIN].state = UI_JOB_FAILED;
        ui_state_error(s, "out of memory: cannot fine-tune");
    }
    trace_event(lp, "finetune gen %llu", (unsigned long long)s->generation);
}

/* A finished fine-tune becomes the current model, as one undoable step. */
static void take_trained(loop *lp)
{
    uint64_t gen;
    ui_state *s = lp->s;
    ui_weights *wt = ui_worker_take_trained(lp->w, &gen);
    if (!wt)
        return;
    /* a stale generation cannot happen while edits wait, but never apply stale work; nor a
     * fine-tune cancelled as it finished */
    if (gen != s->generation || s->job[UI_JOB_TRAIN].state == UI_JOB_CANCELLED) {
        ui_weights_unref(wt);
        return;
    }
    char note[sizeof wt->note];
    snprintf(note, sizeof note, "%s", wt->note);
    if (!ui_state_finetuned(s, wt))
        ui_state_error(s, "out of memory: the fine-tuned weights were dropped");
    else
        ui_state_message(s, "fine-tuned: %s. u undoes. Weights in memory only: e exports "
                            "them (the autosave keeps the config)", note);
    lp->dirty = lp->urgent = true;
}

/* Work the keys asked for that needs the model, the files or the worker. */
static void on_request(loop *lp)
{
    ui_request q = lp->s->req;
    lp->s->req.kind = UI_REQ_NONE;
    switch (q.kind) {
    case UI_REQ_SAVE_CONFIG: save_config(lp, &q); break;
    case UI_REQ_LOAD_CONFIG: load_config(lp, &q); break;
    case UI_REQ_SAVE_REPORT: write_file(lp, &q, UI_FILE_REPORT_CSV); break;
    case UI_REQ_EXPORT: write_file(lp, &q, UI_FILE_EXPORT_ONNX); break;
    case UI_REQ_SWEEP: ui_worker_submit_sweep(lp->w, lp->s->sweep_id, q.layer, q.method); break;
    case UI_REQ_CANCEL_SWEEP: ui_worker_cancel(lp->w, UI_JOB_SWEEP); break;
    case UI_REQ_FINETUNE: start_finetune(lp, &q); break;
    case UI_REQ_CANCEL_FINETUNE: ui_worker_cancel(lp->w, UI_JOB_TRAIN); break;
    default: break;
    }
}

static void on_keys(loop *lp)
{
    int ch;
    while ((ch = getch()) != ERR) {
        trace_event(lp, "key %d", ch);
        unsigned f = ch == KEY_RESIZE  ? UI_REDRAW
                     : ch == KEY_MOUSE ? on_mouse(lp->s)
                                       : ui_view_key(lp->s, ch);
        lp->quit |= (f & UI_QUIT) != 0;
        if (lp->s->req.kind != UI_REQ_NONE)
            on_request(lp);
        if (f & UI_CLEAR)
            clearok(curscr, TRUE);
        if (f & (UI_REDRAW | UI_CLEAR))
            lp->dirty = lp->urgent = true;
    }
    on_edit(lp);
}

static void on_reports(loop *lp)
{
    ui_job_report r[UI_WORKER_SLOTS];
    int n = ui_worker_take(lp->w, r);
    for (int i = 0; i < n; i++) {
        uint64_t gen;
        trace_event(lp, "report kind %d gen %llu state %d done %d/%d cached %d", r[i].kind,
              (unsigned long long)r[i].generation, r[i].state, r[i].progress.done,
              r[i].progress.total, r[i].cached);
        bool base = r[i].generation == 0 && (r[i].kind == UI_JOB_EVAL ||
                                             r[i].kind == UI_JOB_LATENCY ||
                                             r[i].kind == UI_JOB_LAYERS);
        const ui_job_report *before = base ? &lp->s->base[r[i].kind] : &lp->s->job[r[i].kind];
        /* the first estimate and every change of state go on screen at once; further
         * progress waits for the frame timer */
        lp->urgent |= before->state != r[i].state ||
                      (before->progress.done == 0 && r[i].progress.done > 0);
        ui_job_kind next = ui_state_on_report(lp->s, &r[i], &gen);
        if (next == UI_JOB_LATENCY)
            ui_worker_submit_latency(lp->w, gen);
        else if (next == UI_JOB_LAYERS)
            ui_worker_submit_layers(lp->w, gen);
        if (next != UI_JOB_NONE)
            ui_state_job_queued(lp->s, next, gen);
    }
    ui_model_stats *st = ui_worker_take_stats(lp->w);
    ui_state_set_stats(lp->s, st);
    lp->dirty |= n > 0 || st;
    for (ui_layer_times *t; (t = ui_worker_take_times(lp->w));) {
        ui_state_set_times(lp->s, t);
        lp->dirty = true;
    }
    take_trained(lp);
    on_edit(lp);
}

/* Writes the Config to the session file once the frame answering the edit is on screen. */
static void autosave(loop *lp)
{
    sb_error err = {0};
    if (!lp->autosave || !lp->session[0])
        return;
    lp->autosave = false;
    if (ui_session_prepare(lp->session, &err) ||
        sb_config_save_csv(lp->m, &lp->s->cfg, lp->session, &err)) {
        if (!lp->autosave_failed)
            ui_state_error(lp->s, "autosave failed: %s (the work stays in memory; w saves it)",
                           err.msg);
        lp->autosave_failed = lp->dirty = lp->urgent = true;
        return;
    }
    if (lp->autosave_failed)
        ui_state_message(lp->s, "autosave works again: %s", lp->session);
    lp->autosave_failed = false;
}

/* The last session's Config, unless --fresh: restored as an edit (u goes back to the model). */
static void restore(loop *lp, bool fresh)
{
    sb_error err = {0};
    sb_config c = {0};
    if (!lp->session[0] || access(lp->session, F_OK) != 0)
        return;
    if (fresh) {
        ui_state_message(lp->s, "--fresh: the autosaved session was not restored");
        return;
    }
    if (sb_config_load_csv(lp->m, lp->session, &c, &err))
        ui_state_error(lp->s, "the autosaved session does not fit this model, ignored: %s",
                       err.msg);
    else if (!config_is_base(&c) && ui_state_edit(lp->s, &c))
        ui_state_message(lp->s, "restored the last session (u undoes it; --fresh starts clean)");
    sb_config_free(&c);
}

static struct timespec poll_timeout(const loop *lp)
{
    double wait = !lp->dirty ? IDLE_MS : lp->urgent ? 0 : lp->last_draw + FRAME_MS - now_ms();
    long ms = wait > 0 ? (long)wait + 1 : 0;
    return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};
}

/* Signals stay blocked except inside ppoll, so a resize or ^C always interrupts the wait. */
static void run(loop *lp, const sigset_t *waiting_mask)
{
    ui_worker_submit_eval(lp->w, 0, NULL, NULL); /* the baseline, never cancelled by edits */
    ui_state_job_queued(lp->s, UI_JOB_EVAL, 0);
    lp->submitted = 0;
    on_edit(lp); /* a restored session */
    lp->autosave = false;
    lp->dirty = lp->urgent = true;
    while (!lp->quit && !stop_signal) {
        if (lp->dirty && (lp->urgent || now_ms() - lp->last_draw >= FRAME_MS))
            draw(lp);
        autosave(lp);
        struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                                {.fd = ui_worker_fd(lp->w), .events = POLLIN}};
        struct timespec t = poll_timeout(lp);
        int n = ppoll(fds, 2, &t, waiting_mask);
        if ((n < 0 && errno != EINTR) || (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
            break;   /* the terminal went away */
        on_keys(lp); /* also after EINTR: curses turns SIGWINCH into KEY_RESIZE here */
        if (n > 0 && (fds[1].revents & POLLIN))
            on_reports(lp);
    }
}

static void install_handlers(void)
{
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: interrupt the wait */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static SCREEN *term_open(bool utf8)
{
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr)
        return NULL;
    set_term(scr);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    mouseinterval(0);
    mousemask(BUTTON1_PRESSED | BUTTON1_CLICKED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    ui_draw_init(utf8);
    return scr;
}

static int run_terminal(loop *lp, const sigset_t *waiting_mask)
{
    const char *term = getenv("TERM");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "slimbench: the workbench needs a terminal; for scripts use "
                        "`slimbench inspect`, `eval` or `bench`\n");
        return EXIT_USER;
    }
    install_handlers();
    SCREEN *scr = term_open(lp->s->utf8);
    if (!scr) {
        fprintf(stderr,
                "slimbench: cannot drive terminal type '%s'; set TERM (e.g. xterm-256color)\n",
                term ? term : "");
        return EXIT_USER;
    }
    run(lp, waiting_mask);
    endwin();
    delscreen(scr);
    return 0;
}

/* Where the training split is, for calibrating a8 (the evaluation data's directory). */
static const char *data_dir(const ui_args *a, const sb_model *m)
{
    const char *ds = sb_model_meta(m, "dataset");
    return a->data ? a->data : ds && strcmp(ds, "fashion-mnist") == 0 ? FASHION_MNIST_DIR : NULL;
}

static int open_inputs(const ui_args *a, sb_model **m, sb_dataset **d, sb_preprocess *pp)
{
    cli_opts o = {.model_path = a->model, .data_dir = a->data, .threads = a->threads};
    int rc = cli_load_model(&o, m);
    if (!rc)
        rc = cli_open_data(&o, *m, d, pp);
    if (!rc)
        rc = check_data(*m, *d, pp);
    return rc;
}

int cmd_workbench(int argc, char **argv)
{
    /* Numbers keep a '.' whatever the user's locale: the engine parses metadata with strtod. */
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");
    ui_args a;
    int rc = ui_args_parse(argc, argv, &a);
    if (rc)
        return rc < 0 ? 0 : rc;
    /* Block the signals the loop waits for before any thread exists, so every thread the
     * engine's OpenMP creates inherits the block and only ppoll() receives them. */
    static const int waited[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP};
    sigset_t sigs, waiting_mask;
    sigemptyset(&sigs);
    for (size_t i = 0; i < sizeof waited / sizeof waited[0]; i++)
        sigaddset(&sigs, waited[i]);
    pthread_sigmask(SIG_BLOCK, &sigs, &waiting_mask);
    sb_model *m = NULL;
    sb_dataset *d = NULL;
    sb_preprocess pp;
    ui_state s;
    ui_state_init(&s);
    ui_worker *w = NULL;
    loop lp = {.s = &s};
    if (!(rc = open_inputs(&a, &m, &d, &pp))) {
        s.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
        s.screen = a.demo ? UI_SCREEN_DEMO : UI_SCREEN_TABLE;
        ui_worker_opts wo = {.model = m,
                             .data = d,
                             .pp = pp,
                             .data_dir = data_dir(&a, m),
                             .threads = a.threads,
                             .latency_seconds = LATENCY_SECONDS,
                             .sweep_limit = SWEEP_IMAGES};
        if (!ui_state_load(&s, m) || !(w = ui_worker_new(&wo))) {
            fprintf(stderr, "slimbench: cannot start the workbench: %s\n", strerror(errno));
            rc = EXIT_INTERNAL;
        }
    }
    if (!rc) {
        lp.w = w;
        lp.m = m;
        const char *tr = getenv("SLIMBENCH_TRACE");
        lp.trace = tr && *tr ? fopen(tr, "a") : NULL;
        if (!ui_session_path(sb_model_path(m), lp.session, sizeof lp.session))
            lp.session[0] = 0;
        restore(&lp, a.fresh);
        rc = run_terminal(&lp, &waiting_mask);
        if (lp.trace)
            fclose(lp.trace);
    }
    ui_worker_free(w);
    ui_state_free(&s);
    sb_dataset_free(d);
    sb_model_free(m);
    pthread_sigmask(SIG_SETMASK, &waiting_mask, NULL);
    return rc;
}
