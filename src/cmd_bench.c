/* slimbench bench: batch-1 latency and evaluation throughput of one model, as it is or
 * compressed, with the kernel each layer runs on. */
#include "cli.h"

#include <omp.h>

static const char usage[] =
    "usage: slimbench bench MODEL.onnx [--seconds S] [--data DIR] [--limit N] [--batch B]\n"
    "                       [--threads N] [--config C.csv] [--prune LAYER=RATIO[:magnitude|l1]]...\n"
    "                       [--quant LAYER=BITS[:channel|tensor][:sym|asym][:a8]]... [--csv]\n"
    "Quantised layers whose input is quantised too (:a8) run on int8 kernels; the kernels\n"
    "line counts the layers per kernel (f32-dq: quantised weights run dequantised in f32).\n";

static void report(const cli_opts *o, sb_model *m, const sb_latency *lat,
                   const sb_eval_result *r, int batch)
{
    char kinds[256];
    double ips = r->seconds > 0 ? r->images / r->seconds : 0;
    double top1 = r->images ? 100.0 * r->correct1 / r->images : 0;
    sb_model_kernel_summary(m, kinds, sizeof kinds);
    for (char *c = kinds; o->csv && *c; c++) /* one CSV field */
        *c = *c == ',' ? ';' : *c;
    if (o->csv)
        printf("latency_ms,latency_min_ms,latency_max_ms,runs,images_per_s,top1,threads,"
               "batch,kernels\n%.4f,%.4f,%.4f,%d,%.1f,%.2f,%d,%d,%s\n",
               lat->median_ms, lat->min_ms, lat->max_ms, lat->runs, ips, top1, lat->threads,
               batch, kinds);
    else
        printf("batch-1 latency: median %.4f ms (min %.4f, max %.4f, %d runs, %d threads)\n"
               "throughput: %.0f images/s at batch %d (top-1 %.2f%%)\n"
               "kernels: %s\n",
               lat->median_ms, lat->min_ms, lat->max_ms, lat->runs, lat->threads, ips, batch,
               top1, kinds);
}

static int run(const cli_opts *o, sb_model *m, const sb_dataset *d, const sb_preprocess *pp)
{
    sb_error err = {0};
    sb_latency lat;
    sb_eval_result r = {0};
    sb_eval_options opt = {.batch = o->batch ? o->batch : 256, .limit = o->limit};
    sb_config cfg = {0};
    sb_model *cm = NULL;
    int rc = 0;
    if (cli_has_compression(o) &&
        ((rc = cli_build_config(o, m, &cfg)) || (rc = cli_compress(o, m, &cfg, &cm))))
        goto done;
    sb_model *bm = cm ? cm : m;
    if (sb_latency_measure(bm, o->seconds, NULL, &lat, &err) ||
        sb_eval(bm, d, pp, &opt, &r, &err))
        rc = cli_fail(&err);
    else
        report(o, bm, &lat, &r, opt.batch);
done:
    sb_eval_result_free(&r);
    sb_config_free(&cfg);
    sb_model_free(cm);
    return rc;
}

int cmd_bench(int argc, char **argv)
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
