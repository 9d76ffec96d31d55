#include "ui_summary.h"

#include "ui_format.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static double pct(int k, int n) { return n > 0 ? 100.0 * k / n : 0; }

static void top1_running(const sb_eval_progress *p, bool utf8, ui_metric *m)
{
    m->kind = UI_METRIC_ESTIMATE;
    m->value = p->done ? (double)p->correct1 / p->done : 0;
    ui_wilson(p->correct1, p->done, &m->lo, &m->hi);
    m->done = p->total ? (double)p->done / p->total : 0;
    snprintf(m->text, sizeof m->text, "%s%.1f%%", utf8 ? "\u2248" : "~", 100 * m->value);
    snprintf(m->note, sizeof m->note, "estimate, 95%% CI %.1f%s%.1f%% on %d/%d images", 100 * m->lo,
             utf8 ? "\u2013" : "-", 100 * m->hi, p->done, p->total);
}

void ui_metric_top1(const ui_job_report *eval, bool utf8, ui_metric *m)
{
    const sb_eval_progress *p = &eval->progress;
    memset(m, 0, sizeof *m);
    if (eval->state == UI_JOB_RUNNING && p->done > 0) {
        top1_running(p, utf8, m);
        return;
    }
    switch (eval->state) {
    case UI_JOB_DONE:
        m->kind = UI_METRIC_FINAL;
        m->value = p->total ? (double)p->correct1 / p->total : 0;
        m->done = 1;
        snprintf(m->text, sizeof m->text, "%.2f%%", pct(p->correct1, p->total));
        snprintf(m->note, sizeof m->note, "top-5 %.2f%% %s %d test images in %.1f s",
                 pct(p->correct5, p->total), utf8 ? "\u00b7" : "|", p->total, eval->seconds);
        break;
    case UI_JOB_RUNNING:
    case UI_JOB_IDLE:
    case UI_JOB_QUEUED:
        snprintf(m->text, sizeof m->text, "...");
        snprintf(m->note, sizeof m->note, "evaluating the test set");
        break;
    case UI_JOB_CANCELLED:
        m->kind = UI_METRIC_ERROR;
        snprintf(m->text, sizeof m->text, "-");
        snprintf(m->note, sizeof m->note, "evaluation cancelled");
        break;
    case UI_JOB_FAILED:
        m->kind = UI_METRIC_ERROR;
        snprintf(m->text, sizeof m->text, "-");
        snprintf(m->note, sizeof m->note, "%s", eval->error[0] ? eval->error : "evaluation failed");
        break;
    }
}

void ui_metric_latency(const ui_job_report *lat, const ui_job_report *eval, bool utf8, ui_metric *m)
{
    const sb_latency *l = &lat->latency;
    char a[16], b[16], c[16];
    memset(m, 0, sizeof *m);
    snprintf(m->text, sizeof m->text, "...");
    if (lat->state == UI_JOB_DONE) {
        m->kind = UI_METRIC_FINAL;
        m->value = l->median_ms;
        m->done = 1;
        snprintf(m->text, sizeof m->text, "%s ms", ui_fmt_ms(a, sizeof a, l->median_ms));
        snprintf(m->note, sizeof m->note, "batch 1, median of %d runs (%s%s%s ms), %d threads",
                 l->runs, ui_fmt_ms(b, sizeof b, l->min_ms), utf8 ? "\u2013" : "-",
                 ui_fmt_ms(c, sizeof c, l->max_ms), l->threads);
    } else if (lat->state == UI_JOB_FAILED || lat->state == UI_JOB_CANCELLED) {
        m->kind = UI_METRIC_ERROR;
        snprintf(m->text, sizeof m->text, "-");
        snprintf(m->note, sizeof m->note, "%s",
                 lat->error[0] ? lat->error : "latency measurement stopped");
    } else if (lat->state == UI_JOB_RUNNING) {
        snprintf(m->note, sizeof m->note, "measuring batch-1 latency (%d threads)", lat->threads);
    } else {
        snprintf(m->note, sizeof m->note, "%s",
                 eval->state == UI_JOB_FAILED ? "not measured: evaluation failed"
                                              : "measured once accuracy settles");
    }
}

char *ui_summary_model(const ui_state *s, int detail, char *buf, size_t n)
{
    char p[16], m[16], b[16];
    const char *dot = s->utf8 ? " \u00b7 " : " | ";
    int len =
        snprintf(buf, n, "%s params%s%s MACs", ui_fmt_count(p, sizeof p, s->totals.all_params), dot,
                 ui_fmt_count(m, sizeof m, s->totals.macs));
    if (detail >= 1 && len > 0 && (size_t)len < n)
        len += snprintf(buf + len, n - (size_t)len, "%s%d layers", dot, s->n_rows);
    if (detail >= 2 && len > 0 && (size_t)len < n)
        snprintf(buf + len, n - (size_t)len, "%s%s f32", dot,
                 ui_fmt_bytes(b, sizeof b, 4.0 * (double)s->totals.all_params));
    return buf;
}

/* ---- header lines ---- */

static void seg(ui_hline *l, ui_tone tone, int keep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void seg(ui_hline *l, ui_tone tone, int keep, const char *fmt, ...)
{
    if (l->n >= UI_SEG_MAX)
        return;
    ui_seg *sg = &l->seg[l->n++];
    sg->tone = tone;
    sg->keep = keep;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sg->text, sizeof sg->text, fmt, ap);
    va_end(ap);
}

static int line_width(const ui_hline *l)
{
    int w = 0;
    for (int i = 0; i < l->n; i++)
        w += ui_text_width(l->seg[i].text);
    return w;
}

/* Drops the least important segments until the line fits. */
static void fit(ui_hline *l, int width)
{
    for (int floor = 0; floor < 9 && line_width(l) > width; floor++) {
        int k = 0;
        for (int i = 0; i < l->n; i++)
            if (l->seg[i].keep > floor)
                l->seg[k++] = l->seg[i];
        l->n = k;
    }
}

char *ui_hline_text(const ui_hline *l, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < l->n && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s", l->seg[i].text);
    return buf;
}

/* A progress bar in what is left of the line, when there is room. */
static void add_bar(ui_hline *l, int width, double done, bool utf8)
{
    enum { BAR_MIN = 6, BAR_MAX = 24 };
    int room = width - line_width(l) - 3;
    room = room > BAR_MAX ? BAR_MAX : room;
    if (room < BAR_MIN)
        return;
    char b[256];
    seg(l, UI_TONE_DIM, 1, " [");
    seg(l, UI_TONE_BAR, 1, "%s", ui_hbar(b, sizeof b, done, room, utf8));
    seg(l, UI_TONE_DIM, 1, "]");
}

const ui_job_report *ui_summary_now_eval(const ui_state *s, bool *previous)
{
    const ui_job_report *j = &s->job[UI_JOB_EVAL];
    *previous = false;
    if ((j->state == UI_JOB_RUNNING && j->progress.done > 0) || j->state == UI_JOB_DONE)
        return j;
    *previous = true;
    return s->last[UI_JOB_EVAL].state == UI_JOB_DONE ? &s->last[UI_JOB_EVAL] : NULL;
}

static const char *arrow(const ui_state *s) { return s->utf8 ? " \u2192 " : " -> "; }
static ui_tone sign_tone(double d)
{
    return d > 0 ? UI_TONE_BETTER : d < 0 ? UI_TONE_WORSE : UI_TONE_PLAIN;
}

static ui_tone ratio_tone(double r)
{
    return r < 1 ? UI_TONE_BETTER : r > 1 ? UI_TONE_WORSE : UI_TONE_PLAIN;
}

static double frac(int k, int n) { return n > 0 ? (double)k / n : 0; }

/* top-1 of the base model alone (no edits). */
static void line_top1_base(const ui_state *s, ui_hline *l, int width)
{
    ui_metric m;
    const ui_job_report *b = &s->base[UI_JOB_EVAL];
    ui_metric_top1(b, s->utf8, &m);
    seg(l, UI_TONE_LABEL, 9, "top-1 ");
    seg(l, m.kind == UI_METRIC_FINAL      ? UI_TONE_FINAL
           : m.kind == UI_METRIC_ESTIMATE ? UI_TONE_ESTIMATE
           : m.kind == UI_METRIC_ERROR    ? UI_TONE_ERROR
                                          : UI_TONE_DIM,
        9, "%s", m.text);
    if (m.kind == UI_METRIC_FINAL) {
        seg(l, UI_TONE_PLAIN, 8, "  top-5 %.2f%%",
            100 * frac(b->progress.correct5, b->progress.total));
        seg(l, UI_TONE_DIM, 3, "  %d test images in %.1f s", b->progress.total, b->seconds);
    } else {
        seg(l, m.kind == UI_METRIC_ERROR ? UI_TONE_ERROR : UI_TONE_PLAIN, 4, "  %s", m.note);
        if (m.kind == UI_METRIC_ESTIMATE) {
            fit(l, width);
            add_bar(l, width, m.done, s->utf8);
        }
    }
}

static void top1_text(const ui_state *s, const ui_job_report *r, bool estimate, char *buf, size_t n)
{
    const sb_eval_progress *p = &r->progress;
    if (estimate)
        snprintf(buf, n, "%s%.1f%%", s->utf8 ? "\u2248" : "~", 100 * frac(p->correct1, p->done));
    else
        snprintf(buf, n, "%.2f%%", 100 * frac(p->correct1, p->total));
}

static bool is_estimate(const ui_job_report *r) { return r->state == UI_JOB_RUNNING; }

/* top-1 base -> now, the change, then the interval while estimating or top-5 when final. */
static void line_top1_cmp(const ui_state *s, ui_hline *l, int width)
{
    char bt[32], nt[32];
    const ui_job_report *b = &s->base[UI_JOB_EVAL];
    bool prev, b_est = is_estimate(b);
    bool b_ok = b->state == UI_JOB_DONE || (b_est && b->progress.done);
    const ui_job_report *now = ui_summary_now_eval(s, &prev);
    seg(l, UI_TONE_LABEL, 9, "top-1 ");
    if (b_ok)
        top1_text(s, b, b_est, bt, sizeof bt);
    seg(l, b_ok ? (b_est ? UI_TONE_ESTIMATE : UI_TONE_PLAIN) : UI_TONE_DIM, 9, "%s",
        b_ok ? bt : "...");
    seg(l, UI_TONE_DIM, 9, "%s", arrow(s));
    if (!now) {
        seg(l, UI_TONE_DIM, 9, "...");
        seg(l, s->job[UI_JOB_EVAL].state == UI_JOB_FAILED ? UI_TONE_ERROR : UI_TONE_DIM, 4, "  %s",
            s->job[UI_JOB_EVAL].state == UI_JOB_FAILED ? "not applied (see the status line)"
                                                       : "compressing and evaluating");
        return;
    }
    bool est = is_estimate(now);
    top1_text(s, now, est, nt, sizeof nt);
    seg(l, prev ? UI_TONE_DIM : est ? UI_TONE_ESTIMATE : UI_TONE_FINAL, 9, "%s", nt);
    if (b_ok) {
        double d = 100 * (est ? frac(now->progress.correct1, now->progress.done)
                              : frac(now->progress.correct1, now->progress.total)) -
                   100 * (b_est ? frac(b->progress.correct1, b->progress.done)
                                : frac(b->progress.correct1, b->progress.total));
        seg(l, sign_tone(d), 8, est ? " %+.1f" : " %+.2f", d);
    }
    if (prev) {
        seg(l, s->job[UI_JOB_EVAL].state == UI_JOB_FAILED ? UI_TONE_ERROR : UI_TONE_DIM, 7, "  %s",
            s->job[UI_JOB_EVAL].state == UI_JOB_FAILED ? "previous settings: not applied"
                                                       : "previous settings, updating");
    } else if (est) {
        double lo, hi;
        ui_wilson(now->progress.correct1, now->progress.done, &lo, &hi);
        seg(l, UI_TONE_ESTIMATE, 6, "  estimate");
        seg(l, UI_TONE_PLAIN, 5, ", 95%% CI %.1f%s%.1f%%", 100 * lo, s->utf8 ? "\u2013" : "-",
            100 * hi);
        seg(l, UI_TONE_PLAIN, 4, " on %d/%d", now->progress.done, now->progress.total);
        fit(l, width);
        add_bar(l, width, frac(now->progress.done, now->progress.total), s->utf8);
        return;
    }
    if (!est && b->state == UI_JOB_DONE) {
        double t5b = 100 * frac(b->progress.correct5, b->progress.total);
        double t5n = 100 * frac(now->progress.correct5, now->progress.total);
        seg(l, UI_TONE_LABEL, 6, "  top-5 ");
        seg(l, UI_TONE_PLAIN, 6, "%.2f%%%s%.2f%%", t5b, arrow(s), t5n);
        seg(l, sign_tone(t5n - t5b), 5, " %+.2f", t5n - t5b);
    }
    if (!est && !prev && now->cached > 0) /* images that resumed from cached activations */
        seg(l, UI_TONE_DIM, 2, "  (%d from cache)", now->cached);
}

static void line_latency_base(const ui_state *s, ui_hline *l)
{
    ui_metric m;
    ui_metric_latency(&s->base[UI_JOB_LATENCY], &s->base[UI_JOB_EVAL], s->utf8, &m);
    seg(l, UI_TONE_LABEL, 9, "latency ");
    seg(l,
        m.kind == UI_METRIC_FINAL   ? UI_TONE_FINAL
        : m.kind == UI_METRIC_ERROR ? UI_TONE_ERROR
                                    : UI_TONE_DIM,
        9, "%s", m.text);
    seg(l, m.kind == UI_METRIC_ERROR ? UI_TONE_ERROR : UI_TONE_DIM, 4, "  %s", m.note);
}

/* agreement with the base, then latency base -> now and the speed-up. */
static void line_latency_cmp(const ui_state *s, ui_hline *l)
{
    char a[16], b[16];
    bool prev;
    const ui_job_report *now = ui_summary_now_eval(s, &prev);
    const sb_eval_progress *p = now ? &now->progress : NULL;
    seg(l, UI_TONE_LABEL, 9, "agree ");
    if (p && p->agree >= 0 && p->done > 0) {
        bool est = is_estimate(now);
        seg(l, prev ? UI_TONE_DIM : est ? UI_TONE_ESTIMATE : UI_TONE_FINAL, 9, "%s%.*f%%",
            est ? (s->utf8 ? "\u2248" : "~") : "", est ? 1 : 2,
            100 * frac(p->agree, est ? p->done : p->total));
    } else {
        seg(l, UI_TONE_DIM, 9, "...");
    }
    const ui_job_report *bl = &s->base[UI_JOB_LATENCY];
    const ui_job_report *nl = prev ? &s->last[UI_JOB_LATENCY] : &s->job[UI_JOB_LATENCY];
    seg(l, UI_TONE_LABEL, 9, "  latency ");
    seg(l, bl->state == UI_JOB_DONE ? UI_TONE_PLAIN : UI_TONE_DIM, 9, "%s",
        bl->state == UI_JOB_DONE ? ui_fmt_ms(a, sizeof a, bl->latency.median_ms) : "...");
    seg(l, UI_TONE_DIM, 9, "%s", arrow(s));
    if (nl->state == UI_JOB_DONE) {
        seg(l, prev ? UI_TONE_DIM : UI_TONE_FINAL, 9, "%s ms",
            ui_fmt_ms(b, sizeof b, nl->latency.median_ms));
        if (bl->state == UI_JOB_DONE && nl->latency.median_ms > 0) {
            double r = bl->latency.median_ms / nl->latency.median_ms;
            seg(l, r >= 1.005 ? UI_TONE_BETTER : r <= 0.995 ? UI_TONE_WORSE : UI_TONE_PLAIN, 8,
                " %.2fx %s", r >= 1 ? r : 1 / r, r >= 1 ? "faster" : "slower");
        }
        seg(l, UI_TONE_DIM, 3, "  batch 1, %d threads", nl->latency.threads);
        if (nl->kernels[0])
            seg(l, UI_TONE_DIM, 2, ", %s", nl->kernels);
    } else {
        seg(l, UI_TONE_DIM, 9, "... ms");
        seg(l, UI_TONE_DIM, 4, "  %s",
            nl->state == UI_JOB_RUNNING ? "measuring" : "measured once accuracy settles");
    }
}

/* "params 61.7k -> 36.5k 0.59x"; the base alone when unedited. */
static void metric_pair(const ui_state *s, ui_hline *l, const char *label, int keep, int64_t base,
                        int64_t now, bool have_now, bool bytes)
{
    char a[16], b[16];
    if (bytes) {
        ui_fmt_bytes(a, sizeof a, (double)base);
        ui_fmt_bytes(b, sizeof b, (double)now);
    } else {
        ui_fmt_count(a, sizeof a, base);
        ui_fmt_count(b, sizeof b, now);
    }
    seg(l, UI_TONE_LABEL, keep, "%s", label);
    if (ui_state_is_base(s) || (have_now && now == base)) { /* unchanged: one number */
        seg(l, UI_TONE_PLAIN, keep, "%s", a);
        return;
    }
    seg(l, UI_TONE_PLAIN, keep, "%s%s", a, arrow(s));
    if (!have_now) {
        seg(l, UI_TONE_DIM, keep, "...");
        return;
    }
    double r = base > 0 ? (double)now / (double)base : 1;
    seg(l, UI_TONE_FINAL, keep, "%s", b);
    seg(l, ratio_tone(r), keep, " %.2fx", r);
}

static void line_params(const ui_state *s, ui_hline *l)
{
    sb_size_info b = s->base_size, n = ui_state_size_now(s);
    bool have = ui_state_is_base(s) || s->stats;
    metric_pair(s, l, "params ", 9, b.params, n.params, have, false);
    metric_pair(s, l, "  non-zero ", 5, b.nonzero, n.nonzero, have, false);
    metric_pair(s, l, "  MACs ", 8, b.macs, n.macs, have, false);
}

static void line_size(const ui_state *s, ui_hline *l)
{
    sb_size_info b = s->base_size, n = ui_state_size_now(s);
    bool have = ui_state_is_base(s) || s->stats;
    metric_pair(s, l, "size ", 9, b.bytes, n.bytes, have, true);
    if (ui_state_is_base(s)) {
        seg(l, UI_TONE_DIM, 3, "  float32 weights; edit layers to compare (p b a, ? help)");
        return;
    }
    metric_pair(s, l, "  MACs skipping zeros (estimate) ", 4, b.effective_macs,
                n.effective_macs, have, false);
}

int ui_summary_lines(const ui_state *s, int width, ui_hline *lines, int max)
{
    bool cmp = !ui_state_is_base(s);
    int n = 0;
    for (int i = 0; i < max && i < UI_SUMMARY_LINES; i++) {
        ui_hline *l = &lines[n++];
        l->n = 0;
        switch (i) {
        case 0: cmp ? line_top1_cmp(s, l, width) : line_top1_base(s, l, width); break;
        case 1: cmp ? line_latency_cmp(s, l) : line_latency_base(s, l); break;
        case 2: line_params(s, l); break;
        default: line_size(s, l); break;
        }
        fit(l, width);
    }
    return n;
}
