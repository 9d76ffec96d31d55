/* slimbench finetune: compress a model, then fine-tune the result on the training split (plain
 * cross-entropy or distillation from the uncompressed model), optionally with gradual pruning;
 * accuracy on the evaluation split before and after. */
#include "cli.h"
#include "train.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_FASHION_DIR "/usr/share/datasets/fashion-mnist"

static const char usage[] =
    "usage: slimbench finetune MODEL.onnx [--data DIR] [--config C.csv | --prune ... | --quant ...]\n"
    "                          [--epochs E | --steps N] [--distill T,ALPHA] [--lr LR]\n"
    "                          [--schedule agp:STEPS[:SPAN]] [--out OUT.onnx] [--csv]\n"
    "  Compresses MODEL as `apply` does, fine-tunes the compressed model on the training split\n"
    "  of DIR and reports top-1 on the evaluation split before and after.\n"
    "  --epochs E          passes over the training images (fractions allowed; default 1)\n"
    "  --steps N           optimizer steps instead of epochs\n"
    "  --batch B           images per step (default 64)\n"
    "  --lr LR             learning rate (default 0.01); --cosine decays it to 0\n"
    "  --momentum M        SGD momentum (default 0.9)\n"
    "  --wd WD             weight decay (default 5e-4)\n"
    "  --clip NORM         clip the gradient's global L2 norm to NORM\n"
    "  --distill T,ALPHA   distil from MODEL itself: alpha T^2 KL + (1 - alpha) CE (T 4, alpha\n"
    "                      0.7 with --distill alone)\n"
    "  --bn train|frozen   BatchNorm with batch statistics, running statistics updated\n"
    "                      (default), or frozen at the running statistics\n"
    "  --schedule agp:N[:SPAN]  gradual pruning: the pruning ratios (magnitude, global and l1\n"
    "                      channels) are reached over N pruning steps spread over the first\n"
    "                      SPAN of training (default 0.5); channels are removed at the end\n"
    "  --seed S            shuffling seed (default 1); --no-shuffle keeps the file order\n"
    "  --train-limit N     train on the first N training images only\n"
    "  --keep-zeros        hold every zero weight at zero (a model pruned elsewhere)\n"
    "  --out OUT.onnx      write the fine-tuned model\n"
    "  --limit N, --mask, --threads N, --csv, --quiet: as for `apply`; Ctrl-C stops training\n"
    "  (no model is written then).\n";

/* Declared in cli.h once the dispatch table lists `finetune`; repeated here meanwhile. */


typedef struct ft_opts {
    sb_train_options t;
    bool agp, quiet;
    const char *out;
} ft_opts;

static volatile int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "slimbench: %s'%s'\n%s", what, arg ? arg : "", usage);
    return EXIT_USER;
}

/* One option of ours: consumes its value; returns 0, an exit code, or -1 when not ours. */
static int take_option(ft_opts *f, const char *name, const char *val, bool *used_val)
{
    double d;
    sb_train_options *t = &f->t;
    *used_val = true;
    if (!strcmp(name, "epochs")) {
        if (!val || !parse_double(val, 1e-6, 1e6, &d))
            return bad("--epochs wants a positive number, not ", val);
        t->epochs = d;
    } else if (!strcmp(name, "steps")) {
        if (!val || !parse_double(val, 1, 1e9, &d) || d != floor(d))
            return bad("--steps wants a positive whole number, not ", val);
        t->steps = (int)d;
    } else if (!strcmp(name, "lr")) {
        if (!val || !parse_double(val, 1e-12, 100, &d))
            return bad("--lr wants a positive learning rate, not ", val);
        t->lr = (float)d;
    } else if (!strcmp(name, "momentum")) {
        if (!val || !parse_double(val, 0, 0.999999, &d))
            return bad("--momentum wants a number in [0, 1), not ", val);
        t->momentum = (float)d;
    } else if (!strcmp(name, "wd") || !strcmp(name, "weight-decay")) {
        if (!val || !parse_double(val, 0, 1, &d))
            return bad("--wd wants a number in [0, 1], not ", val);
        t->weight_decay = (float)d;
    } else if (!strcmp(name, "clip")) {
        if (!val || !parse_double(val, 1e-9, 1e9, &d))
            return bad("--clip wants a positive gradient norm, not ", val);
        t->clip_norm = (float)d;
    } else if (!strcmp(name, "seed")) {
        if (!val || !parse_double(val, 0, 1e18, &d) || d != floor(d))
            return bad("--seed wants a whole number, not ", val);
        t->seed = (uint64_t)d;
    } else if (!strcmp(name, "train-limit")) {
        if (!val || !parse_double(val, 1, 1e9, &d) || d != floor(d))
            return bad("--train-limit wants a positive whole number, not ", val);
        t->limit = (int)d;
    } else if (!strcmp(name, "bn")) {
        if (!val || (strcmp(val, "frozen") && strcmp(val, "train")))
            return bad("--bn wants frozen or train, not ", val);
        t->bn = strcmp(val, "train") ? SB_BN_FROZEN : SB_BN_TRAIN;
    } else if (!strcmp(name, "out")) {
        if (!val)
            return bad("--out wants a file name", NULL);
        f->out = val;
    } else if (!strcmp(name, "schedule")) {
        char *end;
        if (!val || strncmp(val, "agp:", 4))
            return bad("--schedule wants agp:STEPS[:SPAN], not ", val);
        long n = strtol(val + 4, &end, 10);
        if (n < 1 || n > 100000 || (*end && *end != ':') ||
            (*end == ':' && !parse_double(end + 1, 1e-6, 1, &t->agp_span)))
            return bad("--schedule wants agp:STEPS[:SPAN] with STEPS >= 1 and SPAN in (0, 1], "
                       "not ",
                       val);
        t->agp_steps = (int)n;
        f->agp = true;
    } else if (!strcmp(name, "distill")) {
        t->distill = true;
        *used_val = val && val[0] != '-'; /* --distill alone: the defaults */
        if (*used_val) {
            char *end;
            double T = strtod(val, &end), a = t->alpha;
            if (*end == ',' && !parse_double(end + 1, 0, 1, &a))
                return bad("--distill wants T,ALPHA with ALPHA in [0, 1], not ", val);
            if (!(T > 0) || (*end && *end != ','))
                return bad("--distill wants T,ALPHA with T > 0, not ", val);
            t->temperature = (float)T;
            t->alpha = (float)a;
        }
    } else {
        *used_val = false;
        if (!strcmp(name, "cosine"))
            t->lr_schedule = SB_LR_COSINE;
        else if (!strcmp(name, "no-shuffle"))
            t->shuffle = false;
        else if (!strcmp(name, "keep-zeros"))
            t->keep_zeros = true;
        else if (!strcmp(name, "quiet"))
            f->quiet = true;
        else
            return -1;
    }
    return 0;
}

/* Takes our options out of argv (the rest goes to cli_parse); returns 0 or an exit code. */
static int split_args(int argc, char **argv, ft_opts *f, int *rest_argc, char **rest)
{
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            rest[n++] = argv[i];
            continue;
        }
        char name[64];
        const char *eq = strchr(a + 2, '='), *val;
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) {
            rest[n++] = argv[i];
            continue;
        }
        memcpy(name, a + 2, len);
        name[len] = 0;
        val = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
        bool used = false;
        int rc = take_option(f, name, val, &used);
        if (rc < 0) {
            rest[n++] = argv[i];
            continue;
        }
        if (rc)
            return rc;
        if (used && !eq)
            i++;
        else if (!used && eq)
            return bad("this option takes no value: ", a);
    }
    rest[n] = NULL;
    *rest_argc = n;
    return 0;
}

typedef struct progress_ctx {
    bool tty, quiet;
    int every;
} progress_ctx;

static bool report(const sb_train_progress *p, void *user)
{
    const progress_ctx *pc = user;
    if (!pc->quiet && (pc->tty || p->step % pc->every == 0 || p->step == p->steps))
        fprintf(stderr,
                "%sstep %d/%d  epoch %d  loss %.4f  train top-1 %.2f%%  sparsity %.1f%%  %.1fs%s",
                pc->tty ? "\r" : "", p->step, p->steps, p->epoch + 1, p->loss, p->accuracy,
                100 * p->sparsity, p->seconds, pc->tty ? "   " : "\n");
    return interrupted != 0;
}

static int evaluate(sb_model *m, const sb_dataset *d, const sb_preprocess *pp,
                    const cli_opts *o, double *top1)
{
    sb_error err = {0};
    sb_eval_result r;
    sb_eval_options eo = {.batch = o->batch, .limit = o->limit};
    if (sb_eval(m, d, pp, &eo, &r, &err))
        return cli_fail(&err);
    *top1 = r.images ? 100.0 * r.correct1 / r.images : 0;
    sb_eval_result_free(&r);
    return 0;
}

static const char *data_dir(const cli_opts *o, const sb_model *m)
{
    if (o->data_dir)
        return o->data_dir;
    const char *ds = sb_model_meta(m, "dataset");
    return ds && !strcmp(ds, "fashion-mnist") ? DEFAULT_FASHION_DIR : NULL;
}

typedef struct outcome {
    double base, before, after;
    sb_train_result res;
} outcome;

static void print_result(const cli_opts *o, const ft_opts *f, const outcome *r)
{
    const sb_train_result *res = &r->res;
    double per_epoch = res->epochs > 0 ? res->seconds / res->epochs : 0;
    if (o->csv) {
        printf("top1_base,top1_before,top1_after,seconds,seconds_per_epoch,teacher_seconds,"
               "steps,epochs,loss_first,loss_last,train_top1,epoch_seconds\n");
        printf("%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%d,%.4f,%.5f,%.5f,%.2f,", r->base, r->before,
               r->after, res->seconds, per_epoch, res->teacher_seconds, res->steps, res->epochs,
               res->first_loss, res->last_loss, res->train_accuracy);
        for (int e = 0; e < res->n_epoch_times; e++)
            printf("%s%.2f", e ? ";" : "", res->epoch_seconds[e]);
        putchar('\n');
        return;
    }
    printf("%-38s %8.2f%%\n", "top-1, uncompressed", r->base);
    printf("%-38s %8.2f%%\n", f->agp ? "top-1, one-shot compressed (reference)"
                                     : "top-1, compressed, before fine-tuning",
           r->before);
    printf("%-38s %8.2f%%   (%+.2f pts)\n", "top-1, after fine-tuning", r->after,
           r->after - r->before);
    printf("%-38s %d steps of %d, %.3f epochs, %.1f s (%.1f s/epoch; teacher %.1f s)\n",
           "training", res->steps, f->t.batch, res->epochs, res->seconds, per_epoch,
           res->teacher_seconds);
    printf("%-38s", "time per epoch (wall clock)");
    for (int e = 0; e < res->n_epoch_times; e++)
        printf("%s %d: %.1f s", e ? "," : "", e + 1, res->epoch_seconds[e]);
    printf("%s\n", res->n_epoch_times && res->epochs > res->n_epoch_times - 1 + 1e-9 &&
                          res->epochs < res->n_epoch_times - 1e-9
                      ? " (the last one partial)"
                      : "");
    printf("%-38s %.4f -> %.4f (train top-1 %.2f%%)\n", "loss", res->first_loss, res->last_loss,
           res->train_accuracy);
}

static int run(const cli_opts *o, const ft_opts *f, sb_model *bm, outcome *r)
{
    sb_error err = {0};
    sb_config cfg = {0};
    sb_model *cm = NULL, *tuned = NULL;
    sb_dataset *test = NULL, *train = NULL;
    sb_preprocess pp;
    const char *dir = data_dir(o, bm);
    int rc = 0;
    if (!dir) {
        fprintf(stderr, "slimbench: fine-tuning needs data: give --data DIR (a folder with a "
                        "training and an evaluation split)\n");
        return EXIT_USER;
    }
    if ((rc = cli_build_config(o, bm, &cfg)) || (rc = cli_compress(o, bm, &cfg, &cm)) ||
        (rc = cli_open_data(o, bm, &test, &pp)))
        goto done;
    if (sb_dataset_open(dir, "train", &train, &err)) {
        rc = cli_fail(&err);
        goto done;
    }
    if ((rc = evaluate(bm, test, &pp, o, &r->base)) || (rc = evaluate(cm, test, &pp, o, &r->before)))
        goto done;
    progress_ctx pc = {.tty = isatty(2), .quiet = f->quiet || o->csv};
    sb_train_options t = f->t;
    int images = sb_dataset_count(train);
    if (t.limit > 0 && t.limit < images)
        images = t.limit;
    int steps = t.steps ? t.steps : (int)ceil(t.epochs * images / t.batch); /* about */
    pc.every = steps / 10 > 0 ? steps / 10 : 1;
    t.progress = report;
    t.user = &pc;
    signal(SIGINT, on_sigint);
    sb_status s = f->agp ? sb_finetune_agp(bm, bm, &cfg, train, &pp, &t, &tuned, &r->res, &err)
                         : sb_finetune(bm, cm, train, &pp, &t, &tuned, &r->res, &err);
    signal(SIGINT, SIG_DFL);
    if (pc.tty && !pc.quiet)
        fputc('\n', stderr);
    if (s) {
        rc = cli_fail(&err);
        goto done;
    }
    if ((rc = evaluate(tuned, test, &pp, o, &r->after)))
        goto done;
    if (f->out && sb_model_export_onnx(tuned, f->out, &err))
        rc = cli_fail(&err);
done:
    sb_model_free(tuned);
    sb_model_free(cm);
    sb_dataset_free(train);
    sb_dataset_free(test);
    sb_config_free(&cfg);
    return rc;
}

int cmd_finetune(int argc, char **argv)
{
    ft_opts f = {.t = sb_train_options_default()};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int rest_argc = 0, rc;
    cli_opts o;
    sb_model *bm = NULL;
    outcome r = {0};
    if (!rest)
        return EXIT_INTERNAL;
    if ((rc = split_args(argc, argv, &f, &rest_argc, rest)) ||
        (rc = cli_parse(rest_argc, rest, usage, &o))) {
        free(rest);
        return rc < 0 ? 0 : rc;
    }
    if (o.batch)
        f.t.batch = o.batch;
    if (!(rc = cli_load_model(&o, &bm)) && !(rc = run(&o, &f, bm, &r)))
        print_result(&o, &f, &r);
    sb_model_free(bm);
    free(rest);
    return rc;
}
