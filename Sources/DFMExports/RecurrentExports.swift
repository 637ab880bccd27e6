import CDFM
import DFM

// Recurrent networks: torch's _VF.rnn_tanh / rnn_relu / lstm / gru and their cells as functional
// ops over caller-held weights, and the nn.RNN / LSTM / GRU / *Cell modules.

extension Arg {
    static func recurrentMode(_ p: UnsafePointer<CChar>?) throws -> RecurrentMode {
        let s = try string(p, "mode")
        guard let m = RecurrentMode(rawValue: s) else {
            throw ABIError(
                .invalidArgument, "unknown mode '\(s)' (expected \"RNN_TANH\", \"RNN_RELU\", \"LSTM\" or \"GRU\")")
        }
        return m
    }
}

/// Results of a recurrent call: `first` and `second` always, `third` (the cell state) for LSTM;
/// for other modes *third is set to NULL when the pointer is given. All outs NULL on failure.
private func produceRecurrent(
    _ fn: StaticString, _ first: TensorOut, _ n1: String, _ second: TensorOut, _ n2: String,
    _ third: TensorOut, _ body: () throws -> (Tensor, Tensor, Tensor?)
) -> dfm_status {
    guarded(fn) {
        // Every output is NULL on failure, also when another output pointer is the bad argument.
        first?.pointee = nil
        second?.pointee = nil
        third?.pointee = nil
        let o1 = try Arg.out(first, n1)
        let o2 = try Arg.out(second, n2)
        let (a, b, c) = try body()
        if c != nil, third == nil {
            throw ABIError(.invalidArgument, "output pointer 'c_n' is NULL, but an LSTM returns a cell state")
        }
        o1.pointee = Handles.make(a, .tensor)
        o2.pointee = Handles.make(b, .tensor)
        if let c { third?.pointee = Handles.make(c, .tensor) }
    }
}

@c @implementation public func dfm_rnn(
    _ mode: UnsafePointer<CChar>?, _ input: dfm_tensor?, _ hx: dfm_tensor?, _ cx: dfm_tensor?,
    _ params: UnsafePointer<dfm_tensor?>?, _ n_params: Int64, _ has_biases: Bool,
    _ num_layers: Int64, _ dropout: Double, _ train: Bool, _ bidirectional: Bool,
    _ batch_first: Bool, _ output: TensorOut, _ h_n: TensorOut, _ c_n: TensorOut
) -> dfm_status {
    produceRecurrent("dfm_rnn", output, "output", h_n, "h_n", c_n) {
        let m = try Arg.recurrentMode(mode)
        let r = try recurrent(
            try Arg.tensor(input, "input"), hx: try Arg.optionalTensor(hx, "hx"), cx: try Arg.optionalTensor(cx, "cx"),
            params: try Arg.tensors(params, n_params, "params"), hasBiases: has_biases, mode: m,
            numLayers: try Arg.size(num_layers, "num_layers"), dropout: dropout, training: train,
            bidirectional: bidirectional, batchFirst: batch_first)
        return (r.output, r.h, r.c)
    }
}

@c @implementation public func dfm_rnn_cell(
    _ mode: UnsafePointer<CChar>?, _ input: dfm_tensor?, _ hx: dfm_tensor?, _ cx: dfm_tensor?,
    _ w_ih: dfm_tensor?, _ w_hh: dfm_tensor?, _ b_ih: dfm_tensor?, _ b_hh: dfm_tensor?,
    _ h: TensorOut, _ c: TensorOut
) -> dfm_status {
    guarded("dfm_rnn_cell") {
        h?.pointee = nil  // both NULL on failure, also when 'h' is the bad pointer
        c?.pointee = nil
        let oh = try Arg.out(h, "h")
        let m = try Arg.recurrentMode(mode)
        if m == .lstm, c == nil {
            throw ABIError(.invalidArgument, "output pointer 'c' is NULL, but an LSTM cell returns a cell state")
        }
        let r = try recurrentCell(
            try Arg.tensor(input, "input"), hx: try Arg.optionalTensor(hx, "hx"), cx: try Arg.optionalTensor(cx, "cx"),
            wIH: try Arg.tensor(w_ih, "w_ih"), wHH: try Arg.tensor(w_hh, "w_hh"),
            bIH: try Arg.optionalTensor(b_ih, "b_ih"), bHH: try Arg.optionalTensor(b_hh, "b_hh"), mode: m)
        oh.pointee = Handles.make(r.h, .tensor)
        if let rc = r.c { c?.pointee = Handles.make(rc, .tensor) }
    }
}

@c @implementation public func dfm_module_rnn(
    _ mode: UnsafePointer<CChar>?, _ input_size: Int64, _ hidden_size: Int64,
    _ num_layers: Int64, _ bias: Bool, _ batch_first: Bool, _ dropout: Double,
    _ bidirectional: Bool, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_rnn", out, .module) {
        let m = try Arg.recurrentMode(mode)
        let i = try Arg.size(input_size, "input_size")
        let h = try Arg.size(hidden_size, "hidden_size")
        let l = try Arg.size(num_layers, "num_layers")
        switch m {
        case .lstm:
            return try LSTM(
                i, h, numLayers: l, bias: bias, batchFirst: batch_first, dropout: dropout, bidirectional: bidirectional)
        case .gru:
            return try GRU(
                i, h, numLayers: l, bias: bias, batchFirst: batch_first, dropout: dropout, bidirectional: bidirectional)
        case .rnnTanh, .rnnRelu:
            return try RNN(
                i, h, numLayers: l, nonlinearity: m == .rnnTanh ? "tanh" : "relu", bias: bias, batchFirst: batch_first,
                dropout: dropout, bidirectional: bidirectional)
        }
    }
}

@c @implementation public func dfm_module_rnn_cell(
    _ mode: UnsafePointer<CChar>?, _ input_size: Int64, _ hidden_size: Int64,
    _ bias: Bool, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_rnn_cell", out, .module) {
        let m = try Arg.recurrentMode(mode)
        let i = try Arg.size(input_size, "input_size")
        let h = try Arg.size(hidden_size, "hidden_size")
        switch m {
        case .lstm: return try LSTMCell(i, h, bias: bias)
        case .gru: return try GRUCell(i, h, bias: bias)
        case .rnnTanh, .rnnRelu: return try RNNCell(i, h, bias: bias, nonlinearity: m == .rnnTanh ? "tanh" : "relu")
        }
    }
}

@c @implementation public func dfm_module_rnn_forward(
    _ m: dfm_module?, _ input: dfm_tensor?, _ hx: dfm_tensor?, _ cx: dfm_tensor?,
    _ output: TensorOut, _ h_n: TensorOut, _ c_n: TensorOut
) -> dfm_status {
    produceRecurrent("dfm_module_rnn_forward", output, "output", h_n, "h_n", c_n) {
        let mod = try Arg.module(m, "m")
        guard let net = mod as? RNNBase else {
            throw ABIError(.typeError, "module 'm' is a \(mod.typeName), expected an RNN, LSTM or GRU")
        }
        let r = try net.forward(
            try Arg.tensor(input, "input"), hx: try Arg.optionalTensor(hx, "hx"), cx: try Arg.optionalTensor(cx, "cx"))
        return (r.output, r.h, r.c)
    }
}

@c @implementation public func dfm_module_rnn_cell_forward(
    _ m: dfm_module?, _ input: dfm_tensor?, _ hx: dfm_tensor?, _ cx: dfm_tensor?,
    _ h: TensorOut, _ c: TensorOut
) -> dfm_status {
    guarded("dfm_module_rnn_cell_forward") {
        h?.pointee = nil  // both NULL on failure, also when 'h' is the bad pointer
        c?.pointee = nil
        let oh = try Arg.out(h, "h")
        let mod = try Arg.module(m, "m")
        guard let cell = mod as? RNNCellBase else {
            throw ABIError(.typeError, "module 'm' is a \(mod.typeName), expected an RNNCell, LSTMCell or GRUCell")
        }
        if cell.mode == .lstm, c == nil {
            throw ABIError(.invalidArgument, "output pointer 'c' is NULL, but an LSTMCell returns a cell state")
        }
        let r = try cell.forward(
            try Arg.tensor(input, "input"), hx: try Arg.optionalTensor(hx, "hx"), cx: try Arg.optionalTensor(cx, "cx"))
        oh.pointee = Handles.make(r.h, .tensor)
        if let rc = r.c { c?.pointee = Handles.make(rc, .tensor) }
    }
}
