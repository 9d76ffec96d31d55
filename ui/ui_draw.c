#include "ui_draw.h"

#include "ui_finetune.h"
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
    [UI_ST_BETTER] = {A_BOLD, COLOR_GREEN, -1, A_BOLD},
    [UI_ST_WORSE] = {A_BOLD, COLOR_RED, -1, A_BOLD},
    [UI_ST_CHANGED] = {A_BOLD, COLOR_GREEN, -1, A_NORMAL},
    [UI_ST_VISUAL] = {A_UNDERLINE, COLOR_BLACK, COLOR_YELLOW, A_NORMAL},
    [UI_ST_REMOVED] = {A_DIM, COLOR_RED, -1, A_NORMAL},
    [UI_ST_STATUS_ERROR] = {A_REVERSE | A_BOLD, COLOR_WHITE, COLOR_RED, A_BOLD},
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

static ui_style tone_style(ui_tone t)
{
    static const ui_style by_tone[] = {
        [UI_TONE_PLAIN] = UI_ST_NORMAL,     [UI_TONE_LABEL] = UI_ST_TITLE,
        [UI_TONE_DIM] = UI_ST_DIM,          [UI_TONE_ESTIMATE] = UI_ST_ESTIMATE,
        [UI_TONE_FINAL] = UI_ST_FINAL,      [UI_TONE_BETTER] = UI_ST_BETTER,
        [UI_TONE_WORSE] = UI_ST_WORSE,      [UI_TONE_ERROR] = UI_ST_ERROR,
        [UI_TONE_BAR] = UI_ST_BAR,
    };
    return by_tone[t];
}

static void draw_hline(const ui_hline *hl, int y, int x, int w)
{
    int used = 0;
    for (int i = 0; i < hl->n && used < w; i++)
        used += ui_draw_str(y, x + used, w - used, hl->seg[i].text, tone_style(hl->seg[i].tone));
}

/* "slimbench PATH" on the left, as much of the model summary as fits on the right. */
static void draw_title(const ui_state *s, const ui_rect *r)
{
    enum { PATH_MIN = 12 };
    char model[160];
    const char *path = s->model_path ? s->model_path : "";
    int used = ui_draw_str(r->y, r->x, r->w, "slimbench ", UI_ST_TITLE);
    const char *mark = s->weights ? " (fine-tuned)" : "";
    int pw = ui_text_width(path) + ui_text_width(mark), mw = 0;
    for (int detail = 2; detail >= 0; detail--) {
        mw = ui_text_width(ui_summary_model(s, detail, model, sizeof model));
        if (used + pw + 2 + mw <= r->w)
            break;
    }
    mw = used + PATH_MIN + 2 + mw <= r->w ? mw : 0; /* the path matters more */
    int room = r->w - used - (mw ? mw + 2 : 0), mark_w = ui_text_width(mark);
    mark_w = room - mark_w >= PATH_MIN ? mark_w : 0; /* the path matters more */
    used += ui_draw_str(r->y, r->x + used, room - mark_w, path, UI_ST_NORMAL);
    if (mark_w)
        ui_draw_str(r->y, r->x + used, mark_w, mark, UI_ST_MARK);
    if (mw)
        ui_draw_str(r->y, r->x + r->w - mw, mw, model, UI_ST_DIM);
}

void ui_draw_header(const ui_state *s, const ui_rect *r)
{
    ui_hline lines[UI_SUMMARY_LINES];
    draw_title(s, r);
    int n = ui_summary_lines(s, r->w, lines, r->h - 1);
    for (int i = 0; i < n; i++)
        draw_hline(&lines[i], r->y + 1 + i, r->x, r->w);
}

/* ---- status line ---- */

typedef struct hint {
    const char *text;
    int keep; /* when they do not all fit, the lowest go first */
} hint;

static void draw_hints(const ui_state *s, int y, int x, int w)
{
    static const hint table[] = {{"j/k move", 5},   {"p prune", 9},     {"+/- ratio", 8},
                                 {"b bits", 7},     {"a act8", 2},      {"Space mark", 4},
                                 {"Enter detail", 3}, {"S sens", 1},    {"w save", 6},
                                 {"u undo", 6},     {"? help", 9},      {"q quit", 8}};
    static const hint demo[] = {{"D table", 2}, {"? help", 9}, {"q quit", 8}};
    static const hint visual[] = {{"-- VISUAL --", 9}, {"j/k extend", 8}, {"v mark", 7},
                                  {"p/+/-/b/a edit them", 6}, {"Esc cancel", 9}};
    bool in_demo = s->screen == UI_SCREEN_DEMO;
    const hint *h = in_demo ? demo : s->visual ? visual : table;
    int n = in_demo     ? 3
            : s->visual ? (int)(sizeof visual / sizeof visual[0])
                        : (int)(sizeof table / sizeof table[0]);
    int total = 1, floor = -1;
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

/* "label text_", the end of the text kept visible when it is long. */
static void draw_prompt(const ui_state *s, int y, int x, int w)
{
    int used = 1 + ui_draw_str(y, x + 1, w - 1, s->prompt.label, UI_ST_STATUS);
    char text[UI_PATH_MAX + 2];
    snprintf(text, sizeof text, "%s_", s->prompt.text);
    int tw = ui_text_width(text), room = w - used;
    const char *shown = text;
    while (tw > room && *shown) { /* the cursor end matters: drop from the front */
        shown++;
        tw = ui_text_width(shown);
    }
    ui_draw_str(y, x + used, room, shown, UI_ST_STATUS);
}

/* The one-shot message; a long one (an error with its file and advice) takes the line above
 * the status line too, broken at a blank, until the next key. */
static void draw_message(const ui_state *s, const ui_rect *r, int lw)
{
    ui_style st = s->message_error ? UI_ST_STATUS_ERROR : UI_ST_STATUS;
    const char *m = s->message;
    int w = ui_text_width(m);
    if (w > lw - 1 && r->y > 0 && w <= 2 * (r->w - 2)) {
        int cut = 0, col = 0;
        for (int i = 0; m[i]; i++) {
            col += ((unsigned char)m[i] & 0xC0) != 0x80;
            if (col > r->w - 2)
                break;
            if (m[i] == ' ')
                cut = i;
        }
        char first[sizeof s->message];
        snprintf(first, sizeof first, "%.*s", cut, m);
        ui_draw_fill(r->y - 1, r->x, r->w, st);
        ui_draw_str(r->y - 1, r->x + 1, r->w - 2, first, st);
        m += cut + (m[cut] == ' ');
    }
    if (s->message_error)
        ui_draw_fill(r->y, r->x, lw, st);
    ui_draw_str(r->y, r->x + 1, lw - 1, m, st);
}

void ui_draw_status(const ui_state *s, const ui_rect *r)
{
    char right[128] = "";
    ui_draw_fill(r->y, r->x, r->w, UI_ST_STATUS);
    const ui_job_report *sw = &s->job[UI_JOB_SWEEP];
    if (s->input == UI_INPUT_SEARCH)
        snprintf(right, sizeof right, "Enter keep  Esc back  Up/Down prev/next ");
    else if (s->input == UI_INPUT_PROMPT)
        snprintf(right, sizeof right, "Enter ok  Esc cancel  ^U clear ");
    else if (s->input == UI_INPUT_FINETUNE)
        snprintf(right, sizeof right, "Enter start  Esc close ");
    else if (ui_state_training(s))
        right[0] = 0; /* the bar needs the width */
    else if (s->screen == UI_SCREEN_TABLE && s->n_rows) {
        char marked[32] = "", sweep[48] = "";
        if (s->n_marked)
            snprintf(marked, sizeof marked, "  %d marked", s->n_marked);
        if (sw->state == UI_JOB_RUNNING || sw->state == UI_JOB_QUEUED)
            snprintf(sweep, sizeof sweep, "  sens %d/%d", sw->progress.done,
                     sw->progress.total ? sw->progress.total : UI_SWEEP_MAX);
        snprintf(right, sizeof right, "%d/%d%s%s  sort: %s ", s->sel + 1, s->n_rows, marked,
                 sweep, ui_sort_name(s->sort));
    }
    int rw = ui_text_width(right);
    rw = rw > r->w / 2 || (s->message[0] && s->input == UI_INPUT_NORMAL &&
                           ui_text_width(s->message) > r->w - rw - 2)
             ? 0
             : rw;
    int lw = r->w - rw - 1;
    if (s->input == UI_INPUT_SEARCH)
        draw_search(s, r->y, r->x, lw);
    else if (s->input == UI_INPUT_PROMPT)
        draw_prompt(s, r->y, r->x, lw);
    else if (s->message[0])
        draw_message(s, r, lw);
    else if (ui_state_training(s)) {
        char bar[512];
        ui_draw_str(r->y, r->x + 1, lw - 1, ui_ft_progress_text(s, lw - 1, bar, sizeof bar),
                    UI_ST_STATUS);
    } else
        draw_hints(s, r->y, r->x, lw);
    if (rw)
        ui_draw_str(r->y, r->x + r->w - rw, rw, right, UI_ST_STATUS);
}
