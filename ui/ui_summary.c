#include "ui_summary.h"

#include "ui_format.h"

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
