"""dfm.optim: SGD, Adam, AdamW, RMSprop computed by the core; lr_scheduler."""
from . import lr_scheduler  # noqa: F401
from .optimizer import SGD, Adam, AdamW, Optimizer, RMSprop  # noqa: F401
