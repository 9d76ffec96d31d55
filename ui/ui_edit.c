#include "ui_edit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One edit in progress: the next Config and the layers it applies to. */
typedef struct edit {
    sb_config next;
    int *rows, n;
    int ref; /* the row whose setting a cycle starts from: the selected one if targeted */
    char skipped[200];
} edit;

static bool edit_begin(ui_state *s, edit *e)
{
    sb_error err = {0};
    memset(e, 0, sizeof *e);
    e->rows = calloc((size_t)s->n_rows + 1, sizeof *e->rows);
    if (!e->rows || !s->n_rows || sb_config_copy(&s->cfg, &e->next, &err)) {
        free(e->rows);
        e->rows = NULL;
        if (s->n_rows)
            ui_state_error(s, "out of memory");
        return false;
    }
    e->n = ui_edit_targets(s, e->rows);
    e->ref = e->rows[0];
    int sel = s->order[s->sel];
    for (int i = 0; i < e->n; i++)
        if (e->rows[i] == sel)
            e->ref = sel;
    return true;
}

static void edit_end(edit *e)
{
    sb_config_free(&e->next);
    free(e->rows);
}

static bool any_global(const sb_config *c)
{
    for (int i = 0; i < c->n_layers; i++)
        if (c->layer[i].prune == SB_PRUNE_GLOBAL)
            return true;
    return false;
}

/* "conv2" or "3 layers". */
static const char *who(const ui_state *s, const edit *e, char *buf, size_t n)
{
    if (e->n == 1)
        snprintf(buf, n, "%s", s->rows[e->rows[0]].info.name);
    else
        snprintf(buf, n, "%d layers", e->n);
    return buf;
}

/* Pushes the next Config if it differs; the message is "WHO: WHAT" plus what was skipped. */
static bool edit_commit(ui_state *s, edit *e, const char *what)
{
    char w[96];
    if (!any_global(&e->next))
        e->next.global_ratio = 0; /* as the CSV round-trips it */
    bool changed = !sb_config_equal(&e->next, &s->cfg);
    if (changed && !ui_state_edit(s, &e->next))
        ui_state_error(s, "out of memory: the edit was not made");
    else if (e->skipped[0])
        ui_state_error(s, "%s%s%s", changed ? what : "", changed ? "; " : "", e->skipped);
    else if (changed)
        ui_state_message(s, "%s: %s%s", who(s, e, w, sizeof w), what,
                         ui_state_left_finetuned(s) ? " (on the original weights: u returns to "
                                                      "the fine-tuned ones)"
                                                    : "");
    else
        ui_state_message(s, "%s: no change (%s)", who(s, e, w, sizeof w), what);
    edit_end(e);
    return changed;
}

char *ui_ratio_text(double ratio, char *buf, size_t n)
{
    double p = 100 * ratio;
    snprintf(buf, n, fabs(p - nearbyint(p)) < 1e-6 ? "%.0f%%" : "%.1f%%", p);
    return buf;
}

char *ui_prune_text(const ui_state *s, int row, char *buf, size_t n)
{
    char r[16];
    const sb_layer_config *c = row >= 0 && row < s->cfg.n_layers ? &s->cfg.layer[row] : NULL;
    snprintf(buf, n, "-");
    if (!c)
        return buf;
    switch (c->prune) {
    case SB_PRUNE_MAGNITUDE:
        snprintf(buf, n, "mag %s", ui_ratio_text(c->ratio, r, sizeof r));
        break;
    case SB_PRUNE_L1: snprintf(buf, n, "l1 %s", ui_ratio_text(c->ratio, r, sizeof r)); break;
    case SB_PRUNE_GLOBAL:
        snprintf(buf, n, "glob %s", ui_ratio_text(s->cfg.global_ratio, r, sizeof r));
        break;
    case SB_PRUNE_NONE: {
        double g = ui_group_ratio(s, s->rows[row].group, NULL);
        if (g > 0) /* another producer of its channel group prunes it too */
            snprintf(buf, n, "(l1 %s)", ui_ratio_text(g, r, sizeof r));
        break;
    }
    }
    return buf;
}

char *ui_quant_text(const sb_layer_config *l, char *buf, size_t n)
{
    if (l->wbits >= 32)
        snprintf(buf, n, "%s", l->act8 ? "a8" : "-");
    else
        snprintf(buf, n, "int%d %s%s%s", l->wbits, l->gran == SB_GRAN_TENSOR ? "t" : "ch",
                 l->asymmetric ? " asym" : "", l->act8 ? " a8" : "");
    return buf;
}

static void set_method(sb_layer_config *l, sb_prune_method m)
{
    l->prune = m;
    if (m == SB_PRUNE_NONE || m == SB_PRUNE_GLOBAL)
        l->ratio = 0; /* a global layer's own ratio has no meaning: the Config's is shared */
    else if (l->ratio <= 0)
        l->ratio = UI_RATIO_DEFAULT;
}

/* Applies method m to every target; l1 skips the layers that cannot take it. Returns how many
 * were skipped, naming the first. */
static int apply_method(ui_state *s, edit *e, sb_prune_method m)
{
    int skipped = 0;
    for (int i = 0; i < e->n; i++) {
        int r = e->rows[i];
        const char *why = m == SB_PRUNE_L1 ? ui_row_why_not_l1(s, r) : NULL;
        if (why) {
            if (!skipped++)
                snprintf(e->skipped, sizeof e->skipped,
                         "l1 not possible on %s: its output channels cannot be removed: %s "
                         "(use magnitude or global)",
                         s->rows[r].info.name, why);
            continue;
        }
        set_method(&e->next.layer[r], m);
    }
    if (skipped > 1) {
        char more[48];
        snprintf(more, sizeof more, " (and %d more)", skipped - 1);
        strncat(e->skipped, more, sizeof e->skipped - strlen(e->skipped) - 1);
    }
    return skipped;
}

static char *prune_what(const ui_state *s, const sb_config *c, int row, char *buf, size_t n)
{
    char r[16];
    const sb_layer_config *l = &c->layer[row];
    if (l->prune == SB_PRUNE_NONE)
        snprintf(buf, n, "no pruning");
    else if (l->prune == SB_PRUNE_GLOBAL)
        snprintf(buf, n, "global %s", ui_ratio_text(c->global_ratio, r, sizeof r));
    else
        snprintf(buf, n, "%s %s", l->prune == SB_PRUNE_L1 ? "l1" : "magnitude",
                 ui_ratio_text(l->ratio, r, sizeof r));
    return buf;
}

bool ui_edit_set_prune(ui_state *s, sb_prune_method m)
{
    edit e;
    char what[64];
    if (!edit_begin(s, &e))
        return false;
    if (apply_method(s, &e, m) == e.n) { /* nothing could take it */
        ui_state_error(s, "%s", e.skipped);
        edit_end(&e);
        return false;
    }
    return edit_commit(s, &e, prune_what(s, &e.next, e.ref, what, sizeof what));
}

bool ui_edit_cycle_prune(ui_state *s)
{
    static const sb_prune_method next[] = {[SB_PRUNE_NONE] = SB_PRUNE_MAGNITUDE,
                                           [SB_PRUNE_MAGNITUDE] = SB_PRUNE_L1,
                                           [SB_PRUNE_L1] = SB_PRUNE_NONE,
                                           [SB_PRUNE_GLOBAL] = SB_PRUNE_NONE};
    edit e;
    char what[64];
    if (!edit_begin(s, &e))
        return false;
    sb_prune_method m = next[s->cfg.layer[e.ref].prune];
    if (apply_method(s, &e, m) == e.n) {
        m = SB_PRUNE_NONE; /* l1 is impossible here: the cycle goes on */
        apply_method(s, &e, m);
    }
    return edit_commit(s, &e, prune_what(s, &e.next, e.ref, what, sizeof what));
}

static double clamp_ratio(double r, double hi)
{
    r = nearbyint(r * 10000) / 10000;
    return r < 0 ? 0 : r > hi ? hi : r;
}

/* Sets (step false) or steps the pruning ratio of the targets. */
static bool edit_ratio(ui_state *s, double v, bool step)
{
    edit e;
    char what[64];
    if (!edit_begin(s, &e))
        return false;
    bool global_done = false;
    for (int i = 0; i < e.n; i++) {
        sb_layer_config *l = &e.next.layer[e.rows[i]];
        double *ratio = l->prune == SB_PRUNE_GLOBAL ? &e.next.global_ratio : &l->ratio;
        if (l->prune == SB_PRUNE_GLOBAL && global_done)
            continue; /* one shared ratio, stepped once */
        global_done |= l->prune == SB_PRUNE_GLOBAL;
        double old = l->prune == SB_PRUNE_NONE ? 0 : *ratio, hi = UI_RATIO_MAX;
        if (step) /* + stops at UI_RATIO_MAX_STEP but never lowers a typed ratio */
            hi = old > UI_RATIO_MAX_STEP ? old : UI_RATIO_MAX_STEP;
        double r = clamp_ratio(step ? old + v : v, hi);
        if (l->prune == SB_PRUNE_NONE && r > 0)
            l->prune = SB_PRUNE_MAGNITUDE;
        if (l->prune == SB_PRUNE_GLOBAL)
            e.next.global_ratio = r;
        else if (r > 0)
            l->ratio = r;
        else
            set_method(l, SB_PRUNE_NONE);
    }
    for (int i = 0; i < e.n && e.next.global_ratio <= 0; i++) /* global at 0: no pruning */
        if (e.next.layer[e.rows[i]].prune == SB_PRUNE_GLOBAL)
            set_method(&e.next.layer[e.rows[i]], SB_PRUNE_NONE);
    return edit_commit(s, &e, prune_what(s, &e.next, e.ref, what, sizeof what));
}

bool ui_edit_step_ratio(ui_state *s, double delta) { return edit_ratio(s, delta, true); }
bool ui_edit_set_ratio(ui_state *s, double ratio) { return edit_ratio(s, ratio, false); }

static const char *quant_what(const sb_layer_config *l, char *buf, size_t n)
{
    char q[32];
    snprintf(buf, n, "quantisation %s", ui_quant_text(l, q, sizeof q));
    if (!strcmp(q, "-"))
        snprintf(buf, n, "float weights and activations");
    return buf;
}

bool ui_edit_cycle_bits(ui_state *s)
{
    edit e;
    char what[64];
    if (!edit_begin(s, &e))
        return false;
    int bits = s->cfg.layer[e.ref].wbits;
    int next = bits == 32 ? 8 : bits == 8 ? 6 : bits == 6 ? 4 : bits == 4 ? 2 : 32;
    for (int i = 0; i < e.n; i++)
        e.next.layer[e.rows[i]].wbits = next;
    return edit_commit(s, &e, quant_what(&e.next.layer[e.ref], what, sizeof what));
}

bool ui_edit_toggle_gran(ui_state *s)
{
    edit e;
    char what[64];
    if (!edit_begin(s, &e))
        return false;
    int ref = -1;
    for (int i = 0; i < e.n; i++)
        if (s->cfg.layer[e.rows[i]].wbits < 32 && (ref < 0 || e.rows[i] == e.ref))
            ref = e.rows[i];
    if (ref < 0) {
        ui_state_error(s, "granularity applies to quantised weights: press b to choose the bits");
        edit_end(&e);
        return false;
    }
    sb_granularity g = s->cfg.layer[ref].gran == SB_GRAN_CHANNEL ? SB_GRAN_TENSOR : SB_GRAN_CHANNEL;
    for (int i = 0; i < e.n; i++)
        if (e.next.layer[e.rows[i]].wbits < 32)
            e.next.layer[e.rows[i]].gran = g;
    return edit_commit(s, &e, quant_what(&e.next.layer[ref], what, sizeof what));
}

bool ui_edit_toggle_act8(ui_state *s)
{
    edit e;
    char what[64];
    if (!edit_begin(s, &e))
        return false;
    bool on = !s->cfg.layer[e.ref].act8;
    for (int i = 0; i < e.n; i++)
        e.next.layer[e.rows[i]].act8 = on;
    return edit_commit(s, &e, quant_what(&e.next.layer[e.ref], what, sizeof what));
}

bool ui_edit_global(ui_state *s, double ratio)
{
    edit e;
    char what[96], r[16];
    if (!edit_begin(s, &e))
        return false;
    e.n = 0; /* the marked layers (or the visual range); all layers when none */
    for (int i = 0; i < s->n_rows; i++)
        if (s->visual ? ui_visual_contains(s, i) : !s->n_marked || s->marked[i])
            e.rows[e.n++] = i;
    ratio = clamp_ratio(ratio, UI_RATIO_MAX);
    for (int i = 0; i < e.n; i++)
        set_method(&e.next.layer[e.rows[i]], ratio > 0 ? SB_PRUNE_GLOBAL : SB_PRUNE_NONE);
    e.next.global_ratio = ratio;
    snprintf(what, sizeof what,
             ratio > 0 ? "global magnitude pruning to %s sparsity" : "no pruning",
             ui_ratio_text(ratio, r, sizeof r));
    return edit_commit(s, &e, what);
}

bool ui_edit_reset(ui_state *s)
{
    edit e;
    if (!edit_begin(s, &e))
        return false;
    for (int i = 0; i < e.n; i++)
        e.next.layer[e.rows[i]] = SB_LAYER_DEFAULT;
    return edit_commit(s, &e, "reset (no pruning, float weights)");
}

bool ui_edit_reset_all(ui_state *s)
{
    edit e;
    if (!edit_begin(s, &e))
        return false;
    e.n = 0;
    for (int i = 0; i < s->n_rows; i++) {
        e.next.layer[i] = SB_LAYER_DEFAULT;
        e.rows[e.n++] = i;
    }
    return edit_commit(s, &e, "reset (no pruning, float weights)");
}

bool ui_edit_load(ui_state *s, const sb_config *c, const char *path)
{
    bool changed = !sb_config_equal(c, &s->cfg);
    if (changed && !ui_state_edit(s, c)) {
        ui_state_error(s, "out of memory loading %s", path);
        return false;
    }
    ui_state_mark_saved(s);
    ui_state_message(s, changed ? "loaded %s (u undoes)" : "loaded %s: no change", path);
    return changed;
}

static void request(ui_state *s, const ui_prompt *p, int kind)
{
    if (!p->text[0]) {
        ui_state_error(s, "no file name given");
        return;
    }
    s->req = (ui_request){.kind = kind, .quit_after = p->quit_after};
    snprintf(s->req.path, sizeof s->req.path, "%s", p->text);
}

void ui_prompt_accept(ui_state *s)
{
    ui_prompt p = s->prompt;
    double r;
    s->input = UI_INPUT_NORMAL;
    s->prompt.kind = UI_PROMPT_NONE;
    switch (p.kind) {
    case UI_PROMPT_RATIO:
        if (ui_parse_ratio(s, p.text, UI_RATIO_MAX, &r))
            ui_edit_set_ratio(s, r);
        break;
    case UI_PROMPT_GLOBAL:
        if (ui_parse_ratio(s, p.text, UI_RATIO_MAX, &r))
            ui_edit_global(s, r);
        break;
    case UI_PROMPT_SAVE_CONFIG: request(s, &p, UI_REQ_SAVE_CONFIG); break;
    case UI_PROMPT_SAVE_REPORT: request(s, &p, UI_REQ_SAVE_REPORT); break;
    case UI_PROMPT_LOAD_CONFIG: request(s, &p, UI_REQ_LOAD_CONFIG); break;
    case UI_PROMPT_EXPORT: request(s, &p, UI_REQ_EXPORT); break;
    default: break;
    }
}
