/*
 * train_fashion_mnist.c: trains DFM-ResNet18 on a subset of Fashion-MNIST through the
 * C ABI, printing the loss of every step and the test accuracy at the end.
 *
 *   train_fashion_mnist [--root DIR] [--train N] [--test N] [--batch B] [--epochs E]
 *                       [--T T] [--lr LR] [--seed S] [--threads K]
 *
 * Defaults: the Debian dataset folder, 1024 training and 500 test images, batch 32,
 * 1 epoch, T = 5 feedback steps, Adam with lr 0.01, fb_filters 10 (the settings of the
 * PyTorch script in docs/PYTHON_API.md, on a subset so it runs in about a minute).
 */
#include <dfm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every call is checked: on failure, print dfm's message and stop. */
#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        dfm_status st_ = (call);                                                                                       \
        if (st_ != DFM_OK) {                                                                                           \
            fprintf(stderr, "error (%s): %s\n", dfm_status_string(st_), dfm_last_error_message());                     \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

typedef struct {
    const char *root;
    int64_t train, test, batch, epochs, T, threads;
    double lr;
    uint64_t seed;
} options;

static options parse(int argc, char **argv) {
    options o = {"/usr/share/datasets/fashion-mnist", 1024, 500, 32, 1, 5, 0, 0.01, 0};
    int i;
    for (i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "missing value for %s\n", k);
            exit(2);
        }
        if (!strcmp(k, "--root"))
            o.root = v;
        else if (!strcmp(k, "--train"))
            o.train = atoll(v);
        else if (!strcmp(k, "--test"))
            o.test = atoll(v);
        else if (!strcmp(k, "--batch"))
            o.batch = atoll(v);
        else if (!strcmp(k, "--epochs"))
            o.epochs = atoll(v);
        else if (!strcmp(k, "--T"))
            o.T = atoll(v);
        else if (!strcmp(k, "--lr"))
            o.lr = atof(v);
        else if (!strcmp(k, "--seed"))
            o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--threads"))
            o.threads = atoll(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            exit(2);
        }
        i++;
    }
    if (o.train < 1 || o.test < 1 || o.batch < 1 || o.epochs < 1 || o.T < 0) {
        fprintf(stderr, "--train, --test, --batch and --epochs must be positive and --T non-negative\n");
        exit(2);
    }
    return o;
}

/* The model's trainable tensors, as an array for the optimizer (caller releases). */
static dfm_tensor *parameters(dfm_module model, int64_t *n) {
    dfm_tensor_dict d = NULL;
    dfm_tensor *ps;
    int64_t i;
    TRY(dfm_module_named_parameters(model, &d));
    TRY(dfm_tensor_dict_size(d, n));
    ps = malloc((size_t)*n * sizeof *ps);
    for (i = 0; i < *n; i++) TRY(dfm_tensor_dict_value(d, i, &ps[i]));
    TRY(dfm_tensor_dict_release(d));
    return ps;
}

int main(int argc, char **argv) {
    options o = parse(argc, argv);
    int64_t shape[2] = {28, 28}, n_params, len, step = 0, epoch, start, i, correct = 0, seen = 0;
    dfm_dataset train = NULL, test = NULL;
    dfm_module model = NULL;
    dfm_optimizer opt = NULL;
    dfm_tensor *params;

    if (dfm_abi_version() != DFM_ABI_VERSION) {
        fprintf(stderr, "libdfm ABI %d, header ABI %d\n", (int)dfm_abi_version(), DFM_ABI_VERSION);
        return 1;
    }
    TRY(dfm_manual_seed(o.seed));
    if (o.threads > 0) TRY(dfm_set_num_threads((int32_t)o.threads));
    TRY(dfm_dataset_idx_open_root(o.root, true, &train));
    TRY(dfm_dataset_idx_open_root(o.root, false, &test));
    TRY(dfm_dataset_len(train, &len));
    if (o.train > len) o.train = len;
    TRY(dfm_dataset_len(test, &len));
    if (o.test > len) o.test = len;

    /* ResNet18(frontend='resnet', fb_filters=10, n_classes=10, shape=(28,28), tau=1, in_channels=1) */
    TRY(dfm_module_dfm_resnet("resnet18", "resnet", 10, 0, 10, shape, 1.0f, 1, 1e-3f, &model));
    params = parameters(model, &n_params);
    TRY(dfm_optimizer_adam(params, n_params, o.lr, 0.9, 0.999, 1e-8, 0.0, false, false, &opt));
    printf("dfm %s: DFM-ResNet18 (%lld parameter tensors), %lld training images, batch %lld, T=%lld, %d threads\n",
           dfm_version(), (long long)n_params, (long long)o.train, (long long)o.batch, (long long)o.T,
           (int)dfm_get_num_threads());

    for (epoch = 0; epoch < o.epochs; epoch++) {
        TRY(dfm_module_train(model, true));
        /* The subset is the first o.train items of a shuffled epoch order (seed + epoch). */
        for (start = 0; start < o.train; start += o.batch) {
            int64_t count = o.train - start < o.batch ? o.train - start : o.batch, steps_run = 0;
            dfm_tensor x = NULL, y = NULL, logits = NULL, loss = NULL;
            double value;
            if (count < 2) break; /* BatchNorm needs 2 or more samples in training */
            TRY(dfm_dataset_batch_range(train, start, count, true, o.seed + (uint64_t)epoch, &x, &y));
            TRY(dfm_optimizer_zero_grad(opt));
            TRY(dfm_module_forward_dfm(model, x, o.T, 1e-2f, &logits));
            TRY(dfm_module_steps(model, &steps_run));
            TRY(dfm_cross_entropy(logits, y, NULL, -100, "mean", 0.0f, &loss));
            TRY(dfm_backward(loss, NULL, false));
            TRY(dfm_optimizer_step(opt));
            TRY(dfm_tensor_item(loss, &value));
            printf("epoch %lld step %lld: loss %.6f (%lld feedback steps)\n", (long long)epoch, (long long)step++,
                   value, (long long)steps_run);
            fflush(stdout);
            TRY(dfm_tensor_release(loss));
            TRY(dfm_tensor_release(logits));
            TRY(dfm_tensor_release(y));
            TRY(dfm_tensor_release(x));
        }
    }

    /* Test accuracy: eval mode, no graph. */
    TRY(dfm_module_train(model, false));
    dfm_set_grad_enabled(false);
    for (start = 0; start < o.test; start += o.batch) {
        int64_t count = o.test - start < o.batch ? o.test - start : o.batch;
        dfm_tensor x = NULL, y = NULL, logits = NULL, pred = NULL, hit = NULL, hits = NULL;
        double h;
        TRY(dfm_dataset_batch_range(test, start, count, false, 0, &x, &y));
        TRY(dfm_module_forward_dfm(model, x, o.T, 1e-2f, &logits));
        TRY(dfm_argmax(logits, true, 1, false, &pred));
        TRY(dfm_eq(pred, y, &hit));
        TRY(dfm_sum(hit, NULL, 0, false, &hits));
        TRY(dfm_tensor_item(hits, &h));
        correct += (int64_t)h;
        seen += count;
        TRY(dfm_tensor_release(hits));
        TRY(dfm_tensor_release(hit));
        TRY(dfm_tensor_release(pred));
        TRY(dfm_tensor_release(logits));
        TRY(dfm_tensor_release(y));
        TRY(dfm_tensor_release(x));
    }
    dfm_set_grad_enabled(true);
    printf("test accuracy: %.4f (%lld / %lld)\n", (double)correct / (double)seen, (long long)correct, (long long)seen);

    for (i = 0; i < n_params; i++) TRY(dfm_tensor_release(params[i]));
    free(params);
    TRY(dfm_optimizer_release(opt));
    TRY(dfm_module_release(model));
    TRY(dfm_dataset_release(train));
    TRY(dfm_dataset_release(test));
    return dfm_live_handle_count() == 0 ? 0 : 1;
}
