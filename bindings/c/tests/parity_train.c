/*
 * parity_train.c: three training steps of a small DFM-ResNet18 from a fixed seed on one
 * thread, printing each loss and its float32 bit pattern. The same computation written
 * in Swift against DFM (below) must print the same bits: the C ABI adds no arithmetic.
 *
 *   manualSeed(0); try Parallel.setThreads(1)
 *   let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 10, shape: [28, 28], inChannels: 1)
 *   let x = try randn([8, 1, 28, 28]); let y = try randint(low: 0, high: 10, shape: [8])
 *   let opt = try Adam(m.parameters(), lr: 1e-3)
 *   for _ in 0..<3 { opt.zeroGrad(); let loss = try crossEntropy(try m.forward(x, T: 3, atol: 1e-2), y)
 *                    try loss.backward(); try opt.step(); print(try loss.item().bitPattern) }
 *
 * then the same with the DFM Vision Transformer of issue #15 (reseeded with 0):
 *   let v = try DFMViT(imageSize: [28, 28], patchSize: 4, inChannels: 1, dim: 64, depth: 2, heads: 4, mlpDim: 128,
 *                      fbFilters: 8, nClasses: 10)
 *   (same x/y draws, Adam, three steps of T = 3)
 */
#include <dfm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        if ((call) != DFM_OK) {                                                                                        \
            fprintf(stderr, "%s: %s\n", #call, dfm_last_error_message());                                              \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Draws x and y from the generator, then three Adam steps of T = 3 on m, printing lines
   "<prefix>step N loss V bits B". Releases m. */
static void three_steps(dfm_module m, const char *prefix) {
    int64_t xs[4] = {8, 1, 28, 28}, ys = 8, n, i, step;
    dfm_tensor_dict d = NULL;
    dfm_tensor *params, x = NULL, y = NULL;
    dfm_optimizer opt = NULL;

    TRY(dfm_tensor_randn(xs, 4, &x));
    TRY(dfm_tensor_randint(0, 10, &ys, 1, &y));
    TRY(dfm_module_named_parameters(m, &d));
    TRY(dfm_tensor_dict_size(d, &n));
    params = malloc((size_t)n * sizeof *params);
    for (i = 0; i < n; i++) TRY(dfm_tensor_dict_value(d, i, &params[i]));
    TRY(dfm_optimizer_adam(params, n, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, &opt));
    for (step = 0; step < 3; step++) {
        dfm_tensor logits = NULL, loss = NULL;
        float v;
        uint32_t bits;
        TRY(dfm_optimizer_zero_grad(opt));
        TRY(dfm_module_forward_dfm(m, x, 3, 1e-2, &logits));
        TRY(dfm_cross_entropy(logits, y, NULL, -100, "mean", 0.0, &loss));
        TRY(dfm_backward(loss, NULL, false));
        TRY(dfm_optimizer_step(opt));
        TRY(dfm_tensor_read(loss, &v, sizeof v));
        memcpy(&bits, &v, sizeof bits);
        printf("%sstep %lld loss %.9g bits %u\n", prefix, (long long)step, (double)v, (unsigned)bits);
        TRY(dfm_tensor_release(loss));
        TRY(dfm_tensor_release(logits));
    }
    for (i = 0; i < n; i++) TRY(dfm_tensor_release(params[i]));
    free(params);
    TRY(dfm_optimizer_release(opt));
    TRY(dfm_tensor_dict_release(d));
    TRY(dfm_tensor_release(x));
    TRY(dfm_tensor_release(y));
    TRY(dfm_module_release(m));
}

int main(void) {
    int64_t size[2] = {28, 28};
    dfm_module m = NULL;

    TRY(dfm_manual_seed(0));
    TRY(dfm_set_num_threads(1));
    TRY(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, size, 1.0, 1, 1e-3, &m));
    three_steps(m, "");
    /* The DFM-ViT, reseeded: lines "vit step N loss V bits B". */
    TRY(dfm_manual_seed(0));
    TRY(dfm_module_dfm_vit(size, 4, 1, 64, 2, 4, 128, 8, 10, 1.0, 0.0, 1e-3, &m));
    three_steps(m, "vit ");
    return dfm_live_handle_count() != 0;
}
