"""dfm.cuda: dfm runs on the CPU only."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    return None


manual_seed_all = manual_seed


def synchronize(device=None):
    return None
