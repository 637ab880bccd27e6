"""dfm.backends: placeholders scripts probe (torch.backends.mps.is_available())."""


class _Unavailable:
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


mps = _Unavailable()
cuda = _Unavailable()


class cudnn:
    enabled = False
    benchmark = False
    deterministic = True
