"""dfm.vision: torchvision's shape over dfm, so `import dfm.vision as torchvision` (or
`from dfm.vision import datasets, transforms, models, utils`) runs torchvision-based scripts."""
from .. import datasets, models, transforms  # noqa: F401
from . import utils  # noqa: F401

__all__ = ["datasets", "models", "transforms", "utils"]
