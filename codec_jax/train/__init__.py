"""The training engine: state, optimizers, pure step factories, the driver and run assembly.

* :mod:`.state` -- :class:`TrainState` (step, params, opt_state);
* :mod:`.optim` -- adam / sgd / lars, warm-up + cosine schedules, fine-tuning levels;
* :mod:`.steps` -- ``make_pretrain_step``, ``make_supervised_step`` and their eval twins;
* :mod:`.loop` -- :func:`fit`: epochs, validation, early stopping, metrics, checkpoints, resume;
* :mod:`.runs` -- :func:`pretrain` and :func:`finetune`: a config in, a run directory out;
* :mod:`.rundir` -- run-directory checks (no overwrite, same config on resume) and config.json.

See docs/training.md.
"""

from codec_jax.train.loop import FitResult, NonFiniteLossError, fit, jit_eval_step, jit_train_step, run_keys
from codec_jax.train.optim import (
    finetune_optimizer,
    learning_rate_schedule,
    make_optimizer,
    optimizer_from_config,
)
from codec_jax.train.runs import finetune, pretrain
from codec_jax.train.state import TrainState, create_state
from codec_jax.train.steps import (
    make_pretrain_eval_step,
    make_pretrain_step,
    make_supervised_eval_step,
    make_supervised_step,
)

__all__ = [
    "TrainState",
    "create_state",
    "make_optimizer",
    "optimizer_from_config",
    "learning_rate_schedule",
    "finetune_optimizer",
    "make_pretrain_step",
    "make_pretrain_eval_step",
    "make_supervised_step",
    "make_supervised_eval_step",
    "fit",
    "jit_train_step",
    "jit_eval_step",
    "run_keys",
    "FitResult",
    "NonFiniteLossError",
    "pretrain",
    "finetune",
]
