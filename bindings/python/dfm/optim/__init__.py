"""dfm.optim: torch.optim's optimizers, computed by the core; lr_scheduler."""

from . import lr_scheduler  # noqa: F401
from .optimizer import (
    ASGD,
    LBFGS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    Optimizer,  # noqa: F401
    RAdam,
    RMSprop,
)
