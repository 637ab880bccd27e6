/* The checkpoint loaders on arbitrary files: dfm_module_load into a few modules,
 * dfm_optimizer_load into the optimizers and dfm_scheduler_load into the schedulers the
 * file names (and one more each, picked by the input's hash).
 * Each load either succeeds and leaves an object that still trains (forward, backward,
 * step), or fails with a status and leaves the object as it was. Fresh objects for each
 * input keep a crash reproducible from its input alone. */
#include "FuzzC.h"
#include "fuzz_common.h"

#define OK(call) FUZZ_CHECK((call) == DFM_OK, "%s", #call)

static dfm_status lambda_one(int64_t epoch, void *user, double *out) { (void)epoch; (void)user; *out = 1.0; return DFM_OK; }

static dfm_tensor first_input;

/* One training step of `m` (input (2, 3)): the loaded state must be usable or refused. */
static void train_step(dfm_module m, dfm_optimizer o) {
    dfm_tensor y = NULL, loss = NULL;
    if (dfm_module_forward(m, first_input, &y) == DFM_OK) {
        OK(dfm_sum(y, NULL, 0, false, &loss));
        (void)dfm_backward(loss, NULL, false);  /* may fail: NaN weights are still finite math */
        dfm_tensor_release(loss);
        dfm_tensor_release(y);
    }
    if (o) (void)dfm_optimizer_step(o);  /* state of the wrong shape: an error, never a crash */
}

static dfm_tensor params[4];
static int64_t nparams;

static void collect_params(dfm_module m) {
    dfm_tensor_dict d = NULL;
    OK(dfm_module_named_parameters(m, &d));
    OK(dfm_tensor_dict_size(d, &nparams));
    FUZZ_CHECK(nparams <= 4, "%lld parameters", (long long)nparams);
    for (int64_t k = 0; k < nparams; k++) OK(dfm_tensor_dict_value(d, k, &params[k]));
    dfm_tensor_dict_release(d);
}

static dfm_status closure(void *user, double *loss) {
    dfm_module m = user;
    dfm_tensor y = NULL, l = NULL;
    dfm_status s = dfm_module_forward(m, first_input, &y);
    if (s != DFM_OK) return s;
    s = dfm_sum(y, NULL, 0, false, &l);
    dfm_tensor_release(y);
    if (s != DFM_OK) return s;
    s = dfm_backward(l, NULL, false);
    if (s == DFM_OK) s = dfm_tensor_item(l, loss);
    dfm_tensor_release(l);
    return s;
}

/* With DFM_FUZZ_WRITE_SEEDS=DIR set, each object is also saved there (the seed corpus:
 * real checkpoints of these very objects, so mutations start from accepted files). */
static void save_seed(const char *kind, int k, dfm_status (*save)(void *, const char *), void *obj) {
    const char *dir = getenv("DFM_FUZZ_WRITE_SEEDS");
    if (!dir) return;
    char p[1024];
    snprintf(p, sizeof p, "%s/%s-%d.safetensors", dir, kind, k);
    FUZZ_CHECK(save(obj, p) == DFM_OK, "saving %s", p);
}
#define SAVE_SEED(kind, k, fn, obj) save_seed(kind, k, (dfm_status (*)(void *, const char *))fn, obj)

static const char *const optimizer_names[] = {"SGD", "Adam", "AdamW", "RMSprop", "Adadelta", "Adagrad", "Adamax",
                                              "NAdam", "RAdam", "ASGD", "LBFGS"};
#define N_OPTIMIZERS 11
static const char *const scheduler_names[] = {"StepLR", "CosineAnnealingLR", "MultiStepLR", "ExponentialLR",
                                              "OneCycleLR", "ReduceLROnPlateau", "LambdaLR", "ConstantLR", "LinearLR",
                                              "PolynomialLR", "CosineAnnealingWarmRestarts", "CyclicLR", "SequentialLR",
                                              "ChainedScheduler"};
#define N_SCHEDULERS 14

static int seeding(void) { return getenv("DFM_FUZZ_WRITE_SEEDS") != NULL; }

/* Whether the file mentions "NAME" (with the quotes), as its metadata names its writer. */
static int names(const uint8_t *data, size_t size, const char *name) {
    char quoted[64];
    size_t n = (size_t)snprintf(quoted, sizeof quoted, "\"%s\"", name);
    for (size_t k = 0; k + n <= size; k++)
        if (data[k] == '"' && memcmp(data + k, quoted, n) == 0) return 1;
    return 0;
}

static dfm_optimizer make_optimizer(int k) {
    dfm_optimizer o = NULL;
    switch (k) {
    case 0: OK(dfm_optimizer_sgd(params, nparams, 0.1, 0.9, 0, 0.01, true, false, &o)); break;
    case 1: OK(dfm_optimizer_adam(params, nparams, 1e-3, 0.9, 0.999, 1e-8, 0, true, false, &o)); break;
    case 2: OK(dfm_optimizer_adamw(params, nparams, 1e-3, 0.9, 0.999, 1e-8, 0.01, false, false, &o)); break;
    case 3: OK(dfm_optimizer_rmsprop(params, nparams, 1e-2, 0.99, 1e-8, 0, 0.9, true, false, &o)); break;
    case 4: OK(dfm_optimizer_adadelta(params, nparams, 1.0, 0.9, 1e-6, 0, false, &o)); break;
    case 5: OK(dfm_optimizer_adagrad(params, nparams, 1e-2, 0, 0, 0, 1e-10, false, &o)); break;
    case 6: OK(dfm_optimizer_adamax(params, nparams, 2e-3, 0.9, 0.999, 1e-8, 0, false, &o)); break;
    case 7: OK(dfm_optimizer_nadam(params, nparams, 2e-3, 0.9, 0.999, 1e-8, 0, 4e-3, false, false, &o)); break;
    case 8: OK(dfm_optimizer_radam(params, nparams, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, &o)); break;
    case 9: OK(dfm_optimizer_asgd(params, nparams, 1e-2, 1e-4, 0.75, 1e6, 0, false, &o)); break;
    default: OK(dfm_optimizer_lbfgs(params, nparams, 1, 4, 5, 1e-7, 1e-9, 3, true, &o)); break;
    }
    return o;
}

/* Scheduler k on optimizer o; the composite ones also return the two they wrap in `inner`. */
static dfm_scheduler make_scheduler(int k, dfm_optimizer o, dfm_scheduler inner[2]) {
    dfm_scheduler s = NULL;
    int64_t milestones[2] = {2, 5}, one[1] = {2};
    switch (k) {
    case 0: OK(dfm_scheduler_step_lr(o, 3, 0.5, &s)); break;
    case 1: OK(dfm_scheduler_cosine_annealing_lr(o, 10, 0, &s)); break;
    case 2: OK(dfm_scheduler_multi_step_lr(o, milestones, 2, 0.1, &s)); break;
    case 3: OK(dfm_scheduler_exponential_lr(o, 0.9, &s)); break;
    case 4: OK(dfm_scheduler_one_cycle_lr(o, 0.1, 20, 0.3, false, true, 0.85, 0.95, 25, 1e4, false, &s)); break;
    case 5: OK(dfm_scheduler_reduce_on_plateau(o, false, 0.1, 2, 1e-4, true, 0, 0, 1e-8, &s)); break;
    case 6: OK(dfm_scheduler_lambda_lr(o, lambda_one, NULL, false, &s)); break;
    case 7: OK(dfm_scheduler_constant_lr(o, 0.5, 4, &s)); break;
    case 8: OK(dfm_scheduler_linear_lr(o, 0.25, 1.0, 4, &s)); break;
    case 9: OK(dfm_scheduler_polynomial_lr(o, 5, 2.0, &s)); break;
    case 10: OK(dfm_scheduler_cosine_warm_restarts(o, 3, 2, 0, &s)); break;
    case 11: OK(dfm_scheduler_cyclic_lr(o, 1e-3, 0.1, 4, 4, "triangular2", 1.0, true, 0.8, 0.9, &s)); break;
    default:
        OK(dfm_scheduler_step_lr(o, 3, 0.5, &inner[0]));
        OK(dfm_scheduler_exponential_lr(o, 0.9, &inner[1]));
        if (k == 12) OK(dfm_scheduler_sequential_lr(o, inner, 2, one, 1, &s));
        else OK(dfm_scheduler_chained(inner, 2, &s));
        break;
    }
    return s;
}

int dfm_fuzz_checkpoint(const uint8_t *data, size_t size) {
    static char path[512];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", fuzz_dir());
        int64_t shape[2] = {2, 3};
        OK(dfm_manual_seed(0));
        OK(dfm_tensor_randn(shape, 2, &first_input));
    }
    fuzz_write_file(path, data, size);

    /* modules: a Linear, a BatchNorm (int64 buffer), a float64 Sequential */
    dfm_module lin = NULL, bn = NULL, seq = NULL, parts[2] = {NULL, NULL};
    OK(dfm_module_linear(3, 2, true, &lin));
    OK(dfm_module_batch_norm2d(3, 1e-5, true, 0.1, true, true, &bn));
    OK(dfm_module_linear(3, 4, false, &parts[0]));
    OK(dfm_module_relu(&parts[1]));
    OK(dfm_module_sequential(parts, 2, &seq));
    OK(dfm_module_to(seq, DFM_FLOAT64));
    dfm_module mods[3] = {lin, bn, seq};
    for (int k = 0; k < 3; k++) {
        for (int strict = 0; strict < 2; strict++) {
            dfm_string_list missing = NULL, unexpected = NULL;
            dfm_status s = dfm_module_load(mods[k], path, strict, &missing, &unexpected);
            if (s == DFM_OK) {
                FUZZ_CHECK(missing && unexpected, "load succeeded without key lists");
                dfm_string_list_release(missing);
                dfm_string_list_release(unexpected);
            } else {
                FUZZ_CHECK(!missing && !unexpected, "failed load left key lists");
            }
        }
    }
    train_step(lin, NULL);
    for (int k = 0; k < 3; k++) SAVE_SEED("module", k, dfm_module_save, mods[k]);

    /* Optimizers over the Linear's parameters, and schedulers on an SGD: only those the file
     * names ("optimizer": "Adam", "scheduler": "StepLR", ...) plus one picked by a hash of the
     * input, so each input costs a few loads (all 25 objects per input ran at 6 execs/s). */
    collect_params(lin);
    uint32_t hash = 2166136261u;
    for (size_t k = 0; k < size; k++) hash = (hash ^ data[k]) * 16777619u;
    for (int k = 0; k < N_OPTIMIZERS; k++) {
        if (!names(data, size, optimizer_names[k]) && hash % N_OPTIMIZERS != (uint32_t)k && !seeding()) continue;
        dfm_optimizer o = make_optimizer(k);
        (void)dfm_optimizer_load(o, path);
        if (k == N_OPTIMIZERS - 1) {  /* LBFGS steps through a closure */
            double loss = 0;
            (void)dfm_optimizer_step_closure(o, closure, lin, &loss);
        } else {
            train_step(lin, o);
        }
        double lr = 0;
        OK(dfm_optimizer_get_lr(o, &lr));
        SAVE_SEED("optimizer", k, dfm_optimizer_save, o);
        OK(dfm_optimizer_release(o));
    }
    dfm_optimizer o = make_optimizer(0);
    for (int k = 0; k < N_SCHEDULERS; k++) {
        if (!names(data, size, scheduler_names[k]) && (hash >> 8) % N_SCHEDULERS != (uint32_t)k && !seeding()) continue;
        dfm_scheduler inner[2] = {NULL, NULL}, sch = make_scheduler(k, o, inner);
        (void)dfm_scheduler_load(sch, path);
        (void)dfm_scheduler_step(sch);
        (void)dfm_scheduler_step_metric(sch, 1.0);
        (void)dfm_scheduler_step_epoch(sch, 3.0);
        double lr = 0;
        (void)dfm_scheduler_get_last_lr(sch, &lr);
        SAVE_SEED("scheduler", k, dfm_scheduler_save, sch);
        OK(dfm_scheduler_release(sch));
        for (int j = 0; j < 2; j++) if (inner[j]) OK(dfm_scheduler_release(inner[j]));
    }
    OK(dfm_optimizer_release(o));

    for (int64_t k = 0; k < nparams; k++) OK(dfm_tensor_release(params[k]));
    OK(dfm_module_release(lin));
    OK(dfm_module_release(bn));
    OK(dfm_module_release(seq));
    OK(dfm_module_release(parts[0]));
    OK(dfm_module_release(parts[1]));
    return 0;
}
