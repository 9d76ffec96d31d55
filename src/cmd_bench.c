/* slimbench bench: batch-1 latency and evaluation throughput of one model, as it is or
 * compressed, with the kernel each layer runs on. */
#include "cli.h"

#include <omp.h>
#include <stdlib.h>

static const char usage[] =
    "usage: slimbench bench MODEL.onnx [--seconds S] [--data DIR] [--limit N] [--batch B]\n"
    "                       [--threads N] [--csv] [--config C.csv] [--layers]\n"
    "                       [--prune LAYER=RATIO[:magnitude|l1]]...\n"
    "                       [--quant LAYER=BITS[:channel|tensor][:sym|asym][:a8]]...\n"
    "  --prune/--quant/--config  bench the compressed model\n"
    "  --layers  batch-1 time and kernel of each layer; no evaluation\n"
    "Quantised layers whose input is quantised too (:a8) run on int8 kernels; the kernels\n"
    "line counts the layers per kernel (f32-dq: quantised weights run dequantised in f32;\n"
    "sparse-csr: layers with at least 80% zero weights).\n";

/* Replaces *m by its compressed version when the options ask for compression. */
static int compress_if_asked(const cli_opts *o, sb_model **m)
{
    if (!cli_has_compression(o))
        return 0;
    sb_config c;
    sb_model *cm = NULL;
    int rc = cli_build_config(o, *m, &c);
    if (!rc)
        rc = cli_compress(o, *m, &c, &cm);
    sb_config_free(&c);
    if (rc)
        return rc;
    sb_model_free(*m);
    *m = cm;
    return 0;
}

static double layer_density(const sb_layer_info *info)
{
    return info->params ? 1.0 - (double)info->zeros / (double)info->params : 1.0;
}

static int bench_layers(const cli_opts *o, sb_model *m)
{
    sb_error err = {0};
    const int L = sb_model_num_layers(m);
    sb_layer_time *ms = calloc((size_t)L + 1, sizeof *ms), total = {0};
    if (!ms)
        return cli_fail(&(sb_error){SB_ERR_NOMEM, "out of memory"});
    if (sb_latency_layers(m, o->seconds, ms, &total, &err)) {
        free(ms);
        return cli_fail(&err);
    }
    if (o->csv)
        printf("layer,op,params,density,kernel,median_ms,min_ms\n");
    for (int i = 0; i < L; i++) {
        sb_layer_info info;
        if (sb_model_layer(m, i, &info))
            continue;
        const char *k = sb_model_layer_kernel(m, i);
        if (o->csv)
            printf("%s,%s,%lld,%.4f,%s,%.4f,%.4f\n", info.name, info.op,
                   (long long)info.params, layer_density(&info), k ? k : "", ms[i].median_ms,
                   ms[i].min_ms);
        else
            printf("%-32s %-8s %8lld params %5.1f%% non-zero  %-10s %8.3f ms (min %.3f)\n",
                   info.name, info.op, (long long)info.params, 100 * layer_density(&info),
                   k ? k : "-", ms[i].median_ms, ms[i].min_ms);
    }
    if (o->csv)
        printf("total,,,,,%.4f,%.4f\n", total.median_ms, total.min_ms);
    else
        printf("batch-1 run: median %.3f ms, min %.3f ms (%d threads)\n", total.median_ms,
               total.min_ms, omp_get_max_threads());
    free(ms);
    return 0;
}

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
    int rc = 0;
    if (sb_latency_measure(m, o->seconds, NULL, &lat, &err) || sb_eval(m, d, pp, &opt, &r, &err))
        rc = cli_fail(&err);
    else
        report(o, m, &lat, &r, opt.batch);
    sb_eval_result_free(&r);
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
    if ((rc = cli_load_model(&o, &m)) || (rc = compress_if_asked(&o, &m)))
        goto done;
    if (o.layers)
        rc = bench_layers(&o, m);
    else if (!(rc = cli_open_data(&o, m, &d, &pp)))
        rc = run(&o, m, d, &pp);
done:
    sb_dataset_free(d);
    sb_model_free(m);
    return rc;
}
