#include "ui_keys.h"

#include <curses.h>

static unsigned act_down(ui_state *s) { return ui_table_move(s, 1), UI_REDRAW; }
static unsigned act_up(ui_state *s) { return ui_table_move(s, -1), UI_REDRAW; }
static unsigned act_page_down(ui_state *s) { return ui_table_page(s, 1), UI_REDRAW; }
static unsigned act_page_up(ui_state *s) { return ui_table_page(s, -1), UI_REDRAW; }
static unsigned act_first(ui_state *s) { return ui_table_move_to(s, 0), UI_REDRAW; }
static unsigned act_last(ui_state *s) { return ui_table_move_to(s, s->n_rows - 1), UI_REDRAW; }
static unsigned act_search(ui_state *s) { return ui_search_begin(s), UI_REDRAW; }
static unsigned act_mark(ui_state *s) { return ui_table_mark(s), UI_REDRAW; }
static unsigned act_chan_down(ui_state *s) { return ui_detail_scroll(s, 8), UI_REDRAW; }
static unsigned act_chan_up(ui_state *s) { return ui_detail_scroll(s, -8), UI_REDRAW; }
static unsigned act_redraw(ui_state *s) { return UI_REDRAW | UI_CLEAR; }

static unsigned act_sort(ui_state *s)
{
    ui_table_sort(s, (ui_sort)((s->sort + 1) % UI_SORT_COUNT));
    ui_state_message(s, "sorted by %s", ui_sort_name(s->sort));
    return UI_REDRAW;
}

static unsigned find_next(ui_state *s, int dir)
{
    if (!s->query_len)
        ui_state_message(s, "no search yet: press / to find a layer");
    else if (!ui_search_next(s, dir))
        ui_state_message(s, "no layer matches \"%s\"", s->query);
    return UI_REDRAW;
}

static unsigned act_next(ui_state *s) { return find_next(s, 1); }
static unsigned act_prev(ui_state *s) { return find_next(s, -1); }

static unsigned act_detail(ui_state *s)
{
    s->show_detail = !s->show_detail;
    return UI_REDRAW;
}

static unsigned act_escape(ui_state *s)
{
    s->show_detail = false;
    return UI_REDRAW;
}

static unsigned act_undo(ui_state *s)
{
    if (!ui_state_undo(s))
        ui_state_message(s, "nothing to undo");
    return UI_REDRAW;
}

static unsigned act_redo(ui_state *s)
{
    if (!ui_state_redo(s))
        ui_state_message(s, "nothing to redo");
    return UI_REDRAW;
}

static unsigned act_demo(ui_state *s)
{
    s->screen = s->screen == UI_SCREEN_DEMO ? UI_SCREEN_TABLE : UI_SCREEN_DEMO;
    return UI_REDRAW;
}

static unsigned act_help(ui_state *s)
{
    s->show_help = true;
    return UI_REDRAW;
}

/* The hook for unsaved work: ask before throwing it away. */
static unsigned act_quit(ui_state *s)
{
    if (!ui_state_has_unsaved(s))
        return UI_QUIT;
    s->input = UI_INPUT_CONFIRM_QUIT;
    ui_state_message(s, "unsaved changes: quit anyway? (y/n)");
    return UI_REDRAW;
}

static const ui_binding bindings[] = {
    {{'j', KEY_DOWN}, "j Down", "next layer", UI_ON_TABLE, act_down},
    {{'k', KEY_UP}, "k Up", "previous layer", UI_ON_TABLE, act_up},
    {{KEY_NPAGE, UI_CTRL('f')}, "PgDn ^F", "page down", UI_ON_TABLE, act_page_down},
    {{KEY_PPAGE, UI_CTRL('b')}, "PgUp ^B", "page up", UI_ON_TABLE, act_page_up},
    {{KEY_HOME, 'g'}, "Home g", "first layer", UI_ON_TABLE, act_first},
    {{KEY_END, 'G'}, "End G", "last layer", UI_ON_TABLE, act_last},
    {{'s'}, "s", "cycle the sort order", UI_ON_TABLE, act_sort},
    {{'/'}, "/", "find a layer by name", UI_ON_TABLE, act_search},
    {{'n'}, "n", "next match", UI_ON_TABLE, act_next},
    {{'N'}, "N", "previous match", UI_ON_TABLE, act_prev},
    {{' '}, "Space", "mark layer (for editing)", UI_ON_TABLE, act_mark},
    {{'\n', '\r', KEY_ENTER, '\t'}, "Enter Tab", "layer detail pane", UI_ON_TABLE, act_detail},
    {{']'}, "]", "detail: next channels", UI_ON_TABLE, act_chan_down},
    {{'['}, "[", "detail: previous channels", UI_ON_TABLE, act_chan_up},
    {{UI_KEY_ESC}, "Esc", "close the detail pane", UI_ON_TABLE, act_escape},
    {{'u'}, "u", "undo", UI_ON_TABLE, act_undo},
    {{UI_CTRL('r')}, "^R", "redo", UI_ON_TABLE, act_redo},
    {{'D'}, "D", "workshop before/after view", UI_ON_ALL, act_demo},
    {{'?', KEY_F(1)}, "? F1", "this help", UI_ON_ALL, act_help},
    {{UI_CTRL('l')}, "^L", "repaint the screen", UI_ON_ALL, act_redraw},
    {{'q', KEY_F(10)}, "q F10", "quit", UI_ON_ALL, act_quit},
};

const ui_binding *ui_keys_bindings(int *n)
{
    *n = (int)(sizeof bindings / sizeof bindings[0]);
    return bindings;
}

static const ui_binding *lookup(int key, unsigned where)
{
    for (size_t i = 0; i < sizeof bindings / sizeof bindings[0]; i++)
        for (int k = 0; k < UI_MAX_KEYS && bindings[i].keys[k]; k++)
            if (bindings[i].keys[k] == key && (bindings[i].where & where))
                return &bindings[i];
    return NULL;
}

static unsigned confirm_key(ui_state *s, int key)
{
    s->input = UI_INPUT_NORMAL;
    s->message[0] = 0;
    return key == 'y' || key == 'Y' ? UI_HANDLED | UI_QUIT : UI_HANDLED | UI_REDRAW;
}

static unsigned search_key(ui_state *s, int key)
{
    switch (key) {
    case '\n':
    case '\r':
    case KEY_ENTER: ui_search_accept(s); break;
    case UI_KEY_ESC:
    case UI_CTRL('g'): ui_search_cancel(s); break;
    case KEY_BACKSPACE:
    case 127:
    case '\b': ui_search_erase(s); break;
    case KEY_DOWN:
    case UI_CTRL('n'): ui_search_next(s, 1); break;
    case KEY_UP:
    case UI_CTRL('p'): ui_search_next(s, -1); break;
    default:
        if (key < 32 || key > 126)
            return UI_HANDLED;
        ui_search_type(s, key);
    }
    return UI_HANDLED | UI_REDRAW;
}

static unsigned dispatch(ui_state *s, int key, unsigned where)
{
    if (s->input == UI_INPUT_CONFIRM_QUIT)
        return confirm_key(s, key);
    if (s->input == UI_INPUT_SEARCH && (where & UI_ON_TABLE))
        return search_key(s, key);
    s->message[0] = 0;
    const ui_binding *b = lookup(key, where);
    return b ? UI_HANDLED | b->act(s) : 0;
}

unsigned ui_keys_table(ui_state *s, int key) { return dispatch(s, key, UI_ON_TABLE); }
unsigned ui_keys_demo(ui_state *s, int key) { return dispatch(s, key, UI_ON_DEMO); }

/* Any key closes the help; it is not acted on as well, so q here does not quit. */
unsigned ui_keys_help(ui_state *s, int key)
{
    s->show_help = false;
    return UI_HANDLED | UI_REDRAW;
}

unsigned ui_keys_mouse(ui_state *s, const ui_layout *l, ui_mouse what, int y, int x)
{
    if (s->show_help || s->screen != UI_SCREEN_TABLE || s->input != UI_INPUT_NORMAL)
        return 0;
    if (what != UI_MOUSE_SELECT) {
        ui_table_move(s, what == UI_MOUSE_WHEEL_UP ? -3 : 3);
        return UI_HANDLED | UI_REDRAW;
    }
    return ui_table_click(s, ui_layout_body_row(l, y, x)) ? UI_HANDLED | UI_REDRAW : 0;
}
