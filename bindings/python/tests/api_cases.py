"""API behaviour cases run twice: by tools/fixtures/python_api.py under PyTorch (to record
the expected results in fixtures/python_api.json) and by test_api_fixtures.py under dfm.

Each case is Python code run with `torch`, `nn`, `F`, `np` bound to the library under
test; it sets `result`. Results are encoded by `encode` (same code for both libraries).
Option "f64": torch returns float64 where dfm (which has no float64) returns float32.
"""

CASES = [
    # ---- creation and dtype inference ------------------------------------------------
    ("tensor_int_dtype", "result = torch.tensor([1, 2, 3])"),
    ("tensor_float_dtype", "result = torch.tensor([[1.5, 2], [3, 4]])"),
    ("tensor_scalar", "result = torch.tensor(3.5)"),
    ("arange_int", "result = torch.arange(5)"),
    ("arange_float", "result = torch.arange(0, 1, 0.25)"),
    ("arange_step", "result = torch.arange(1, 10, 3)"),
    ("zeros_shape", "result = torch.zeros(2, 3)"),
    ("zeros_tuple", "result = torch.zeros((2, 3), dtype=torch.int64)"),
    ("ones_like", "result = torch.ones_like(torch.zeros(2, 2))"),
    ("full_int", "result = torch.full((2,), 7)"),
    ("full_float", "result = torch.full((2, 2), 1.5)"),
    ("size_obj", "result = torch.zeros(2, 3, 4).size()"),
    ("size_dim", "result = torch.zeros(2, 3, 4).size(-1)"),
    ("shape_numel_dim", "x = torch.zeros(2, 3, 4); result = (x.numel(), x.dim(), x.ndim, len(x))"),
    ("cat", "result = torch.cat([torch.arange(3), torch.arange(2)])"),
    ("cat_dim1", "result = torch.cat([torch.zeros(2, 1), torch.ones(2, 2)], dim=1)"),
    ("stack", "result = torch.stack([torch.arange(3), torch.arange(3)], dim=1)"),
    # ---- arithmetic, broadcasting, scalars -------------------------------------------
    ("add_broadcast", "a = torch.tensor([[1., 2., 3.]]); b = torch.tensor([[10.], [20.]]); result = a + b"),
    ("sub_scalar", "result = torch.tensor([1., 2.]) - 0.5"),
    ("rsub_scalar", "result = 2 - torch.tensor([1., 2.])"),
    ("mul_scalar", "result = torch.tensor([1., 2.]) * 3"),
    ("rmul_scalar", "result = 3 * torch.tensor([1., 2.])"),
    ("div_scalar", "result = torch.tensor([1., 2.]) / 4"),
    ("rdiv_scalar", "result = 1 / torch.tensor([1., 2., 4.])"),
    ("pow_scalar", "result = torch.tensor([1., 2., 3.]) ** 2"),
    ("rpow_scalar", "result = 2 ** torch.tensor([1., 2., 3.])"),
    ("neg_abs", "x = torch.tensor([-1., 2.]); result = (-x, abs(x))"),
    ("int_add_int", "result = torch.arange(4) + 1"),
    ("int_mul_int", "result = torch.arange(4) * 3"),
    ("int_mul_float", "result = torch.arange(4) * 0.5"),
    ("int_plus_float_tensor", "result = torch.arange(3) + torch.tensor([0.5, 0.5, 0.5])"),
    ("int_sub_tensor", "result = torch.arange(6).reshape(2, 3) - torch.tensor([1, 2, 3])"),
    ("int_mul_broadcast", "result = torch.arange(3).reshape(3, 1) * torch.arange(4)"),
    ("int_rsub", "result = (10 - torch.arange(4), 0.5 - torch.arange(2))"),
    ("int_neg_abs", "x = torch.tensor([-3, 0, 4]); result = (-x, x.abs(), abs(x), torch.neg(x))"),
    ("int_div", "result = (torch.arange(4) / 2, torch.arange(1, 4) / torch.tensor([2, 4, 8]), 6 / torch.arange(1, 4))"),
    ("int_plus_integral_float", "result = (torch.arange(3) + 2.0, torch.arange(3) * 1.0)"),
    (
        "float_times_int_tensor",
        "result = (torch.tensor([0.5, 1.5]) * torch.tensor([2, 3]), torch.tensor([2, 3]) - torch.tensor([0.5, 1.5]))",
    ),
    (
        "int_grad_through_mixed",
        "w = torch.tensor([0.5, 1.5], requires_grad=True); "
        "(w * torch.tensor([2, 3])).sum().backward(); result = w.grad",
    ),
    (
        "int_sum_dims",
        "result = (torch.arange(24).reshape(2, 3, 4).sum((0, 2)), "
        "torch.arange(6).reshape(2, 3).sum(1, keepdim=True), torch.sum(torch.arange(4), 0))",
    ),
    ("int_inplace", "x = torch.arange(3); x += 2; x *= 3; x -= 1; result = x"),
    ("int_wraps", "result = torch.tensor([2**62]) * 4 + torch.tensor([2**63 - 1]) + 1"),
    (
        "labels_count",
        "y = torch.tensor([1, 0, 1, 1]); result = (y.sum().item(), (y * 2).tolist(), y.float().mean().item())",
    ),
    ("expand_int_sum", "result = torch.tensor([[1], [2]]).expand_as(torch.zeros(2, 4)).sum(1)"),
    (
        "int_pow",
        "x = torch.tensor([2, -3, 0]); "
        "result = (x ** 2, x ** 0, 2 ** x.abs(), x ** 0.5, torch.pow(x, torch.tensor([3, 2, 1])))",
    ),
    (
        "int_clamp",
        "x = torch.tensor([-3, 0, 4]); "
        "result = (x.clamp(0, 1), x.clamp(min=0.5), x.clamp(max=1), torch.clamp(x, -1, 2))",
    ),
    ("matmul_2d", "a = torch.arange(6.).reshape(2, 3); b = torch.arange(12.).reshape(3, 4); result = a @ b"),
    ("matmul_vec", "a = torch.arange(6.).reshape(2, 3); result = a @ torch.tensor([1., 0., -1.])"),
    ("matmul_batched", "a = torch.arange(24.).reshape(2, 3, 4); b = torch.arange(8.).reshape(4, 2); result = a @ b"),
    ("inplace_add", "x = torch.zeros(3); x += 2; x.mul_(3); result = x"),
    ("exp_log_sqrt", "x = torch.tensor([1., 4.]); result = (x.exp(), x.log(), x.sqrt())"),
    ("clamp", "result = torch.tensor([-2., 0.5, 3.]).clamp(min=-1, max=1)"),
    ("clamp_min_only", "result = torch.clamp(torch.tensor([-2., 0.5, 3.]), min=0)"),
    ("sigmoid_tanh_relu", "x = torch.tensor([-1., 0., 2.]); result = (x.sigmoid(), x.tanh(), x.relu())"),
    # ---- comparisons ----------------------------------------------------------------
    ("compare_scalar", "x = torch.tensor([1., 2., 3.]); result = (x > 2, x <= 2, x == 2, x != 2)"),
    ("compare_tensor", "x = torch.tensor([1., 2., 3.]); result = x < torch.tensor([3., 2., 1.])"),
    (
        "compare_dtypes",
        "a = torch.tensor([1, 2, 3]); "
        "result = (a == 2, a > torch.tensor([1., 2.5, 2.]), (a > 1) == torch.tensor([False, True, True]))",
    ),
    # ---- bool tensors, logical ops, masks ----------------------------------------------
    (
        "bool_create",
        "result = (torch.tensor([True, False]), torch.full((2,), True), torch.zeros(2, dtype=torch.bool), "
        "torch.tensor([1., 0., float('nan')]).bool(), torch.ones(2, dtype=bool), "
        "torch.from_numpy(np.array([False, True])), torch.tensor([0, 3]).to(torch.bool))",
    ),
    (
        "bool_ops",
        "m = torch.tensor([1., 2., 3.]) > 1; n = torch.tensor([True, False, True]); "
        "result = (m & n, m | n, m ^ n, ~m, m & True, m.logical_not(), "
        "torch.logical_and(m, torch.tensor([0, 1, 2])), torch.logical_or(torch.tensor([0., 1., 0.]), n))",
    ),
    (
        "bool_arith",
        "m = torch.tensor([True, False]); "
        "result = (m + m, m * m, m + 1, m * 0.5, m * torch.tensor([2., 3.]), torch.tensor([2, 3]) * m, "
        "m.sum(), m.float().mean(), m.long(), m / 2)",
    ),
    (
        "bool_reduce",
        "m = torch.tensor([[True, False], [True, True]]); "
        "result = (m.any(), m.all(), m.any(1), m.all(dim=0), m.sum(1), m.max(), torch.any(m, 0, keepdim=True), "
        "torch.tensor([0., 2.]).all(), torch.tensor([0, 2]).any())",
    ),
    (
        "bool_item_tolist",
        "m = torch.tensor([1, 2]) == 2; "
        "result = (m[1].item(), m.tolist(), bool(m[0]), m.dtype, m.numpy().dtype.name, m.is_floating_point())",
    ),
    (
        "zeros_repr",
        "result = (repr(torch.zeros(3)), repr(torch.tensor([0., float('nan'), -float('inf')])), "
        "repr(torch.zeros(2, 2, requires_grad=True)), repr(torch.tensor(0.)), repr(torch.tensor([-0., 0.])))",
    ),
    (
        "bool_repr",
        "result = (repr(torch.tensor([True, False, True])), repr(torch.tensor(True)), "
        "repr(torch.tensor([[1.], [2.]]) > 1))",
    ),
    (
        "mask_index",
        "x = torch.arange(12.).reshape(3, 4); "
        "result = (x[x > 5], x[torch.tensor([True, False, True])], x[:, torch.tensor([False, True, True, False])], "
        "x[np.array([True, False, False])], x[[True, True, False]], x[..., x[0] > 1])",
    ),
    (
        "mask_index_grad",
        "x = torch.arange(6.).reshape(2, 3).requires_grad_(); x[x > 2].sum().backward(); result = x.grad",
    ),
    ("mask_setitem", "x = torch.arange(6.); x[x > 3] = 0; y = torch.arange(4); y[y % 2 == 1] = -1; result = (x, y)"),
    (
        "masked_select_nonzero",
        "x = torch.tensor([[0., 1.], [2., 0.]]); "
        "result = (torch.masked_select(x, x > 0), x.masked_select(torch.tensor([True, False])), "
        "torch.nonzero(x), x.nonzero(as_tuple=True), torch.where(x > 0), torch.argwhere(x))",
    ),
    ("masked_fill_bool", "x = torch.arange(4.); result = x.masked_fill(x > 1, -1.)"),
    (
        "floor_mod",
        "x = torch.tensor([7., -7., 2.5]); n = torch.tensor([7, -7, 3]); "
        "result = (x // 2, x % 2, -7 // torch.tensor([2.]), 7 % torch.tensor([-3.]), n // 2, n % -2, "
        "n // torch.tensor([2, 3, -2]), torch.floor_divide(n, 2), torch.remainder(x, 1.5), n // 2.5, "
        "n % torch.tensor([2., 4., -2.]), 5 // n)",
    ),
    ("floor_mod_inplace", "x = torch.tensor([7, -7]); x //= 2; y = torch.tensor([5., -5.]); y %= 3; result = (x, y)"),
    (
        "remainder_grad",
        "x = torch.tensor([5., -3.], requires_grad=True); "
        "d = torch.tensor([2., 2.], requires_grad=True); (x % d).sum().backward(); result = (x.grad, d.grad)",
    ),
    # ---- unary math, rounding, predicates --------------------------------------------------
    (
        "unary_extra",
        "x = torch.tensor([-1.5, -0.5, 0.5, 2.5, 3.7]); "
        "result = (x.sin(), torch.cos(x), (x + 2).log1p(), x.expm1(), x.floor(), torch.ceil(x), x.round(), "
        "x.trunc(), x.sign(), torch.sign(torch.tensor([-3, 0, 2])), x.clamp_min(0), torch.clamp_max(x, 1))",
    ),
    (
        "predicates",
        "x = torch.tensor([1., float('nan'), float('inf'), -float('inf')]); "
        "result = (x.isnan(), torch.isinf(x), torch.isfinite(x), torch.isfinite(torch.tensor([1, 2])))",
    ),
    (
        "leaky_silu",
        "x = torch.tensor([-2., -0.5, 0., 1.5], requires_grad=True); "
        "y = (F.leaky_relu(x, 0.2) + nn.LeakyReLU()(x) + nn.SiLU()(x) + F.silu(x)).sum(); y.backward(); "
        "result = (F.leaky_relu(x.detach()), nn.SiLU()(x.detach()), x.grad)",
    ),
    (
        "sort_topk",
        "x = torch.tensor([[3., 1., 4., 1.5], [2., 7., 1., 8.]]); "
        "v, i = x.sort(); s = torch.sort(x, dim=0, descending=True); t = x.topk(2); "
        "result = (v, i, s.values, s.indices, t.values, t.indices, torch.topk(x, 1, dim=0, largest=False), "
        "x.argsort(dim=1, descending=True), repr(x.topk(1)))",
    ),
    (
        "topk_accuracy",
        "logits = torch.tensor([[0.1, 0.5, 0.2, 0.9], [0.8, 0.1, 0.05, 0.3], [0.2, 0.3, 0.4, 0.1]]); "
        "y = torch.tensor([1, 0, 3]); _, pred = logits.topk(2, 1, True, True); pred = pred.t(); "
        "correct = pred.eq(y.view(1, -1).expand_as(pred)); "
        "result = (correct, correct[:1].reshape(-1).float().sum(0, keepdim=True), correct[:2].reshape(-1).float().sum(0))",
    ),
    (
        "sort_grad",
        "x = torch.tensor([3., 1., 2.], requires_grad=True); "
        "(x.sort(descending=True).values * torch.tensor([1., 10., 100.])).sum().backward(); result = x.grad",
    ),
    (
        "reductions_extra",
        "x = torch.tensor([[1., -2., 3.], [4., 5., -6.]]); "
        "result = (x.var(), x.var(1), x.std(0), x.var(1, unbiased=False), x.std(dim=1, keepdim=True), "
        "torch.var(x, dim=0, correction=0), x.norm(), x.norm(dim=1), x.norm(p=1), torch.norm(x, float('inf')), "
        "x.amax(1), x.amin(dim=(0, 1)), torch.amax(x, 0, keepdim=True), x.logsumexp(1), "
        "torch.logsumexp(x, dim=(0, 1)), torch.tensor([[-float('inf'), -float('inf')]]).logsumexp(1))",
    ),
    (
        "var_grad",
        "x = torch.tensor([[1., 2., 4.], [0., 3., 3.]], requires_grad=True); "
        "(x.std(1).sum() + x.logsumexp(0).sum() + x.norm()).backward(); result = x.grad",
    ),
    (
        "normalize_eye",
        "x = torch.tensor([[3., 4.], [0., 0.]]); "
        "result = (F.normalize(x), F.normalize(x, dim=0), F.normalize(x, p=1), torch.eye(3), torch.eye(2, 3, dtype=torch.int64))",
    ),
    (
        "rmsprop",
        "p = nn.Parameter(torch.tensor([1., -2., 3.])); q = nn.Parameter(torch.tensor([0.5, 0.5, 0.5])); "
        "o1 = torch.optim.RMSprop([p], lr=0.01); o2 = torch.optim.RMSprop([q], lr=0.01, momentum=0.9, centered=True, "
        "weight_decay=0.1); out = []\n"
        "for s in range(3):\n"
        "    for o, t in ((o1, p), (o2, q)):\n"
        "        o.zero_grad(); (t * t * torch.tensor([1., 2., 3.])).sum().backward(); o.step()\n"
        "    out.append((p.detach().clone(), q.detach().clone()))\n"
        "result = out",
    ),
    (
        "one_cycle_lr",
        "p = nn.Parameter(torch.ones(1)); o = torch.optim.SGD([p], lr=0.1, momentum=0.9); "
        "s = torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.4, epochs=2, steps_per_epoch=5); lrs = []\n"
        "for _ in range(10):\n"
        "    lrs.append(s.get_last_lr()[0]); o.zero_grad(); (p * p).sum().backward(); o.step(); s.step()\n"
        "result = (lrs, s.get_last_lr(), p.detach(), s.base_lrs)",
    ),
    (
        "reduce_lr_on_plateau",
        "p = nn.Parameter(torch.ones(1)); o = torch.optim.SGD([p], lr=0.1); "
        "s = torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1); lrs = []\n"
        "for m in [1.0, 0.9, 0.95, 0.97, 0.99, 0.98, 0.97, 0.5, 0.6, 0.7]:\n"
        "    o.step(); s.step(torch.tensor(m)); lrs.append(o.param_groups[0]['lr'])\n"
        "result = (lrs, s.get_last_lr())",
    ),
    (
        "multistep_exponential_lr",
        "p = nn.Parameter(torch.ones(1)); o1 = torch.optim.SGD([p], lr=0.1); "
        "o2 = torch.optim.SGD([p], lr=0.2); m = torch.optim.lr_scheduler.MultiStepLR(o1, [2, 4], 0.5); "
        "e = torch.optim.lr_scheduler.ExponentialLR(o2, 0.9); lrs = []\n"
        "for _ in range(6):\n"
        "    lrs.append((m.get_last_lr()[0], e.get_last_lr()[0], o1.param_groups[0]['lr'])); "
        "o1.step(); o2.step(); m.step(); e.step()\n"
        "result = lrs",
    ),
    (
        "cumsum",
        "x = torch.tensor([[1., 2., 3.], [4., 5., 6.]], requires_grad=True); y = x.cumsum(1); "
        "(y * torch.tensor([1., 10., 100.])).sum().backward(); "
        "result = (y, torch.cumsum(x.detach(), dim=0), torch.tensor([True, False, True]).cumsum(0), "
        "torch.arange(4).cumsum(0), x.grad)",
    ),
    (
        "conv_transpose2d",
        "x = torch.arange(18.).reshape(1, 2, 3, 3).requires_grad_(); "
        "w = (torch.arange(24.).reshape(2, 3, 2, 2) / 10).requires_grad_(); b = torch.tensor([1., -1., 0.5]); "
        "y = F.conv_transpose2d(x, w, b, stride=2); (y * y).sum().backward(); "
        "m = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, bias=False); "
        "result = (y, x.grad, w.grad, m(torch.zeros(1, 4, 5, 5)).shape, m.weight.shape, "
        "F.conv_transpose2d(x.detach(), w.detach(), padding=1, output_padding=(1, 0), stride=(2, 3)).shape)",
    ),
    (
        "scatter",
        "x = torch.zeros(2, 4, requires_grad=True); s = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True); "
        "i = torch.tensor([[3, 0], [1, 1]]); y = x.scatter(1, i, s); (y * torch.arange(8.).reshape(2, 4)).sum().backward(); "
        "result = (y, x.grad, s.grad, torch.zeros(2, 4).scatter_add(1, i, s.detach()), "
        "torch.zeros(3, 5).scatter_(1, torch.tensor([[0], [4], [2]]), 1.0), "
        "torch.scatter(torch.zeros(2, 3, dtype=torch.int64), 0, torch.tensor([[1, 0, 1]]), 7))",
    ),
    (
        "nll_loss",
        "x = torch.tensor([[0.2, 1.0, -0.5], [0.3, -1.2, 2.0]], requires_grad=True); t = torch.tensor([1, 2]); "
        "lp = F.log_softmax(x, dim=1); l = F.nll_loss(lp, t); l.backward(); "
        "result = (l, F.nll_loss(lp, t, reduction='none'), nn.NLLLoss(weight=torch.tensor([1., 2., 3.]))(lp, t), "
        "F.nll_loss(lp, t, ignore_index=2), x.grad)",
    ),
    (
        "gather",
        "x = torch.arange(6.).reshape(2, 3).requires_grad_(); i = torch.tensor([[2, 2], [0, 1]]); "
        "g = x.gather(1, i); (g * torch.tensor([[1., 10.], [100., 1000.]])).sum().backward(); "
        "result = (g, torch.gather(x.detach(), 0, torch.tensor([[1, 0, 1]])), x.grad)",
    ),
    (
        "pad_constant",
        "x = torch.arange(6.).reshape(1, 2, 3).requires_grad_(); y = F.pad(x, (1, 2, 0, 1), value=-1.); "
        "(y * torch.arange(float(y.numel())).reshape(y.shape)).sum().backward(); "
        "result = (y, x.grad, F.pad(x.detach(), (-1, 1)), F.pad(torch.ones(2, 2, dtype=torch.int64), (1, 0)))",
    ),
    (
        "embedding",
        "w = torch.arange(15.).reshape(5, 3); e = nn.Embedding(5, 3, padding_idx=0, _weight=w.clone()); "
        "i = torch.tensor([[0, 2], [4, 2]]); out = e(i); (out * torch.arange(12.).reshape(2, 2, 3)).sum().backward(); "
        "result = (out, e.weight.grad, F.embedding(i, w), nn.Embedding(5, 3, padding_idx=-1).weight[4], "
        "nn.Embedding(5, 3).weight.shape)",
    ),
    (
        "batchnorm1d",
        "bn = nn.BatchNorm1d(3); x = torch.arange(24.).reshape(4, 3, 2); y2 = bn(torch.arange(12.).reshape(4, 3)); "
        "y3 = bn(x); bn.eval(); result = (y2, y3, bn.running_mean, bn.running_var, bn.num_batches_tracked, bn(x[:1]))",
    ),
    (
        "max_return_type",
        "v, i = torch.tensor([1., 3.]).max(0); r = torch.tensor([[1., 3.]]).min(dim=1); "
        "result = (v, i, r.values, r.indices, repr(torch.tensor([1., 3.]).max(0)))",
    ),
    (
        "accuracy_idiom",
        "p = torch.tensor([[0.1, 0.9], [0.8, 0.2]]); y = torch.tensor([1, 1]); "
        "result = (p.argmax(1) == y).sum().item()",
    ),
    ("where", "x = torch.tensor([1., -2., 3.]); result = torch.where(x > 0, x, torch.zeros(3))"),
    # ---- indexing ---------------------------------------------------------------------
    ("index_int", "x = torch.arange(12).reshape(3, 4); result = x[1]"),
    ("index_neg", "x = torch.arange(12).reshape(3, 4); result = x[-1]"),
    ("index_2d", "x = torch.arange(12).reshape(3, 4); result = x[1, 2]"),
    ("index_slice", "x = torch.arange(12).reshape(3, 4); result = x[:, 1:3]"),
    ("index_step", "x = torch.arange(12).reshape(3, 4); result = x[::2, ::3]"),
    ("index_ellipsis", "x = torch.arange(24).reshape(2, 3, 4); result = x[..., 1]"),
    ("index_none", "x = torch.arange(6).reshape(2, 3); result = x[None, :, None].shape"),
    ("index_slice_clamp", "x = torch.arange(5); result = (x[3:100], x[-100:2])"),
    ("index_tensor", "x = torch.arange(12).reshape(3, 4); result = x[torch.tensor([2, 0])]"),
    ("index_tensor_neg", "x = torch.arange(12).reshape(3, 4); result = x[torch.tensor([-1, 0, -3])]"),
    ("index_tensor_cols", "x = torch.arange(12.).reshape(3, 4); result = x[:, torch.tensor([3, 3, 1])]"),
    ("index_list", "x = torch.arange(12).reshape(3, 4); result = x[[2, 0]]"),
    (
        "index_select",
        "x = torch.arange(12.).reshape(3, 4); "
        "result = (torch.index_select(x, 1, torch.tensor([2, 0])), x.index_select(0, torch.tensor([1])))",
    ),
    (
        "index_tensor_grad",
        "w = torch.arange(6.).reshape(3, 2).requires_grad_(); "
        "w[torch.tensor([2, 2, 0])].sum().backward(); result = w.grad",
    ),
    ("index_chain_item", "x = torch.arange(12).reshape(3, 4); result = x[2][3].item()"),
    ("setitem", "x = torch.zeros(2, 3); x[0, 1] = 5; x[1] = torch.tensor([1., 2., 3.]); result = x"),
    ("iterate", "result = [t.item() for t in torch.tensor([1, 2, 3])]"),
    # ---- reductions ---------------------------------------------------------------------
    ("sum_all", "result = torch.arange(6.).reshape(2, 3).sum()"),
    ("sum_dim", "result = torch.arange(6.).reshape(2, 3).sum(1)"),
    ("sum_dims_keep", "result = torch.arange(24.).reshape(2, 3, 4).sum((0, 2), keepdim=True)"),
    ("sum_int", "result = torch.arange(6).sum()"),
    ("mean_dim", "result = torch.arange(6.).reshape(2, 3).mean(dim=0)"),
    ("mean_neg_dim", "result = torch.arange(6.).reshape(2, 3).mean(-1, keepdim=True)"),
    ("max_all", "result = torch.tensor([[1., 5.], [3., 2.]]).max()"),
    ("max_dim", "r = torch.tensor([[1., 5.], [3., 2.]]).max(dim=1); result = (r.values, r.indices, r[0])"),
    ("min_dim_keep", "v, i = torch.tensor([[1., 5.], [3., 2.]]).min(0, keepdim=True); result = (v, i)"),
    ("argmax", "result = torch.tensor([[1., 5., 2.], [7., 2., 0.]]).argmax(dim=1)"),
    ("argmax_flat", "result = torch.tensor([[1., 5., 2.], [7., 2., 0.]]).argmax()"),
    ("softmax", "result = torch.tensor([[1., 2., 3.], [0., 0., 0.]]).softmax(dim=1)"),
    ("log_softmax", "result = torch.log_softmax(torch.tensor([[1., 2., 3.]]), dim=-1)"),
    # ---- shape ops ---------------------------------------------------------------------
    ("reshape_infer", "result = torch.arange(6).reshape(-1, 2)"),
    ("view", "result = torch.arange(6).view(3, 2)"),
    ("permute", "result = torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1)"),
    ("transpose", "result = torch.arange(6).reshape(2, 3).transpose(0, 1)"),
    ("t_and_T", "x = torch.arange(6).reshape(2, 3); result = (x.t(), x.T)"),
    ("flatten", "result = torch.arange(24).reshape(2, 3, 4).flatten(1)"),
    ("squeeze", "x = torch.zeros(1, 3, 1); result = (x.squeeze().shape, x.squeeze(0).shape, x.squeeze(1).shape)"),
    ("unsqueeze", "result = torch.arange(3).unsqueeze(-1).shape"),
    ("expand", "result = torch.tensor([[1], [2]]).expand(2, 3)"),
    ("split", "result = torch.arange(5).split(2)"),
    ("chunk", "result = torch.arange(6).chunk(3)"),
    ("contiguous", "result = torch.arange(6).reshape(2, 3).t().contiguous()"),
    # ---- conversion --------------------------------------------------------------------
    ("item_float", "result = torch.tensor([2.5]).item()"),
    ("item_int", "result = torch.tensor(7).item()"),
    ("tolist", "result = torch.tensor([[1, 2], [3, 4]]).tolist()"),
    ("tolist_float", "result = torch.tensor([0.5, 1.0]).tolist()"),
    ("float_of_tensor", "result = float(torch.tensor(1.5)) + int(torch.tensor(2))"),
    ("numpy_roundtrip", "result = torch.from_numpy(np.arange(4, dtype=np.float32)).numpy().tolist()"),
    ("long_float", "result = (torch.tensor([1.7, -1.7]).long(), torch.tensor([1, 2]).float())"),
    ("to_dtype", "result = torch.arange(3).to(torch.float32)"),
    ("long_truncates", "result = torch.tensor([[2.9, -2.9], [0.5, -0.5]]).long()"),
    (
        "to_dtype_forms",
        "x = torch.tensor([1.5]); result = (x.to(torch.int64), x.type(torch.int64), "
        "x.to(dtype=torch.long), torch.arange(2).to(torch.float), torch.arange(2).type_as(x))",
    ),
    (
        "float_keeps_graph",
        "x = torch.ones(2, requires_grad=True); y = x.float(); "
        "result = (y is x, (torch.arange(2).float() * x).sum().requires_grad, x.long().requires_grad)",
    ),
    ("to_device", "x = torch.ones(2); result = x.to('cpu') is x"),
    ("dtype_attr", "result = (torch.zeros(1).dtype, torch.zeros(1, dtype=torch.long).dtype)"),
    # ---- repr --------------------------------------------------------------------------
    ("repr_float", "result = repr(torch.tensor([1.5, 2.25, -3.0]))"),
    ("repr_int_floats", "result = repr(torch.tensor([[1., 2.], [3., 4.]]))"),
    ("repr_long", "result = repr(torch.arange(5))"),
    ("repr_scalar", "result = repr(torch.tensor(3.))"),
    ("repr_sci", "result = repr(torch.tensor([1e-5, 1.0, 1000.0]))"),
    ("repr_large", "result = repr(torch.tensor([123456.5, 1.25]))"),
    ("repr_3d", "result = repr(torch.arange(12.).reshape(2, 2, 3))"),
    ("repr_requires_grad", "result = repr(torch.tensor([1., 2.], requires_grad=True))"),
    ("repr_empty", "result = (repr(torch.zeros(0)), repr(torch.zeros(0, 3)))"),
    ("repr_summarized", "result = repr(torch.arange(2000))"),
    ("repr_summarized_2d", "result = repr(torch.arange(4000.).reshape(40, 100))"),
    ("repr_wide", "result = repr(torch.arange(30.) / 7)"),
    ("repr_nan_inf", "result = repr(torch.tensor([float('nan'), float('inf'), -1.5]))"),
    ("repr_size", "result = repr(torch.zeros(2, 3).shape)"),
    ("str_tensor", "result = str(torch.tensor([1, 2]))"),
    # ---- autograd ------------------------------------------------------------------------
    ("grad_basic", "x = torch.tensor([1., 2., 3.], requires_grad=True); (x * x).sum().backward(); result = x.grad"),
    (
        "grad_accumulates",
        "x = torch.tensor([1., 2.], requires_grad=True)\nfor _ in range(2): (x * 3).sum().backward()\nresult = x.grad",
    ),
    (
        "grad_broadcast",
        "w = torch.tensor([1., 2.], requires_grad=True); x = torch.ones(3, 2)\n"
        "(x * w).sum().backward(); result = w.grad",
    ),
    (
        "grad_gradient_arg",
        "x = torch.tensor([1., 2.], requires_grad=True); y = x * 2\n"
        "y.backward(torch.tensor([1., 10.])); result = x.grad",
    ),
    ("grad_none_before", "x = torch.tensor([1.], requires_grad=True); result = x.grad is None"),
    (
        "requires_grad_flags",
        "x = torch.tensor([1.], requires_grad=True); y = x * 2\n"
        "result = (x.is_leaf, y.is_leaf, y.requires_grad, y.detach().requires_grad)",
    ),
    (
        "no_grad_ctx",
        "x = torch.tensor([1.], requires_grad=True)\nwith torch.no_grad():\n    y = x * 2\n"
        "result = (y.requires_grad, torch.is_grad_enabled())",
    ),
    (
        "no_grad_decorator",
        "x = torch.tensor([1.], requires_grad=True)\n@torch.no_grad()\ndef f(v):\n    return v * 2\n"
        "result = f(x).requires_grad",
    ),
    (
        "zero_grad_none",
        "m = nn.Linear(2, 1); m(torch.ones(1, 2)).sum().backward(); m.zero_grad()\nresult = m.weight.grad is None",
    ),
    (
        "zero_grad_zeros",
        "m = nn.Linear(2, 1); m(torch.ones(1, 2)).sum().backward(); m.zero_grad(set_to_none=False)\n"
        "result = m.weight.grad",
    ),
    (
        "retain_graph",
        "x = torch.tensor([2.], requires_grad=True); y = (x * x).sum()\n"
        "y.backward(retain_graph=True); y.backward(); result = x.grad",
    ),
    (
        "clone_grad",
        "x = torch.tensor([2.], requires_grad=True); y = x.clone(); (y * 3).sum().backward()\n"
        "result = (x.grad, y.requires_grad)",
    ),
    # ---- nn.Module --------------------------------------------------------------------
    ("linear_keys", "result = list(nn.Linear(3, 2).state_dict().keys())"),
    ("linear_shapes", "m = nn.Linear(3, 2); result = [tuple(p.shape) for p in m.parameters()]"),
    ("linear_nobias", "result = [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()]"),
    (
        "sequential_keys",
        "m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), "
        "nn.Linear(2, 3))\nresult = list(m.state_dict().keys())",
    ),
    (
        "named_modules",
        "m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))\n"
        "result = [n for n, _ in m.named_modules()]",
    ),
    ("children", "m = nn.Sequential(nn.Linear(2, 2), nn.ReLU()); result = len(list(m.children()))"),
    (
        "subclass_registration",
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = nn.Linear(2, 3)\n"
        "        self.w = nn.Parameter(torch.zeros(3))\n"
        "        self.register_buffer('stat', torch.ones(3))\n"
        "        self.register_buffer('tmp', torch.ones(1), persistent=False)\n"
        "        self.blocks = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 1)])\n"
        "        self.plain = torch.ones(1)\n"
        "    def forward(self, x):\n"
        "        x = self.a(x) + self.w\n"
        "        for b in self.blocks: x = b(x)\n"
        "        return x\n"
        "m = M()\n"
        "result = ([n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()], "
        "list(m.state_dict().keys()), tuple(m(torch.ones(4, 2)).shape))",
    ),
    (
        "shared_param_dedup",
        "l = nn.Linear(2, 2); m = nn.Sequential(l, l); result = (len(list(m.parameters())), list(m.state_dict()))",
    ),
    (
        "load_state_dict_nonstrict",
        "m = nn.Linear(2, 1); sd = {'weight': torch.ones(1, 2), 'extra': torch.zeros(1)}\n"
        "r = m.load_state_dict(sd, strict=False); result = (r.missing_keys, r.unexpected_keys, m.weight)",
    ),
    ("load_state_dict_strict_error", "m = nn.Linear(2, 1); m.load_state_dict({'weight': torch.ones(1, 2)})"),
    (
        "load_state_dict_shape_error",
        "m = nn.Linear(2, 1); m.load_state_dict({'weight': torch.ones(2, 2), 'bias': torch.ones(1)})",
    ),
    (
        "train_eval_flags",
        "m = nn.Sequential(nn.Dropout(), nn.Linear(1, 1)); m.eval(); a = m[0].training; "
        "m.train(); result = (a, m[0].training, m.training)",
    ),
    ("bn_buffers", "result = [n for n, _ in nn.BatchNorm2d(3).named_buffers()]"),
    ("mha_params", "result = [n for n, _ in nn.MultiheadAttention(4, 2).named_parameters()]"),
    ("module_repr", "result = repr(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Linear(4, 2)))"),
    # ---- layers with deterministic weights -------------------------------------------------
    (
        "linear_forward",
        "m = nn.Linear(3, 2)\nwith torch.no_grad():\n    m.weight.copy_(torch.arange(6.).reshape(2, 3) / 10)\n"
        "    m.bias.copy_(torch.tensor([0.5, -0.5]))\nresult = m(torch.arange(6.).reshape(2, 3))",
    ),
    (
        "conv_forward",
        "m = nn.Conv2d(2, 3, 3, stride=2, padding=1)\nwith torch.no_grad():\n"
        "    m.weight.copy_(torch.arange(54.).reshape(3, 2, 3, 3) / 50 - 0.5)\n    m.bias.fill_(0.1)\n"
        "x = torch.arange(50.).reshape(1, 2, 5, 5) / 25\nresult = m(x)",
    ),
    (
        "bn_train_forward",
        "m = nn.BatchNorm2d(2); x = torch.arange(16.).reshape(2, 2, 2, 2)\ny = m(x)\n"
        "result = (y, m.running_mean, m.running_var, m.num_batches_tracked)",
    ),
    ("bn_eval_forward", "m = nn.BatchNorm2d(2); m.eval(); result = m(torch.arange(16.).reshape(2, 2, 2, 2))"),
    ("groupnorm_forward", "result = nn.GroupNorm(2, 4)(torch.arange(32.).reshape(1, 4, 2, 4) ** 0.5)"),
    ("layernorm_forward", "result = nn.LayerNorm(3)(torch.tensor([[1., 2., 4.], [0., 0., 3.]]))"),
    ("maxpool_forward", "result = nn.MaxPool2d(2)(torch.arange(16.).reshape(1, 1, 4, 4))"),
    ("maxpool_pad", "result = nn.MaxPool2d(3, stride=2, padding=1)(torch.arange(25.).reshape(1, 1, 5, 5))"),
    ("avgpool_adaptive", "result = nn.AdaptiveAvgPool2d((1, 1))(torch.arange(16.).reshape(1, 1, 4, 4))"),
    (
        "upsample_bilinear",
        "result = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False)"
        "(torch.arange(4.).reshape(1, 1, 2, 2))",
    ),
    ("interpolate_nearest", "result = F.interpolate(torch.arange(4.).reshape(1, 1, 2, 2), size=(3, 3))"),
    (
        "interpolate_align",
        "result = F.interpolate(torch.arange(4.).reshape(1, 1, 2, 2), size=(3, 3), "
        "mode='bilinear', align_corners=True)",
    ),
    ("gelu", "result = (nn.GELU()(torch.tensor([-1., 0.5, 2.])), F.gelu(torch.tensor([1.]), approximate='tanh'))"),
    ("dropout_eval", "m = nn.Dropout(0.5); m.eval(); result = m(torch.ones(4))"),
    ("flatten_module", "result = nn.Flatten()(torch.zeros(2, 3, 4)).shape"),
    ("identity", "result = nn.Identity()(torch.tensor([1., 2.]))"),
    (
        "mha_forward",
        "m = nn.MultiheadAttention(4, 2)\nwith torch.no_grad():\n"
        "    m.in_proj_weight.copy_(torch.arange(48.).reshape(12, 4) / 48 - 0.5)\n"
        "    m.in_proj_bias.copy_(torch.arange(12.) / 24)\n"
        "    m.out_proj.weight.copy_(torch.arange(16.).reshape(4, 4) / 16 - 0.5)\n    m.out_proj.bias.fill_(0.25)\n"
        "q = torch.arange(24.).reshape(3, 2, 4) / 24\nout, w = m(q, q, q)\nresult = (out, w)",
    ),
    (
        "mha_batch_first",
        "m = nn.MultiheadAttention(4, 1, batch_first=True)\nwith torch.no_grad():\n"
        "    m.in_proj_weight.copy_(torch.arange(48.).reshape(12, 4) / 48 - 0.5)\n"
        "q = torch.arange(24.).reshape(2, 3, 4) / 24\nout, w = m(q, q, q)\nresult = (out.shape, w.shape)",
    ),
    # ---- losses -----------------------------------------------------------------------------
    (
        "ce_batched",
        "result = nn.CrossEntropyLoss()(torch.tensor([[1., 2., 0.5], [0.1, 0.2, 3.]]), torch.tensor([1, 2]))",
    ),
    ("ce_unbatched_int", "result = nn.CrossEntropyLoss()(torch.tensor([1., 2., 0.5]), 2)"),
    ("ce_unbatched_tensor", "result = nn.CrossEntropyLoss()(torch.tensor([1., 2., 0.5]), torch.tensor(2))"),
    (
        "ce_sum_smoothing",
        "result = F.cross_entropy(torch.tensor([[1., 2., 0.5], [0.1, 0.2, 3.]]), "
        "torch.tensor([0, 2]), reduction='sum', label_smoothing=0.1)",
    ),
    ("ce_ignore_index", "result = F.cross_entropy(torch.tensor([[1., 2.], [0.1, 0.2]]), torch.tensor([1, -100]))"),
    (
        "ce_grad",
        "x = torch.tensor([[1., 2., 0.5]], requires_grad=True)\n"
        "F.cross_entropy(x, torch.tensor([0])).backward(); result = x.grad",
    ),
    (
        "mse",
        "result = (nn.MSELoss()(torch.tensor([1., 2.]), torch.tensor([0., 0.])), "
        "F.mse_loss(torch.tensor([1., 2.]), torch.tensor([0., 1.]), reduction='none'))",
    ),
    ("bce_logits", "result = nn.BCEWithLogitsLoss()(torch.tensor([0.5, -1.]), torch.tensor([1., 0.]))"),
    (
        "bce_logits_pos_weight",
        "result = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2., 1.]))"
        "(torch.tensor([0.5, -1.]), torch.tensor([1., 0.]))",
    ),
    # ---- init --------------------------------------------------------------------------------
    ("init_constant", "w = torch.zeros(2, 2); nn.init.constant_(w, 0.5); result = w"),
    ("init_zeros_ones", "a = torch.ones(2); b = torch.zeros(2); nn.init.zeros_(a); nn.init.ones_(b); result = (a, b)"),
    (
        "calculate_gain",
        "result = (nn.init.calculate_gain('relu'), nn.init.calculate_gain('leaky_relu', 0.2), "
        "nn.init.calculate_gain('tanh'))",
    ),
    # ---- optimizers and schedulers ---------------------------------------------------------------
    (
        "sgd_momentum",
        "w = nn.Parameter(torch.tensor([1., -2.]))\nopt = torch.optim.SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01)\n"
        "for _ in range(3):\n    opt.zero_grad(); ((w * w).sum() + w.sum()).backward(); opt.step()\nresult = w",
    ),
    (
        "sgd_nesterov",
        "w = nn.Parameter(torch.tensor([1., -2.]))\nopt = torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)\n"
        "for _ in range(3):\n    opt.zero_grad(); ((w * w).sum()).backward(); opt.step()\nresult = w",
    ),
    (
        "sgd_dampening",
        "w = nn.Parameter(torch.tensor([1., -2.]))\nopt = torch.optim.SGD([w], lr=0.1, momentum=0.5, dampening=0.5)\n"
        "for _ in range(3):\n    opt.zero_grad(); ((w * w).sum()).backward(); opt.step()\nresult = w",
    ),
    (
        "adam",
        "w = nn.Parameter(torch.tensor([1., -2.]))\nopt = torch.optim.Adam([w], lr=0.1)\n"
        "for _ in range(3):\n    opt.zero_grad(); ((w * w).sum() + w.sum()).backward(); opt.step()\nresult = w",
    ),
    (
        "adam_wd",
        "w = nn.Parameter(torch.tensor([1., -2.]))\nopt = torch.optim.Adam([w], lr=0.1, weight_decay=0.1, "
        "betas=(0.8, 0.9))\nfor _ in range(3):\n    opt.zero_grad(); ((w * w).sum()).backward(); opt.step()\nresult = w",
    ),
    (
        "adamw",
        "w = nn.Parameter(torch.tensor([1., -2.]))\nopt = torch.optim.AdamW([w], lr=0.1)\n"
        "for _ in range(3):\n    opt.zero_grad(); ((w * w).sum()).backward(); opt.step()\nresult = w",
    ),
    (
        "param_groups",
        "a = nn.Parameter(torch.tensor([1.])); b = nn.Parameter(torch.tensor([1.]))\n"
        "opt = torch.optim.SGD([{'params': [a]}, {'params': [b], 'lr': 0.5}], lr=0.1)\n"
        "(a + b).sum().backward(); opt.step(); result = (a, b, [g['lr'] for g in opt.param_groups])",
    ),
    (
        "adam_state_keys",
        "w = nn.Parameter(torch.tensor([1., -2.])); opt = torch.optim.Adam([w], lr=0.1)\n"
        "(w * w).sum().backward(); opt.step(); sd = opt.state_dict()\n"
        "result = (sorted(sd['state'][0].keys()), sd['state'][0]['exp_avg'], sd['param_groups'][0]['params'])",
    ),
    (
        "steplr",
        "w = nn.Parameter(torch.zeros(1)); opt = torch.optim.SGD([w], lr=1.0)\n"
        "s = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5); lrs = []\n"
        "for _ in range(6):\n    opt.step(); s.step(); lrs.append(opt.param_groups[0]['lr'])\nresult = lrs",
    ),
    (
        "cosine",
        "w = nn.Parameter(torch.zeros(1)); opt = torch.optim.SGD([w], lr=1.0)\n"
        "s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.1); lrs = []\n"
        "for _ in range(6):\n    opt.step(); s.step(); lrs.append(s.get_last_lr()[0])\nresult = lrs",
    ),
    # ---- data --------------------------------------------------------------------------------
    (
        "loader_len",
        "DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset\nds = TensorDataset(torch.arange(10))\n"
        "result = (len(DataLoader(ds, batch_size=3)), len(DataLoader(ds, batch_size=3, drop_last=True)))",
    ),
    (
        "loader_batches",
        "DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset\n"
        "ds = TensorDataset(torch.arange(10.).reshape(5, 2), torch.arange(5))\n"
        "result = [(x, y) for x, y in DataLoader(ds, batch_size=2)]",
    ),
    (
        "collate_numpy_int",
        "DataLoader = torch.utils.data.DataLoader\n"
        "ds = [(np.full((2, 2), i, dtype=np.float32), i) for i in range(4)]\n"
        "x, y = next(iter(DataLoader(ds, batch_size=3))); result = (x, y)",
    ),
    (
        "collate_float_numbers",
        "DataLoader = torch.utils.data.DataLoader\nresult = next(iter(DataLoader([0.5, 1.5, 2.5], batch_size=3)))",
        {"f64": True},
    ),
    (
        "collate_dict",
        "DataLoader = torch.utils.data.DataLoader\n"
        "ds = [{'a': torch.tensor([i]), 'b': i} for i in range(3)]\n"
        "b = next(iter(DataLoader(ds, batch_size=3))); result = (b['a'], b['b'])",
    ),
    (
        "shuffle_covers",
        "DataLoader = torch.utils.data.DataLoader\ntorch.manual_seed(0)\n"
        "result = sorted(int(v) for b in DataLoader(list(range(7)), batch_size=2, shuffle=True) "
        "for v in b)",
    ),
    (
        "subset",
        "Subset, TensorDataset = torch.utils.data.Subset, torch.utils.data.TensorDataset\n"
        "s = Subset(TensorDataset(torch.arange(10)), [1, 3, 5]); result = (len(s), s[1][0].item())",
    ),
    (
        "random_split_lengths",
        "random_split = torch.utils.data.random_split\n"
        "a, b = random_split(list(range(10)), [7, 3]); "
        "result = (len(a), len(b), sorted(list(a) + list(b)))",
    ),
    (
        "random_split_fractions",
        "random_split = torch.utils.data.random_split\n"
        "parts = random_split(list(range(10)), [0.5, 0.3, 0.2]); "
        "result = [len(p) for p in parts]",
    ),
    # ---- errors (exception type) ---------------------------------------------------------------
    ("err_broadcast", "torch.ones(2, 3) + torch.ones(4)"),
    ("err_index", "torch.arange(3)[5]"),
    ("err_too_many_indices", "torch.arange(3)[0, 0]"),
    ("err_reshape", "torch.arange(6).reshape(4, 2)"),
    ("err_matmul", "torch.ones(2, 3) @ torch.ones(2, 3)"),
    ("err_item_many", "torch.ones(2).item()"),
    ("err_bool_ambiguous", "bool(torch.ones(2))"),
    ("err_len_0d", "len(torch.tensor(1.))"),
    ("err_numpy_requires_grad", "torch.ones(2, requires_grad=True).numpy()"),
    ("err_backward_twice", "x = torch.ones(2, requires_grad=True); y = (x * x).sum(); y.backward(); y.backward()"),
    ("err_backward_nonscalar", "x = torch.ones(2, requires_grad=True); (x * 2).backward()"),
    ("err_ce_target_range", "F.cross_entropy(torch.ones(2, 3), torch.tensor([0, 5]))"),
    ("err_conv_channels", "nn.Conv2d(3, 4, 3)(torch.ones(1, 2, 5, 5))"),
    ("err_linear_features", "nn.Linear(3, 2)(torch.ones(4, 5))"),
    ("err_optimizer_empty", "torch.optim.SGD([], lr=0.1)"),
    ("err_optimizer_lr", "torch.optim.Adam([nn.Parameter(torch.ones(1))], lr=-1)"),
    ("err_dropout_p", "nn.Dropout(p=1.5)"),
    ("err_cat_empty", "torch.cat([])"),
    ("err_leaf_inplace", "x = torch.ones(2, requires_grad=True); x.add_(1)"),
    ("err_softmax_dim", "torch.ones(2, 3).softmax(dim=5)"),
    ("err_sum_dim", "torch.ones(2, 3).sum(dim=3)"),
    ("err_permute", "torch.ones(2, 3).permute(0)"),
    ("err_negative_size", "torch.zeros(-1)"),
    ("err_maxpool_big_kernel", "F.max_pool2d(torch.ones(1, 1, 2, 2), 5)"),
    ("err_stack_shapes", "torch.stack([torch.ones(2), torch.ones(3)])"),
    ("err_index_tensor_oob", "torch.arange(3)[torch.tensor([3])]"),
    ("err_index_tensor_neg_oob", "torch.arange(3)[torch.tensor([-4])]"),
    ("err_index_tensor_float", "torch.arange(3)[torch.tensor([1.])]"),
    ("err_int_negative_power", "torch.tensor([2]) ** -1"),
    ("err_mask_shape", "torch.zeros(2, 3)[torch.tensor([True, False, True])]"),
    ("err_and_float", "torch.ones(2) & torch.ones(2)"),
    ("err_invert_float", "~torch.ones(2)"),
    ("err_topk_k", "torch.ones(2, 3).topk(4)"),
    ("err_sort_dim", "torch.ones(2, 3).sort(dim=2)"),
    (
        "err_one_cycle_past_end",
        "o = torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1); "
        "s = torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=2)\n"
        "for _ in range(3): s.step()",
    ),
    ("err_batchnorm1d_dims", "nn.BatchNorm1d(3)(torch.ones(2, 3, 4, 5))"),
    ("err_nll_target", "F.nll_loss(torch.zeros(2, 3), torch.tensor([0, 3]))"),
]


def encode(x):
    """A JSON-friendly description of a result (works for torch and dfm objects)."""
    import numpy as np

    tname = type(x).__name__
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if tname == "Size":
        return {"size": [int(d) for d in x]}
    if hasattr(x, "detach") and hasattr(x, "shape"):
        a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "cpu") else x.detach().numpy())
        return {
            "tensor": a.astype(np.float64).tolist() if a.dtype.kind == "f" else a.astype(np.int64).tolist(),
            "shape": list(a.shape),
            "dtype": str(x.dtype).split(".")[-1],
            "requires_grad": bool(x.requires_grad),
        }
    if tname in ("dtype",) or str(type(x)).endswith("dtype'>") or tname == "_UnsupportedDtype":
        return {"dtype_obj": str(x).split(".")[-1]}
    if isinstance(x, dict):
        return {"dict": {str(k): encode(v) for k, v in x.items()}}
    if isinstance(x, (list, tuple)):
        return [encode(v) for v in x]
    if isinstance(x, np.ndarray):
        return encode(x.tolist())
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    raise TypeError(f"cannot encode {type(x)}")


def run_case(code, env):
    """Runs a case; returns the encoded result or {"raises": ExceptionTypeName}."""
    ns = dict(env)
    try:
        exec(code, ns)
    except Exception as e:  # noqa: BLE001 (the type is the expectation)
        return {"raises": type(e).__name__, "message": str(e)[:300]}
    return {"result": encode(ns.get("result"))}
