/* slimbench bench: batch-1 latency and evaluation throughput of one model. */
#include "cli.h"

#include <omp.h>

static const char usage[] =
    "usage: slimbench bench MODEL.onnx [--seconds S] [--data DIR] [--limit N] [--batch B]\n"
    "                       [--threads N] [--csv] [--latency-only]\n"
    "Batch-1 latency, throughput over the data's test split, and a per-step time table.\n"
    "--latency-only skips the data (models whose input is not a dataset image).\n";

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

int cmd_bench(int argc, char **argv)
{
    cli_opts o;
    sb_model *m = NULL;
    sb_dataset *d = NULL;
    sb_preprocess pp;
    int rc = cli_parse(argc, argv, usage, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = cli_load_model(&o, &m)) || (!o.latency_only && (rc = cli_open_data(&o, m, &d, &pp)))) {
        sb_model_free(m);
        return rc;
    }
    sb_error err = {0};
    sb_latency lat;
    sb_eval_result r = {0};
    sb_eval_options opt = {.batch = o.batch ? o.batch : 256, .limit = o.limit};
    if (sb_latency_measure(m, o.seconds, NULL, &lat, &err) ||
        (d && sb_eval(m, d, &pp, &opt, &r, &err))) {
        rc = cli_fail(&err);
    } else {
        double ips = r.seconds > 0 ? r.images / r.seconds : 0;
        char ips_s[32] = "", cpu_s[32] = "", top1_s[32] = ""; /* empty with --latency-only */
        if (d) {
            snprintf(ips_s, sizeof ips_s, "%.1f", ips);
            snprintf(cpu_s, sizeof cpu_s, "%.1f", r.cpu_seconds > 0 ? r.images / r.cpu_seconds : 0);
            snprintf(top1_s, sizeof top1_s, "%.2f", r.images ? 100.0 * r.correct1 / r.images : 0);
        }
        if (o.csv)
            printf("latency_ms,latency_min_ms,latency_max_ms,runs,images_per_s,top1,threads,"
                   "batch,images_per_cpu_s\n%.4f,%.4f,%.4f,%d,%s,%s,%d,%d,%s\n",
                   lat.median_ms, lat.min_ms, lat.max_ms, lat.runs, ips_s, top1_s, lat.threads,
                   opt.batch, cpu_s);
        else
            printf("batch-1 latency: median %.4f ms (min %.4f, max %.4f, %d runs, %d threads)\n",
                   lat.median_ms, lat.min_ms, lat.max_ms, lat.runs, lat.threads);
        if (!o.csv && d)
            printf("throughput: %.0f images/s at batch %d (top-1 %.2f%%); %.0f images per CPU "
                   "second\n", ips, opt.batch, r.images ? 100.0 * r.correct1 / r.images : 0,
                   r.cpu_seconds > 0 ? r.images / r.cpu_seconds : 0);
    }
    if (!rc && !o.csv)
        rc = print_layers(m, o.seconds);
    sb_eval_result_free(&r);
    sb_dataset_free(d);
    sb_model_free(m);
    return rc;
}
