/* Reading a row of logits: the predicted class and log-softmax's normaliser, one definition for
 * evaluation (accuracy, loss) and for the training losses. */
#include "model.h"

#include <math.h>

int sb_argmax(const float *x, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (x[k] > x[best])
            best = k;
    return best;
}

double sb_logsumexp(const float *row, int classes, double T)
{
    double mx = -INFINITY, sum = 0;
    for (int k = 0; k < classes; k++)
        mx = fmax(mx, row[k] / T);
    for (int k = 0; k < classes; k++)
        sum += exp(row[k] / T - mx);
    return log(sum) + mx;
}
