"""torch.nn.functional over the core's ops."""

from .._functions import bmm  # noqa: F401
from .._lib import C, check, i64_array
from .._tensor import Tensor, _h, _op, full, int64, tensor, where
from .._tensor import cat as _cat


def _pair(v, name="value"):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return [int(v[0])] * 2
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
        return [int(v[0]), int(v[1])]
    return [int(v), int(v)]


def _arr2(v, name):
    return i64_array(_pair(v, name), name)[0]


def _t(x, fn):
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument 'input' must be a dfm.Tensor, not {type(x).__name__}")
    return x


def _reduction(size_average, reduce, reduction):
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


# ---- activations ----------------------------------------------------------------------


def relu(input, inplace=False):
    return _op("dfm_relu", _t(input, "relu")._h)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _op("dfm_leaky_relu", _t(input, "leaky_relu")._h, float(negative_slope))


def silu(input, inplace=False):
    x = _t(input, "silu")
    return x * x.sigmoid()


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    x = _t(input, "normalize")
    return x / x.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(x)


def gelu(input, approximate="none"):
    if approximate == "none":
        return _op("dfm_gelu", _t(input, "gelu")._h)
    if approximate == "tanh":
        return _op("dfm_gelu_tanh", _t(input, "gelu")._h)
    raise ValueError(f"approximate argument must be either none or tanh, got {approximate!r}")


def sigmoid(input):
    return _t(input, "sigmoid").sigmoid()


def tanh(input):
    return _t(input, "tanh").tanh()


def _softmax_dim(x, dim):
    if dim is None:
        return 0 if x.dim() in (0, 1, 3) else 1
    return dim


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    x = _t(input, "softmax")
    return x.softmax(_softmax_dim(x, dim))


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    x = _t(input, "log_softmax")
    return x.log_softmax(_softmax_dim(x, dim))


def dropout(input, p=0.5, training=True, inplace=False):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return _op("dfm_dropout", _t(input, "dropout")._h, float(p), bool(training))


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return _op("dfm_alpha_dropout", _t(input, "alpha_dropout")._h, float(p), bool(training))


def _feature_dropout(input, p, training, spatial, name):
    """torch's dropout1d/2d/3d: channel-wise dropout of (N, C, *spatial) or unbatched (C, *spatial)
    input; other ranks are treated as unbatched with a warning, as torch does."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _t(input, name)
    if x.dim() not in (spatial + 1, spatial + 2):
        import warnings

        warnings.warn(
            f"{name}: Received a {x.dim()}-D input to {name}, which is deprecated and will result in an "
            f"error in a future release.",
            UserWarning,
            stacklevel=3,
        )
    batched = x.dim() == spatial + 2
    y = _op("dfm_feature_dropout", x if batched else x.unsqueeze(0), float(p), bool(training))
    return y if batched else y.squeeze(0)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, 3, "dropout3d")


# ---- linear / conv / pool ---------------------------------------------------------------


def linear(input, weight, bias=None):
    return _op("dfm_linear", _t(input, "linear")._h, weight._h, _h(bias))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = _t(input, "conv2d")
    if isinstance(padding, str):
        return _op(
            "dfm_conv2d_padding_mode",
            x._h,
            weight._h,
            _h(bias),
            _arr2(stride, "stride"),
            padding.encode(),
            _arr2(dilation, "dilation"),
            int(groups),
        )
    return _op(
        "dfm_conv2d",
        x._h,
        weight._h,
        _h(bias),
        _arr2(stride, "stride"),
        _arr2(padding, "padding"),
        _arr2(dilation, "dilation"),
        int(groups),
    )


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    x = _t(input, "conv1d")
    one = lambda v, name: int(v[0]) if isinstance(v, (list, tuple)) and len(v) == 1 else int(v)  # noqa: E731
    if isinstance(padding, str):
        return _op(
            "dfm_conv1d_padding_mode",
            x._h,
            weight._h,
            _h(bias),
            one(stride, "stride"),
            padding.encode(),
            one(dilation, "dilation"),
            int(groups),
        )
    return _op(
        "dfm_conv1d",
        x._h,
        weight._h,
        _h(bias),
        one(stride, "stride"),
        one(padding, "padding"),
        one(dilation, "dilation"),
        int(groups),
    )


def pixel_shuffle(input, upscale_factor):
    return _op("dfm_pixel_shuffle", _t(input, "pixel_shuffle")._h, int(upscale_factor))


def pixel_unshuffle(input, downscale_factor):
    return _op("dfm_pixel_unshuffle", _t(input, "pixel_unshuffle")._h, int(downscale_factor))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _op(
        "dfm_conv_transpose2d",
        _t(input, "conv_transpose2d")._h,
        weight._h,
        _h(bias),
        _arr2(stride, "stride"),
        _arr2(padding, "padding"),
        _arr2(output_padding, "output_padding"),
        _arr2(dilation, "dilation"),
        int(groups),
    )


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if return_indices:
        raise RuntimeError("dfm: max_pool2d(return_indices=True) is not supported")
    stride = kernel_size if stride is None or stride == [] else stride
    return _op(
        "dfm_max_pool2d",
        _t(input, "max_pool2d")._h,
        _arr2(kernel_size, "kernel_size"),
        _arr2(stride, "stride"),
        _arr2(padding, "padding"),
        _arr2(dilation, "dilation"),
        bool(ceil_mode),
    )


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    if divisor_override is not None:
        raise RuntimeError("dfm: avg_pool2d(divisor_override=...) is not supported")
    stride = kernel_size if stride is None or stride == [] else stride
    return _op(
        "dfm_avg_pool2d",
        _t(input, "avg_pool2d")._h,
        _arr2(kernel_size, "kernel_size"),
        _arr2(stride, "stride"),
        _arr2(padding, "padding"),
        bool(ceil_mode),
        bool(count_include_pad),
    )


def adaptive_avg_pool2d(input, output_size):
    x = _t(input, "adaptive_avg_pool2d")
    size = _pair(output_size, "output_size") if not isinstance(output_size, (list, tuple)) else list(output_size)
    if len(size) == 1:
        size = size * 2
    size = [x.shape[-2 + i] if s is None else int(s) for i, s in enumerate(size)]
    if len(size) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must have 2 values, got {size}")
    return _op("dfm_adaptive_avg_pool2d", x._h, i64_array(size, "output_size")[0])


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    from ctypes import c_double

    x = _t(input, "interpolate")
    if antialias:
        raise RuntimeError("dfm: interpolate(antialias=True) is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    sz = None
    sf = None
    if size is not None:
        sz = i64_array(_pair(size, "size"), "size")[0]
    else:
        if isinstance(scale_factor, (list, tuple)):
            s = [float(v) for v in scale_factor] * (2 if len(scale_factor) == 1 else 1)
        else:
            s = [float(scale_factor)] * 2
        sf = (c_double * 2)(*s[:2])
    return _op("dfm_interpolate", x._h, sz, sf, mode.encode(), align_corners is not None, bool(align_corners))


upsample = interpolate


def flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


# ---- normalisation ---------------------------------------------------------------------


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False, sparse=False):
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("dfm: embedding supports neither max_norm, scale_grad_by_freq nor sparse")
    idx = input if isinstance(input, Tensor) else tensor(input)
    if idx.dtype is not int64:
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have scalar type Long; but got {idx.dtype}")
    rows = _t(weight, "embedding").index_select(0, idx.reshape(-1))
    if padding_idx is not None:  # padding rows pass no gradient to the table (their values are kept)
        pad = idx.reshape(-1, 1) == padding_idx % weight.shape[0]
        rows = where(pad, rows.detach(), rows)
    return rows.reshape(*idx.shape, weight.shape[1])


def pad(input, pad, mode="constant", value=None):
    """F.pad. Float input: the core's dfm_pad in every mode (constant, reflect, replicate,
    circular). Integer input, constant mode: cat() with constant blocks, last dimension
    first (negative pads crop with narrow)."""
    x = _t(input, "pad")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant" and value:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument.')
    if x.dtype.is_floating_point or mode != "constant":
        p, n = i64_array([int(v) for v in pad], "pad")
        return _op("dfm_pad", x._h, p, n, mode.encode(), float(0.0 if value is None else value))
    if len(pad) % 2 or len(pad) // 2 > x.dim():
        raise RuntimeError(f"Padding length must be divisible by 2 and at most twice the input's dims, got {len(pad)}")
    for k in range(len(pad) // 2):
        d = x.dim() - 1 - k
        lo, hi = int(pad[2 * k]), int(pad[2 * k + 1])
        if lo < 0:
            x = x.narrow(d, -lo, x.shape[d] + lo)
        if hi < 0:
            x = x.narrow(d, 0, x.shape[d] + hi)
        parts = []
        for n in (max(lo, 0), None, max(hi, 0)):
            if n is None:
                parts.append(x)
            elif n:
                shape = list(x.shape)
                shape[d] = n
                parts.append(full(tuple(shape), 0.0 if value is None else value, dtype=x.dtype))
        x = parts[0] if len(parts) == 1 else _cat(parts, d)
    return x


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    return _op(
        "dfm_batch_norm",
        _t(input, "batch_norm")._h,
        _h(running_mean),
        _h(running_var),
        _h(weight),
        _h(bias),
        bool(training),
        float(momentum if momentum is not None else 0.0),
        float(eps),
    )


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    return _op("dfm_group_norm", _t(input, "group_norm")._h, int(num_groups), _h(weight), _h(bias), float(eps))


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    from .._lib import i64_array

    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    s, n = i64_array(shape)
    return _op("dfm_layer_norm", _t(input, "layer_norm")._h, s, n, _h(weight), _h(bias), float(eps))


# ---- losses ------------------------------------------------------------------------------


def _target(target, like):
    if isinstance(target, Tensor):
        return target
    if isinstance(target, bool):
        raise TypeError("target must be an int class index or a Tensor, not bool")
    if isinstance(target, int):
        return full((), target, dtype=int64)
    return tensor(target)


def cross_entropy(
    input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean", label_smoothing=0.0
):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "cross_entropy")
    return _op(
        "dfm_cross_entropy",
        x,
        _target(target, x),
        _h(weight),
        int(ignore_index),
        reduction.encode(),
        float(label_smoothing),
    )


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "nll_loss")
    return _op("dfm_nll_loss", x, _target(target, x), _h(weight), int(ignore_index), reduction.encode())


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "mse_loss")
    t = target if isinstance(target, Tensor) else tensor(target)
    return _op("dfm_mse_loss", x._h, t._h, reduction.encode())


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "l1_loss")
    if weight is not None:
        return _weighted(_op("dfm_l1_loss", x._h, _like(target, x)._h, b"none"), weight, reduction)
    return _op("dfm_l1_loss", x._h, _like(target, x)._h, reduction.encode())


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "binary_cross_entropy_with_logits")
    t = target if isinstance(target, Tensor) else tensor(target)
    return _op("dfm_binary_cross_entropy_with_logits", x._h, t._h, _h(weight), _h(pos_weight), reduction.encode())


def _like(v, x):
    """A Python number / list / array as a tensor of x's dtype (torch's wrapped scalars)."""
    return v if isinstance(v, Tensor) else tensor(v, dtype=x.dtype)


def _weighted(loss, weight, reduction):
    """torch's weighted l1/huber (composed in torch's Python too): the mean divides by Σ weight."""
    if tuple(weight.shape) != tuple(loss.shape):
        raise ValueError("Weights and input must have the same size.")
    w = loss * weight
    return w if reduction == "none" else w.sum() if reduction == "sum" else w.sum() / weight.sum()


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "smooth_l1_loss")
    return _op("dfm_smooth_l1_loss", x._h, _like(target, x)._h, reduction.encode(), float(beta))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    reduction = _reduction(None, None, reduction)
    x = _t(input, "huber_loss")
    if weight is not None:
        return _weighted(_op("dfm_huber_loss", x._h, _like(target, x)._h, b"none", float(delta)), weight, reduction)
    return _op("dfm_huber_loss", x._h, _like(target, x)._h, reduction.encode(), float(delta))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "soft_margin_loss")
    return _op("dfm_soft_margin_loss", x._h, _like(target, x)._h, reduction.encode())


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "binary_cross_entropy")
    return _op("dfm_binary_cross_entropy", x._h, _like(target, x)._h, _h(weight), reduction.encode())


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if size_average is not None or reduce is not None:
        reduction = _reduction(size_average, reduce, "mean")
    elif reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    x = _t(input, "kl_div")
    return _op("dfm_kl_div", x._h, _like(target, x)._h, reduction.encode(), bool(log_target))


def poisson_nll_loss(
    input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"
):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "poisson_nll_loss")
    return _op(
        "dfm_poisson_nll_loss", x._h, _like(target, x)._h, bool(log_input), bool(full), float(eps), reduction.encode()
    )


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    x = _t(input, "gaussian_nll_loss")
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = full_like_(x, float(var))
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    return _op("dfm_gaussian_nll_loss", x._h, _like(target, x)._h, var._h, bool(full), float(eps), reduction.encode())


def full_like_(x, value):
    return full(tuple(x.shape), value, dtype=x.dtype)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "hinge_embedding_loss")
    return _op("dfm_hinge_embedding_loss", x._h, _like(target, x)._h, float(margin), reduction.encode())


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "multilabel_soft_margin_loss")
    return _op("dfm_multilabel_soft_margin_loss", x._h, _like(target, x)._h, _h(weight), reduction.encode())


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input, "multilabel_margin_loss")
    return _op("dfm_multilabel_margin_loss", x._h, _target(target, x)._h, reduction.encode())


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    x = _t(input, "multi_margin_loss")
    return _op(
        "dfm_multi_margin_loss", x._h, _target(target, x)._h, int(p), float(margin), _h(weight), reduction.encode()
    )


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input1, "cosine_embedding_loss")
    return _op(
        "dfm_cosine_embedding_loss", x._h, _like(input2, x)._h, _like(target, x)._h, float(margin), reduction.encode()
    )


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction(size_average, reduce, reduction)
    x = _t(input1, "margin_ranking_loss")
    return _op(
        "dfm_margin_ranking_loss", x._h, _like(input2, x)._h, _like(target, x)._h, float(margin), reduction.encode()
    )


def triplet_margin_loss(
    anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None, reduce=None, reduction="mean"
):
    reduction = _reduction(size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a = _t(anchor, "triplet_margin_loss")
    return _op(
        "dfm_triplet_margin_loss",
        a._h,
        _like(positive, a)._h,
        _like(negative, a)._h,
        float(margin),
        float(p),
        float(eps),
        bool(swap),
        reduction.encode(),
    )


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    from .._lib import i64_array

    reduction = _reduction(None, None, reduction)
    x = _t(log_probs, "ctc_loss")
    lengths = lambda v: [int(e) for e in (v.tolist() if isinstance(v, Tensor) else v)]  # noqa: E731
    il, tl = lengths(input_lengths), lengths(target_lengths)
    if len(il) != len(tl):
        raise RuntimeError(f"ctc_loss: {len(il)} input_lengths but {len(tl)} target_lengths")
    ia, n = i64_array(il)
    ta, _ = i64_array(tl)
    return _op(
        "dfm_ctc_loss", x._h, _target(targets, x)._h, ia, ta, n, int(blank), reduction.encode(), bool(zero_infinity)
    )


# ---- attention -----------------------------------------------------------------------------


def _mask_tensor(mask):
    """A mask as a dfm tensor: dfm tensors as given, numpy/Python bool arrays as bool tensors."""
    if mask is None or isinstance(mask, Tensor):
        return mask
    import numpy as np

    return tensor(np.asarray(mask))


def scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """torch's F.scaled_dot_product_attention: one fused core kernel (bool masks: True = attend)."""
    if enable_gqa:
        raise NotImplementedError("dfm: scaled_dot_product_attention(enable_gqa=True) is not supported")
    m = _mask_tensor(attn_mask)
    return _op(
        "dfm_scaled_dot_product_attention",
        _t(query, "scaled_dot_product_attention")._h,
        _t(key, "sdpa")._h,
        _t(value, "sdpa")._h,
        _h(m),
        float(dropout_p),
        bool(is_causal),
        scale is not None,
        float(scale) if scale is not None else 0.0,
    )


def multi_head_attention_forward(
    query,
    key,
    value,
    num_heads,
    in_proj_weight,
    in_proj_bias,
    out_proj_weight,
    out_proj_bias,
    dropout_p=0.0,
    training=True,
    key_padding_mask=None,
    need_weights=True,
    attn_mask=None,
    average_attn_weights=True,
    is_causal=False,
    batch_first=False,
):
    """torch's F.multi_head_attention_forward (packed in-projection) in the core; (L, N, E) inputs,
    (N, L, E) with batch_first (dfm's addition), or unbatched (L, E)."""
    import ctypes

    from .._lib import Handle
    from .._tensor import _wrap

    kpm, am = _mask_tensor(key_padding_mask), _mask_tensor(attn_mask)
    out, w = Handle(), Handle()
    check(
        C.dfm_multi_head_attention_forward(
            _t(query, "multi_head_attention_forward")._h,
            _t(key, "mha")._h,
            _t(value, "mha")._h,
            int(num_heads),
            in_proj_weight._h,
            _h(in_proj_bias),
            out_proj_weight._h,
            _h(out_proj_bias),
            float(dropout_p),
            bool(training),
            _h(kpm),
            bool(need_weights),
            _h(am),
            bool(average_attn_weights),
            bool(is_causal),
            bool(batch_first),
            ctypes.byref(out),
            ctypes.byref(w),
        )
    )
    return _wrap(out.value), (_wrap(w.value) if w.value else None)


def one_hot(tensor_, num_classes=-1):
    import numpy as np

    idx = np.asarray(tensor_)
    if idx.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    n = int(idx.max()) + 1 if num_classes < 0 else int(num_classes)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = np.zeros(idx.shape + (n,), dtype=np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return tensor(out)


_ = check, C
