/* The workbench's UI state machine, driven without a terminal: table navigation and scrolling,
 * sorting, search, marking, keys, undo/redo generations, job reports, layout and text. */
#include "ui_args.h"
#include "ui_format.h"
#include "ui_keys.h"
#include "ui_layout.h"
#include "ui_state.h"
#include "ui_summary.h"
#include "ui_view.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <curses.h>
#include <stdio.h>
#include <string.h>

enum { N = 30 };
static char names[N][32];
static sb_layer_info infos[N];
static double l1_store[N][4];
static const double *l1[N];
static ui_state s;

/* 30 layers "layer0.conv" .. "layer29.conv"; MACs rise with the index, params fall. */
static void setup(void)
{
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], i == 7 ? "Head.FC" : "layer%d.conv", i);
        infos[i] = (sb_layer_info){.name = names[i],
                                   .node_name = names[i],
                                   .op = "Conv",
                                   .params = 1000 - i,
                                   .macs = 100 + i,
                                   .zeros = i,
                                   .out_channels = 4,
                                   .out_shape = {4, {1, 4, 8, 8}}};
        for (int c = 0; c < 4; c++)
            l1_store[i][c] = c + 1; /* channel 3 is the largest */
        l1[i] = l1_store[i];
    }
    ui_state_init(&s);
    s.totals = (sb_model_totals){.params = 29565, .macs = 3435, .all_params = 30000};
    cr_assert(ui_state_set_layers(&s, infos, l1, N));
    ui_table_set_page(&s, 10);
}

static void teardown(void) { ui_state_free(&s); }

TestSuite(table, .init = setup, .fini = teardown);
TestSuite(keys, .init = setup, .fini = teardown);
TestSuite(jobs, .init = setup, .fini = teardown);
TestSuite(layout, .init = setup, .fini = teardown);

static void edit_prune(int layer, double ratio)
{
    sb_config next;
    sb_error err = {0};
    cr_assert_eq(sb_config_copy(&s.cfg, &next, &err), SB_OK);
    next.layer[layer].prune = SB_PRUNE_MAGNITUDE;
    next.layer[layer].ratio = ratio;
    cr_assert(ui_state_edit(&s, &next));
    sb_config_free(&next);
}

static const char *selected_name(void) { return ui_table_selected(&s)->info.name; }

static void keys(const char *k)
{
    for (; *k; k++)
        ui_view_key(&s, *k);
}

/* ---- navigation and the scrolling window ---- */

Test(table, moves_and_clamps)
{
    ui_table_move(&s, -1);
    cr_assert_eq(s.sel, 0);
    ui_table_move(&s, 3);
    cr_assert_eq(s.sel, 3);
    ui_table_move(&s, 1000);
    cr_assert_eq(s.sel, N - 1);
    ui_table_move_to(&s, -5);
    cr_assert_eq(s.sel, 0);
}

Test(table, window_follows_selection)
{
    ui_table_move_to(&s, 15);
    cr_assert_eq(s.top, 6, "selection on the last visible row");
    ui_table_move_to(&s, 3);
    cr_assert_eq(s.top, 3, "selection on the first visible row");
    ui_table_move_to(&s, N - 1);
    cr_assert_eq(s.top, N - 10);
    ui_table_set_page(&s, 50); /* the terminal grew: everything fits */
    cr_assert_eq(s.top, 0);
    cr_assert_eq(s.sel, N - 1);
}

Test(table, page_moves_window_and_selection)
{
    ui_table_page(&s, 1);
    cr_assert_eq(s.sel, 10);
    cr_assert_eq(s.top, 10);
    ui_table_page(&s, 1);
    ui_table_page(&s, 1);
    cr_assert_eq(s.sel, N - 1);
    cr_assert_eq(s.top, N - 10, "the window never runs past the end");
    ui_table_page(&s, -1);
    cr_assert_eq(s.sel, N - 11);
    cr_assert_eq(s.top, N - 20);
}

Test(table, click_selects_visible_rows_only)
{
    ui_table_move_to(&s, 12); /* top 3 */
    cr_assert(ui_table_click(&s, 2));
    cr_assert_eq(s.sel, 5);
    cr_assert_not(ui_table_click(&s, -1));
    ui_table_set_page(&s, 40);
    cr_assert_not(ui_table_click(&s, N + 2), "below the last row");
    cr_assert_eq(s.sel, 5);
}

Test(table, empty_table_is_safe)
{
    ui_state e;
    ui_state_init(&e);
    cr_assert(ui_state_set_layers(&e, NULL, NULL, 0));
    ui_table_move(&e, 1);
    ui_table_page(&e, 1);
    ui_table_mark(&e);
    ui_table_sort(&e, UI_SORT_MACS);
    cr_assert_null(ui_table_selected(&e));
    cr_assert_not(ui_search_next(&e, 1));
    ui_state_free(&e);
}

/* ---- sorting ---- */

Test(table, sort_orders_and_selection_follows_the_row)
{
    ui_table_move_to(&s, 4);
    ui_table_sort(&s, UI_SORT_MACS);
    cr_assert_str_eq(s.rows[s.order[0]].info.name, "layer29.conv", "most MACs first");
    cr_assert_str_eq(selected_name(), "layer4.conv");
    cr_assert_eq(s.sel, N - 1 - 4);
    ui_table_sort(&s, UI_SORT_PARAMS);
    cr_assert_str_eq(s.rows[s.order[0]].info.name, "layer0.conv", "most params first");
    ui_table_sort(&s, UI_SORT_NAME);
    cr_assert_str_eq(s.rows[s.order[0]].info.name, "Head.FC");
    cr_assert_str_eq(s.rows[s.order[1]].info.name, "layer0.conv");
    cr_assert_str_eq(s.rows[s.order[3]].info.name, "layer2.conv", "layer2 before layer10");
    ui_table_sort(&s, UI_SORT_ORDER);
    for (int i = 0; i < N; i++)
        cr_assert_eq(s.order[i], i);
    cr_assert_str_eq(selected_name(), "layer4.conv");
}

Test(keys, s_cycles_sorts)
{
    static const ui_sort cycle[] = {UI_SORT_MACS, UI_SORT_PARAMS, UI_SORT_NAME, UI_SORT_ORDER};
    for (int i = 0; i < 4; i++) {
        cr_assert(ui_view_key(&s, 's') & UI_REDRAW);
        cr_assert_eq(s.sort, cycle[i]);
        cr_assert(strstr(s.message, ui_sort_name(cycle[i])));
    }
}

/* ---- search ---- */

Test(table, incremental_search)
{
    ui_search_begin(&s);
    ui_search_type(&s, 'l');
    ui_search_type(&s, 'a');
    cr_assert_str_eq(selected_name(), "layer0.conv");
    ui_search_type(&s, 'y');
    ui_search_type(&s, 'e');
    ui_search_type(&s, 'r');
    ui_search_type(&s, '1');
    ui_search_type(&s, '2');
    cr_assert_str_eq(selected_name(), "layer12.conv");
    ui_search_type(&s, 'x');
    cr_assert(s.search_failed);
    cr_assert_str_eq(selected_name(), "layer12.conv", "a failed search stays put");
    ui_search_erase(&s);
    cr_assert_not(s.search_failed);
    ui_search_accept(&s);
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_str_eq(s.query, "layer12");
}

Test(table, search_is_case_insensitive_and_wraps)
{
    ui_table_move_to(&s, 20);
    ui_search_begin(&s);
    ui_search_type(&s, 'h');
    ui_search_type(&s, 'E');
    cr_assert_str_eq(selected_name(), "Head.FC");
    ui_search_cancel(&s);
    cr_assert_eq(s.sel, 20, "Esc returns to where the search began");
}

Test(table, next_and_previous_match)
{
    ui_search_begin(&s);
    ui_search_type(&s, '2');
    cr_assert_str_eq(selected_name(), "layer2.conv");
    ui_search_accept(&s);
    cr_assert(ui_search_next(&s, 1));
    cr_assert_str_eq(selected_name(), "layer12.conv");
    cr_assert(ui_search_next(&s, -1));
    cr_assert_str_eq(selected_name(), "layer2.conv");
    cr_assert(ui_search_next(&s, -1));
    cr_assert_str_eq(selected_name(), "layer29.conv", "wraps backwards");
}

Test(keys, slash_search_enter)
{
    keys("jj/");
    cr_assert_eq(s.input, UI_INPUT_SEARCH);
    keys("head");
    ui_view_key(&s, '\n');
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    cr_assert_str_eq(selected_name(), "Head.FC");
    keys("/q");
    cr_assert_eq(s.input, UI_INPUT_SEARCH, "q is text while searching, not quit");
    ui_view_key(&s, UI_KEY_ESC);
    cr_assert_str_eq(selected_name(), "Head.FC");
    ui_view_key(&s, 'n');
    cr_assert_str_eq(selected_name(), "Head.FC", "n repeats the accepted search");
}

/* ---- marking ---- */

Test(table, marks_toggle_count_and_follow_rows)
{
    ui_table_mark(&s);
    ui_table_mark(&s);
    cr_assert_eq(s.n_marked, 2);
    cr_assert_eq(s.sel, 2, "space moves on to the next layer");
    cr_assert(s.marked[0] && s.marked[1]);
    ui_table_move_to(&s, 1);
    ui_table_mark(&s);
    cr_assert_eq(s.n_marked, 1);
    cr_assert_not(s.marked[1]);
    ui_table_sort(&s, UI_SORT_MACS); /* marks belong to layers, not positions */
    cr_assert(s.marked[0]);
    cr_assert_eq(s.order[N - 1], 0);
    ui_table_move_to(&s, N - 1);
    ui_table_mark(&s);
    cr_assert_eq(s.n_marked, 0);
    cr_assert_eq(s.sel, N - 1, "marking the last row stays on it");
}

/* ---- keys ---- */

Test(keys, movement_keys)
{
    keys("jjj");
    cr_assert_eq(s.sel, 3);
    keys("k");
    cr_assert_eq(s.sel, 2);
    ui_view_key(&s, KEY_END);
    cr_assert_eq(s.sel, N - 1);
    ui_view_key(&s, KEY_HOME);
    cr_assert_eq(s.sel, 0);
    ui_view_key(&s, 'G');
    cr_assert_eq(s.sel, N - 1);
    ui_view_key(&s, KEY_PPAGE);
    cr_assert_eq(s.sel, N - 11);
    ui_view_key(&s, KEY_NPAGE);
    cr_assert_eq(s.sel, N - 1);
    cr_assert_eq(ui_view_key(&s, 'Z'), 0u, "unbound keys are not handled");
}

Test(keys, help_opens_and_any_key_closes_it_without_acting)
{
    cr_assert(ui_view_key(&s, '?') & UI_REDRAW);
    cr_assert(s.show_help);
    cr_assert_eq(ui_view_current(&s), &ui_view_help);
    unsigned f = ui_view_key(&s, 'q');
    cr_assert_not(f & UI_QUIT, "q closes the help first");
    cr_assert_not(s.show_help);
    cr_assert(ui_view_key(&s, 'q') & UI_QUIT);
}

Test(keys, quit_asks_when_there_is_unsaved_work)
{
    edit_prune(0, 0.5);
    cr_assert_not(ui_view_key(&s, 'q') & UI_QUIT);
    cr_assert_eq(s.input, UI_INPUT_CONFIRM_QUIT);
    cr_assert(strstr(s.message, "unsaved"));
    cr_assert_not(ui_view_key(&s, 'n') & UI_QUIT);
    cr_assert_eq(s.input, UI_INPUT_NORMAL);
    ui_view_key(&s, 'q');
    cr_assert(ui_view_key(&s, 'y') & UI_QUIT);
}

Test(keys, detail_pane_and_channel_scroll)
{
    ui_view_key(&s, '\n');
    cr_assert(s.show_detail);
    ui_view_key(&s, ']');
    cr_assert_eq(s.detail_scroll, 3, "clamped to the last of 4 channels");
    ui_view_key(&s, '[');
    cr_assert_eq(s.detail_scroll, 0);
    ui_view_key(&s, ']');
    ui_view_key(&s, 'j');
    cr_assert_eq(s.detail_scroll, 0, "a new layer starts at its strongest channel");
    ui_view_key(&s, '\t');
    cr_assert_not(s.show_detail);
}

Test(keys, demo_view_has_only_global_keys)
{
    ui_view_key(&s, 'D');
    cr_assert_eq(ui_view_current(&s), &ui_view_demo);
    cr_assert_eq(ui_view_key(&s, 'j'), 0u);
    cr_assert_eq(s.sel, 0);
    ui_view_key(&s, '?');
    cr_assert_eq(ui_view_current(&s), &ui_view_help);
    ui_view_key(&s, ' ');
    ui_view_key(&s, 'D');
    cr_assert_eq(ui_view_current(&s), &ui_view_table);
}

Test(keys, every_binding_is_documented_and_unambiguous)
{
    int n;
    const ui_binding *b = ui_keys_bindings(&n);
    cr_assert_gt(n, 15);
    for (int i = 0; i < n; i++) {
        cr_assert(b[i].label && *b[i].label && b[i].help && *b[i].help && b[i].act);
        for (int k = 0; k < UI_MAX_KEYS && b[i].keys[k]; k++)
            for (int j = i + 1; j < n; j++)
                for (int m = 0; m < UI_MAX_KEYS && b[j].keys[m]; m++)
                    cr_assert(b[i].keys[k] != b[j].keys[m] || !(b[i].where & b[j].where),
                              "key %d bound twice (%s, %s)", b[i].keys[k], b[i].help, b[j].help);
    }
}

/* ---- editing, undo and generations ---- */

Test(jobs, edits_undo_redo_bump_the_generation)
{
    cr_assert_not(ui_state_has_unsaved(&s));
    cr_assert_not(ui_state_undo(&s));
    edit_prune(3, 0.5);
    edit_prune(4, 0.25);
    cr_assert_eq(s.generation, 2);
    cr_assert(ui_state_has_unsaved(&s));
    cr_assert(ui_state_undo(&s));
    cr_assert_eq(s.generation, 3);
    cr_assert_float_eq(s.cfg.layer[4].ratio, 0.0, 1e-12);
    cr_assert_float_eq(s.cfg.layer[3].ratio, 0.5, 1e-12);
    cr_assert(ui_state_redo(&s));
    cr_assert_float_eq(s.cfg.layer[4].ratio, 0.25, 1e-12);
    cr_assert(ui_state_undo(&s));
    cr_assert(ui_state_undo(&s));
    cr_assert_not(ui_state_has_unsaved(&s), "undone back to the saved Config");
    cr_assert(ui_state_redo(&s));
    edit_prune(5, 0.1);
    cr_assert_not(ui_state_redo(&s), "a new edit drops the redo stack");
    ui_view_key(&s, 'u');
    ui_view_key(&s, 'u');
    cr_assert_float_eq(s.cfg.layer[3].ratio, 0.0, 1e-12);
    ui_view_key(&s, 'u');
    cr_assert_str_eq(s.message, "nothing to undo");
    ui_view_key(&s, UI_CTRL('r'));
    cr_assert_float_eq(s.cfg.layer[3].ratio, 0.5, 1e-12);
}

static ui_job_report report(ui_job_kind k, ui_job_state st, uint64_t gen)
{
    return (ui_job_report){.kind = k,
                           .state = st,
                           .generation = gen,
                           .progress = {.done = 640, .total = 10000, .correct1 = 580}};
}

Test(jobs, accuracy_settles_then_latency_once)
{
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_RUNNING, 0);
    cr_assert_eq(ui_state_on_report(&s, &r), UI_JOB_NONE);
    cr_assert_eq(s.base[UI_JOB_EVAL].progress.done, 640);
    r.state = UI_JOB_DONE;
    cr_assert_eq(ui_state_on_report(&s, &r), UI_JOB_LATENCY);
    ui_state_job_queued(&s, UI_JOB_LATENCY);
    cr_assert_eq(ui_state_on_report(&s, &r), UI_JOB_NONE, "latency is queued once");
    cr_assert_eq(s.base[UI_JOB_LATENCY].state, UI_JOB_QUEUED);
}

Test(jobs, stale_reports_are_dropped)
{
    edit_prune(0, 0.5);
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_DONE, 0);
    cr_assert_eq(ui_state_on_report(&s, &r), UI_JOB_NONE);
    cr_assert_eq(s.job[UI_JOB_EVAL].state, UI_JOB_IDLE);
    cr_assert_eq(s.base[UI_JOB_EVAL].state, UI_JOB_IDLE, "the baseline is generation 0 only");
    r.generation = 1;
    cr_assert_eq(ui_state_on_report(&s, &r), UI_JOB_LATENCY);
    cr_assert_eq(s.job[UI_JOB_EVAL].state, UI_JOB_DONE);
}

Test(jobs, running_accuracy_is_an_estimate_with_an_interval)
{
    ui_metric m;
    ui_job_report r = report(UI_JOB_EVAL, UI_JOB_RUNNING, 0);
    ui_metric_top1(&r, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_ESTIMATE);
    cr_assert_str_eq(m.text, "~90.6%");
    cr_assert(strstr(m.note, "estimate"), "%s", m.note);
    cr_assert(strstr(m.note, "640/10000"), "%s", m.note);
    cr_assert(m.lo < 0.906 && m.hi > 0.906 && m.hi - m.lo < 0.05);
    cr_assert_float_eq(m.done, 0.064, 1e-9);
    r = (ui_job_report){.kind = UI_JOB_EVAL,
                        .state = UI_JOB_DONE,
                        .seconds = 1.5,
                        .progress = {10000, 10000, 9184, 9971}};
    ui_metric_top1(&r, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_FINAL);
    cr_assert_str_eq(m.text, "91.84%");
    cr_assert(strstr(m.note, "top-5 99.71%"), "%s", m.note);
    r = (ui_job_report){.kind = UI_JOB_EVAL, .state = UI_JOB_FAILED, .error = "bad data"};
    ui_metric_top1(&r, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_ERROR);
    cr_assert_str_eq(m.note, "bad data");
}

Test(jobs, latency_waits_for_accuracy)
{
    ui_metric m;
    ui_job_report lat = {.kind = UI_JOB_LATENCY}, eval = report(UI_JOB_EVAL, UI_JOB_RUNNING, 0);
    ui_metric_latency(&lat, &eval, false, &m);
    cr_assert_eq(m.kind, UI_METRIC_WAITING);
    cr_assert(strstr(m.note, "once accuracy settles"));
    lat.state = UI_JOB_DONE;
    lat.latency = (sb_latency){
        .median_ms = 0.4123, .min_ms = 0.39, .max_ms = 0.6, .runs = 2000, .threads = 2};
    ui_metric_latency(&lat, &eval, false, &m);
    cr_assert_str_eq(m.text, "0.412 ms");
    cr_assert(strstr(m.note, "2 threads"), "%s", m.note);
}

/* ---- layout ---- */

Test(layout, table_fills_80x24)
{
    ui_layout l = ui_layout_compute(80, 24, &s);
    cr_assert_not(l.too_small);
    cr_assert_eq(l.body_rows, 24 - UI_HEADER_LINES - 1 - 2);
    cr_assert_eq(l.status.y, 23);
    cr_assert_eq(l.detail.h, 0);
    cr_assert_eq(ui_layout_body_row(&l, l.body_y, 5), 0);
    cr_assert_eq(ui_layout_body_row(&l, l.body_y - 1, 5), -1, "column titles");
    cr_assert_eq(ui_layout_body_row(&l, 23, 5), -1, "status line");
}

Test(layout, detail_below_when_narrow_beside_when_wide)
{
    s.show_detail = true;
    ui_layout l = ui_layout_compute(80, 24, &s);
    cr_assert_eq(l.detail.w, 80);
    cr_assert_eq(l.detail.y + l.detail.h, l.status.y);
    cr_assert_eq(l.table.y + l.table.h, l.detail.y);
    cr_assert_geq(l.body_rows, 5);
    l = ui_layout_compute(200, 60, &s);
    cr_assert_eq(l.detail.x + l.detail.w, 200);
    cr_assert_eq(l.detail.h, l.table.h);
    cr_assert_lt(l.table.w, l.detail.x);
    cr_assert_eq(ui_layout_body_row(&l, l.body_y, l.detail.x + 1), -1, "a click in the pane");
    cr_assert(ui_layout_compute(30, 8, &s).too_small);
}

static int colset_width(const ui_colset *cs)
{
    return cs->n ? cs->x[cs->n - 1] + cs->w[cs->n - 1] : 0;
}

Test(layout, columns_fit_the_width)
{
    ui_colset cs = ui_table_columns(&s, 80);
    cr_assert_eq(cs.n, UI_COL_COUNT, "every column at 80 columns");
    cr_assert_leq(colset_width(&cs), 80);
    cr_assert_eq(cs.id[0], UI_COL_NAME);
    cs = ui_table_columns(&s, 50);
    cr_assert_lt(cs.n, UI_COL_COUNT);
    cr_assert_leq(colset_width(&cs), 50);
    cr_assert_geq(cs.w[0], 10, "the name stays readable");
    bool has_macs = false;
    for (int i = 0; i < cs.n; i++)
        has_macs |= cs.id[i] == UI_COL_MACS;
    cr_assert(has_macs, "MACs are never dropped");
}

Test(layout, cells)
{
    char buf[128];
    const ui_row *r = &s.rows[29];
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_SHAPE, 0, buf, sizeof buf), "4x8x8");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_MACS_PCT, 0, buf, sizeof buf), "3.8%");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_PRUNE, 0, buf, sizeof buf), "-");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_QUANT, 0, buf, sizeof buf), "-");
    s.cfg.layer[29] =
        (sb_layer_config){.prune = SB_PRUNE_L1, .ratio = 0.25, .wbits = 8, .act8 = true};
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_PRUNE, 0, buf, sizeof buf), "25%c");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_QUANT, 0, buf, sizeof buf), "w8a8");
    cr_assert_str_eq(ui_table_cell(&s, r, UI_COL_L1, 8, buf, sizeof buf), "@*=:");
    cr_assert_str_eq(ui_table_cell(&s, NULL, UI_COL_NAME, 0, buf, sizeof buf), "total: 30 layers");
    cr_assert_str_eq(ui_table_cell(&s, NULL, UI_COL_PARAMS, 0, buf, sizeof buf), "29.6k");
    cr_assert_eq(r->l1_channel[0], 3, "channels sorted strongest first");
}

/* ---- text ---- */

Test(format, counts_and_percentages)
{
    char b[32];
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 448), "448");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 9999), "9999");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 78312), "78.3k");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 999950), "1.00M");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 12500000), "12.5M");
    cr_assert_str_eq(ui_fmt_count(b, sizeof b, 3210000000LL), "3.21G");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 0), "0.0%");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 0.0001), "<0.1%");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 0.99996), "99.9%");
    cr_assert_str_eq(ui_fmt_pct(b, sizeof b, 1), "100%");
    cr_assert_str_eq(ui_fmt_bytes(b, sizeof b, 313248), "313 KB");
    cr_assert_str_eq(ui_fmt_ms(b, sizeof b, 0.41234), "0.412");
}

Test(format, wilson_interval)
{
    double lo, hi;
    ui_wilson(50, 100, &lo, &hi);
    cr_assert_float_eq(lo, 0.4038, 1e-4);
    cr_assert_float_eq(hi, 0.5962, 1e-4);
    ui_wilson(10, 10, &lo, &hi);
    cr_assert_float_eq(hi, 1.0, 1e-12);
    cr_assert_float_eq(lo, 0.7225, 1e-4);
    ui_wilson(0, 0, &lo, &hi);
    cr_assert(lo == 0 && hi == 1);
}

Test(format, text_fit)
{
    char b[64];
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "conv", 6, false, false), "conv  ");
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "448", 6, true, false), "   448");
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "layer3.0.shortcut", 9, false, false), "laye~tcut");
    cr_assert_str_eq(ui_text_fit(b, sizeof b, "layer3.0.shortcut", 9, false, true),
                     "laye\u2026tcut");
    cr_assert_eq(ui_text_width("laye\u2026tcut"), 9);
}

/* ---- command line ---- */

Test(args, defaults_and_options)
{
    ui_args a;
    char *argv1[] = {"slimbench", NULL};
    cr_assert_eq(ui_args_parse(1, argv1, &a), 0);
    cr_assert_str_eq(a.model, UI_DEFAULT_MODEL);
    cr_assert_null(a.data);
    char *argv2[] = {"slimbench", "m.onnx", "--data", "d", "--threads", "3", "--demo", NULL};
    cr_assert_eq(ui_args_parse(7, argv2, &a), 0);
    cr_assert_str_eq(a.model, "m.onnx");
    cr_assert_str_eq(a.data, "d");
    cr_assert_eq(a.threads, 3);
    cr_assert(a.demo);
}

Test(args, usage_errors, .init = cr_redirect_stderr)
{
    ui_args a;
    char *bad_threads[] = {"slimbench", "--threads", "0", NULL};
    cr_assert_eq(ui_args_parse(3, bad_threads, &a), 1);
    char *extra[] = {"slimbench", "a.onnx", "b.onnx", NULL};
    cr_assert_eq(ui_args_parse(3, extra, &a), 1);
    char *unknown[] = {"slimbench", "--frobnicate", NULL};
    cr_assert_eq(ui_args_parse(2, unknown, &a), 1);
    char *missing[] = {"slimbench", "--data", NULL};
    cr_assert_eq(ui_args_parse(2, missing, &a), 1);
}
