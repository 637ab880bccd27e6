"""dfm.vision: torchvision's shape over dfm, so `import dfm.vision as torchvision` (or
`from dfm.vision import datasets, transforms, models, utils`, or
`from dfm.vision.datasets import MNIST`) runs torchvision-based scripts."""

import sys

from .. import datasets, transforms  # noqa: F401
from . import models, utils  # noqa: F401

# The same module objects under torchvision's dotted names.
for _name, _mod in (("datasets", datasets), ("transforms", transforms)):
    sys.modules[f"{__name__}.{_name}"] = _mod

__all__ = ["datasets", "models", "transforms", "utils"]
