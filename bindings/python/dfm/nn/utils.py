"""dfm.nn.utils: gradient clipping (norm computed by core ops)."""

from .._tensor import Tensor, no_grad, stack


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [g for g in (p.grad for p in parameters) if g is not None]
    if not grads:
        from .._tensor import zeros

        return zeros(())
    norm_type = float(norm_type)
    with no_grad():
        if norm_type == float("inf"):
            total = stack([g.abs().max() for g in grads]).max()
        else:
            total = stack([(g.abs() ** norm_type).sum() for g in grads]).sum() ** (1.0 / norm_type)
        tv = total.item()
        if error_if_nonfinite and (tv != tv or tv in (float("inf"), float("-inf"))):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite")
        coef = (total + 1e-6).__rtruediv__(float(max_norm)).clamp(max=1.0)
        for g in grads:
            g.copy_(g * coef)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                g = p.grad
                g.copy_(g.clamp(-clip_value, clip_value))
