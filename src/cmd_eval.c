/* slimbench eval: accuracy over the test split, of the model as it is or compressed. */
#include "cli.h"

#include <omp.h>

static const char usage[] =
    "usage: slimbench eval MODEL.onnx [--data DIR] [--limit N] [--batch B] [--threads N]\n"
    "                      [--config C.csv] [--prune LAYER=RATIO[:magnitude|l1]]...\n"
    "                      [--quant LAYER=BITS[:channel|tensor][:sym|asym][:a8]]...\n"
    "                      [--scale S] [--mean M,..] [--std S,..] [--csv]\n";

static double pct(int n, int total) { return total ? 100.0 * n / total : 0.0; }

static void report(const cli_opts *o, const sb_eval_result *r, bool compressed, int batch)
{
    double ips = r->seconds > 0 ? r->images / r->seconds : 0;
    if (o->csv) {
        printf("images,correct,top1,top5,%simages_per_s,seconds,threads,batch\n",
               compressed ? "agreement," : "");
        printf("%d,%d,%.2f,%.2f,", r->images, r->correct1, pct(r->correct1, r->images),
               pct(r->correct5, r->images));
        if (compressed)
            printf("%.2f,", pct(r->agree, r->images));
        printf("%.1f,%.3f,%d,%d\n", ips, r->seconds, omp_get_max_threads(), batch);
        return;
    }
    printf("top-1 %.2f%% (%d/%d)   top-5 %.2f%%", pct(r->correct1, r->images), r->correct1,
           r->images, pct(r->correct5, r->images));
    if (compressed)
        printf("   agreement with the base model %.2f%%", pct(r->agree, r->images));
    printf("   %.0f images/s (%d threads, batch %d)\n", ips, omp_get_max_threads(), batch);
}

/* With compression flags: the base's predictions first, for agreement. */
static int run(const cli_opts *o, sb_model *m, const sb_dataset *d, const sb_preprocess *pp)
{
    sb_eval_options opt = {.batch = o->batch, .limit = o->limit};
    sb_eval_result base = {0}, r = {0};
    sb_error err = {0};
    sb_config cfg = {0};
    sb_model *cm = NULL;
    bool compressed = cli_has_compression(o);
    int rc = 0;
    if (compressed && !(rc = cli_build_config(o, m, &cfg)) && !(rc = cli_compress(o, m, &cfg, &cm))) {
        if (sb_eval(m, d, pp, &opt, &base, &err))
            rc = cli_fail(&err);
        opt.reference = base.pred;
    }
    if (!rc && sb_eval(compressed ? cm : m, d, pp, &opt, &r, &err))
        rc = cli_fail(&err);
    if (!rc)
        report(o, &r, compressed, o->batch ? o->batch : 64);
    sb_eval_result_free(&base);
    sb_eval_result_free(&r);
    sb_config_free(&cfg);
    sb_model_free(cm);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    cli_opts o;
    sb_model *m = NULL;
    sb_dataset *d = NULL;
    sb_preprocess pp;
    int rc = cli_parse(argc, argv, usage, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!(rc = cli_load_model(&o, &m)) && !(rc = cli_open_data(&o, m, &d, &pp)))
        rc = run(&o, m, d, &pp);
    sb_dataset_free(d);
    sb_model_free(m);
    return rc;
}
