#include "ui_draw.h"

#include "ui_format.h"
#include "ui_summary.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

typedef struct style_spec {
    attr_t mono;       /* attributes on a terminal without colours */
    short fg, bg;      /* -1: the terminal's default */
    attr_t with_color; /* attributes added to the colour pair */
} style_spec;

static const style_spec styles[UI_ST_COUNT] = {
    [UI_ST_NORMAL] = {A_NORMAL, -1, -1, A_NORMAL},
    [UI_ST_TITLE] = {A_BOLD, COLOR_CYAN, -1, A_BOLD},
    [UI_ST_COLHEAD] = {A_BOLD | A_UNDERLINE, COLOR_CYAN, -1, A_BOLD | A_UNDERLINE},
    [UI_ST_SELECTED] = {A_REVERSE, COLOR_BLACK, COLOR_CYAN, A_NORMAL},
    [UI_ST_MARK] = {A_BOLD, COLOR_YELLOW, -1, A_BOLD},
    [UI_ST_ESTIMATE] = {A_NORMAL, COLOR_YELLOW, -1, A_BOLD},
    [UI_ST_FINAL] = {A_BOLD, COLOR_GREEN, -1, A_BOLD},
    [UI_ST_BAR] = {A_NORMAL, COLOR_CYAN, -1, A_NORMAL},
    [UI_ST_DIM] = {A_NORMAL, -1, -1, A_DIM},
    [UI_ST_ERROR] = {A_BOLD, COLOR_RED, -1, A_BOLD},
    [UI_ST_STATUS] = {A_REVERSE, COLOR_BLACK, COLOR_WHITE, A_NORMAL},
    [UI_ST_TOTAL] = {A_BOLD, -1, -1, A_BOLD},
    [UI_ST_FRAME] = {A_NORMAL, COLOR_BLUE, -1, A_NORMAL},
};

static struct {
    bool color, utf8;
} theme;

void ui_draw_init(bool utf8)
{
    theme.utf8 = utf8;
    theme.color = has_colors() && start_color() == OK;
    if (!theme.color)
        return;
    bool defaults = use_default_colors() == OK;
    for (int i = 1; i < UI_ST_COUNT; i++) {
        short fg = styles[i].fg, bg = styles[i].bg;
        init_pair((short)i, fg < 0 && !defaults ? COLOR_WHITE : fg,
                  bg < 0 && !defaults ? COLOR_BLACK : bg);
    }
}

static attr_t attr_of(ui_style st)
{
    if (!theme.color)
        return styles[st].mono;
    return (st ? COLOR_PAIR(st) : A_NORMAL) | styles[st].with_color;
}

void ui_draw_text(int y, int x, int w, const char *text, bool right, ui_style st)
{
    char buf[2048];
    if (w <= 0)
        return;
    ui_text_fit(buf, sizeof buf, text, w, right, theme.utf8);
    attrset(attr_of(st));
    mvaddstr(y, x, buf);
    attrset(A_NORMAL);
}

int ui_draw_str(int y, int x, int max, const char *text, ui_style st)
{
    int w = ui_text_width(text);
    w = w < max ? w : max;
    ui_draw_text(y, x, w, text, false, st);
    return w > 0 ? w : 0;
}

void ui_draw_fill(int y, int x, int w, ui_style st)
{
    if (w <= 0)
        return;
    attrset(attr_of(st));
    mvhline(y, x, ' ', w);
    attrset(A_NORMAL);
}

void ui_draw_rule(int y, int x, int w, const char *title)
{
    attrset(attr_of(UI_ST_FRAME));
    mvhline(y, x, ACS_HLINE, w);
    attrset(A_NORMAL);
    if (title && w > 6) {
        char t[512];
        snprintf(t, sizeof t, " %s ", title);
        ui_draw_str(y, x + 2, w - 4, t, UI_ST_TITLE);
    }
}

void ui_draw_box(int y, int x, int h, int w)
{
    for (int i = 0; i < h; i++)
        ui_draw_fill(y + i, x, w, UI_ST_NORMAL);
    attrset(attr_of(UI_ST_FRAME));
    mvhline(y, x + 1, ACS_HLINE, w - 2);
    mvhline(y + h - 1, x + 1, ACS_HLINE, w - 2);
    mvvline(y + 1, x, ACS_VLINE, h - 2);
    mvvline(y + 1, x + w - 1, ACS_VLINE, h - 2);
    mvaddch(y, x, ACS_ULCORNER);
    mvaddch(y, x + w - 1, ACS_URCORNER);
    mvaddch(y + h - 1, x, ACS_LLCORNER);
    mvaddch(y + h - 1, x + w - 1, ACS_LRCORNER);
    attrset(A_NORMAL);
}

void ui_draw_too_small(const ui_layout *l)
{
    char msg[96];
    snprintf(msg, sizeof msg, "too small: %dx%d (need %dx%d)", l->cols, l->lines, UI_MIN_COLS,
             UI_MIN_LINES);
    ui_draw_str(0, 0, l->cols, msg, UI_ST_ERROR);
}

/* ---- header ---- */

static ui_style metric_style(const ui_metric *m)
{
    static const ui_style by_kind[] = {[UI_METRIC_WAITING] = UI_ST_DIM,
                                       [UI_METRIC_ESTIMATE] = UI_ST_ESTIMATE,
                                       [UI_METRIC_FINAL] = UI_ST_FINAL,
                                       [UI_METRIC_ERROR] = UI_ST_ERROR};
    return by_kind[m->kind];
}

/* "label value  note [progress]" on one line. */
static void draw_metric(int y, int x, int w, const char *label, const ui_metric *m)
{
    enum { BAR_MIN = 6, BAR_MAX = 24 };
    int used = ui_draw_str(y, x, w, label, UI_ST_TITLE);
    used += ui_draw_str(y, x + used, w - used, m->text, metric_style(m));
    used += 2;
    int bar = m->kind == UI_METRIC_ESTIMATE ? w - used - ui_text_width(m->note) - 3 : 0;
    bar = bar > BAR_MAX ? BAR_MAX : bar;
    used += ui_draw_str(y, x + used, w - used, m->note,
                        m->kind == UI_METRIC_ERROR ? UI_ST_ERROR : UI_ST_NORMAL);
    if (bar >= BAR_MIN) {
        char b[256];
        ui_hbar(b, sizeof b, m->done, bar, theme.utf8);
        ui_draw_str(y, x + used + 1, 1, "[", UI_ST_DIM);
        ui_draw_str(y, x + used + 2, bar, b, UI_ST_BAR);
        ui_draw_str(y, x + used + 2 + bar, 1, "]", UI_ST_DIM);
    }
}

/* "slimbench PATH" on the left, as much of the model summary as fits on the right. */
static void draw_title(const ui_state *s, const ui_rect *r)
{
    enum { PATH_MIN = 12 };
    char model[160];
    const char *path = s->model_path ? s->model_path : "";
    int used = ui_draw_str(r->y, r->x, r->w, "slimbench ", UI_ST_TITLE);
    int pw = ui_text_width(path), mw = 0;
    for (int detail = 2; detail >= 0; detail--) {
        mw = ui_text_width(ui_summary_model(s, detail, model, sizeof model));
        if (used + pw + 2 + mw <= r->w)
            break;
    }
    mw = used + PATH_MIN + 2 + mw <= r->w ? mw : 0; /* the path matters more */
    ui_draw_str(r->y, r->x + used, r->w - used - (mw ? mw + 2 : 0), path, UI_ST_NORMAL);
    if (mw)
        ui_draw_str(r->y, r->x + r->w - mw, mw, model, UI_ST_DIM);
}

void ui_draw_header(const ui_state *s, const ui_rect *r)
{
    ui_metric top1, lat;
    draw_title(s, r);
    ui_metric_top1(&s->base[UI_JOB_EVAL], s->utf8, &top1);
    ui_metric_latency(&s->base[UI_JOB_LATENCY], &s->base[UI_JOB_EVAL], s->utf8, &lat);
    draw_metric(r->y + 1, r->x, r->w, "top-1 ", &top1);
    draw_metric(r->y + 2, r->x, r->w, "latency ", &lat);
}

/* ---- status line ---- */

typedef struct hint {
    const char *text;
    int keep; /* when they do not all fit, the lowest go first */
} hint;

static void draw_hints(const ui_state *s, int y, int x, int w)
{
    static const hint table[] = {{"j/k move", 5},   {"/ find", 4},       {"s sort", 2},
                                 {"Space mark", 1}, {"Enter detail", 3}, {"D demo", 0},
                                 {"? help", 9},     {"q quit", 8}};
    static const hint demo[] = {{"D table", 2}, {"? help", 9}, {"q quit", 8}};
    bool in_demo = s->screen == UI_SCREEN_DEMO;
    const hint *h = in_demo ? demo : table;
    int n = in_demo ? 3 : (int)(sizeof table / sizeof table[0]), total = 1, floor = -1;
    for (int i = 0; i < n; i++)
        total += ui_text_width(h[i].text) + 2;
    while (total > w && floor < 9) { /* drop the least useful hints until the rest fit */
        floor++;
        for (int i = 0; i < n; i++)
            total -= h[i].keep == floor ? ui_text_width(h[i].text) + 2 : 0;
    }
    for (int i = 0, used = 1; i < n; i++)
        if (h[i].keep > floor)
            used += ui_draw_str(y, x + used, w - used, h[i].text, UI_ST_STATUS) + 2;
}

static void draw_search(const ui_state *s, int y, int x, int w)
{
    char line[UI_QUERY_MAX + 64];
    snprintf(line, sizeof line, "/%s_%s", s->query, s->search_failed ? "   no match" : "");
    ui_draw_str(y, x + 1, w - 1, line, s->search_failed ? UI_ST_ERROR : UI_ST_STATUS);
}

void ui_draw_status(const ui_state *s, const ui_rect *r)
{
    char right[96] = "";
    ui_draw_fill(r->y, r->x, r->w, UI_ST_STATUS);
    if (s->input == UI_INPUT_SEARCH)
        snprintf(right, sizeof right, "Enter keep  Esc back  Up/Down prev/next ");
    else if (s->screen == UI_SCREEN_TABLE && s->n_rows) {
        char marked[32] = "";
        if (s->n_marked)
            snprintf(marked, sizeof marked, "  %d marked", s->n_marked);
        snprintf(right, sizeof right, "%d/%d%s  sort: %s ", s->sel + 1, s->n_rows, marked,
                 ui_sort_name(s->sort));
    }
    int rw = ui_text_width(right);
    rw = rw > r->w / 2 ? 0 : rw;
    int lw = r->w - rw - 1;
    if (s->input == UI_INPUT_SEARCH)
        draw_search(s, r->y, r->x, lw);
    else if (s->message[0])
        ui_draw_str(r->y, r->x + 1, lw - 1, s->message, UI_ST_STATUS);
    else
        draw_hints(s, r->y, r->x, lw);
    if (rw)
        ui_draw_str(r->y, r->x + r->w - rw, rw, right, UI_ST_STATUS);
}
