import CDFM
import DFM

// The losses added after cross_entropy / nll / mse / bce_with_logits: one core op each.

private func lossReduction(_ p: UnsafePointer<CChar>?) throws -> Reduction {
    try Reduction(try Arg.string(p, "reduction"))
}

/// An export of loss(input, target, reduction).
@inline(__always)
private func loss2(
    _ fn: StaticString, _ input: dfm_tensor?, _ target: dfm_tensor?, _ out: TensorOut,
    _ op: (Tensor, Tensor) throws -> Tensor
) -> dfm_status {
    produceTensor(fn, out) { try op(try Arg.tensor(input, "input"), try Arg.tensor(target, "target")) }
}

@c @implementation public func dfm_l1_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    loss2("dfm_l1_loss", input, target, out) { try l1Loss($0, $1, reduction: try lossReduction(reduction)) }
}

@c @implementation public func dfm_smooth_l1_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ beta: Double, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_smooth_l1_loss", input, target, out) {
        try smoothL1Loss($0, $1, reduction: try lossReduction(reduction), beta: beta)
    }
}

@c @implementation public func dfm_huber_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ delta: Double, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_huber_loss", input, target, out) {
        try huberLoss($0, $1, reduction: try lossReduction(reduction), delta: delta)
    }
}

@c @implementation public func dfm_soft_margin_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    loss2("dfm_soft_margin_loss", input, target, out) {
        try softMarginLoss($0, $1, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_binary_cross_entropy(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ weight: dfm_tensor?,
    _ reduction: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_binary_cross_entropy", input, target, out) {
        try binaryCrossEntropy(
            $0, $1, weight: try Arg.optionalTensor(weight, "weight"), reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_kl_div(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ log_target: Bool, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_kl_div", input, target, out) {
        try klDiv($0, $1, reduction: try Arg.string(reduction, "reduction"), logTarget: log_target)
    }
}

@c @implementation public func dfm_poisson_nll_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ log_input: Bool, _ full: Bool,
    _ eps: Double, _ reduction: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_poisson_nll_loss", input, target, out) {
        try poissonNLLLoss($0, $1, logInput: log_input, full: full, eps: eps, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_gaussian_nll_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ variance: dfm_tensor?, _ full: Bool,
    _ eps: Double, _ reduction: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_gaussian_nll_loss", input, target, out) {
        try gaussianNLLLoss(
            $0, $1, try Arg.tensor(variance, "var"), full: full, eps: eps, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_hinge_embedding_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ margin: Double,
    _ reduction: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_hinge_embedding_loss", input, target, out) {
        try hingeEmbeddingLoss($0, $1, margin: margin, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_multilabel_soft_margin_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ weight: dfm_tensor?,
    _ reduction: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    loss2("dfm_multilabel_soft_margin_loss", input, target, out) {
        try multilabelSoftMarginLoss(
            $0, $1, weight: try Arg.optionalTensor(weight, "weight"), reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_multilabel_margin_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    loss2("dfm_multilabel_margin_loss", input, target, out) {
        try multilabelMarginLoss($0, $1, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_multi_margin_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ p: Int64, _ margin: Double,
    _ weight: dfm_tensor?, _ reduction: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    loss2("dfm_multi_margin_loss", input, target, out) {
        guard p == 1 || p == 2 else { throw ABIError(.invalidArgument, "only p == 1 and p == 2 supported, got \(p)") }
        return try multiMarginLoss(
            $0, $1, p: Int(p), margin: margin, weight: try Arg.optionalTensor(weight, "weight"),
            reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_cosine_embedding_loss(
    _ input1: dfm_tensor?, _ input2: dfm_tensor?, _ target: dfm_tensor?,
    _ margin: Double, _ reduction: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_cosine_embedding_loss", out) {
        try cosineEmbeddingLoss(
            try Arg.tensor(input1, "input1"), try Arg.tensor(input2, "input2"), try Arg.tensor(target, "target"),
            margin: margin, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_margin_ranking_loss(
    _ input1: dfm_tensor?, _ input2: dfm_tensor?, _ target: dfm_tensor?,
    _ margin: Double, _ reduction: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_margin_ranking_loss", out) {
        try marginRankingLoss(
            try Arg.tensor(input1, "input1"), try Arg.tensor(input2, "input2"), try Arg.tensor(target, "target"),
            margin: margin, reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_triplet_margin_loss(
    _ anchor: dfm_tensor?, _ positive: dfm_tensor?, _ negative: dfm_tensor?,
    _ margin: Double, _ p: Double, _ eps: Double, _ swap: Bool,
    _ reduction: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_triplet_margin_loss", out) {
        try tripletMarginLoss(
            try Arg.tensor(anchor, "anchor"), try Arg.tensor(positive, "positive"),
            try Arg.tensor(negative, "negative"), margin: margin, p: p, eps: eps, swap: swap,
            reduction: try lossReduction(reduction))
    }
}

@c @implementation public func dfm_ctc_loss(
    _ log_probs: dfm_tensor?, _ targets: dfm_tensor?, _ input_lengths: UnsafePointer<Int64>?,
    _ target_lengths: UnsafePointer<Int64>?, _ n: Int64, _ blank: Int64,
    _ reduction: UnsafePointer<CChar>?, _ zero_infinity: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_ctc_loss", out) {
        let il = try Arg.ints(input_lengths, n, "input_lengths", countName: "n", limit: 1 << 20)
        let tl = try Arg.ints(target_lengths, n, "target_lengths", countName: "n", limit: 1 << 20)
        guard tl.allSatisfy({ $0 >= 0 && $0 <= 1 << 30 }) else {
            throw ABIError(.invalidArgument, "target_lengths must be in [0, 2^30]")
        }
        guard blank >= 0, blank <= 1 << 30 else {
            throw ABIError(.invalidArgument, "blank must be in [0, 2^30], got \(blank)")
        }
        return try ctcLoss(
            try Arg.tensor(log_probs, "log_probs"), try Arg.tensor(targets, "targets"), inputLengths: il,
            targetLengths: tl, blank: Int(blank), reduction: try lossReduction(reduction), zeroInfinity: zero_infinity)
    }
}
