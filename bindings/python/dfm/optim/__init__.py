"""dfm.optim: torch.optim's optimizers, computed by the core; lr_scheduler."""
from . import lr_scheduler  # noqa: F401
from .optimizer import (ASGD, SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, RAdam,  # noqa: F401
                        RMSprop)
