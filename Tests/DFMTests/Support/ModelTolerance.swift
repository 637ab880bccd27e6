import Foundation

/// The one tolerance rule of the float32 whole-model comparisons against the PyTorch fixtures
/// (ModelResNetTests, ModelDeepLabTests). These are smoke and regression tests, not parity
/// proofs: model parity is to be proven in float64 (float64 model tests against float64
/// reference values, where rounding moves a ReLU input by ~1e-16 relative instead of ~1e-7).
///
/// Why float32 cannot be a proof (issue #12). A ReLU (or a max-pool tie) whose input lies within
/// float32 rounding of 0 takes one side or the other depending on the order of summation, i.e. on
/// the BLAS kernel OpenBLAS picks for the CPU (OPENBLAS_CORETYPE). The forward is continuous there,
/// so logits, loss, Q and BN statistics move by rounding only; the gradient is not: one flip adds
/// or removes one term of every gradient it reaches, moving a parameter's gradient by about
/// |one term| / |gradient| ~ 1/sqrt(number of summed terms). Measured:
///   - ResNet18 32×32 training (tools/fixtures/models_resnet.py docstring): one ReLU input of
///     layer1.1 at -5.7e-7 of ~1e4 moved layer1.1.bn1.bias's gradient by 7.5e-3 (the estimate for
///     layer1 of the 32×32 cases: 1/sqrt(64·2·8·8) = 1.1e-2);
///   - DeepLabV3+ dl_train_T3 on OpenBLAS's Cooperlake and Sandybridge kernels (issue #12): several
///     gradients (frontend.0.weight, encoder.layer3.1.conv2.weight, ...) moved by 1.6e-3 .. 2.7e-3
///     at once;
///   - on OpenBLAS's Prescott kernels (which 0.3.21 picks for an Emerald Rapids Xeon it does not
///     know, README "Testing"): r50_64_train_T1's layer2.1.bn2.bias gradient by 6.7e-3 (the
///     estimate for layer2 there: 1/sqrt(128·2·8·8) = 7.8e-3), dl_train_T3's
///     encoder.layer2.1.conv1.weight by 7.9e-3.
/// The fixture scripts pick inputs on which PyTorch's own float32 runs (plain and one-ulp-moved
/// inputs) show no such flip, but that is a sample of summation orders, not all of them.
///
/// The rule.
///   - `values` (logits, loss, error_head.Q, BN running statistics): 1e-4 relative by norm, or
///     4·gap32 where PyTorch's own float32 gap is larger (the fixture scripts refuse gaps above
///     2.5e-5, so 1e-4 applies). A flip does not move these beyond rounding.
///   - `kink` (every gradient check: per-parameter gradient norm, whole or sampled gradient):
///     2e-2 relative by norm, fixed, the same for every case and parameter: room for about two
///     flips of the size estimated for layer1 of the 32×32 cases (1.1e-2), 2.5× the largest
///     movement measured (7.9e-3). It was set from the estimate and the fixture docstring's
///     measurement, not tuned to a machine's result. (A flip in a small late layer could move
///     a gradient more, 1/sqrt of few elements, but there are correspondingly few inputs that
///     could sit near 0.)
///   - Adam's step is checked from our gradient and PyTorch's (ModelResNetTests): where a flip moved
///     a gradient element the allowance follows it, so no separate allowance is needed.
/// What it still catches: a wrong sign gives a relative difference of 2, a missing or doubled term
/// of the gradient O(0.1–1), a scale error of 5% gives 5e-2; all fail. Smaller systematic errors
/// are the op-level fixtures' job (Fixtures/ops, float32 per op, where no kink is near) and the
/// float64 model parity's.
enum ModelTolerance {
    /// Forward values: logits, loss, error_head.Q, BN running statistics.
    static let values = 1e-4
    /// Gradients: a kink flip's worth of movement (see above).
    static let kink = 2e-2

    /// Tolerance of a forward value whose PyTorch float32-vs-float64 gap is `gap32`.
    static func value(gap32: Double = 0) -> Double { Swift.max(values, 4 * gap32) }
    /// Tolerance of a gradient (norm, whole or sampled) whose PyTorch float32-vs-float64 gap is `gap32`.
    static func gradient(gap32: Double = 0) -> Double { Swift.max(kink, 4 * gap32) }

    /// A difference or tolerance in the tests' summary lines.
    static func fmt(_ x: Double) -> String { String(format: "%.2e", x) }
}
