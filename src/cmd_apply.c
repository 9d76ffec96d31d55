/* slimbench apply: compress a model with a configuration, measure it beside the base, and
 * optionally write the configuration, a report and the compressed ONNX. */
#include "cli.h"

#include <stdlib.h>

static const char usage[] =
    "usage: slimbench apply MODEL.onnx [--config C.csv] [--prune LAYER=RATIO[:magnitude|l1]]...\n"
    "                       [--quant LAYER=BITS[:channel|tensor][:sym|asym][:a8]]...\n"
    "                       [--save-config OUT.csv] [--report R.csv] [--export OUT.onnx]\n"
    "                       [--data DIR] [--limit N] [--seconds S] [--mask] [--csv]\n"
    "  LAYER is a layer name, `all` (each layer at that setting) or, for --prune, `global`\n"
    "  (one magnitude threshold over all Conv/Gemm weights). --mask zeroes pruned channels\n"
    "  instead of removing them.\n";

typedef struct side {
    sb_eval_result eval;
    sb_latency lat;
    bool evaluated, timed;
} side;

static double pct(int n, int total) { return total ? 100.0 * n / total : 0; }

static void row_count(const char *what, int64_t base, int64_t now)
{
    printf("%-34s %14lld %14lld   %+7.1f%%\n", what, (long long)base, (long long)now,
           base ? 100.0 * (double)(now - base) / (double)base : 0.0);
}

static void print_human(const sb_model *bm, const sb_model *cm, const side *b, const side *c)
{
    sb_size_info bs = sb_model_size(bm), cs = sb_model_size(cm);
    printf("%-34s %14s %14s   %s\n", "", "base", "compressed", "change");
    row_count("parameters", bs.params, cs.params);
    row_count("non-zero parameters", bs.nonzero, cs.nonzero);
    row_count("MACs per image (dense)", bs.macs, cs.macs);
    row_count("MACs skipping zeros (estimate)", bs.effective_macs, cs.effective_macs);
    row_count("size in bytes (real encoding)", bs.bytes, cs.bytes);
    if (c->evaluated) {
        int n = c->eval.images;
        printf("%-34s %13.2f%% %13.2f%%   %+7.2f pts\n", "top-1 accuracy",
               pct(b->eval.correct1, n), pct(c->eval.correct1, n),
               pct(c->eval.correct1, n) - pct(b->eval.correct1, n));
        printf("%-34s %13.2f%% %13.2f%%   %+7.2f pts\n", "top-5 accuracy",
               pct(b->eval.correct5, n), pct(c->eval.correct5, n),
               pct(c->eval.correct5, n) - pct(b->eval.correct5, n));
        printf("%-34s %14s %13.2f%%   (%d images)\n", "top-1 agreement with base", "",
               pct(c->eval.agree, n), n);
    } else {
        printf("accuracy: not measured (no evaluation data; give --data DIR)\n");
    }
    if (c->timed)
        printf("%-34s %11.4f ms %11.4f ms   %.2fx %s (%d threads)\n", "latency, batch 1 (median)",
               b->lat.median_ms, c->lat.median_ms,
               b->lat.median_ms >= c->lat.median_ms ? b->lat.median_ms / c->lat.median_ms
                                                     : c->lat.median_ms / b->lat.median_ms,
               b->lat.median_ms >= c->lat.median_ms ? "faster" : "slower", c->lat.threads);
}

static void print_csv(const sb_model *bm, const sb_model *cm, const side *b, const side *c)
{
    sb_size_info bs = sb_model_size(bm), cs = sb_model_size(cm);
    int n = c->eval.images;
    printf("params,params_base,nonzero,macs,macs_base,effective_macs,size_bytes,size_bytes_base,"
           "top1,top1_base,top5,top5_base,agreement,latency_ms,latency_ms_base\n");
    printf("%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,", (long long)cs.params,
           (long long)bs.params, (long long)cs.nonzero, (long long)cs.macs, (long long)bs.macs,
           (long long)cs.effective_macs, (long long)cs.bytes, (long long)bs.bytes);
    if (c->evaluated)
        printf("%.2f,%.2f,%.2f,%.2f,%.2f,", pct(c->eval.correct1, n), pct(b->eval.correct1, n),
               pct(c->eval.correct5, n), pct(b->eval.correct5, n), pct(c->eval.agree, n));
    else
        printf(",,,,,");
    if (c->timed)
        printf("%.4f,%.4f\n", c->lat.median_ms, b->lat.median_ms);
    else
        printf(",\n");
}

/* Evaluates (when data is at hand) and times both models. */
static int measure(const cli_opts *o, sb_model *bm, sb_model *cm, side *b, side *c)
{
    sb_error err = {0};
    sb_dataset *d = NULL;
    sb_preprocess pp;
    int rc = 0;
    if (o->data_dir || sb_model_meta(bm, "dataset")) {
        if ((rc = cli_open_data(o, bm, &d, &pp)))
            return rc;
        sb_eval_options opt = {.batch = o->batch, .limit = o->limit};
        if (sb_eval(bm, d, &pp, &opt, &b->eval, &err))
            rc = cli_fail(&err);
        opt.reference = b->eval.pred;
        if (!rc && sb_eval(cm, d, &pp, &opt, &c->eval, &err))
            rc = cli_fail(&err);
        b->evaluated = c->evaluated = !rc;
        sb_dataset_free(d);
    }
    double secs = o->seconds < 2.0 ? o->seconds : 1.0;
    if (!rc && (sb_latency_measure(bm, secs, NULL, &b->lat, &err) ||
                sb_latency_measure(cm, secs, NULL, &c->lat, &err)))
        rc = cli_fail(&err);
    b->timed = c->timed = !rc;
    return rc;
}

static int write_outputs(const cli_opts *o, const sb_model *bm, const sb_model *cm,
                         const sb_config *cfg, const side *b, const side *c)
{
    sb_error err = {0};
    sb_measurement mb = {bm, b->evaluated ? &b->eval : NULL, b->timed ? &b->lat : NULL};
    sb_measurement mc = {cm, c->evaluated ? &c->eval : NULL, c->timed ? &c->lat : NULL};
    if (o->save_config && sb_config_save_csv(bm, cfg, o->save_config, &err))
        return cli_fail(&err);
    if (o->report && sb_report_save_csv(&mb, &mc, o->report, &err))
        return cli_fail(&err);
    if (o->export_path && sb_model_export_onnx(cm, o->export_path, &err))
        return cli_fail(&err);
    return 0;
}

int cmd_apply(int argc, char **argv)
{
    cli_opts o;
    sb_model *bm = NULL, *cm = NULL;
    sb_config cfg = {0};
    side b = {0}, c = {0};
    int rc = cli_parse(argc, argv, usage, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!(rc = cli_load_model(&o, &bm)) && !(rc = cli_build_config(&o, bm, &cfg)) &&
        !(rc = cli_compress(&o, bm, &cfg, &cm)) && !(rc = measure(&o, bm, cm, &b, &c)) &&
        !(rc = write_outputs(&o, bm, cm, &cfg, &b, &c))) {
        if (o.csv)
            print_csv(bm, cm, &b, &c);
        else
            print_human(bm, cm, &b, &c);
    }
    sb_eval_result_free(&b.eval);
    sb_eval_result_free(&c.eval);
    sb_config_free(&cfg);
    sb_model_free(cm);
    sb_model_free(bm);
    return rc;
}
