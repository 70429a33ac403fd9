"""Run assembly: a :class:`~codec_jax.config.Config` in, a run directory out.

:func:`pretrain` (contrastive, no labels) and :func:`finetune` (supervised tagging or regression,
optionally starting from a pretrained encoder) read the ROOT files named in the config, build the
model, optimizer and steps, and call :func:`codec_jax.train.loop.fit`. A run directory holds::

    RUN_DIR/config.json      the resolved config (what was actually run)
    RUN_DIR/metrics.jsonl    one JSON line per epoch (train/..., val/..., timing)
    RUN_DIR/checkpoints/N/   Orbax checkpoint after epoch N (state, config, normalisation, progress)

Both accept ``resume=True`` to continue from the latest checkpoint of ``RUN_DIR`` (the config must
be the same as the one in ``config.json``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from codec_jax import config as config_lib
from codec_jax import losses, parallel
from codec_jax.augment import build_augmentation
from codec_jax.checkpoint import CHECKPOINT_SUBDIR, Checkpointer, checkpoint_directory, restore_encoder
from codec_jax.data.io import load_sample
from codec_jax.data.pipeline import (
    Standardizer,
    model_inputs,
    num_batches,
    pretrain_arrays,
    split_indices,
    supervised_arrays,
    with_alternate_stream,
)
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample
from codec_jax.models import build_model, standardizes_inputs
from codec_jax.pairing import load_pairs
from codec_jax.train import optim, steps
from codec_jax.train.loop import FitResult, fit, run_keys
from codec_jax.train.rundir import check_run_dir, write_config
from codec_jax.train.state import create_state
from codec_jax.train.tracking import check_loggers, open_trackers

__all__ = ["pretrain", "finetune"]

#: Config fields that fine-tuning takes from the pretraining run (the encoder must match it).
INHERITED_FIELDS = (
    ("model", "encoder"),
    ("model", "encoder_kwargs"),
    ("data", "inputs"),
    ("data", "max_particles"),
    ("data", "jet_features"),
)


@dataclasses.dataclass(frozen=True)
class _RunSetup:
    """What every run starts from: the checked run directory, the keys of the seed, the mesh, and
    the training and validation arrays (the ``data.validation`` files, or a seeded split of the
    training rows)."""

    config: config_lib.Config
    run_dir: Path
    keys: dict[str, jax.Array]
    mesh: Any
    train: dict[str, np.ndarray]
    validation: dict[str, np.ndarray]
    steps_per_epoch: int


def _set_up(
    config: config_lib.Config,
    out: str | os.PathLike,
    resume: bool,
    *,
    load_train: Callable[[], dict[str, np.ndarray]],
    load_validation: Callable[[], dict[str, np.ndarray]],
) -> _RunSetup:
    """Check the config's value ranges and the run directory, make the keys and the mesh, then
    load (and split) the arrays."""
    config_lib.check_values(config)
    # Multi-host: process 0 checks the shared directory, the others wait and share its verdict.
    parallel.main_process_verdict(lambda: check_run_dir(out, config, resume), "codec_jax:run_dir_checked")
    run_dir = Path(out)
    keys = run_keys(config.training.seed)
    mesh = parallel.make_mesh(config.training.devices)
    parallel.check_batch_size(config.training.batch_size, mesh)
    everything = load_train()
    if config.data.validation:
        train, validation = everything, load_validation()
    else:
        n_rows = len(next(iter(everything.values())))
        train_rows, validation_rows = split_indices(keys["data"], n_rows, config.data.validation_fraction)
        train, validation = _take(everything, train_rows), _take(everything, validation_rows)
    steps_per_epoch = num_batches(len(next(iter(train.values()))), config.training.batch_size)
    return _RunSetup(config, run_dir, keys, mesh, train, validation, steps_per_epoch)


def _take(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: value[rows] for name, value in arrays.items()}


def _feature_names(config: config_lib.Config) -> tuple[str, ...]:
    """The names of the standardised input features."""
    return (
        tuple(config.data.jet_features) if config.data.inputs == "jets" else ("pt_rel", "eta_rel", "phi_rel")
    )


def _fitted_standardizer(config: config_lib.Config, x: np.ndarray, mask: np.ndarray | None) -> Standardizer:
    """The feature standardisation fitted on the training rows, or the identity for an encoder that
    needs the physical features (:func:`codec_jax.models.standardizes_inputs`, e.g. ParT)."""
    names = _feature_names(config)
    if not standardizes_inputs(config.model.encoder):
        return Standardizer.identity(names)
    return Standardizer.fit(x, mask, names)


def _model_and_params(setup: _RunSetup, x: np.ndarray, mask: np.ndarray | None) -> tuple[Any, Any]:
    """The model of the config and its initial parameters (``init`` key), traced on one row of
    ``x [rows, ...]`` and ``mask [rows, particles]`` (None for jet-level inputs)."""
    model_config = setup.config.model
    model = build_model(
        model_config.encoder,
        encoder_kwargs=model_config.encoder_kwargs,
        projector_dims=model_config.projector_dims,
        head_dims=model_config.head_dims,
        n_outputs=model_config.n_outputs,
    )
    params = model.init(setup.keys["init"], x[:1], None if mask is None else mask[:1])["params"]
    return model, params


def _base_optimizer(setup: _RunSetup) -> Any:
    """The ``optimizer`` section's optax optimizer, its schedule over the run's steps."""
    return optim.optimizer_from_config(
        setup.config.optimizer, setup.steps_per_epoch, setup.config.training.epochs
    )


def _run_fit(
    setup: _RunSetup,
    *,
    state: Any,
    train_step: Callable,
    eval_step: Callable,
    normalisation: dict,
    resume: bool,
    on_epoch_end: Callable | None,
) -> FitResult:
    """Write config.json, restore the latest checkpoint when resuming, and :func:`fit`."""
    config, training = setup.config, setup.config.training
    check_loggers(training.loggers)
    if parallel.is_main_process():
        write_config(setup.run_dir, config)
    checkpointer = Checkpointer(setup.run_dir / CHECKPOINT_SUBDIR, max_to_keep=training.keep_checkpoints)
    trackers: list = []
    try:
        restored = None
        if resume and checkpointer.latest_epoch() is not None:
            replicated = parallel.replicated_sharding(setup.mesh)
            abstract = jax.tree.map(
                lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=replicated),
                jax.eval_shape(lambda: state),
            )
            restored, skipped = checkpointer.restore_latest_good(abstract)
            for line in skipped:
                warnings.warn(f"{line}; resuming from epoch {restored.epoch} instead", stacklevel=2)
        first_epoch = 1 if restored is None else restored.epoch + 1
        trackers = open_trackers(training.loggers, setup.run_dir, config_lib.to_dict(config), first_epoch)
        return fit(
            state,
            train_step,
            eval_step,
            train_arrays=setup.train,
            validation_arrays=setup.validation,
            batch_size=training.batch_size,
            epochs=training.epochs,
            keys=setup.keys,
            mesh=setup.mesh,
            run_dir=setup.run_dir,
            checkpointer=checkpointer,
            checkpoint_json={"config": config_lib.to_dict(config), "normalisation": normalisation},
            resume_from=restored,
            patience=training.patience,
            min_delta=training.min_delta,
            progress=training.progress,
            on_epoch_end=_logging_to(trackers, on_epoch_end),
        )
    finally:
        for tracker in trackers:
            tracker.close()
        checkpointer.close()


def _logging_to(
    trackers: list, on_epoch_end: Callable[[int, dict], None] | None
) -> Callable[[int, dict], None]:
    """The driver's per-epoch callback: each tracker logs the record, then ``on_epoch_end``."""

    def epoch_end(epoch: int, record: dict) -> None:
        for tracker in trackers:
            tracker.log(epoch, record)
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    return epoch_end


# --------------------------------------------------------------------------- pretraining
def _pretrain_inputs(config: config_lib.Config, sample: JetSample) -> dict[str, np.ndarray]:
    """The model inputs of ``sample`` and its jet pT (for the smearing augmentation)."""
    data = config.data
    arrays, _ = model_inputs(
        sample, inputs=data.inputs, max_particles=data.max_particles, jet_features=data.jet_features
    )
    return {**arrays, "jet_pt": sample.pt.astype(np.float32)}


def _alignment(config: config_lib.Config) -> steps.Alignment | None:
    """``loss.alignment`` from the loss registry (kind ``"alignment"``) with its weight and
    keyword arguments, or None for ``none``."""
    loss = config.loss
    if loss.alignment == "none":
        return None
    function = losses.configured_loss(loss.alignment, "alignment", loss.alignment_kwargs)
    if not config.data.alternate:
        raise ConfigError(
            f"loss.alignment={loss.alignment!r} aligns nominal with alternate jets: set data.alternate (ROOT files)"
        )
    return steps.Alignment(function, loss.alignment_weight)


def _alternate_sample(config: config_lib.Config, loaded: JetSample | None = None) -> JetSample:
    """The ``data.alternate`` jets (``loaded``: the files already read), QCD only with
    ``data.background_only``."""
    alternate = loaded
    if alternate is None:
        alternate = load_sample(config.data.alternate, config.data.max_particles, field="data.alternate")
    return alternate[alternate.label == 0] if config.data.background_only else alternate


def _pretrain_views(config: config_lib.Config) -> dict[str, np.ndarray]:
    """The two views of the training jets: (nominal, alternate) pairs or each jet twice; with an
    alignment term also a random alternate jet per row (``*_alt``)."""
    data = config.data
    aligned = config.loss.alignment != "none"
    if bool(data.alternate) != bool(data.pairs) and not (aligned and data.alternate):
        raise ConfigError(
            "pretraining on pairs needs both data.alternate (ROOT files) and data.pairs (pair file)"
        )
    alternate = (
        load_sample(data.alternate, data.max_particles, field="data.alternate") if data.alternate else None
    )
    views = _pretrain_pairs(config, alternate) if data.pairs else _pretrain_same_jet(config)
    if not aligned:
        return views
    return with_alternate_stream(
        views, _pretrain_inputs(config, _alternate_sample(config, alternate)), config.training.seed
    )


def _pretrain_same_jet(config: config_lib.Config) -> dict[str, np.ndarray]:
    nominal = load_sample(config.data.train, config.data.max_particles)
    if config.data.background_only:
        nominal = nominal[nominal.label == 0]
    return pretrain_arrays(_pretrain_inputs(config, nominal))


def _pretrain_pairs(config: config_lib.Config, alternate: JetSample) -> dict[str, np.ndarray]:
    """The (nominal, alternate) views of the pairs in ``data.pairs``; ``alternate``: all the jets
    of ``data.alternate`` (the pair indices count them all)."""
    data = config.data
    nominal = load_sample(data.train, data.max_particles)
    pairs = load_pairs(data.pairs)
    nominal_index = np.asarray(pairs.nominal_index, dtype=np.int64)
    alternate_index = np.asarray(pairs.alternate_index, dtype=np.int64)
    if data.background_only:
        keep = nominal.label[nominal_index] == 0
        nominal_index, alternate_index = nominal_index[keep], alternate_index[keep]
    return pretrain_arrays(
        _pretrain_inputs(config, nominal), _pretrain_inputs(config, alternate), nominal_index, alternate_index
    )


def _pretrain_validation_views(config: config_lib.Config) -> dict[str, np.ndarray]:
    """The ``data.validation`` jets, each twice."""
    sample = load_sample(config.data.validation, config.data.max_particles, field="data.validation")
    if config.data.background_only:
        sample = sample[sample.label == 0]
    return pretrain_arrays(_pretrain_inputs(config, sample))


def pretrain(
    config: config_lib.Config,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Contrastive pretraining (no labels) of encoder + projector; writes the run directory ``out``.

    Views: (nominal, alternate) pairs when ``data.alternate`` and ``data.pairs`` are set (MACK),
    otherwise each jet twice; ``loss.augmentations`` then transform each view independently.
    ``loss.alignment`` adds a distribution-alignment term between the projections of the nominal
    views and of unpaired ``data.alternate`` jets (docs/ot.md).
    Validation: ``data.validation`` files (each jet twice, no alignment term), or a seeded split
    of the rows.
    """
    loss_fn = losses.configured_loss(config.loss.name, "pretrain", config.loss.kwargs)  # fails early
    alignment = _alignment(config)
    augment_fn = _augmentation(config)
    setup = _set_up(
        config,
        out,
        resume,
        load_train=lambda: _pretrain_views(config),
        load_validation=lambda: _pretrain_validation_views(config),
    )
    x, mask = setup.train["x_a"], setup.train.get("mask_a")
    standardizer = _fitted_standardizer(config, x, mask)
    model, params = _model_and_params(setup, x, mask)
    tx = _base_optimizer(setup)
    shared = {"augment_fn": augment_fn, "preprocess": standardizer.apply, "alignment": alignment}
    return _run_fit(
        setup,
        state=create_state(params, tx),
        train_step=steps.make_pretrain_step(model.apply, tx, loss_fn, **shared),
        eval_step=steps.make_pretrain_eval_step(model.apply, loss_fn, **shared),
        normalisation=standardizer.to_json(),
        resume=resume,
        on_epoch_end=on_epoch_end,
    )


def _augmentation(config: config_lib.Config) -> Callable | None:
    if not config.loss.augmentations:
        if config.loss.augmentation_kwargs:
            raise ConfigError("loss.augmentation_kwargs is set but loss.augmentations is empty")
        return None
    if config.data.inputs != "particles":
        raise ConfigError("loss.augmentations act on particles: they need data.inputs='particles'")

    return build_augmentation(config.loss.augmentations, **config.loss.augmentation_kwargs)


# --------------------------------------------------------------------------- fine-tuning
def _inherit_encoder(config: config_lib.Config, pretrain_config: dict) -> config_lib.Config:
    """``config`` with the encoder and input fields of the pretraining run."""
    config = config_lib.apply_overrides(config, [])
    for section, field in INHERITED_FIELDS:
        if section in pretrain_config and field in pretrain_config[section]:
            value = config_lib.from_dict({section: {field: pretrain_config[section][field]}})
            setattr(getattr(config, section), field, getattr(getattr(value, section), field))
    return config


def _from_pretrained(
    config: config_lib.Config, pretrained: str | os.PathLike | None
) -> tuple[config_lib.Config, dict | None]:
    """``config`` with the fields inherited from the pretraining run ``pretrained``, and that run's
    feature standardisation (None without a pretraining run, which needs ``finetune.level=full``)."""
    level_kind, _ = optim.parse_finetune_level(config.finetune.level)
    if pretrained is None:
        if level_kind != "full":
            raise ConfigError(
                f"finetune.level={config.finetune.level!r} needs a pretrained encoder (--from RUN_DIR)"
            )
        return config, None
    json_items = Checkpointer(checkpoint_directory(pretrained), read_only=True)
    try:
        items = json_items.read_json()
    finally:
        json_items.close()
    return _inherit_encoder(config, items["config"]), items["normalisation"]


def _decorrelation_penalty(config: config_lib.Config) -> Callable | None:
    """``loss.decorrelation`` from the loss registry (kind ``"penalty"``) with
    ``loss.decorrelation_kwargs`` bound, or None for ``none``."""
    if config.loss.decorrelation == "none":
        return None
    if config.data.target != "label":
        raise ConfigError("loss.decorrelation applies to taggers (data.target='label'), not to regression")
    return losses.configured_loss(config.loss.decorrelation, "penalty", config.loss.decorrelation_kwargs)


def _supervised_loaders(config: config_lib.Config) -> dict[str, Callable[[], dict[str, np.ndarray]]]:
    """``load_train`` / ``load_validation`` of :func:`_set_up` for supervised arrays."""
    data = config.data
    arrays_of = functools.partial(
        supervised_arrays,
        inputs=data.inputs,
        max_particles=data.max_particles,
        jet_features=data.jet_features,
        target=data.target,
        mass_field=data.mass_field,
    )

    def load_train() -> dict[str, np.ndarray]:
        train = arrays_of(load_sample(data.train, data.max_particles))
        if config.loss.alignment == "none":
            return train
        alternate, _ = model_inputs(
            _alternate_sample(config),
            inputs=data.inputs,
            max_particles=data.max_particles,
            jet_features=data.jet_features,
        )
        return with_alternate_stream(train, alternate, config.training.seed)

    return {
        "load_train": load_train,
        "load_validation": lambda: arrays_of(
            load_sample(data.validation, data.max_particles, field="data.validation")
        ),
    }


def _finetune_standardizer(
    config: config_lib.Config, normalisation: dict | None, train: dict
) -> Standardizer:
    """The pretraining run's standardisation (checked against this run's features), or one fitted
    on the training rows."""
    names = _feature_names(config)
    if normalisation is None:
        return _fitted_standardizer(config, train["x"], train.get("mask"))
    standardizer = Standardizer.from_json(normalisation)
    if standardizer.feature_names != names:
        raise DataError(
            f"the pretraining run standardised {standardizer.feature_names}, this run feeds {names}"
        )
    return standardizer


def finetune(
    config: config_lib.Config,
    out: str | os.PathLike,
    *,
    pretrained: str | os.PathLike | None = None,
    resume: bool = False,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Supervised training of encoder + head, starting from a pretrained encoder when given.

    With ``pretrained`` (a pretraining run directory): the encoder settings and input fields
    (:data:`INHERITED_FIELDS`) and the feature standardisation are taken from that run, the
    encoder parameters are restored from its latest checkpoint (failing with
    :class:`~codec_jax.errors.CheckpointError` on any mismatch), and ``finetune.level`` decides
    whether they train. Without it, this is a supervised baseline from scratch
    (``finetune.level`` must be ``full``). ``loss.decorrelation`` adds a penalty of the loss
    registry (DisCo, MoDe or a registered one) on background jets; ``loss.alignment`` a
    distribution-alignment term between the representations of the training jets and of unpaired
    ``data.alternate`` jets (docs/ot.md).
    """
    config, normalisation = _from_pretrained(config, pretrained)
    penalty_fn = _decorrelation_penalty(config)
    alignment = _alignment(config)
    loss_fn = losses.configured_loss(config.loss.name, "supervised", config.loss.kwargs)
    setup = _set_up(config, out, resume, **_supervised_loaders(config))
    standardizer = _finetune_standardizer(config, normalisation, setup.train)
    model, params = _model_and_params(setup, setup.train["x"], setup.train.get("mask"))
    if pretrained is not None:
        params, _ = restore_encoder(pretrained, params)
    tx = optim.finetune_optimizer(_base_optimizer(setup), config.finetune.level, setup.steps_per_epoch)
    shared = {
        "penalty_fn": penalty_fn,
        "penalty_weight": config.loss.decorrelation_weight,
        "preprocess": standardizer.apply,
        "alignment": alignment,
    }
    return _run_fit(
        setup,
        state=create_state(params, tx),
        train_step=steps.make_supervised_step(model.apply, tx, loss_fn, **shared),
        eval_step=steps.make_supervised_eval_step(model.apply, loss_fn, **shared),
        normalisation=standardizer.to_json(),
        resume=resume,
        on_epoch_end=on_epoch_end,
    )
