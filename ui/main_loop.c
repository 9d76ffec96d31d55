/* The workbench entry point and its terminal loop. This is the only file that owns the terminal
 * (and the only UI file the tests do not link): it loads the model before curses starts, so
 * errors reach stderr plainly, then polls the keyboard and the worker's wake-up pipe. */
#include "cli.h"

#include "ui_args.h"
#include "ui_draw.h"
#include "ui_keys.h"
#include "ui_view.h"
#include "ui_worker.h"

#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { FRAME_MS = 50, IDLE_MS = 1000 };
#define LATENCY_SECONDS 1.0

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
    return sb_eval_check(m, d, pp, &err) ? cli_fail(&err) : 0;
}

/* ---- the loop ---- */

typedef struct loop {
    ui_state *s;
    ui_worker *w;
    uint64_t submitted; /* generation of the last evaluation handed to the worker */
    bool dirty;         /* something changed since the last frame */
    bool urgent;        /* ... and it answers a key, so it does not wait for the frame timer */
    bool quit;
    double last_draw;
} loop;

static void submit(loop *lp, ui_job_kind k)
{
    ui_worker_submit(lp->w, k, lp->s->generation);
    ui_state_job_queued(lp->s, k);
}

static void draw(loop *lp)
{
    ui_layout l = ui_layout_compute(COLS, LINES, lp->s);
    ui_table_set_page(lp->s, l.body_rows);
    erase();
    ui_view_current(lp->s)->draw(lp->s, &l);
    refresh();
    lp->dirty = lp->urgent = false;
    lp->last_draw = now_ms();
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

static void on_keys(loop *lp)
{
    int ch;
    while ((ch = getch()) != ERR) {
        unsigned f = ch == KEY_RESIZE  ? UI_REDRAW
                     : ch == KEY_MOUSE ? on_mouse(lp->s)
                                       : ui_view_key(lp->s, ch);
        lp->quit |= (f & UI_QUIT) != 0;
        if (f & UI_CLEAR)
            clearok(curscr, TRUE);
        if (f & (UI_REDRAW | UI_CLEAR))
            lp->dirty = lp->urgent = true;
    }
    if (lp->s->generation != lp->submitted) { /* an edit: re-evaluate, cancelling the old job */
        submit(lp, UI_JOB_EVAL);
        lp->submitted = lp->s->generation;
    }
}

static void on_reports(loop *lp)
{
    ui_job_report r[UI_JOB_COUNT];
    int n = ui_worker_take(lp->w, r);
    for (int i = 0; i < n; i++) {
        ui_job_kind next = ui_state_on_report(lp->s, &r[i]);
        if (next != UI_JOB_NONE)
            submit(lp, next);
    }
    lp->dirty |= n > 0;
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
    submit(lp, UI_JOB_EVAL);
    lp->dirty = lp->urgent = true;
    while (!lp->quit && !stop_signal) {
        if (lp->dirty && (lp->urgent || now_ms() - lp->last_draw >= FRAME_MS))
            draw(lp);
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

static int run_terminal(ui_state *s, ui_worker *w, const sigset_t *waiting_mask)
{
    const char *term = getenv("TERM");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "slimbench: the workbench needs a terminal; for scripts use "
                        "`slimbench inspect`, `eval` or `bench`\n");
        return EXIT_USER;
    }
    install_handlers();
    SCREEN *scr = term_open(s->utf8);
    if (!scr) {
        fprintf(stderr,
                "slimbench: cannot drive terminal type '%s'; set TERM (e.g. xterm-256color)\n",
                term ? term : "");
        return EXIT_USER;
    }
    loop lp = {.s = s, .w = w};
    run(&lp, waiting_mask);
    endwin();
    delscreen(scr);
    return 0;
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
    if (!(rc = open_inputs(&a, &m, &d, &pp))) {
        s.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
        s.screen = a.demo ? UI_SCREEN_DEMO : UI_SCREEN_TABLE;
        ui_worker_opts wo = {m, d, pp, a.threads, LATENCY_SECONDS};
        if (!ui_state_load(&s, m) || !(w = ui_worker_new(&wo))) {
            fprintf(stderr, "slimbench: cannot start the workbench: %s\n", strerror(errno));
            rc = EXIT_INTERNAL;
        }
    }
    if (!rc)
        rc = run_terminal(&s, w, &waiting_mask);
    ui_worker_free(w);
    ui_state_free(&s);
    sb_dataset_free(d);
    sb_model_free(m);
    pthread_sigmask(SIG_SETMASK, &waiting_mask, NULL);
    return rc;
}
