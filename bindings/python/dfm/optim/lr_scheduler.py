"""torch.optim.lr_scheduler over the core's schedulers (one per parameter group)."""
import ctypes

from .._lib import C, Handle, check, i64_array


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
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "_last_lr": list(self._last_lr)}


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

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
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
        return C.dfm_scheduler_reduce_on_plateau(opt, self.mode == "max", float(self.factor), int(self.patience),
                                                 float(self.threshold), self.threshold_mode == "rel",
                                                 int(self.cooldown), float(self.min_lr), float(self.eps), out)

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

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
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
        return C.dfm_scheduler_one_cycle_lr(opt, float(self.max_lrs[i]), self.total_steps, self.pct_start,
                                            self.anneal_strategy == "linear", bool(self.cycle_momentum),
                                            float(self.base_momentums[i]), float(self.max_momentums[i]),
                                            float(self.div_factor), float(self.final_div_factor), bool(self.three_phase),
                                            out)

    def step(self, epoch=None):
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"Tried to step {self.last_epoch + 1} times. "
                             f"The specified number of total steps is {self.total_steps}")
        super().step(epoch)
