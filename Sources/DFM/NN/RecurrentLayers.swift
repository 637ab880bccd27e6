import Foundation

// torch.nn.RNN / LSTM / GRU and their cells: torch's constructor arguments, parameter names
// (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse), shapes, registration
// order and init (every parameter ~ U(±1/√hidden_size), drawn in parameters() order).

/// torch's nn.RNNBase: the multi-layer, optionally bidirectional network of one `mode`.
public class RNNBase: Module {
    public let mode: RecurrentMode
    public let inputSize: Int
    public let hiddenSize: Int
    public let numLayers: Int
    public let bias: Bool
    public let batchFirst: Bool
    public let dropout: Double
    public let bidirectional: Bool
    /// torch's `_flat_weights`: per layer, per direction, w_ih, w_hh (, b_ih, b_hh).
    public private(set) var flatWeights: [Tensor] = []
    /// Draws the dropout masks between layers (the global generator when nil).
    public var generator: Generator?

    public init(
        mode: RecurrentMode, inputSize: Int, hiddenSize: Int, numLayers: Int = 1, bias: Bool = true,
        batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false
    ) throws {
        let op = mode.moduleName
        guard dropout >= 0, dropout <= 1, dropout.isFinite else {
            throw DFMError.invalid(
                op,
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got \(dropout)"
            )
        }
        guard hiddenSize > 0 else {
            throw DFMError.invalid(op, "hidden_size must be greater than zero, got \(hiddenSize)")
        }
        guard numLayers > 0 else {
            throw DFMError.invalid(op, "num_layers must be greater than zero, got \(numLayers)")
        }
        guard inputSize >= 0 else { throw DFMError.invalid(op, "input_size must be non-negative, got \(inputSize)") }
        self.mode = mode
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.bias = bias
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.bidirectional = bidirectional
        super.init()
        let gh = try Shape.count([mode.gates, hiddenSize], op: op)
        let dirs = bidirectional ? 2 : 1
        for l in 0..<numLayers {
            for d in 0..<dirs {
                let layerIn = l == 0 ? inputSize : hiddenSize * dirs
                let suffix = "_l\(l)" + (d == 1 ? "_reverse" : "")
                var shapes: [(String, [Int])] = [("weight_ih", [gh, layerIn]), ("weight_hh", [gh, hiddenSize])]
                if bias { shapes += [("bias_ih", [gh]), ("bias_hh", [gh])] }
                for (name, shape) in shapes {
                    let t = try Tensor.zeros(shape)
                    try registerParameter(name + suffix, t)
                    flatWeights.append(t)
                }
            }
        }
        try resetParameters()
    }

    /// torch's reset_parameters: every weight and bias ~ U(-1/√H, 1/√H), in parameters() order.
    public func resetParameters() throws {
        let stdv = Float(1 / Double(hiddenSize).squareRoot())
        for w in flatWeights { try Init.uniform_(w, a: -stdv, b: stdv) }
    }

    /// torch's forward: `input` (T, B, I), (B, T, I) with batchFirst, or unbatched (T, I);
    /// `hx` (and `cx` for LSTM) (layers·directions, B, H), zeros when nil. Returns
    /// (output, h_n, c_n) with c_n nil except for LSTM.
    public func forward(_ input: Tensor, hx: Tensor?, cx: Tensor? = nil) throws -> (
        output: Tensor, h: Tensor, c: Tensor?
    ) {
        try recurrent(
            input, hx: hx, cx: cx, params: flatWeights, hasBiases: bias, mode: mode, numLayers: numLayers,
            dropout: dropout, training: training, bidirectional: bidirectional, batchFirst: batchFirst,
            generator: generator)
    }

    /// The output sequence only (what a single-tensor caller such as dfm_module_forward gets).
    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, hx: nil).output }

    public override var extraRepr: String {
        // torch's RNNBase.extra_repr (it leaves nonlinearity out).
        var s = "\(inputSize), \(hiddenSize)"
        if numLayers != 1 { s += ", num_layers=\(numLayers)" }
        if !bias { s += ", bias=False" }
        if batchFirst { s += ", batch_first=True" }
        if dropout != 0 { s += ", dropout=\(dropout)" }
        if bidirectional { s += ", bidirectional=True" }
        return s
    }
}

/// torch.nn.RNN(input_size, hidden_size, num_layers, nonlinearity='tanh' | 'relu', ...).
public final class RNN: RNNBase {
    public init(
        _ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, nonlinearity: String = "tanh", bias: Bool = true,
        batchFirst: Bool = false, dropout: Double = 0, bidirectional: Bool = false
    ) throws {
        let mode: RecurrentMode
        switch nonlinearity {
        case "tanh": mode = .rnnTanh
        case "relu": mode = .rnnRelu
        default: throw DFMError.invalid("RNN", "Unknown nonlinearity '\(nonlinearity)'. Select from 'tanh' or 'relu'.")
        }
        try super.init(
            mode: mode, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
            batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional)
    }
}

/// torch.nn.LSTM (gates i, f, g, o; no proj_size).
public final class LSTM: RNNBase {
    public init(
        _ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
        dropout: Double = 0, bidirectional: Bool = false
    ) throws {
        try super.init(
            mode: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
            batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional)
    }
}

/// torch.nn.GRU (gates r, z, n).
public final class GRU: RNNBase {
    public init(
        _ inputSize: Int, _ hiddenSize: Int, numLayers: Int = 1, bias: Bool = true, batchFirst: Bool = false,
        dropout: Double = 0, bidirectional: Bool = false
    ) throws {
        try super.init(
            mode: .gru, inputSize: inputSize, hiddenSize: hiddenSize, numLayers: numLayers, bias: bias,
            batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional)
    }
}

// MARK: cells

/// torch's nn.RNNCellBase: one step; parameters weight_ih, weight_hh, bias_ih, bias_hh.
public class RNNCellBase: Module {
    public let mode: RecurrentMode
    public let inputSize: Int
    public let hiddenSize: Int
    public let bias: Bool
    public let weightIH: Tensor
    public let weightHH: Tensor
    public let biasIH: Tensor?
    public let biasHH: Tensor?

    public init(mode: RecurrentMode, inputSize: Int, hiddenSize: Int, bias: Bool = true) throws {
        let op = mode.moduleName + "Cell"
        guard hiddenSize > 0 else {
            throw DFMError.invalid(op, "hidden_size must be greater than zero, got \(hiddenSize)")
        }
        guard inputSize >= 0 else { throw DFMError.invalid(op, "input_size must be non-negative, got \(inputSize)") }
        self.mode = mode
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.bias = bias
        let gh = try Shape.count([mode.gates, hiddenSize], op: op)
        weightIH = try Tensor.zeros([gh, inputSize])
        weightHH = try Tensor.zeros([gh, hiddenSize])
        biasIH = bias ? try Tensor.zeros([gh]) : nil
        biasHH = bias ? try Tensor.zeros([gh]) : nil
        super.init()
        try registerParameter("weight_ih", weightIH)
        try registerParameter("weight_hh", weightHH)
        try registerParameter("bias_ih", biasIH)
        try registerParameter("bias_hh", biasHH)
        try resetParameters()
    }

    /// torch's reset_parameters: U(-1/√H, 1/√H) for each parameter in order.
    public func resetParameters() throws {
        let stdv = Float(1 / Double(hiddenSize).squareRoot())
        for w in parameters() { try Init.uniform_(w, a: -stdv, b: stdv) }
    }

    /// One step: input (B, I) or (I); hx (and cx for LSTMCell) (B, H) or (H), zeros when nil.
    public func forward(_ input: Tensor, hx: Tensor?, cx: Tensor? = nil) throws -> (h: Tensor, c: Tensor?) {
        try recurrentCell(input, hx: hx, cx: cx, wIH: weightIH, wHH: weightHH, bIH: biasIH, bHH: biasHH, mode: mode)
    }

    /// h' from a zero state (what a single-tensor caller gets).
    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, hx: nil).h }

    public override var extraRepr: String {
        var s = "\(inputSize), \(hiddenSize)"
        if !bias { s += ", bias=False" }
        if mode == .rnnRelu { s += ", nonlinearity=relu" }
        return s
    }
}

/// torch.nn.RNNCell(input_size, hidden_size, bias, nonlinearity='tanh' | 'relu').
public final class RNNCell: RNNCellBase {
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true, nonlinearity: String = "tanh") throws {
        let mode: RecurrentMode
        switch nonlinearity {
        case "tanh": mode = .rnnTanh
        case "relu": mode = .rnnRelu
        default: throw DFMError.invalid("RNNCell", "Unknown nonlinearity: \(nonlinearity)")
        }
        try super.init(mode: mode, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias)
    }
}

public final class LSTMCell: RNNCellBase {
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true) throws {
        try super.init(mode: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias)
    }
}

public final class GRUCell: RNNCellBase {
    public init(_ inputSize: Int, _ hiddenSize: Int, bias: Bool = true) throws {
        try super.init(mode: .gru, inputSize: inputSize, hiddenSize: hiddenSize, bias: bias)
    }
}
