"""nn.Module: torch's module tree (registration by attribute assignment, state dicts,
train/eval), subclassable in Python. Forward passes call core ops."""

import collections
import itertools
from collections import OrderedDict

from .._tensor import Tensor, float32, float64, no_grad, to_dtype
from .._tensor import device as _device
from .parameter import Parameter

_IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    training: bool
    _version = 1

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() takes no arguments (Module.__init__ got "
                f"{len(args)} positional and {sorted(kwargs)} keyword arguments)"
            )
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # ---- registration --------------------------------------------------------------
    def _check_ready(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    def register_parameter(self, name, param):
        self._check_ready("parameters")
        _check_name(name, self, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(dfm.nn.Parameter or None required)"
            )
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_ready("buffers")
        _check_name(name, self, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (dfm Tensor or None required)"
            )
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        self._check_ready("child modules")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(name, self, "module")
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self.__dict__.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' (dfm.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self.add_module(name, value)
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' (dfm.nn.Module or None expected)"
                )
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' (dfm.Tensor or None expected)"
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in ("_parameters", "_buffers", "_modules"):
            s = self.__dict__.get(store)
            if s is not None and name in s:
                del s[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = set(super().__dir__())
        for store in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(store, {}))
        return sorted(keys)

    # ---- traversal -----------------------------------------------------------------
    def _local_parameters(self):
        """(name, tensor) pairs owned directly by this module (core-backed modules override)."""
        return [(k, v) for k, v in self._parameters.items() if v is not None]

    def _local_buffers(self):
        return [(k, v) for k, v in self._buffers.items() if v is not None]

    def _local_state(self):
        """(name, tensor) pairs this module contributes to state_dict (without children)."""
        out = [(k, v) for k, v in self._parameters.items() if v is not None]
        out += [(k, v) for k, v in self._buffers.items() if v is not None and k not in self._non_persistent_buffers_set]
        return out

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, getter, prefix, recurse, remove_duplicate=True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for mp, m in mods:
            for k, v in getter(m):
                key = id(v) if not hasattr(v, "_h") else v._h
                if remove_duplicate:
                    if key in seen:
                        continue
                    seen.add(key)
                yield mp + ("." if mp else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._local_parameters(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._local_buffers(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target):
        if target == "":
            return self
        m = self
        for item in target.split("."):
            if not isinstance(m, Module) or item not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no attribute `{item}`")
            m = m._modules[item]
        return m

    def get_parameter(self, target):
        mod_path, _, name = target.rpartition(".")
        m = self.get_submodule(mod_path)
        params = dict(m._local_parameters())
        if name not in params:
            raise AttributeError(f"{type(m).__name__} has no parameter `{name}`")
        return params[name]

    def get_buffer(self, target):
        mod_path, _, name = target.rpartition(".")
        m = self.get_submodule(mod_path)
        bufs = dict(m._local_buffers())
        if name not in bufs:
            raise AttributeError(f"{type(m).__name__} has no buffer `{name}`")
        return bufs[name]

    # ---- state dicts -----------------------------------------------------------------
    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        if args:  # torch's deprecated positional form state_dict(destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        for name, m in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            for k, v in m._local_state():
                destination[name + ("." if name else "") + k] = v if keep_vars else v.detach()
        return destination

    def _state_targets(self):
        """(key, tensor) the state dict loads into, in module order (shared tensors under every name)."""
        return list(self.state_dict(keep_vars=True).items())

    def load_state_dict(self, state_dict, strict=True, assign=False):
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        targets = self._state_targets()
        expected = {k for k, _ in targets}
        missing, errors, plan = [], [], []
        for key, dst in targets:
            if key not in state_dict:
                missing.append(key)
                continue
            src = state_dict[key]
            if not isinstance(src, Tensor):
                errors.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or Tensor-like '
                    f"object from checkpoint but received {type(src)}"
                )
                continue
            s_shape, d_shape = tuple(src.shape), tuple(dst.shape)
            if d_shape == () and s_shape == (1,):
                src = src.reshape(())
                s_shape = ()
            if s_shape != d_shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {src.shape} from checkpoint, "
                    f"the shape in current model is {dst.shape}."
                )
                continue
            plan.append((dst, src))
        unexpected = [k for k in state_dict if k not in expected]
        msgs = []
        if strict:
            if unexpected:
                msgs.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                msgs.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        msgs += errors
        if msgs:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(msgs))
        with no_grad():
            for dst, src in plan:
                if src._h != dst._h:
                    dst.copy_(src.to(dst.dtype) if src.dtype is not dst.dtype else src)
        return _IncompatibleKeys(missing, unexpected)

    # ---- modes / movement -------------------------------------------------------------
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
            m._on_train(mode)
        return self

    def _on_train(self, mode):
        """Hook for core-backed modules to pass the flag on."""

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g is not None:
                    g.zero_()

    def to(self, *args, **kwargs):
        dt = None
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, (str, _device)):
                _device(a)
            elif isinstance(a, Tensor):
                dt = a.dtype if a.dtype.is_floating_point else dt
            elif a is not None and not isinstance(a, bool):
                dt = to_dtype(a)
                if dt is not None and not dt.is_floating_point:
                    raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt}")
        if dt is not None:
            # In place, as torch's module.to: every floating point parameter and buffer (the same
            # tensors, so an optimizer built before keeps them); integer buffers stay.
            for t in list(self.parameters()) + list(self.buffers()):
                if t.dtype.is_floating_point and t.dtype is not dt:
                    t._convert_(dt)
        return self

    def cpu(self):
        return self

    def cuda(self, device=None):
        raise RuntimeError("dfm runs on the CPU only: CUDA is not available (use .cpu() or .to('cpu'))")

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        to_dtype("float16")

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def share_memory(self):
        return self

    # ---- calling ---------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- printing --------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for key, m in self._modules.items():
            lines.append("(" + key + "): " + _addindent(repr(m), 2))
        s = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                s += lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"

    def __setstate__(self, state):
        self.__dict__.update(state)


def _check_name(name, module, kind):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
    if (
        hasattr(type(module), name)
        and name not in module.__dict__.get("_parameters", {})
        and name not in module.__dict__.get("_buffers", {})
        and name not in module.__dict__.get("_modules", {})
    ):
        raise KeyError(f"attribute '{name}' already exists")


class Sequential(Module):
    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for k, m in args[0].items():
                self.add_module(k, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        n = len(self)
        i = idx.__index__()
        if not -n <= i < n:
            raise IndexError(f"index {idx} is out of range")
        return list(self._modules.values())[i % n]

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input


class ModuleList(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        n = len(self)
        i = idx.__index__()
        if not -n <= i < n:
            raise IndexError(f"index {idx} is out of range")
        return self._modules[str(i % n)]

    def __setitem__(self, idx, module):
        n = len(self)
        i = idx.__index__()
        if not -n <= i < n:
            raise IndexError(f"index {idx} is out of range")
        self.add_module(str(i % n), module)

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(mods):
            self.add_module(str(i), m)


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules):
        items = modules.items() if hasattr(modules, "items") else modules
        for k, m in items:
            self[k] = m


class ParameterList(Module):
    def __init__(self, values=None):
        super().__init__()
        for v in values or []:
            self.append(v)

    def append(self, value):
        if not isinstance(value, Parameter):
            value = Parameter(value)
        self.register_parameter(str(len(self._parameters)), value)
        return self

    def __len__(self):
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters.values())

    def __getitem__(self, idx):
        return list(self._parameters.values())[idx]


_ = itertools
