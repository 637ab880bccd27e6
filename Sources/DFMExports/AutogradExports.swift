import CDFM
import DFM

// Reverse-mode differentiation.

@c @implementation public func dfm_backward(_ loss: dfm_tensor?, _ grad: dfm_tensor?, _ retain_graph: Bool)
    -> dfm_status
{
    guarded("dfm_backward") {
        try Arg.tensor(loss, "loss").backward(try Arg.optionalTensor(grad, "grad"), retainGraph: retain_graph)
    }
}
