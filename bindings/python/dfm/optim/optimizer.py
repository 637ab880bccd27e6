"""torch.optim over the core's optimizers: one core optimizer per parameter group, so
every update is computed by the core (bitwise the same as Swift's)."""

import ctypes

from .._lib import C, Handle, check, handle_array
from .._tensor import Tensor


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    _kind = None  # set by subclasses

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        self._cores = []  # one core optimizer handle per group
        self._lrs = []  # lr last given to each core optimizer
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, "
                f"but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def __del__(self):
        for h in self.__dict__.get("_cores", []):
            try:
                C.dfm_optimizer_release(h)
            except Exception:
                pass
        self._cores = []

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        seen = {p._h for g in self.param_groups for p in g["params"]}
        if any(p._h in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = params
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {k}")
            group.setdefault(k, v)
        self._validate(group)
        arr, n = handle_array([p._h for p in params])
        out = Handle()
        check(self._create(arr, n, group, ctypes.byref(out)))
        self._cores.append(out.value)
        self._lrs.append(float(group["lr"]))
        self.param_groups.append(group)

    def _validate(self, group):
        lr = group["lr"]
        if isinstance(lr, Tensor):
            lr = group["lr"] = lr.item()
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= group.get("weight_decay", 0.0):
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']}")

    def _sync_lr(self):
        for i, g in enumerate(self.param_groups):
            lr = float(g["lr"])
            if lr != self._lrs[i]:
                check(C.dfm_optimizer_set_lr(self._cores[i], lr))
                self._lrs[i] = lr

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                else:
                    gr = p.grad
                    if gr is not None:
                        gr.zero_()

    def step(self, closure=None):
        loss = None
        if closure is not None:
            from .._tensor import enable_grad

            with enable_grad():
                loss = closure()
        self._sync_lr()
        for h in self._cores:
            check(C.dfm_optimizer_step(h))
        return loss

    # ---- state -------------------------------------------------------------------
    def state_dict(self):
        """torch's layout: {"state": {index: {name: tensor}}, "param_groups": [...]}; the per-parameter
        state comes from the core (momentum buffers, Adam moments, step counts)."""
        from .._dicts import dict_from_handle, owned_dict

        self._sync_lr()
        state, groups, start = {}, [], 0
        for g, h in zip(self.param_groups, self._cores):
            out = Handle()
            check(C.dfm_optimizer_state_dict(h, ctypes.byref(out)))
            with owned_dict(out.value) as d:
                tensors, meta = dict_from_handle(d)
            for key, t in tensors.items():
                _, idx, name = key.split(".", 2)  # state.<i>.<name>
                state.setdefault(start + int(idx), {})[name] = t
            entry = {k: v for k, v in g.items() if k != "params"}
            entry["params"] = list(range(start, start + len(g["params"])))
            entry["_core"] = meta
            groups.append(entry)
            start += len(g["params"])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        from .._dicts import dict_to_handle, owned_dict

        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for g, sg in zip(self.param_groups, groups):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
                )
        for gi, (g, sg, h) in enumerate(zip(self.param_groups, groups, self._cores)):
            tensors = {}
            for local, idx in enumerate(sg["params"]):
                for name, t in state_dict["state"].get(idx, {}).items():
                    tensors[f"state.{local}.{name}"] = t
            with owned_dict(dict_to_handle(tensors, sg.get("_core", {}), "optimizer state_dict")) as d:
                check(C.dfm_optimizer_load_state_dict(h, d))
            for k, v in sg.items():
                if k not in ("params", "_core"):
                    g[k] = v
            lr = ctypes.c_double()
            check(C.dfm_optimizer_get_lr(h, ctypes.byref(lr)))
            self._lrs[gi] = lr.value
        self._sync_lr()

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, g in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for k in sorted(g):
                if k != "params":
                    s += f"\n    {k}: {g[k]}"
        return s + "\n)"


class SGD(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _create(self, arr, n, g, out):
        return C.dfm_optimizer_sgd(
            arr,
            n,
            float(g["lr"]),
            float(g["momentum"]),
            float(g["dampening"]),
            float(g["weight_decay"]),
            bool(g["nesterov"]),
            bool(g["maximize"]),
            out,
        )


class Adam(Optimizer):
    _fn = "dfm_optimizer_adam"

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        super().__init__(
            params,
            dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize),
        )

    def _create(self, arr, n, g, out):
        b1, b2 = g["betas"]
        return getattr(C, self._fn)(
            arr,
            n,
            float(g["lr"]),
            float(b1),
            float(b2),
            float(g["eps"]),
            float(g["weight_decay"]),
            bool(g["amsgrad"]),
            bool(g["maximize"]),
            out,
        )


class RMSprop(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
            ),
        )

    def _create(self, arr, n, g, out):
        return C.dfm_optimizer_rmsprop(
            arr,
            n,
            float(g["lr"]),
            float(g["alpha"]),
            float(g["eps"]),
            float(g["weight_decay"]),
            float(g["momentum"]),
            bool(g["centered"]),
            bool(g["maximize"]),
            out,
        )


class AdamW(Adam):
    _fn = "dfm_optimizer_adamw"

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


def _check_betas(betas, eps):
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")


class Adadelta(Optimizer):
    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _create(self, arr, n, g, out):
        return C.dfm_optimizer_adadelta(
            arr, n, float(g["lr"]), float(g["rho"]), float(g["eps"]), float(g["weight_decay"]), bool(g["maximize"]), out
        )


class Adagrad(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
        )

    def _create(self, arr, n, g, out):
        return C.dfm_optimizer_adagrad(
            arr,
            n,
            float(g["lr"]),
            float(g["lr_decay"]),
            float(g["weight_decay"]),
            float(g["initial_accumulator_value"]),
            float(g["eps"]),
            bool(g["maximize"]),
            out,
        )


class Adamax(Optimizer):
    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _check_betas(betas, eps)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _create(self, arr, n, g, out):
        b1, b2 = g["betas"]
        return C.dfm_optimizer_adamax(
            arr,
            n,
            float(g["lr"]),
            float(b1),
            float(b2),
            float(g["eps"]),
            float(g["weight_decay"]),
            bool(g["maximize"]),
            out,
        )


class NAdam(Optimizer):
    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _check_betas(betas, eps)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                momentum_decay=momentum_decay,
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
            ),
        )

    def _create(self, arr, n, g, out):
        b1, b2 = g["betas"]
        return C.dfm_optimizer_nadam(
            arr,
            n,
            float(g["lr"]),
            float(b1),
            float(b2),
            float(g["eps"]),
            float(g["weight_decay"]),
            float(g["momentum_decay"]),
            bool(g["decoupled_weight_decay"]),
            bool(g["maximize"]),
            out,
        )


class RAdam(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _check_betas(betas, eps)
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                decoupled_weight_decay=decoupled_weight_decay,
                maximize=maximize,
            ),
        )

    def _create(self, arr, n, g, out):
        b1, b2 = g["betas"]
        return C.dfm_optimizer_radam(
            arr,
            n,
            float(g["lr"]),
            float(b1),
            float(b2),
            float(g["eps"]),
            float(g["weight_decay"]),
            bool(g["decoupled_weight_decay"]),
            bool(g["maximize"]),
            out,
        )


class ASGD(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        super().__init__(
            params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize)
        )

    def _create(self, arr, n, g, out):
        return C.dfm_optimizer_asgd(
            arr,
            n,
            float(g["lr"]),
            float(g["lambd"]),
            float(g["alpha"]),
            float(g["t0"]),
            float(g["weight_decay"]),
            bool(g["maximize"]),
            out,
        )


# dfm_closure_fn: dfm_status (*)(void *user_data, double *loss)
_CLOSURE_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_double))


class LBFGS(Optimizer):
    """torch.optim.LBFGS: the core runs the iterations and calls `closure` back for each evaluation."""

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
    ):
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError("only 'strong_wolfe' is supported")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(
            params,
            dict(
                lr=lr,
                max_iter=max_iter,
                max_eval=max_eval,
                tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change,
                history_size=history_size,
                line_search_fn=line_search_fn,
            ),
        )

    def add_param_group(self, param_group):
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _create(self, arr, n, g, out):
        return C.dfm_optimizer_lbfgs(
            arr,
            n,
            float(g["lr"]),
            int(g["max_iter"]),
            int(g["max_eval"]),
            float(g["tolerance_grad"]),
            float(g["tolerance_change"]),
            int(g["history_size"]),
            g["line_search_fn"] == "strong_wolfe",
            out,
        )

    def step(self, closure):
        """Returns the loss of the closure's first evaluation, as torch does."""
        from .._tensor import enable_grad

        self._sync_lr()
        first, errors = [], []

        def call(_user, out):
            try:
                with enable_grad():
                    loss = closure()
                if not first:
                    first.append(loss)
                out[0] = float(loss)
                return 0
            except BaseException as e:  # re-raised below, after the core returns
                errors.append(e)
                return 1

        cb = _CLOSURE_FN(call)
        value = ctypes.c_double()
        status = C.dfm_optimizer_step_closure(
            self._cores[0], ctypes.cast(cb, ctypes.c_void_p), None, ctypes.byref(value)
        )
        if errors:
            raise errors[0]
        check(status)
        return first[0] if first else value.value
