/* Losses over a batch of logits, in double: cross-entropy (mean over labelled rows) and
 * knowledge distillation, alpha T^2 KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) CE(s, y),
 * with the KL term averaged over the rows (PyTorch's kl_div with reduction="batchmean"). */
#include "train_tape.h"

#include <math.h>

/* log-softmax of row/T into out (double). */
static void log_softmax(const float *row, int classes, double T, double *out)
{
    double lse = sb_logsumexp(row, classes, T);
    for (int k = 0; k < classes; k++)
        out[k] = row[k] / T - lse;
}

static int labelled(const int *labels, int n, int classes)
{
    int c = 0;
    for (int i = 0; labels && i < n; i++)
        c += labels[i] >= 0 && labels[i] < classes;
    return c;
}

#define MAX_CLASSES 4096

double sb_loss_ce(const float *logits, const int *labels, int n, int classes, float *d,
                  int *correct)
{
    return sb_loss_kd(logits, NULL, labels, n, classes, 1.0, 0.0, d, correct);
}

double sb_loss_kd(const float *s, const float *t, const int *labels, int n, int classes,
                  double T, double alpha, float *d, int *correct)
{
    double ls[MAX_CLASSES], lt[MAX_CLASSES], lsT[MAX_CLASSES];
    if (classes > MAX_CLASSES || classes < 1 || n < 1)
        return NAN;
    if (!t)
        alpha = 0;
    int nl = labelled(labels, n, classes);
    double loss = 0;
    if (correct)
        *correct = 0;
    for (int i = 0; i < n; i++) {
        const float *row = s + (size_t)i * classes;
        float *drow = d ? d + (size_t)i * classes : NULL;
        int y = labels ? labels[i] : -1;
        bool lab = y >= 0 && y < classes;
        log_softmax(row, classes, 1.0, ls);
        if (correct && lab)
            *correct += sb_argmax(row, classes) == y;
        if (drow)
            for (int k = 0; k < classes; k++)
                drow[k] = 0;
        if (lab && alpha < 1) {
            loss += (1 - alpha) * -ls[y] / nl;
            if (drow)
                for (int k = 0; k < classes; k++)
                    drow[k] += (float)((1 - alpha) * (exp(ls[k]) - (k == y)) / nl);
        }
        if (t && alpha > 0) {
            log_softmax(t + (size_t)i * classes, classes, T, lt);
            log_softmax(row, classes, T, lsT);
            double kl = 0;
            for (int k = 0; k < classes; k++) {
                double pt = exp(lt[k]);
                kl += pt > 0 ? pt * (lt[k] - lsT[k]) : 0;
                if (drow) /* d/ds of T^2 KL = T (p_s - p_t) */
                    drow[k] += (float)(alpha * T * (exp(lsT[k]) - pt) / n);
            }
            loss += alpha * T * T * kl / n;
        }
    }
    return loss;
}
