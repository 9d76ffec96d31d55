/* The report CSV: per-layer metrics of a compressed model beside its base, then a summary row. */
#include "model.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const columns[] = {
    "row",         "layer",          "op",         "prune_method",  "prune_ratio",
    "weight_bits", "params",         "params_base", "nonzero",      "macs",
    "macs_base",   "effective_macs", "size_bytes", "size_bytes_base", "top1",
    "top1_base",   "top5",           "top5_base",  "agreement",     "latency_ms",
    "latency_ms_base"};
enum { N_COLS = sizeof columns / sizeof columns[0] };

typedef struct row {
    char f[N_COLS][128];
} row;

/* Quotes (through libcsv) only the fields that need it, so plain rows stay readable. */
static void put_field(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n"))
        csv_fwrite(f, s, strlen(s));
    else
        fputs(s, f);
    fputc(last ? '\n' : ',', f);
}

static void put_row(FILE *f, const row *r)
{
    for (int i = 0; i < N_COLS; i++)
        put_field(f, r->f[i], i == N_COLS - 1);
}

static void set_i(row *r, int col, int64_t v) { snprintf(r->f[col], 128, "%lld", (long long)v); }

static void set_pct(row *r, int col, int n, int total)
{
    if (total > 0)
        snprintf(r->f[col], 128, "%.2f", 100.0 * n / total);
}

static const char *method_name(sb_prune_method p)
{
    static const char *const names[] = {"none", "magnitude", "l1", "global"};
    return names[p];
}

static void layer_row(const sb_model *base, const sb_model *comp, int l, row *r)
{
    sb_layer_info info;
    sb_model_layer(comp, l, &info);
    sb_size_info now = sb_model_layer_size(comp, l), was = sb_model_layer_size(base, l);
    memset(r, 0, sizeof *r);
    snprintf(r->f[0], 128, "layer");
    snprintf(r->f[1], 128, "%s", info.name);
    snprintf(r->f[2], 128, "%s", info.op);
    if (comp->cfg.n_layers == comp->n_layers) {
        const sb_layer_config *c = &comp->cfg.layer[l];
        snprintf(r->f[3], 128, "%s", method_name(c->prune));
        snprintf(r->f[4], 128, "%.17g", c->prune == SB_PRUNE_GLOBAL ? comp->cfg.global_ratio
                                                                     : c->ratio);
        set_i(r, 5, c->wbits);
    }
    set_i(r, 6, now.params), set_i(r, 7, was.params), set_i(r, 8, now.nonzero);
    set_i(r, 9, now.macs), set_i(r, 10, was.macs), set_i(r, 11, now.effective_macs);
    set_i(r, 12, now.bytes), set_i(r, 13, was.bytes);
}

static void summary_row(const sb_measurement *base, const sb_measurement *comp, row *r)
{
    sb_size_info now = sb_model_size(comp->model), was = sb_model_size(base->model);
    memset(r, 0, sizeof *r);
    snprintf(r->f[0], 128, "summary");
    snprintf(r->f[1], 128, "(model)");
    set_i(r, 6, now.params), set_i(r, 7, was.params), set_i(r, 8, now.nonzero);
    set_i(r, 9, now.macs), set_i(r, 10, was.macs), set_i(r, 11, now.effective_macs);
    set_i(r, 12, now.bytes), set_i(r, 13, was.bytes);
    if (comp->eval) {
        set_pct(r, 14, comp->eval->correct1, comp->eval->images);
        set_pct(r, 16, comp->eval->correct5, comp->eval->images);
        set_pct(r, 18, comp->eval->agree, comp->eval->images);
    }
    if (base->eval) {
        set_pct(r, 15, base->eval->correct1, base->eval->images);
        set_pct(r, 17, base->eval->correct5, base->eval->images);
    }
    if (comp->latency)
        snprintf(r->f[19], 128, "%.4f", comp->latency->median_ms);
    if (base->latency)
        snprintf(r->f[20], 128, "%.4f", base->latency->median_ms);
}

sb_status sb_report_save_csv(const sb_measurement *base, const sb_measurement *comp,
                             const char *path, sb_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return sb_error_set(err, SB_ERR_NOMEM, "out of memory");
    row r;
    for (int i = 0; i < N_COLS; i++)
        put_field(f, columns[i], i == N_COLS - 1);
    for (int l = 0; l < comp->model->n_layers; l++) {
        layer_row(base->model, comp->model, l, &r);
        put_row(f, &r);
    }
    summary_row(base, comp, &r);
    put_row(f, &r);
    bool bad = ferror(f) != 0;
    sb_status s = fclose(f) != 0 || bad ? sb_error_set(err, SB_ERR_NOMEM, "out of memory")
                                        : sb_write_file_atomic(path, buf, len, err);
    free(buf);
    return s;
}
