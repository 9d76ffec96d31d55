/* slimbench bench: batch-1 latency and evaluation throughput of one model, as it is or
 * compressed, with the kernel each layer runs on. */
#include "cli.h"

#include <omp.h>
#include <stdlib.h>

static const char usage[] =
    "usage: slimbench bench MODEL.onnx [--seconds S] [--data DIR] [--limit N] [--batch B]\n"
    "                       [--threads N] [--csv] [--latency-only] [--config C.csv] [--layers]\n"
    "                       [--prune LAYER=RATIO[:magnitude|l1]]...\n"
    "                       [--quant LAYER=BITS[:channel|tensor][:sym|asym][:a8]]...\n"
    "Batch-1 latency, throughput over the data's test split, the kernels, and a per-step time\n"
    "table.\n"
    "  --prune/--quant/--config  bench the compressed model\n"
    "  --layers        batch-1 time and kernel of each layer; no evaluation\n"
    "  --latency-only  skip the data (models whose input is not a dataset image)\n"
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
    if (sb_latency_layers(m, o->seconds, NULL, ms, &total, &err)) {
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

/* The per-step table: batch-1 median time of each plan step and the kernel that ran it. */
static int print_layers(sb_model *m, double seconds)
{
    sb_error err = {0};
    sb_profile prof;
    if (sb_profile_steps(m, 1, seconds, NULL, &prof, &err))
        return cli_fail(&err);
    double sum = 0;
    for (int i = 0; i < prof.n_steps; i++)
        sum += prof.steps[i].median_ms;
    printf("\nper-step time at batch 1 (median of %d runs, %d threads):\n", prof.runs,
           prof.threads);
    printf("%4s  %-28s %-48s %-20s %10s %10s %6s\n", "step", "node", "ops", "kernel", "median ms",
           "min ms", "%");
    for (int i = 0; i < prof.n_steps; i++) {
        const sb_step_time *t = &prof.steps[i];
        printf("%4d  %-28.28s %-48.48s %-20.20s %10.4f %10.4f %5.1f%%\n", i, t->name, t->op,
               t->kernel, t->median_ms, t->min_ms, sum > 0 ? 100.0 * t->median_ms / sum : 0.0);
    }
    printf("sum of step medians %.4f ms; median of whole runs %.4f ms\n", sum,
           prof.run_median_ms);
    sb_profile_free(&prof);
    return 0;
}

/* ips, per-CPU-second and top-1 as text: empty with --latency-only (no data). */
typedef struct eval_text {
    char ips[32], cpu[32], top1[32];
} eval_text;

static eval_text eval_fields(const sb_eval_result *r, bool have_data)
{
    eval_text t = {"", "", ""};
    if (!have_data)
        return t;
    snprintf(t.ips, sizeof t.ips, "%.1f", r->seconds > 0 ? r->images / r->seconds : 0);
    snprintf(t.cpu, sizeof t.cpu, "%.1f", r->cpu_seconds > 0 ? r->images / r->cpu_seconds : 0);
    snprintf(t.top1, sizeof t.top1, "%.2f", r->images ? 100.0 * r->correct1 / r->images : 0);
    return t;
}

static void report(const cli_opts *o, sb_model *m, const sb_latency *lat,
                   const sb_eval_result *r, int batch, bool have_data)
{
    char kinds[256];
    sb_model_kernel_summary(m, kinds, sizeof kinds);
    for (char *c = kinds; o->csv && *c; c++) /* one CSV field */
        *c = *c == ',' ? ';' : *c;
    eval_text t = eval_fields(r, have_data);
    if (o->csv) {
        printf("latency_ms,latency_min_ms,latency_max_ms,runs,images_per_s,top1,threads,"
               "batch,images_per_cpu_s,kernels\n%.4f,%.4f,%.4f,%d,%s,%s,%d,%d,%s,%s\n",
               lat->median_ms, lat->min_ms, lat->max_ms, lat->runs, t.ips, t.top1, lat->threads,
               batch, t.cpu, kinds);
        return;
    }
    printf("batch-1 latency: median %.4f ms (min %.4f, max %.4f, %d runs, %d threads)\n",
           lat->median_ms, lat->min_ms, lat->max_ms, lat->runs, lat->threads);
    if (have_data)
        printf("throughput: %s images/s at batch %d (top-1 %s%%); %s images per CPU second\n",
               t.ips, batch, t.top1, t.cpu);
    printf("kernels: %s\n", kinds);
}

static int run(const cli_opts *o, sb_model *m, const sb_dataset *d, const sb_preprocess *pp)
{
    sb_error err = {0};
    sb_latency lat;
    sb_eval_result r = {0};
    sb_eval_options opt = {.batch = o->batch ? o->batch : 256, .limit = o->limit};
    int rc = 0;
    if (sb_latency_measure(m, o->seconds, NULL, &lat, &err) ||
        (d && sb_eval(m, d, pp, &opt, &r, &err)))
        rc = cli_fail(&err);
    else
        report(o, m, &lat, &r, opt.batch, d != NULL);
    sb_eval_result_free(&r);
    if (!rc && !o->csv)
        rc = print_layers(m, o->seconds);
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
    else if (o.latency_only || !(rc = cli_open_data(&o, m, &d, &pp)))
        rc = run(&o, m, d, &pp);
done:
    sb_dataset_free(d);
    sb_model_free(m);
    return rc;
}
