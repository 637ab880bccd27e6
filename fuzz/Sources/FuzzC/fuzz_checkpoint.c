/* The checkpoint loaders on arbitrary files: dfm_module_load into a few modules,
 * dfm_optimizer_load into every optimizer, dfm_scheduler_load into every scheduler.
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

    /* optimizers over the Linear's parameters */
    collect_params(lin);
    dfm_optimizer opts[12];
    int nopt = 0;
    OK(dfm_optimizer_sgd(params, nparams, 0.1, 0.9, 0, 0.01, true, false, &opts[nopt++]));
    OK(dfm_optimizer_adam(params, nparams, 1e-3, 0.9, 0.999, 1e-8, 0, true, false, &opts[nopt++]));
    OK(dfm_optimizer_adamw(params, nparams, 1e-3, 0.9, 0.999, 1e-8, 0.01, false, false, &opts[nopt++]));
    OK(dfm_optimizer_rmsprop(params, nparams, 1e-2, 0.99, 1e-8, 0, 0.9, true, false, &opts[nopt++]));
    OK(dfm_optimizer_adadelta(params, nparams, 1.0, 0.9, 1e-6, 0, false, &opts[nopt++]));
    OK(dfm_optimizer_adagrad(params, nparams, 1e-2, 0, 0, 0, 1e-10, false, &opts[nopt++]));
    OK(dfm_optimizer_adamax(params, nparams, 2e-3, 0.9, 0.999, 1e-8, 0, false, &opts[nopt++]));
    OK(dfm_optimizer_nadam(params, nparams, 2e-3, 0.9, 0.999, 1e-8, 0, 4e-3, false, false, &opts[nopt++]));
    OK(dfm_optimizer_radam(params, nparams, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, &opts[nopt++]));
    OK(dfm_optimizer_asgd(params, nparams, 1e-2, 1e-4, 0.75, 1e6, 0, false, &opts[nopt++]));
    OK(dfm_optimizer_lbfgs(params, nparams, 1, 4, 5, 1e-7, 1e-9, 3, true, &opts[nopt++]));
    for (int k = 0; k < nopt; k++) {
        (void)dfm_optimizer_load(opts[k], path);
        if (k == nopt - 1) {  /* LBFGS steps through a closure */
            double loss = 0;
            (void)dfm_optimizer_step_closure(opts[k], closure, lin, &loss);
        } else {
            train_step(lin, opts[k]);
        }
        double lr = 0;
        OK(dfm_optimizer_get_lr(opts[k], &lr));
        SAVE_SEED("optimizer", k, dfm_optimizer_save, opts[k]);
    }

    /* schedulers on the SGD optimizer */
    dfm_optimizer o = opts[0];
    dfm_scheduler sch[16];
    int ns = 0;
    int64_t milestones[2] = {2, 5};
    OK(dfm_scheduler_step_lr(o, 3, 0.5, &sch[ns++]));
    OK(dfm_scheduler_cosine_annealing_lr(o, 10, 0, &sch[ns++]));
    OK(dfm_scheduler_multi_step_lr(o, milestones, 2, 0.1, &sch[ns++]));
    OK(dfm_scheduler_exponential_lr(o, 0.9, &sch[ns++]));
    OK(dfm_scheduler_one_cycle_lr(o, 0.1, 20, 0.3, false, true, 0.85, 0.95, 25, 1e4, false, &sch[ns++]));
    OK(dfm_scheduler_reduce_on_plateau(o, false, 0.1, 2, 1e-4, true, 0, 0, 1e-8, &sch[ns++]));
    OK(dfm_scheduler_lambda_lr(o, lambda_one, NULL, false, &sch[ns++]));
    OK(dfm_scheduler_constant_lr(o, 0.5, 4, &sch[ns++]));
    OK(dfm_scheduler_linear_lr(o, 0.25, 1.0, 4, &sch[ns++]));
    OK(dfm_scheduler_polynomial_lr(o, 5, 2.0, &sch[ns++]));
    OK(dfm_scheduler_cosine_warm_restarts(o, 3, 2, 0, &sch[ns++]));
    OK(dfm_scheduler_cyclic_lr(o, 1e-3, 0.1, 4, 4, "triangular2", 1.0, true, 0.8, 0.9, &sch[ns++]));
    dfm_scheduler inner[2] = {sch[0], sch[3]};
    int64_t one[1] = {2};
    OK(dfm_scheduler_sequential_lr(o, inner, 2, one, 1, &sch[ns++]));
    OK(dfm_scheduler_chained(inner, 2, &sch[ns++]));
    for (int k = 0; k < ns; k++) {
        (void)dfm_scheduler_load(sch[k], path);
        (void)dfm_scheduler_step(sch[k]);
        (void)dfm_scheduler_step_metric(sch[k], 1.0);
        (void)dfm_scheduler_step_epoch(sch[k], 3.0);
        double lr = 0;
        (void)dfm_scheduler_get_last_lr(sch[k], &lr);
        SAVE_SEED("scheduler", k, dfm_scheduler_save, sch[k]);
    }

    for (int k = 0; k < ns; k++) OK(dfm_scheduler_release(sch[k]));
    for (int k = 0; k < nopt; k++) OK(dfm_optimizer_release(opts[k]));
    for (int64_t k = 0; k < nparams; k++) OK(dfm_tensor_release(params[k]));
    OK(dfm_module_release(lin));
    OK(dfm_module_release(bn));
    OK(dfm_module_release(seq));
    OK(dfm_module_release(parts[0]));
    OK(dfm_module_release(parts[1]));
    return 0;
}
