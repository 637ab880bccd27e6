import Foundation

// Recurrent layers (torch's RNN_TANH, RNN_RELU, LSTM and GRU). One op per layer and
// direction: the input projection of every time step is ONE gemm, then each step is one
// gemm for the hidden projection plus fused gate math on raw pointers. The backward walks
// time in reverse from the saved gate activations and ends with three gemms for the input
// gradient and the two weight gradients. torch's gate layout and formulas:
//   LSTM (i, f, g, o): c' = σ(f)·c + σ(i)·tanh(g),  h' = σ(o)·tanh(c')
//   GRU  (r, z, n):    n = tanh(W_in x + b_in + r·(W_hn h + b_hn)),  h' = (1 - z)·n + z·h
//   RNN:               h' = act(W_ih x + b_ih + W_hh h + b_hh)

/// The recurrence of a layer, named as torch's `mode` strings.
public enum RecurrentMode: String, Sendable, CaseIterable {
    case rnnTanh = "RNN_TANH"
    case rnnRelu = "RNN_RELU"
    case lstm = "LSTM"
    case gru = "GRU"

    /// Gate blocks stacked in the weights' rows (torch's gate_size = gates · hidden_size).
    public var gates: Int {
        switch self {
        case .lstm: return 4
        case .gru: return 3
        case .rnnTanh, .rnnRelu: return 1
        }
    }

    /// torch's module name for messages ("LSTM", "GRU", "RNN").
    var moduleName: String { self == .lstm ? "LSTM" : self == .gru ? "GRU" : "RNN" }

    public init(name: String) throws {
        guard let m = RecurrentMode(rawValue: name) else {
            throw DFMError.invalid("rnn", "unknown mode '\(name)' (expected RNN_TANH, RNN_RELU, LSTM or GRU)")
        }
        self = m
    }
}

@inline(__always) private func sigmoid<S: Real>(_ x: S) -> S { 1 / (1 + S.exp(-x)) }

/// One layer in one direction over a time-major sequence: x (T, B, I), h0 (B, H), c0 (B, H)
/// for LSTM only, w_ih (G·H, I), w_hh (G·H, H), optional b_ih and b_hh (G·H). Returns the
/// hidden state of every step, output (T, B, H) (with `reverse`, the steps run from T-1 down
/// to 0 and output[t] is still the state after reading x[t]), and the final h (and c).
public func recurrentLayer(
    _ x: Tensor, h0: Tensor, c0: Tensor?, wIH: Tensor, wHH: Tensor, bIH: Tensor?, bHH: Tensor?,
    mode: RecurrentMode, reverse: Bool = false
) throws -> (output: Tensor, h: Tensor, c: Tensor?) {
    let op = mode.moduleName.lowercased()
    _ = try commonFloat([x, h0, c0, wIH, wHH, bIH, bHH], op)
    guard x.ndim == 3 else {
        throw DFMError.shape(op, "input must be 3-D (seq_len, batch, input_size), got shape \(x.shape)")
    }
    guard wIH.ndim == 2, wHH.ndim == 2 else {
        throw DFMError.shape(op, "weights must be 2-D, got weight_ih \(wIH.shape) and weight_hh \(wHH.shape)")
    }
    let G = mode.gates
    let H = wHH.shape[1]
    let GH = G * H
    let T = x.shape[0]
    let B = x.shape[1]
    let I = x.shape[2]
    guard H > 0, wHH.shape[0] == GH else {
        throw DFMError.shape(op, "weight_hh must have shape (\(G)·hidden_size, hidden_size), got \(wHH.shape)")
    }
    guard wIH.shape == [GH, I] else {
        throw DFMError.shape(
            op,
            "input.size(-1) must be equal to input_size. Expected \(wIH.shape[1]), got \(I) (weight_ih \(wIH.shape), weight_hh \(wHH.shape))"
        )
    }
    for (name, b) in [("bias_ih", bIH), ("bias_hh", bHH)] {
        if let b, b.shape != [GH] { throw DFMError.shape(op, "\(name) must have shape [\(GH)], got \(b.shape)") }
    }
    guard T > 0 else {
        throw DFMError.shape(op, "Expected sequence length to be larger than 0 in RNN (input shape \(x.shape))")
    }
    guard h0.shape == [B, H] else { throw DFMError.shape(op, "Expected hidden size [\(B), \(H)], got \(h0.shape)") }
    if mode == .lstm {
        guard let c0 else { throw DFMError.invalid(op, "an LSTM needs an initial cell state c0") }
        guard c0.shape == [B, H] else { throw DFMError.shape(op, "Expected cell size [\(B), \(H)], got \(c0.shape)") }
    } else if c0 != nil {
        throw DFMError.invalid(op, "only an LSTM takes a cell state, got c0 for mode \(mode.rawValue)")
    }
    let rows = try Shape.count([T, B, GH], op: op) / GH
    let stepH = B * H
    let TBH = T * stepH
    let lstm = mode == .lstm
    let gru = mode == .gru
    // The time index read at processing step s (a reverse layer runs from T-1 down to 0).
    let timeAt = { (s: Int) in reverse ? T - 1 - s : s }

    func run<S: Real>(_: S.Type) throws -> (output: Tensor, h: Tensor, c: Tensor?) {
        // output | h_n | c_n in one buffer: one graph node carries the single derivative rule,
        // and the three results are views whose rules route their gradient into place.
        let packed = try Tensor.uninitialized([TBH + stepH * (lstm ? 2 : 1)], dtype: S.dtype, op: op)
        // LSTM/RNN: pre-activations, overwritten in place by the gate activations. GRU: the
        // input side W_i·x + b_i, overwritten by r, z, n.
        let gates = try Tensor.uninitialized([T, B, GH], dtype: S.dtype, op: op)
        let cells = lstm ? try Tensor.uninitialized([T, B, H], dtype: S.dtype, op: op) : nil  // c_t
        let tanhC = lstm ? try Tensor.uninitialized([T, B, H], dtype: S.dtype, op: op) : nil  // tanh(c_t)
        let hnBuf = gru ? try Tensor.uninitialized([T, B, H], dtype: S.dtype, op: op) : nil  // W_hn h + b_hn
        let hpBuf = gru ? try Tensor.uninitialized([B, GH], dtype: S.dtype, op: op) : nil

        let y = packed.p(S.self)
        let gp = gates.p(S.self)
        let wih = wIH.p(S.self)
        let whh = wHH.p(S.self)
        let bih = bIH?.p(S.self)
        let bhh = bHH?.p(S.self)
        // Input projection for all steps: rows start from the bias (GRU keeps b_hh on the
        // hidden side, where r multiplies it), then one gemm accumulates x·W_ihᵀ.
        let hasBias = bih != nil || (bhh != nil && !gru)
        if hasBias {
            Parallel.chunks(rows, costPerItem: GH) { r in
                for row in r {
                    let dst = gp + row * GH
                    for j in 0..<GH { dst[j] = (bih?[j] ?? 0) + (gru ? 0 : (bhh?[j] ?? 0)) }
                }
            }
        }
        gemm(
            transA: false, transB: true, m: rows, n: GH, k: I, a: x.p(S.self), lda: I, b: wih, ldb: I,
            beta: hasBias ? 1 : 0, c: gp, ldc: GH)

        let h0p = h0.p(S.self)
        let c0p = c0?.p(S.self)
        let cp = cells?.p(S.self)
        let tcp = tanhC?.p(S.self)
        let hnp = hnBuf?.p(S.self)
        let hpp = hpBuf?.p(S.self)
        for s in 0..<T {
            let t = timeAt(s)
            let hPrev = s == 0 ? UnsafePointer(h0p) : UnsafePointer(y + timeAt(s - 1) * stepH)
            let g = gp + t * B * GH
            let hOut = y + t * stepH
            if let hpp {
                // GRU: the hidden side stays separate, since r scales its n block.
                for b in 0..<B {
                    if let bhh {
                        (hpp + b * GH).update(from: bhh, count: GH)
                    } else {
                        (hpp + b * GH).update(repeating: 0, count: GH)
                    }
                }
                gemm(
                    transA: false, transB: true, m: B, n: GH, k: H, a: hPrev, lda: H, b: whh, ldb: H, beta: 1, c: hpp,
                    ldc: GH)
            } else {
                gemm(
                    transA: false, transB: true, m: B, n: GH, k: H, a: hPrev, lda: H, b: whh, ldb: H, beta: 1, c: g,
                    ldc: GH)
            }
            Parallel.chunks(B, costPerItem: GH * 16) { r in
                for b in r {
                    let gb = g + b * GH
                    let hp = hPrev + b * H
                    let ho = hOut + b * H
                    switch mode {
                    case .lstm:
                        let cPrev =
                            s == 0 ? UnsafePointer(c0p! + b * H) : UnsafePointer(cp! + timeAt(s - 1) * stepH + b * H)
                        let cOut = cp! + t * stepH + b * H
                        let tcOut = tcp! + t * stepH + b * H
                        for j in 0..<H {
                            let i = sigmoid(gb[j])
                            let f = sigmoid(gb[H + j])
                            let gg = S.tanh(gb[2 * H + j])
                            let o = sigmoid(gb[3 * H + j])
                            gb[j] = i
                            gb[H + j] = f
                            gb[2 * H + j] = gg
                            gb[3 * H + j] = o
                            let c = f * cPrev[j] + i * gg
                            let tc = S.tanh(c)
                            cOut[j] = c
                            tcOut[j] = tc
                            ho[j] = o * tc
                        }
                    case .gru:
                        let hb = hpp! + b * GH
                        let hn = hnp! + t * stepH + b * H
                        for j in 0..<H {
                            let r = sigmoid(gb[j] + hb[j])
                            let z = sigmoid(gb[H + j] + hb[H + j])
                            let n = S.tanh(gb[2 * H + j] + r * hb[2 * H + j])
                            gb[j] = r
                            gb[H + j] = z
                            gb[2 * H + j] = n
                            hn[j] = hb[2 * H + j]
                            ho[j] = (1 - z) * n + z * hp[j]
                        }
                    case .rnnTanh:
                        for j in 0..<H { ho[j] = S.tanh(gb[j]) }
                    case .rnnRelu:
                        for j in 0..<H { ho[j] = gb[j] > 0 ? gb[j] : 0 }
                    }
                }
            }
        }
        let last = timeAt(T - 1)
        (y + TBH).update(from: y + last * stepH, count: stepH)
        if let cp { (y + TBH + stepH).update(from: cp + last * stepH, count: stepH) }

        var ins = [x, h0]
        let c0i: Int? = c0.map {
            ins.append($0)
            return ins.count - 1
        }
        ins += [wIH, wHH]
        let bihi: Int? = bIH.map {
            ins.append($0)
            return ins.count - 1
        }
        let bhhi: Int? = bHH.map {
            ins.append($0)
            return ins.count - 1
        }
        let node = record(op, packed, ins) { gpk in
            try recurrentBackward(
                S.self, mode: mode, reverse: reverse, T: T, B: B, I: I, H: H, g: gpk, packed: packed,
                gates: gates, cells: cells, tanhC: tanhC, hn: hnBuf, x: x, h0: h0, c0: c0, wIH: wIH, wHH: wHH,
                needX: x.requiresGrad, needH0: h0.requiresGrad, needC0: c0?.requiresGrad ?? false,
                needWIH: wIH.requiresGrad, needWHH: wHH.requiresGrad,
                needBIH: bIH?.requiresGrad ?? false, needBHH: bHH?.requiresGrad ?? false,
                count: ins.count, c0i: c0i, bihi: bihi, bhhi: bhhi)
        }
        func part(_ name: String, _ shape: [Int], _ start: Int) -> Tensor {
            let v = Tensor(shape: shape, dtype: S.dtype, storage: node.storage, offset: node.offset + start)
            let n = v.count
            return record(name, v, [node]) { g in
                let t = try Tensor.zeros(packed.shape, dtype: S.dtype)
                (t.p(S.self) + start).update(from: g.p(S.self), count: n)
                return [t]
            }
        }
        let out = part("\(op)_output", [T, B, H], 0)
        let hN = part("\(op)_h_n", [B, H], TBH)
        return (out, hN, lstm ? part("\(op)_c_n", [B, H], TBH + stepH) : nil)
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// The derivative rule of `recurrentLayer`: `g` is the gradient of the packed output | h_n | c_n.
/// Walking the steps in reverse, the fused kernel turns dh (and dc) into the gradient of the
/// pre-activations (`dIn` for the input side, `dHid` for the hidden side; the same buffer
/// except for GRU, where r scales the hidden n block); dh for the previous step is then one
/// gemm with W_hh. Weight, bias and input gradients come after the walk, over all steps at once.
private func recurrentBackward<S: Real>(
    _: S.Type, mode: RecurrentMode, reverse: Bool, T: Int, B: Int, I: Int, H: Int,
    g: Tensor, packed: Tensor, gates: Tensor, cells: Tensor?, tanhC: Tensor?, hn: Tensor?,
    x: Tensor, h0: Tensor, c0: Tensor?, wIH: Tensor, wHH: Tensor,
    needX: Bool, needH0: Bool, needC0: Bool, needWIH: Bool, needWHH: Bool,
    needBIH: Bool, needBHH: Bool, count: Int, c0i: Int?, bihi: Int?, bhhi: Int?
) throws -> [Tensor?] {
    let op = "\(mode.moduleName.lowercased())_backward"
    let G = mode.gates
    let GH = G * H
    let stepH = B * H
    let TBH = T * stepH
    let rows = T * B
    let gru = mode == .gru
    let timeAt = { (s: Int) in reverse ? T - 1 - s : s }
    let dIn = try Tensor.uninitialized([T, B, GH], dtype: S.dtype, op: op)
    let dHidT = gru ? try Tensor.uninitialized([T, B, GH], dtype: S.dtype, op: op) : dIn
    let dh = try Tensor.uninitialized([B, H], dtype: S.dtype, op: op)
    let dc = mode == .lstm ? try Tensor.uninitialized([B, H], dtype: S.dtype, op: op) : nil
    let gpk = g.p(S.self)
    let y = packed.p(S.self)
    let gp = gates.p(S.self)
    let whh = wHH.p(S.self)
    let dinp = dIn.p(S.self)
    let dhidp = dHidT.p(S.self)
    let dhp = dh.p(S.self)
    let dcp = dc?.p(S.self)
    let h0p = h0.p(S.self)
    let c0p = c0?.p(S.self)
    let cp = cells?.p(S.self)
    let tcp = tanhC?.p(S.self)
    let hnp = hn?.p(S.self)
    dhp.update(from: gpk + TBH, count: stepH)
    if let dcp { dcp.update(from: gpk + TBH + stepH, count: stepH) }

    for s in stride(from: T - 1, through: 0, by: -1) {
        let t = timeAt(s)
        let gy = gpk + t * stepH
        let hPrev = s == 0 ? UnsafePointer(h0p) : UnsafePointer(y + timeAt(s - 1) * stepH)
        Parallel.chunks(B, costPerItem: GH * 8) { r in
            for b in r {
                let gb = gp + (t * B + b) * GH
                let di = dinp + (t * B + b) * GH
                let dhb = dhp + b * H
                let gyb = gy + b * H
                switch mode {
                case .lstm:
                    let cPrev =
                        s == 0 ? UnsafePointer(c0p! + b * H) : UnsafePointer(cp! + timeAt(s - 1) * stepH + b * H)
                    let tc = tcp! + t * stepH + b * H
                    let dcb = dcp! + b * H
                    for j in 0..<H {
                        let i = gb[j]
                        let f = gb[H + j]
                        let gg = gb[2 * H + j]
                        let o = gb[3 * H + j]
                        let dhv = dhb[j] + gyb[j]
                        let dcv = dcb[j] + dhv * o * (1 - tc[j] * tc[j])
                        di[j] = dcv * gg * i * (1 - i)
                        di[H + j] = dcv * cPrev[j] * f * (1 - f)
                        di[2 * H + j] = dcv * i * (1 - gg * gg)
                        di[3 * H + j] = dhv * tc[j] * o * (1 - o)
                        dcb[j] = dcv * f
                    }
                case .gru:
                    let dhid = dhidp + (t * B + b) * GH
                    let hnb = hnp! + t * stepH + b * H
                    let hp = hPrev + b * H
                    for j in 0..<H {
                        let r = gb[j]
                        let z = gb[H + j]
                        let n = gb[2 * H + j]
                        let dhv = dhb[j] + gyb[j]
                        let dan = dhv * (1 - z) * (1 - n * n)
                        let dar = dan * hnb[j] * r * (1 - r)
                        let daz = dhv * (hp[j] - n) * z * (1 - z)
                        di[j] = dar
                        di[H + j] = daz
                        di[2 * H + j] = dan
                        dhid[j] = dar
                        dhid[H + j] = daz
                        dhid[2 * H + j] = dan * r
                        dhb[j] = dhv * z  // the direct path h → h'; the gemm below adds the gates' path
                    }
                case .rnnTanh:
                    let hb = y + t * stepH + b * H
                    for j in 0..<H { di[j] = (dhb[j] + gyb[j]) * (1 - hb[j] * hb[j]) }
                case .rnnRelu:
                    let hb = y + t * stepH + b * H
                    for j in 0..<H { di[j] = hb[j] > 0 ? dhb[j] + gyb[j] : 0 }
                }
            }
        }
        gemm(
            transA: false, transB: false, m: B, n: H, k: GH, a: dhidp + t * B * GH, lda: GH, b: whh, ldb: H,
            beta: gru ? 1 : 0, c: dhp, ldc: H)
    }

    var grads = [Tensor?](repeating: nil, count: count)
    if needX {
        let t = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op)
        gemm(
            transA: false, transB: false, m: rows, n: I, k: GH, a: dinp, lda: GH, b: wIH.p(S.self), ldb: I,
            c: t.p(S.self), ldc: I)
        grads[0] = t
    }
    if needH0 { grads[1] = dh }
    if needC0, let c0i { grads[c0i] = dc }
    if needWIH {
        let t = try Tensor.uninitialized(wIH.shape, dtype: S.dtype, op: op)
        gemm(
            transA: true, transB: false, m: GH, n: I, k: rows, a: dinp, lda: GH, b: x.p(S.self), ldb: I, c: t.p(S.self),
            ldc: I)
        grads[c0i == nil ? 2 : 3] = t
    }
    if needWHH {
        // Σ_t dHid[t]ᵀ·h_prev(t): the step reading h0 on its own, the others in one gemm, since
        // h_prev of time t is the output at t-1 (t+1 in reverse): both runs are contiguous rows.
        let t = try Tensor.uninitialized(wHH.shape, dtype: S.dtype, op: op)
        let first = timeAt(0)
        gemm(
            transA: true, transB: false, m: GH, n: H, k: B, a: dhidp + first * B * GH, lda: GH, b: h0p, ldb: H,
            c: t.p(S.self), ldc: H)
        if T > 1 {
            let dStart = reverse ? 0 : 1
            let hStart = reverse ? 1 : 0
            gemm(
                transA: true, transB: false, m: GH, n: H, k: (T - 1) * B, a: dhidp + dStart * B * GH, lda: GH,
                b: y + hStart * stepH, ldb: H, beta: 1, c: t.p(S.self), ldc: H)
        }
        grads[c0i == nil ? 3 : 4] = t
    }
    // Bias gradients: column sums over all rows, each column summed in row order (deterministic).
    func columnSums(_ src: UnsafeMutablePointer<S>) throws -> Tensor {
        let t = try Tensor.zeros([GH], dtype: S.dtype)
        let dst = t.p(S.self)
        Parallel.chunks(GH, costPerItem: rows) { cols in
            for row in 0..<rows {
                let r = src + row * GH
                for j in cols { dst[j] += r[j] }
            }
        }
        return t
    }
    // Outside GRU both biases enter the same pre-activation: one sum serves both.
    let dbIn = needBIH || (needBHH && !gru) ? try columnSums(dinp) : nil
    if needBIH, let bihi { grads[bihi] = dbIn }
    if needBHH, let bhhi { grads[bhhi] = gru ? try columnSums(dhidp) : try dbIn.map { needBIH ? try $0.clone() : $0 } }
    return grads
}

// MARK: multi-layer networks and cells

/// torch's `_VF.rnn_tanh / rnn_relu / lstm / gru` for one padded sequence batch: `numLayers`
/// layers, each one or two directions, dropout on the outputs of every layer but the last
/// (training only). `params` are torch's flat weights: per layer, per direction, w_ih, w_hh
/// and (with `hasBiases`) b_ih, b_hh. `input` is (T, B, I), (B, T, I) with `batchFirst`, or
/// (T, I) unbatched; `hx` and `cx` are (layers·directions, B, H) ((layers·directions, H)
/// unbatched), zeros when nil. Returns (output, h_n, c_n) shaped as torch returns them.
public func recurrent(
    _ input: Tensor, hx: Tensor?, cx: Tensor? = nil, params: [Tensor], hasBiases: Bool, mode: RecurrentMode,
    numLayers: Int, dropout: Double = 0, training: Bool = false, bidirectional: Bool = false,
    batchFirst: Bool = false, generator: Generator? = nil
) throws -> (output: Tensor, h: Tensor, c: Tensor?) {
    let op = mode.moduleName
    guard numLayers >= 1 else { throw DFMError.invalid(op, "num_layers must be greater than zero, got \(numLayers)") }
    guard dropout >= 0, dropout <= 1 else {
        throw DFMError.invalid(
            op,
            "dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got \(dropout)"
        )
    }
    let D = bidirectional ? 2 : 1
    let perDir = hasBiases ? 4 : 2
    guard params.count == numLayers * D * perDir else {
        throw DFMError.invalid(
            op,
            "expected \(numLayers * D * perDir) weight tensors (\(numLayers) layers × \(D) directions × \(perDir)), got \(params.count)"
        )
    }
    guard input.ndim == 2 || input.ndim == 3 else {
        throw DFMError.shape(op, "\(op): Expected input to be 2D or 3D, got \(input.ndim)D tensor instead")
    }
    guard params[1].ndim == 2 else {
        throw DFMError.shape(op, "weight_hh_l0 must be 2-D, got shape \(params[1].shape)")
    }
    let batched = input.ndim == 3
    let H = params[1].shape[1]
    let LD = numLayers * D
    var x = batched ? (batchFirst ? try transpose(input, 0, 1) : input) : try unsqueeze(input, 1)
    let B = x.shape[1]
    func state(_ t: Tensor?, _ name: String) throws -> Tensor {
        guard let t else { return try Tensor.zeros([LD, B, H], dtype: input.dtype) }
        if batched {
            guard t.ndim == 3 else {
                throw DFMError.shape(op, "For batched 3-D input, \(name) should also be 3-D but got \(t.ndim)-D tensor")
            }
        } else {
            guard t.ndim == 2 else {
                throw DFMError.shape(
                    op, "For unbatched 2-D input, \(name) should also be 2-D but got \(t.ndim)-D tensor")
            }
        }
        let s = batched ? t : try unsqueeze(t, 1)
        guard s.shape == [LD, B, H] else {
            throw DFMError.shape(op, "Expected \(name) size \(batched ? [LD, B, H] : [LD, H]), got \(t.shape)")
        }
        return s
    }
    let h0 = try state(hx, mode == .lstm ? "hx[0]" : "hx")
    let c0: Tensor?
    if mode == .lstm {
        c0 = try state(cx, "hx[1]")
    } else {
        guard cx == nil else { throw DFMError.invalid(op, "only an LSTM takes a cell state (cx)") }
        c0 = nil
    }
    var hs: [Tensor] = []
    var cs: [Tensor] = []
    for l in 0..<numLayers {
        if l > 0 && training && dropout > 0 {
            x = try DFM.dropout(x, p: Float(dropout), training: true, generator: generator)
        }
        var outs: [Tensor] = []
        for d in 0..<D {
            let k = (l * D + d) * perDir
            let r = try recurrentLayer(
                x, h0: try select(h0, dim: 0, index: l * D + d),
                c0: try c0.map { try select($0, dim: 0, index: l * D + d) },
                wIH: params[k], wHH: params[k + 1], bIH: hasBiases ? params[k + 2] : nil,
                bHH: hasBiases ? params[k + 3] : nil, mode: mode, reverse: d == 1)
            outs.append(r.output)
            hs.append(r.h)
            if let c = r.c { cs.append(c) }
        }
        x = D == 1 ? outs[0] : try cat(outs, dim: 2)
    }
    var hN = try stack(hs, dim: 0)
    var cN = mode == .lstm ? try stack(cs, dim: 0) : nil
    if batched {
        if batchFirst { x = try transpose(x, 0, 1) }
    } else {
        x = try squeeze(x, dim: 1)
        hN = try squeeze(hN, dim: 1)
        cN = try cN.map { try squeeze($0, dim: 1) }
    }
    return (x, hN, cN)
}

/// torch's `_VF.rnn_tanh_cell / rnn_relu_cell / lstm_cell / gru_cell`: one step for input (B, I)
/// or unbatched (I), state (B, H) or (H) (zeros when nil). Returns h' (and c' for LSTM).
public func recurrentCell(
    _ input: Tensor, hx: Tensor?, cx: Tensor? = nil, wIH: Tensor, wHH: Tensor, bIH: Tensor?, bHH: Tensor?,
    mode: RecurrentMode
) throws -> (h: Tensor, c: Tensor?) {
    let op = mode.moduleName + "Cell"
    guard input.ndim == 1 || input.ndim == 2 else {
        throw DFMError.shape(op, "\(op): Expected input to be 1D or 2D, got \(input.ndim)D instead")
    }
    guard wHH.ndim == 2 else { throw DFMError.shape(op, "weight_hh must be 2-D, got shape \(wHH.shape)") }
    let batched = input.ndim == 2
    let H = wHH.shape[1]
    let x = batched ? input : try unsqueeze(input, 0)
    func state(_ t: Tensor?, _ name: String) throws -> Tensor {
        guard let t else { return try Tensor.zeros([x.shape[0], H], dtype: input.dtype) }
        guard t.ndim == input.ndim else {
            throw DFMError.shape(op, "\(op): Expected \(name) to be \(input.ndim)D, got \(t.ndim)D instead")
        }
        return batched ? t : try unsqueeze(t, 0)
    }
    let h0 = try state(hx, mode == .lstm ? "hx[0]" : "hidden")
    let c0 = mode == .lstm ? try state(cx, "hx[1]") : nil
    if mode != .lstm, cx != nil { throw DFMError.invalid(op, "only an LSTMCell takes a cell state (cx)") }
    let r = try recurrentLayer(try unsqueeze(x, 0), h0: h0, c0: c0, wIH: wIH, wHH: wHH, bIH: bIH, bHH: bHH, mode: mode)
    if batched { return (r.h, r.c) }
    return (try squeeze(r.h, dim: 0), try r.c.map { try squeeze($0, dim: 0) })
}
