/* Command-line front end: shared option handling for the subcommands. */
#ifndef SB_CLI_H
#define SB_CLI_H

#include "compress.h"
#include "slimbench.h"

#include <stdio.h>

enum { EXIT_USER = 1, EXIT_INTERNAL = 2 };

typedef struct cli_opts {
    const char *model_path;
    const char *data_dir;
    const char *scale, *mean, *std; /* preprocessing overrides */
    int limit, batch, threads;
    double seconds;                 /* latency time budget */
    bool csv;
    const char *config_path;        /* --config C.csv */
    const char *prune[64], *quant[64]; /* repeatable --prune / --quant, in order */
    int n_prune, n_quant;
    const char *report, *export_path, *save_config;
    const char *method, *range;     /* sweep */
    bool mask;                      /* keep pruned channels as zeros instead of removing them */
    bool layers;                    /* bench: per-layer batch-1 times instead of evaluating */
    bool latency_only;              /* bench: no dataset, no throughput */
} cli_opts;

/* Parses the options every subcommand shares; prints usage on error. Returns 0, or the exit
 * code to return. */
int cli_parse(int argc, char **argv, const char *usage, cli_opts *o);
int cli_fail(const sb_error *err); /* prints "slimbench: msg" and maps the status to an exit code */
int cli_load_model(const cli_opts *o, sb_model **m);
int cli_open_data(const cli_opts *o, const sb_model *m, sb_dataset **d, sb_preprocess *pp);
void cli_print_human_count(FILE *f, int64_t n, int width);

/* The configuration the options describe (--config, then each --prune and --quant in turn). */
int cli_build_config(const cli_opts *o, const sb_model *m, sb_config *c);
bool cli_has_compression(const cli_opts *o);
/* Compresses m with c; opens the training split for calibration when a layer needs it. */
int cli_compress(const cli_opts *o, const sb_model *m, const sb_config *c, sb_model **out);

int cmd_inspect(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_workbench(int argc, char **argv);

#endif
