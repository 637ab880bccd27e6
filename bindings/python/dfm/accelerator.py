"""torch.accelerator (the device API of current torch): dfm runs on the CPU only, so no
accelerator is ever available and scripts take their CPU branch."""

from ._tensor import device as _device


def is_available():
    return False


def current_accelerator(check_available=False):
    """None: there is no accelerator (torch returns None when none is present)."""
    return None


def device_count():
    return 0


def current_device_index():
    return -1


def set_device_index(device):
    raise RuntimeError("dfm runs on the CPU only: no accelerator device to select")


set_device_idx = set_device_index


def synchronize(device=None):
    return None


def _cpu():
    return _device("cpu")
