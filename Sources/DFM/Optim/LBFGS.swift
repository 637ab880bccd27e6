import Foundation

/// torch.optim.LBFGS: `step(closure:)` re-evaluates the loss (the closure zeroes the
/// gradients, runs forward and backward and returns the loss) up to maxIter times per step,
/// with torch's two-loop recursion over at most historySize curvature pairs and either
/// torch's fixed step (lr; the first scaled by min(1, 1/Σ|g|)) or its strong-Wolfe line
/// search. Vector arithmetic runs in the parameters' dtype; the scalars torch keeps as
/// 0-d tensors (ys, ρ, H_diag, the two-loop coefficients) are rounded to it as torch does.
public final class LBFGS: Optimizer {
    public var maxIter: Int
    public var maxEval: Int
    public var toleranceGrad: Double
    public var toleranceChange: Double
    public var historySize: Int
    public var strongWolfe: Bool
    public var maximize: Bool

    // Solver state (torch's state of the first parameter), flat over all parameters.
    var d: Tensor?
    var prevFlatGrad: Tensor?
    var oldDirs: [Tensor] = []
    var oldStps: [Tensor] = []
    var ro: [Double] = []
    var t = 0.0
    var hDiag = 1.0
    var prevLoss = 0.0
    public private(set) var funcEvals = 0
    public private(set) var nIter = 0

    public init(
        _ params: [Tensor], lr: Double = 1, maxIter: Int = 20, maxEval: Int? = nil, toleranceGrad: Double = 1e-7,
        toleranceChange: Double = 1e-9, historySize: Int = 100, strongWolfe: Bool = false, maximize: Bool = false
    ) throws {
        let me = maxEval ?? maxIter * 5 / 4
        try LBFGS.check(maxIter, me, toleranceGrad, toleranceChange, historySize, op: "LBFGS")
        (self.maxIter, self.maxEval, self.toleranceGrad, self.toleranceChange) = (
            maxIter, me, toleranceGrad, toleranceChange
        )
        (self.historySize, self.strongWolfe, self.maximize) = (historySize, strongWolfe, maximize)
        try super.init(params, lr: lr, weightDecay: 0)
        guard Set(params.map(\.dtype)).count == 1 else {
            throw DFMError.type(
                "LBFGS", "all parameters must share one dtype (the solver works on their concatenation)")
        }
    }

    private static func check(_ maxIter: Int, _ maxEval: Int, _ tg: Double, _ tc: Double, _ hs: Int, op: String) throws
    {
        try requireHyper(maxIter >= 1 && maxIter <= 1 << 30, op, "max_iter must be in 1...2^30, got \(maxIter)")
        try requireHyper(maxEval >= 1 && maxEval <= 1 << 30, op, "max_eval must be in 1...2^30, got \(maxEval)")
        try requireHyper(
            tg >= 0 && tg.isFinite && tc >= 0 && tc.isFinite, op,
            "tolerance_grad and tolerance_change must be finite and >= 0, got \(tg) and \(tc)")
        try requireHyper(hs >= 1 && hs <= 1 << 16, op, "history_size must be in 1...65536, got \(hs)")
    }

    public override func addParamGroup(_ params: [Tensor], lr: Double? = nil, weightDecay: Double? = nil) throws {
        guard paramGroups.isEmpty else {
            throw DFMError.invalid(typeName, "LBFGS doesn't support per-parameter options (parameter groups)")
        }
        try super.addParamGroup(params, lr: lr, weightDecay: weightDecay)
    }

    /// LBFGS re-evaluates the model: a plain step has nothing to evaluate.
    public override func step() throws {
        throw DFMError.state(
            typeName, "LBFGS needs a closure that re-evaluates the model and returns the loss: use step(closure:)")
    }

    /// One LBFGS step; returns the loss of the closure's first evaluation (torch's orig_loss).
    @discardableResult
    public func step(closure: () throws -> Double) throws -> Double {
        let ps = params
        for (i, p) in ps.enumerated() {
            if let g = p.grad, g.shape != p.shape || g.dtype != p.dtype {
                throw DFMError.shape(
                    "LBFGS.step",
                    "gradient of parameter \(i) has shape \(g.shape) (\(g.dtype)) but the parameter has shape \(p.shape)"
                )
            }
        }
        return try ps[0].dtype == .float64 ? run(Double.self, closure) : run(Float.self, closure)
    }

    // MARK: the algorithm (torch's LBFGS.step, line by line)

    private func run<S: Real>(_: S.Type, _ closure: () throws -> Double) throws -> Double {
        let ps = params
        let n = ps.reduce(0) { $0 + $1.count }
        let lr = paramGroups[0].lr
        let sign: Double = maximize ? -1 : 1
        func evaluate() throws -> Double { sign * (try closure()) }
        func flatGrad() throws -> Tensor {
            let out = try Tensor.uninitialized([n], dtype: S.dtype, op: "LBFGS")
            let o = out.p(S.self)
            var off = 0
            for p in ps {
                if let g = p.grad {
                    guard g.shape == p.shape, g.dtype == p.dtype else {
                        throw DFMError.shape(
                            "LBFGS.step",
                            "the closure left a gradient of shape \(g.shape) (\(g.dtype)) on a parameter of shape \(p.shape)"
                        )
                    }
                    let gp = g.p(S.self)
                    for k in 0..<p.count { o[off + k] = maximize ? -gp[k] : gp[k] }
                } else {
                    for k in 0..<p.count { o[off + k] = 0 }
                }
                off += p.count
            }
            return out
        }
        func dot(_ a: Tensor, _ b: Tensor) -> S {
            let x = a.p(S.self)
            let y = b.p(S.self)
            var s: Double = 0
            for k in 0..<n { s += Double(x[k]) * Double(y[k]) }
            return S(s)
        }
        func absMax(_ a: Tensor) -> S {
            let x = a.p(S.self)
            var m: S = 0
            for k in 0..<n {
                let v = Swift.abs(x[k])
                if v > m || v.isNaN { m = v }
            }
            return m
        }
        /// p += alpha·d over the flat view (torch's _add_grad, a fused multiply-add per element).
        func addGrad(_ alpha: S, _ dir: Tensor) {
            let dp = dir.p(S.self)
            var off = 0
            for p in ps {
                let pp = p.p(S.self)
                for k in 0..<p.count { pp[k] = pp[k].addingProduct(dp[off + k], alpha) }
                off += p.count
            }
        }
        func cloneParams() -> [[S]] { ps.map { p in Array(UnsafeBufferPointer(start: p.p(S.self), count: p.count)) } }
        func setParams(_ x: [[S]]) {
            for (p, v) in zip(ps, x) {
                let pp = p.p(S.self)
                for k in 0..<p.count { pp[k] = v[k] }
            }
        }

        let origLoss = try evaluate()
        var loss = origLoss
        var currentEvals = 1
        funcEvals += 1
        var g = try flatGrad()
        var optCond = absMax(g) <= S(toleranceGrad)  // torch compares 0-d tensors in their dtype
        if optCond { return sign * origLoss }

        var iter = 0
        while iter < maxIter {
            iter += 1
            nIter += 1
            let dir: Tensor
            if nIter == 1 {
                dir = try GradMode.noGrad { try neg(g) }
                (oldDirs, oldStps, ro, hDiag) = ([], [], [], 1)
            } else {
                guard let prev = prevFlatGrad, let dPrev = d else {
                    throw DFMError(.internal, "LBFGS: missing state at iteration \(nIter)")
                }
                let y = try Tensor.uninitialized([n], dtype: S.dtype, op: "LBFGS")
                let s = try Tensor.uninitialized([n], dtype: S.dtype, op: "LBFGS")
                let yp = y.p(S.self)
                let sp = s.p(S.self)
                let gp = g.p(S.self)
                let pp = prev.p(S.self)
                let dp = dPrev.p(S.self)
                let tS = S(t)
                for k in 0..<n {
                    yp[k] = gp[k] - pp[k]
                    sp[k] = dp[k] * tS
                }
                let ys = dot(y, s)
                if ys > S(1e-10) {
                    if oldDirs.count == historySize {
                        oldDirs.removeFirst()
                        oldStps.removeFirst()
                        ro.removeFirst()
                    }
                    oldDirs.append(y)
                    oldStps.append(s)
                    ro.append(Double(1 / ys))
                    hDiag = Double(ys / dot(y, y))
                }
                // Two-loop recursion: q = -g; q -= α_i y_i (newest first); r = H·q; r += (α_i - β_i) s_i.
                let q = try Tensor.uninitialized([n], dtype: S.dtype, op: "LBFGS")
                let qp = q.p(S.self)
                for k in 0..<n { qp[k] = -gp[k] }
                var al = [S](repeating: 0, count: oldDirs.count)
                for i in stride(from: oldDirs.count - 1, through: 0, by: -1) {
                    al[i] = dot(oldStps[i], q) * S(ro[i])
                    let yi = oldDirs[i].p(S.self)
                    let a = -al[i]
                    for k in 0..<n { qp[k] = qp[k].addingProduct(yi[k], a) }
                }
                let h = S(hDiag)
                for k in 0..<n { qp[k] = qp[k] * h }
                for i in 0..<oldDirs.count {
                    let be = dot(oldDirs[i], q) * S(ro[i])
                    let si = oldStps[i].p(S.self)
                    let a = al[i] - be
                    for k in 0..<n { qp[k] = qp[k].addingProduct(si[k], a) }
                }
                dir = q
            }
            d = dir
            prevFlatGrad = try g.clone()
            prevLoss = loss

            if nIter == 1 {
                var absSum: Double = 0
                let gp = g.p(S.self)
                for k in 0..<n { absSum += Double(Swift.abs(gp[k])) }
                let inv = 1 / S(absSum)  // a float tensor in torch: min(1.0, tensor) keeps the tensor
                t = Double(inv) < 1.0 ? Double(inv * S(lr)) : lr
            } else {
                t = lr
            }
            let gtd = dot(g, dir)
            if gtd > S(-toleranceChange) { break }

            var lsEvals = 0
            if strongWolfe {
                let x0 = cloneParams()
                let r = try strongWolfeSearch(
                    S.self, x0: x0, t: t, d: dir, f: loss, g: g, gtd: gtd, maxLs: maxEval - currentEvals,
                    evaluate: { step in
                        addGrad(S(step), dir)
                        let f = try evaluate()
                        let fg = try flatGrad()
                        setParams(x0)
                        return (f, fg)
                    }, dot: dot)
                (loss, g, t, lsEvals) = (r.f, r.g, r.t, r.evals)
                addGrad(S(t), dir)
                optCond = absMax(g) <= S(toleranceGrad)
            } else {
                addGrad(S(t), dir)
                if iter != maxIter {
                    loss = try evaluate()
                    g = try flatGrad()
                    optCond = absMax(g) <= S(toleranceGrad)
                    lsEvals = 1
                }
            }
            currentEvals += lsEvals
            funcEvals += lsEvals
            if iter == maxIter || currentEvals >= maxEval || optCond { break }
            let tS = S(t)
            let dp = dir.p(S.self)
            var stepMax: S = 0
            for k in 0..<n { stepMax = Swift.max(stepMax, Swift.abs(dp[k] * tS)) }
            if stepMax <= S(toleranceChange) { break }
            if Swift.abs(loss - prevLoss) < toleranceChange { break }
        }
        return sign * origLoss
    }

    /// torch's _cubic_interpolate: the minimiser of the cubic through (x1, f1, g1), (x2, f2, g2), clamped to the bounds.
    private static func cubicInterpolate(
        _ x1: Double, _ f1: Double, _ g1: Double, _ x2: Double, _ f2: Double, _ g2: Double,
        bounds: (Double, Double)? = nil
    ) -> Double {
        let (lo, hi) = bounds ?? (x1 <= x2 ? (x1, x2) : (x2, x1))
        let d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        let d2sq = d1 * d1 - g1 * g2
        guard d2sq >= 0 else { return (lo + hi) / 2.0 }
        let d2 = d2sq.squareRoot()
        let minPos =
            x1 <= x2
            ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return Swift.min(Swift.max(minPos, lo), hi)
    }

    /// torch's _strong_wolfe (c1 1e-4, c2 0.9): brackets a step satisfying the strong Wolfe
    /// conditions, then zooms with cubic interpolation. Scalars in double (the directional
    /// derivatives rounded to the parameters' dtype, as torch's 0-d tensors are).
    private func strongWolfeSearch<S: Real>(
        _: S.Type, x0: [[S]], t t0: Double, d: Tensor, f: Double, g: Tensor, gtd gtdS: S,
        maxLs: Int, evaluate: (Double) throws -> (Double, Tensor),
        dot: (Tensor, Tensor) -> S
    ) throws -> (f: Double, g: Tensor, t: Double, evals: Int) {
        let c1 = 1e-4
        let c2 = 0.9
        let gtd = Double(gtdS)
        var dNorm: Double = 0
        let dp = d.p(S.self)
        for k in 0..<d.count { dNorm = Swift.max(dNorm, Double(Swift.abs(dp[k]))) }
        var t = t0
        var (fNew, gNew) = try evaluate(t)
        var evals = 1
        var gtdNew = Double(dot(gNew, d))
        var (tPrev, fPrev, gPrev, gtdPrev) = (0.0, f, g, gtd)
        var done = false
        var lsIter = 0
        var bracket: [Double] = []
        var bf: [Double] = []
        var bg: [Tensor] = []
        var bgtd: [Double] = []
        while lsIter < maxLs {
            if fNew > f + c1 * t * gtd || (lsIter > 1 && fNew >= fPrev) {
                (bracket, bf, bg, bgtd) = ([tPrev, t], [fPrev, fNew], [gPrev, gNew], [gtdPrev, gtdNew])
                break
            }
            if Swift.abs(gtdNew) <= -c2 * gtd {
                (bracket, bf, bg, bgtd, done) = ([t], [fNew], [gNew], [gtdNew], true)
                break
            }
            if gtdNew >= 0 {
                (bracket, bf, bg, bgtd) = ([tPrev, t], [fPrev, fNew], [gPrev, gNew], [gtdPrev, gtdNew])
                break
            }
            let minStep = t + 0.01 * (t - tPrev)
            let maxStep = t * 10
            let tmp = t
            t = LBFGS.cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, bounds: (minStep, maxStep))
            (tPrev, fPrev, gPrev, gtdPrev) = (tmp, fNew, gNew, gtdNew)
            (fNew, gNew) = try evaluate(t)
            evals += 1
            gtdNew = Double(dot(gNew, d))
            lsIter += 1
        }
        if lsIter == maxLs {
            (bracket, bf, bg) = ([0, t], [f, fNew], [g, gNew])
            // torch leaves bracket_gtd from the loop; the zoom below does not run (lsIter == maxLs)
            bgtd = [gtd, gtdNew]
        }
        var insufProgress = false
        var (low, high) = bf[0] <= bf[bf.count - 1] ? (0, 1) : (1, 0)
        while !done && lsIter < maxLs {
            if Swift.abs(bracket[1] - bracket[0]) * dNorm < toleranceChange { break }
            t = LBFGS.cubicInterpolate(bracket[0], bf[0], bgtd[0], bracket[1], bf[1], bgtd[1])
            let bMax = Swift.max(bracket[0], bracket[1])
            let bMin = Swift.min(bracket[0], bracket[1])
            let eps = 0.1 * (bMax - bMin)
            if Swift.min(bMax - t, t - bMin) < eps {
                if insufProgress || t >= bMax || t <= bMin {
                    t = Swift.abs(t - bMax) < Swift.abs(t - bMin) ? bMax - eps : bMin + eps
                    insufProgress = false
                } else {
                    insufProgress = true
                }
            } else {
                insufProgress = false
            }
            (fNew, gNew) = try evaluate(t)
            evals += 1
            gtdNew = Double(dot(gNew, d))
            lsIter += 1
            if fNew > f + c1 * t * gtd || fNew >= bf[low] {
                (bracket[high], bf[high], bg[high], bgtd[high]) = (t, fNew, gNew, gtdNew)
                (low, high) = bf[0] <= bf[1] ? (0, 1) : (1, 0)
            } else {
                if Swift.abs(gtdNew) <= -c2 * gtd {
                    done = true
                } else if gtdNew * (bracket[high] - bracket[low]) >= 0 {
                    (bracket[high], bf[high], bg[high], bgtd[high]) = (bracket[low], bf[low], bg[low], bgtd[low])
                }
                (bracket[low], bf[low], bg[low], bgtd[low]) = (t, fNew, gNew, gtdNew)
            }
        }
        // A single-entry bracket (the first test passed) has only index 0.
        let i = Swift.min(low, bracket.count - 1)
        return (bf[i], bg[i], bracket[i], evals)
    }

    // MARK: state dict

    public override var hyperparameters: [String: String] {
        var h = [
            "max_iter": String(maxIter), "max_eval": String(maxEval), "tolerance_grad": fmtDouble(toleranceGrad),
            "tolerance_change": fmtDouble(toleranceChange), "history_size": String(historySize),
            "line_search_fn": strongWolfe ? "strong_wolfe" : "none", "maximize": fmtBool(maximize),
            "t": fmtDouble(t), "H_diag": fmtDouble(hDiag), "prev_loss": fmtDouble(prevLoss),
            "func_evals": String(funcEvals), "n_iter": String(nIter), "history": String(oldDirs.count),
            "ro": ro.map(fmtDouble).joined(separator: ","),
        ]
        h["has_d"] = fmtBool(d != nil)
        return h
    }

    /// The solver's vectors ride in the metadata's companion tensors (see stateDict()).
    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "LBFGS.load_state_dict"
        guard let mi = Int(h["max_iter"] ?? ""), let me = Int(h["max_eval"] ?? ""),
            let hs = Int(h["history_size"] ?? ""),
            let fe = Int(h["func_evals"] ?? ""), let ni = Int(h["n_iter"] ?? ""), fe >= 0, ni >= 0
        else {
            throw DFMError.invalid(op, "max_iter, max_eval, history_size, func_evals or n_iter missing or invalid")
        }
        let tg = try parseDouble(h, "tolerance_grad", op: op)
        let tc = try parseDouble(h, "tolerance_change", op: op)
        try LBFGS.check(mi, me, tg, tc, hs, op: op)
        let roText = h["ro"] ?? ""
        let roVals = roText.isEmpty ? [] : roText.split(separator: ",").compactMap { Double($0) }
        guard roVals.count == (roText.isEmpty ? 0 : roText.split(separator: ",").count) else {
            throw DFMError.invalid(op, "ro is not a list of numbers")
        }
        (maxIter, maxEval, toleranceGrad, toleranceChange, historySize) = (mi, me, tg, tc, hs)
        (strongWolfe, maximize) = (h["line_search_fn"] == "strong_wolfe", h["maximize"] == "1")
        (t, hDiag, prevLoss) = (
            try parseDouble(h, "t", op: op), try parseDouble(h, "H_diag", op: op),
            try parseDouble(h, "prev_loss", op: op)
        )
        (funcEvals, nIter, ro) = (fe, ni, roVals)
    }

    public override func stateDict() throws -> OptimizerState {
        var s = try super.stateDict()
        if let d { s.tensors["lbfgs.d"] = try d.clone() }
        if let p = prevFlatGrad { s.tensors["lbfgs.prev_flat_grad"] = try p.clone() }
        for (i, (y, st)) in zip(oldDirs, oldStps).enumerated() {
            s.tensors["lbfgs.old_dirs.\(i)"] = try y.clone()
            s.tensors["lbfgs.old_stps.\(i)"] = try st.clone()
        }
        return s
    }

    public override func loadStateDict(_ s: OptimizerState) throws {
        let op = "LBFGS.load_state_dict"
        let n = params.reduce(0) { $0 + $1.count }
        let dtype = params[0].dtype
        var rest = s
        func take(_ key: String) throws -> Tensor? {
            guard let t = rest.tensors.removeValue(forKey: key) else { return nil }
            guard t.shape == [n], t.dtype == dtype else {
                throw DFMError.shape(
                    op, "\(key) has shape \(t.shape) (\(t.dtype)) but the parameters hold [\(n)] (\(dtype))")
            }
            return try t.clone()
        }
        let history = Int(s.metadata["hyper.history"] ?? "0") ?? -1
        guard history >= 0, history <= 1 << 16 else { throw DFMError.invalid(op, "history count missing or invalid") }
        let newD = try take("lbfgs.d")
        let newPrev = try take("lbfgs.prev_flat_grad")
        var dirs: [Tensor] = []
        var stps: [Tensor] = []
        for i in 0..<history {
            guard let y = try take("lbfgs.old_dirs.\(i)"), let st = try take("lbfgs.old_stps.\(i)") else {
                throw DFMError.invalid(op, "history pair \(i) missing")
            }
            dirs.append(y)
            stps.append(st)
        }
        guard
            (Int(s.metadata["hyper.ro"].map { $0.isEmpty ? "0" : String($0.split(separator: ",").count) } ?? "0") ?? -1)
                == history
        else {
            throw DFMError.invalid(op, "ro holds a different number of entries than the history (\(history))")
        }
        try super.loadStateDict(rest)
        (d, prevFlatGrad, oldDirs, oldStps) = (newD, newPrev, dirs, stps)
    }
}
