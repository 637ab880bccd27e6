"""torch.optim.lr_scheduler over the core's schedulers (one per parameter group)."""

import ctypes
import math

from .._lib import C, Handle, check, handle_array, i64_array


class LRScheduler:
    def __init__(self, optimizer, last_epoch=-1):
        if last_epoch != -1:
            raise ValueError("dfm: schedulers start from last_epoch=-1 only")
        self.optimizer = optimizer
        self._handles = []
        optimizer._sync_lr()
        for i, (g, h) in enumerate(zip(optimizer.param_groups, optimizer._cores)):
            g.setdefault("initial_lr", g["lr"])
            out = Handle()
            check(self._create(h, ctypes.byref(out)))
            self._handles.append(out.value)
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._pull()

    def __del__(self):
        for h in self.__dict__.get("_handles", []):
            try:
                C.dfm_scheduler_release(h)
            except Exception:
                pass
        self._handles = []

    def _pull(self):
        """Copies the lr the core set into param_groups (what torch users read)."""
        lrs = []
        for i, h in enumerate(self._handles):
            v = ctypes.c_double()
            check(C.dfm_scheduler_get_last_lr(h, ctypes.byref(v)))
            self.optimizer.param_groups[i]["lr"] = v.value
            self.optimizer._lrs[i] = v.value
            lrs.append(v.value)
        self._last_lr = lrs

    def step(self, epoch=None):
        if epoch is not None:
            raise ValueError("dfm: scheduler.step(epoch) is not supported; call step() once per epoch")
        for h in self._handles:
            check(C.dfm_scheduler_step(h))
        self.last_epoch += 1
        self._pull()

    def get_last_lr(self):
        return list(self._last_lr)

    def state_dict(self):
        """torch's keys plus "_core": the core scheduler's counters and settings, one dict per group."""
        from .._dicts import dict_from_handle, owned_dict

        core = []
        for h in self._handles:
            out = Handle()
            check(C.dfm_scheduler_state_dict(h, ctypes.byref(out)))
            with owned_dict(out.value) as d:
                core.append(dict_from_handle(d)[1])
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "_core": core,
        }

    def load_state_dict(self, state_dict):
        """Restores the scheduler (not the optimizer's lr: load the optimizer's own state dict for that, as in torch)."""
        from .._dicts import dict_to_handle, owned_dict

        core = state_dict.get("_core")
        if not isinstance(core, list) or len(core) != len(self._handles):
            raise ValueError(
                f"dfm: scheduler state_dict needs '_core' with one entry per parameter group "
                f"({len(self._handles)}), as written by state_dict()"
            )
        for h, meta in zip(self._handles, core):
            with owned_dict(dict_to_handle({}, meta, "scheduler state_dict")) as d:
                check(C.dfm_scheduler_load_state_dict(h, d))
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = list(state_dict["base_lrs"])
        lrs = []
        for h in self._handles:
            v = ctypes.c_double()
            check(C.dfm_scheduler_get_last_lr(h, ctypes.byref(v)))
            lrs.append(v.value)
        self._last_lr = lrs


class StepLR(LRScheduler):
    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_step_lr(opt, int(self.step_size), float(self.gamma), out)


class CosineAnnealingLR(LRScheduler):
    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_cosine_annealing_lr(opt, int(self.T_max), float(self.eta_min), out)


_LRScheduler = LRScheduler


class MultiStepLR(LRScheduler):
    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones, self.gamma = [int(m) for m in milestones], gamma
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        arr, n = i64_array(self.milestones)
        return C.dfm_scheduler_multi_step_lr(opt, arr, n, float(self.gamma), out)


class ExponentialLR(LRScheduler):
    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_exponential_lr(opt, float(self.gamma), out)


class ReduceLROnPlateau(LRScheduler):
    """Reduces the lr when `step(metric)` stops improving (the core keeps the counters)."""

    def __init__(
        self,
        optimizer,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0,
        eps=1e-8,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        if isinstance(min_lr, (list, tuple)):
            raise NotImplementedError("dfm: ReduceLROnPlateau takes one min_lr for all groups")
        self.mode, self.factor, self.patience, self.threshold = mode, factor, patience, threshold
        self.threshold_mode, self.cooldown, self.min_lr, self.eps = threshold_mode, cooldown, min_lr, eps
        super().__init__(optimizer)

    def _create(self, opt, out):
        return C.dfm_scheduler_reduce_on_plateau(
            opt,
            self.mode == "max",
            float(self.factor),
            int(self.patience),
            float(self.threshold),
            self.threshold_mode == "rel",
            int(self.cooldown),
            float(self.min_lr),
            float(self.eps),
            out,
        )

    def step(self, metrics, epoch=None):
        if epoch is not None:
            raise ValueError("dfm: scheduler.step(epoch) is not supported")
        value = float(metrics)  # a 0-dim tensor or a number, as in torch
        for h in self._handles:
            check(C.dfm_scheduler_step_metric(h, value))
        self.last_epoch += 1
        self._pull()


class OneCycleLR(LRScheduler):
    """Stepped once per batch; with cycle_momentum the core also cycles the optimizer's
    momentum (SGD, RMSprop) or beta1 (Adam, AdamW)."""

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps=None,
        epochs=None,
        steps_per_epoch=None,
        pct_start=0.3,
        anneal_strategy="cos",
        cycle_momentum=True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
        last_epoch=-1,
    ):
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
            total_steps = int(epochs) * int(steps_per_epoch)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        n = len(optimizer.param_groups)
        per_group = lambda v: list(v) if isinstance(v, (list, tuple)) else [v] * n  # noqa: E731
        self.max_lrs, self.base_momentums = per_group(max_lr), per_group(base_momentum)
        self.max_momentums = per_group(max_momentum)
        if not len(self.max_lrs) == len(self.base_momentums) == len(self.max_momentums) == n:
            raise ValueError(f"expected {n} values for max_lr / base_momentum / max_momentum, one per param group")
        self.total_steps, self.pct_start, self.anneal_strategy = int(total_steps), float(pct_start), anneal_strategy
        self.cycle_momentum, self.div_factor, self.final_div_factor = cycle_momentum, div_factor, final_div_factor
        self.three_phase = three_phase
        super().__init__(optimizer, last_epoch)
        for g, m in zip(optimizer.param_groups, self.max_lrs):
            g["initial_lr"] = m / div_factor
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]

    def _create(self, opt, out):
        i = len(self._handles)  # groups are created in order
        return C.dfm_scheduler_one_cycle_lr(
            opt,
            float(self.max_lrs[i]),
            self.total_steps,
            self.pct_start,
            self.anneal_strategy == "linear",
            bool(self.cycle_momentum),
            float(self.base_momentums[i]),
            float(self.max_momentums[i]),
            float(self.div_factor),
            float(self.final_div_factor),
            bool(self.three_phase),
            out,
        )

    def step(self, epoch=None):
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(
                f"Tried to step {self.last_epoch + 1} times. The specified number of total steps is {self.total_steps}"
            )
        super().step(epoch)


# ---- schedulers added for issue #13 ----------------------------------------------------

# dfm_lr_lambda_fn: dfm_status (*)(int64_t epoch, void *user_data, double *out)
_LAMBDA_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.POINTER(ctypes.c_double))


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); the core calls the Python function back each step."""

    _multiplicative = False

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        self._error = None
        self._callbacks = [self._callback(f) for f in self.lr_lambdas]  # kept alive with the scheduler
        self._run(lambda: LRScheduler.__init__(self, optimizer, last_epoch))

    def _callback(self, fn):
        def call(epoch, _user, out):
            try:
                out[0] = float(fn(int(epoch)))
                return 0
            except BaseException as e:  # reported by the step that called us
                if self._error is None:
                    self._error = e
                return 1

        return _LAMBDA_FN(call)

    def _run(self, body):
        try:
            body()
        except Exception:
            err, self._error = self._error, None
            if err is not None:
                raise err
            raise

    def _create(self, opt, out):
        cb = self._callbacks[len(self._handles)]
        return C.dfm_scheduler_lambda_lr(opt, ctypes.cast(cb, ctypes.c_void_p), None, self._multiplicative, out)

    def step(self, epoch=None):
        self._run(lambda: LRScheduler.step(self, epoch))


class MultiplicativeLR(LambdaLR):
    """lr = lr * lr_lambda(epoch) from epoch 1 on."""

    _multiplicative = True


class ConstantLR(LRScheduler):
    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        if factor > 1.0 or factor < 0:
            raise ValueError("Constant multiplicative factor expected to be between 0 and 1.")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_constant_lr(opt, float(self.factor), int(self.total_iters), out)


class LinearLR(LRScheduler):
    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("Ending multiplicative factor expected to be between 0 and 1.")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_linear_lr(
            opt, float(self.start_factor), float(self.end_factor), int(self.total_iters), out
        )


class PolynomialLR(LRScheduler):
    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_polynomial_lr(opt, int(self.total_iters), float(self.power), out)


class CosineAnnealingWarmRestarts(LRScheduler):
    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def _create(self, opt, out):
        return C.dfm_scheduler_cosine_warm_restarts(opt, int(self.T_0), int(self.T_mult), float(self.eta_min), out)

    def step(self, epoch=None):
        """step() or step(epoch) with a possibly fractional epoch (epoch + i / iters)."""
        if epoch is None:
            return super().step()
        if epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        for h in self._handles:
            check(C.dfm_scheduler_step_epoch(h, float(epoch)))
        self.last_epoch = math.floor(epoch)
        self._pull()


class CyclicLR(LRScheduler):
    """Stepped per batch; with cycle_momentum the core also cycles the optimizer's momentum or beta1."""

    def __init__(
        self,
        optimizer,
        base_lr,
        max_lr,
        step_size_up=2000,
        step_size_down=None,
        mode="triangular",
        gamma=1.0,
        scale_fn=None,
        scale_mode="cycle",
        cycle_momentum=True,
        base_momentum=0.8,
        max_momentum=0.9,
        last_epoch=-1,
    ):
        if scale_fn is not None:
            raise NotImplementedError(
                "dfm: CyclicLR takes mode='triangular', 'triangular2' or 'exp_range', not a scale_fn"
            )
        if mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(f"mode is invalid and scale_fn is None: {mode}")
        n = len(optimizer.param_groups)
        per_group = lambda v, name: list(v) if isinstance(v, (list, tuple)) else [v] * n  # noqa: E731
        self.base_lrs_, self.max_lrs = per_group(base_lr, "base_lr"), per_group(max_lr, "max_lr")
        self.base_momentums, self.max_momentums = per_group(base_momentum, "m"), per_group(max_momentum, "m")
        if not len(self.base_lrs_) == len(self.max_lrs) == len(self.base_momentums) == len(self.max_momentums) == n:
            raise ValueError(f"expected {n} values for base_lr / max_lr / base_momentum / max_momentum, one per group")
        self.step_size_up, self.step_size_down = int(step_size_up), step_size_down
        self.mode, self.gamma, self.cycle_momentum = mode, gamma, cycle_momentum
        for g, lr in zip(optimizer.param_groups, self.base_lrs_):
            g["lr"] = lr
        super().__init__(optimizer, last_epoch)
        self.base_lrs = list(self.base_lrs_)

    def _create(self, opt, out):
        i = len(self._handles)
        down = -1 if self.step_size_down is None else int(self.step_size_down)
        return C.dfm_scheduler_cyclic_lr(
            opt,
            float(self.base_lrs_[i]),
            float(self.max_lrs[i]),
            self.step_size_up,
            down,
            self.mode.encode(),
            float(self.gamma),
            bool(self.cycle_momentum),
            float(self.base_momentums[i]),
            float(self.max_momentums[i]),
            out,
        )


def _check_children(schedulers, optimizer, name):
    if len(schedulers) < 1:
        raise ValueError(f"{name} expects at least one scheduler, but got no scheduler.")
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{name} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs "
                f"to be specified when calling `step`, but got one at index {i} in the given schedulers "
                "sequence."
            )
        if s.optimizer is not optimizer:
            raise ValueError(
                f"{name} expects all schedulers to belong to the same optimizer, but got scheduler at "
                f"index {i} to be different than the optimizer passed in."
            )


class SequentialLR(LRScheduler):
    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        _check_children(schedulers, optimizer, "SequentialLR")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number "
                f"of milestone points, but got number of schedulers {len(schedulers)} and the number of "
                f"milestones to be equal to {len(milestones)}"
            )
        if last_epoch != -1:
            raise ValueError("dfm: schedulers start from last_epoch=-1 only")
        self._schedulers, self._milestones = list(schedulers), [int(m) for m in milestones]
        self.optimizer, self._handles = optimizer, []
        for g in range(len(optimizer.param_groups)):
            arr, n = handle_array([s._handles[g] for s in self._schedulers])
            ms, nm = i64_array(self._milestones)
            out = Handle()
            check(C.dfm_scheduler_sequential_lr(optimizer._cores[g], arr, n, ms, nm, ctypes.byref(out)))
            self._handles.append(out.value)
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._pull()


class ChainedScheduler(LRScheduler):
    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_children(schedulers, optimizer, "ChainedScheduler")
        self._schedulers, self.optimizer, self._handles = list(schedulers), optimizer, []
        for g in range(len(optimizer.param_groups)):
            arr, n = handle_array([s._handles[g] for s in self._schedulers])
            out = Handle()
            check(C.dfm_scheduler_chained(arr, n, ctypes.byref(out)))
            self._handles.append(out.value)
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.last_epoch = 0
        self._pull()
