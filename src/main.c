/* slimbench: see `slimbench --help`. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: slimbench [MODEL.onnx] [--data DIR]      open the workbench\n"
    "       slimbench inspect MODEL.onnx [--csv]     per-layer parameters, MACs, sparsity, L1\n"
    "       slimbench eval MODEL.onnx [--data DIR]   top-1/top-5 accuracy and throughput\n"
    "       slimbench bench MODEL.onnx               batch-1 latency and throughput\n"
    "       slimbench apply MODEL.onnx --prune/--quant/--config ...   compress, measure, export\n"
    "       slimbench sweep MODEL.onnx               per-layer pruning sensitivity\n"
    "       slimbench finetune MODEL.onnx --epochs E [--distill T,alpha] ...   win accuracy back\n"
    "\n"
    "Common options:\n"
    "  --data DIR        evaluation data: IDX (Fashion-MNIST style, .gz or plain) or .npy files\n"
    "                    (default for models trained on Fashion-MNIST: "
    "/usr/share/datasets/fashion-mnist)\n"
    "  --limit N         evaluate the first N images only\n"
    "  --scale S         divide raw pixel values by S (ToTensor: 255)\n"
    "  --mean M[,M..]    subtract the per-channel mean (after scaling)\n"
    "  --std S[,S..]     divide by the per-channel standard deviation\n"
    "                    (default: the model's metadata_props preprocess.scale/mean/std)\n"
    "  --batch B         evaluation batch size (default 64)\n"
    "  --threads N       OpenMP threads (default: all cores)\n"
    "  --csv             machine-readable CSV with a header row\n"
    "Environment: OMP_WAIT_POLICY defaults to passive (robust when other processes share the\n"
    "cores); set OMP_WAIT_POLICY or GOMP_SPINCOUNT to choose otherwise.\n"
    "Exit status: 0 ok, 1 user error (with a message), 2 internal error.\n";

/* libgomp's default wait spins for ~300k iterations: when another process shares the cores, a
 * thread spinning at a barrier takes the CPU from the very thread it waits for, and batch-1
 * runs at 2 threads became 100-1000x slower (docs/performance.md has the measurements).
 * Passive waiting (futex sleep) costs a few microseconds per fork/join on an idle machine and
 * stays robust under load, so it is the default unless the user set OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT. libgomp reads them once at load time, hence the re-exec. */
static void default_wait_policy(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    /* The binary's own path, not /proc/self/exe: the process keeps its name ("slimbench"). */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || n >= (ssize_t)sizeof self - 1)
        return; /* no /proc: carry on with libgomp's default */
    self[n] = '\0';
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv(self, argv);
    unsetenv("OMP_WAIT_POLICY"); /* exec failed: the policy was not applied */
}

int main(int argc, char **argv)
{
    default_wait_policy(argv);
    static const struct { const char *name; int (*run)(int, char **); } cmds[] = {
        {"inspect", cmd_inspect}, {"eval", cmd_eval},   {"bench", cmd_bench},
        {"apply", cmd_apply},     {"sweep", cmd_sweep},   {"finetune", cmd_finetune}};
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
                      !strcmp(argv[1], "help"))) {
        fputs(usage, stdout);
        return 0;
    }
    /* A file size limit (ulimit -f) must fail the write with EFBIG, reported like a full disk,
     * not kill the process with the work unsaved. */
    signal(SIGXFSZ, SIG_IGN);
    for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    if (argc >= 2 && argv[1][0] != '-' && !strstr(argv[1], ".onnx") && !strchr(argv[1], '/')) {
        fprintf(stderr, "slimbench: unknown command '%s'\n\n%s", argv[1], usage);
        return EXIT_USER;
    }
    return cmd_workbench(argc, argv);
}
