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

import functools
import os
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
)
from codec_jax.errors import ConfigError, DataError
from codec_jax.jets import JetSample
from codec_jax.models import build_model
from codec_jax.pairing import load_pairs
from codec_jax.train import optim, steps
from codec_jax.train.loop import FitResult, fit, run_keys
from codec_jax.train.rundir import check_run_dir, write_config
from codec_jax.train.state import create_state

__all__ = ["pretrain", "finetune"]

#: Config fields that fine-tuning takes from the pretraining run (the encoder must match it).
INHERITED_FIELDS = (
    ("model", "encoder"),
    ("model", "encoder_kwargs"),
    ("data", "inputs"),
    ("data", "max_particles"),
    ("data", "jet_features"),
)


def _validation_rows(config: config_lib.Config, n_rows: int, key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    return split_indices(key, n_rows, config.data.validation_fraction)


def _take(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {name: value[rows] for name, value in arrays.items()}


def _init_params(model: Any, key: jax.Array, inputs: dict[str, np.ndarray]) -> Any:
    example_x = inputs["x"][:1]
    example_mask = inputs.get("mask")
    example_mask = None if example_mask is None else example_mask[:1]
    return model.init(key, example_x, example_mask)["params"]


def _build_model(config: config_lib.Config) -> Any:

    return build_model(
        config.model.encoder,
        encoder_kwargs=config.model.encoder_kwargs,
        projector_dims=config.model.projector_dims,
        head_dims=config.model.head_dims,
        n_outputs=config.model.n_outputs,
    )


def _run_fit(
    config: config_lib.Config,
    run_dir: Path,
    *,
    state: Any,
    train_step: Callable,
    eval_step: Callable,
    train: dict[str, np.ndarray],
    validation: dict[str, np.ndarray],
    keys: dict[str, jax.Array],
    mesh: Any,
    normalisation: dict,
    resume: bool,
    on_epoch_end: Callable | None,
) -> FitResult:
    training = config.training
    write_config(run_dir, config)
    checkpointer = Checkpointer(run_dir / CHECKPOINT_SUBDIR, max_to_keep=training.keep_checkpoints)
    try:
        restored = None
        if resume and checkpointer.latest_epoch() is not None:
            abstract = jax.eval_shape(lambda: state)
            replicated = parallel.replicated_sharding(mesh)
            abstract = jax.tree.map(
                lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=replicated), abstract
            )
            restored = checkpointer.restore(abstract)
        return fit(
            state,
            train_step,
            eval_step,
            train_arrays=train,
            validation_arrays=validation,
            batch_size=training.batch_size,
            epochs=training.epochs,
            keys=keys,
            mesh=mesh,
            run_dir=run_dir,
            checkpointer=checkpointer,
            checkpoint_json={"config": config_lib.to_dict(config), "normalisation": normalisation},
            resume_from=restored,
            patience=training.patience,
            min_delta=training.min_delta,
            progress=training.progress,
            on_epoch_end=on_epoch_end,
        )
    finally:
        checkpointer.close()


# --------------------------------------------------------------------------- pretraining
def _pretrain_views(config: config_lib.Config) -> dict[str, np.ndarray]:
    data = config.data

    def inputs(sample: JetSample) -> dict[str, np.ndarray]:
        arrays, _ = model_inputs(
            sample, inputs=data.inputs, max_particles=data.max_particles, jet_features=data.jet_features
        )
        return {**arrays, "jet_pt": sample.pt.astype(np.float32)}

    nominal = load_sample(data.train, data.max_particles)
    if bool(data.alternate) != bool(data.pairs):
        raise ConfigError(
            "pretraining on pairs needs both data.alternate (ROOT files) and data.pairs (pair file)"
        )
    if not data.alternate:
        if data.background_only:
            nominal = nominal[nominal.label == 0]
        return pretrain_arrays(inputs(nominal))

    alternate = load_sample(data.alternate, data.max_particles, field="data.alternate")
    pairs = load_pairs(data.pairs)
    nominal_index = np.asarray(pairs.nominal_index, dtype=np.int64)
    alternate_index = np.asarray(pairs.alternate_index, dtype=np.int64)
    if data.background_only:
        keep = nominal.label[nominal_index] == 0
        nominal_index, alternate_index = nominal_index[keep], alternate_index[keep]
    return pretrain_arrays(inputs(nominal), inputs(alternate), nominal_index, alternate_index)


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
    Validation: ``data.validation`` files (each jet twice), or a seeded split of the rows.
    """
    _pretrain_loss(config)  # fails early on an unknown loss name
    run_dir = check_run_dir(out, config, resume)
    keys = run_keys(config.training.seed)
    mesh = parallel.make_mesh(config.training.devices)
    parallel.check_batch_size(config.training.batch_size, mesh)

    views = _pretrain_views(config)
    if config.data.validation:
        sample = load_sample(config.data.validation, config.data.max_particles, field="data.validation")
        if config.data.background_only:
            sample = sample[sample.label == 0]
        arrays, _ = model_inputs(
            sample,
            inputs=config.data.inputs,
            max_particles=config.data.max_particles,
            jet_features=config.data.jet_features,
        )
        train, validation = views, pretrain_arrays({**arrays, "jet_pt": sample.pt.astype(np.float32)})
    else:
        train_rows, validation_rows = _validation_rows(config, len(views["x_a"]), keys["data"])
        train, validation = _take(views, train_rows), _take(views, validation_rows)

    names = config.data.jet_features if config.data.inputs == "jets" else ("pt_rel", "eta_rel", "phi_rel")
    standardizer = Standardizer.fit(train["x_a"], train.get("mask_a"), names)
    model = _build_model(config)
    params = _init_params(model, keys["init"], {"x": train["x_a"], "mask": train.get("mask_a")})
    steps_per_epoch = num_batches(len(train["x_a"]), config.training.batch_size)
    tx = optim.optimizer_from_config(config.optimizer, steps_per_epoch, config.training.epochs)
    loss_fn = _pretrain_loss(config)
    augment_fn = _augmentation(config)
    train_step = steps.make_pretrain_step(
        model.apply, tx, loss_fn, augment_fn=augment_fn, preprocess=standardizer.apply
    )
    eval_step = steps.make_pretrain_eval_step(
        model.apply, loss_fn, augment_fn=augment_fn, preprocess=standardizer.apply
    )
    return _run_fit(
        config,
        run_dir,
        state=create_state(params, tx),
        train_step=train_step,
        eval_step=eval_step,
        train=train,
        validation=validation,
        keys=keys,
        mesh=mesh,
        normalisation=standardizer.to_json(),
        resume=resume,
        on_epoch_end=on_epoch_end,
    )


def _pretrain_loss(config: config_lib.Config) -> Callable:

    return losses.configured_loss(config.loss.name, "pretrain", config.loss.kwargs)


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


def _supervised_loss(config: config_lib.Config) -> Callable:

    return losses.configured_loss(config.loss.name, "supervised", config.loss.kwargs)


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
    (``finetune.level`` must be ``full``). ``loss.decorrelation`` adds DisCo or MoDe on
    background jets.
    """
    level_kind, _ = optim.parse_finetune_level(config.finetune.level)
    normalisation = None
    if pretrained is not None:
        json_items = Checkpointer(checkpoint_directory(pretrained), read_only=True)
        try:
            items = json_items.read_json()
        finally:
            json_items.close()
        config = _inherit_encoder(config, items["config"])
        normalisation = items["normalisation"]
    elif level_kind != "full":
        raise ConfigError(
            f"finetune.level={config.finetune.level!r} needs a pretrained encoder (--from RUN_DIR)"
        )
    penalty_fn = None
    if config.loss.decorrelation != "none":
        if config.data.target != "label":
            raise ConfigError(
                "loss.decorrelation applies to taggers (data.target='label'), not to regression"
            )
        penalty_fn = steps.decorrelation_penalty(
            config.loss.decorrelation, **config.loss.decorrelation_kwargs
        )
    loss_fn = _supervised_loss(config)

    run_dir = check_run_dir(out, config, resume)
    keys = run_keys(config.training.seed)
    mesh = parallel.make_mesh(config.training.devices)
    parallel.check_batch_size(config.training.batch_size, mesh)
    data = config.data
    arrays_of = functools.partial(
        supervised_arrays,
        inputs=data.inputs,
        max_particles=data.max_particles,
        jet_features=data.jet_features,
        target=data.target,
        mass_field=data.mass_field,
    )
    everything = arrays_of(load_sample(data.train, data.max_particles))
    if data.validation:
        train = everything
        validation = arrays_of(load_sample(data.validation, data.max_particles, field="data.validation"))
    else:
        train_rows, validation_rows = _validation_rows(config, len(everything["x"]), keys["data"])
        train, validation = _take(everything, train_rows), _take(everything, validation_rows)

    names = data.jet_features if data.inputs == "jets" else ("pt_rel", "eta_rel", "phi_rel")
    if normalisation is None:
        standardizer = Standardizer.fit(train["x"], train.get("mask"), names)
    else:
        standardizer = Standardizer.from_json(normalisation)
        if standardizer.feature_names != tuple(names):
            raise DataError(
                f"the pretraining run standardised {standardizer.feature_names}, this run feeds {tuple(names)}"
            )
    model = _build_model(config)
    params = _init_params(model, keys["init"], train)
    if pretrained is not None:
        params, _ = restore_encoder(pretrained, params)
    steps_per_epoch = num_batches(len(train["x"]), config.training.batch_size)
    base = optim.optimizer_from_config(config.optimizer, steps_per_epoch, config.training.epochs)
    tx = optim.finetune_optimizer(base, config.finetune.level, steps_per_epoch)
    weight = config.loss.decorrelation_weight
    train_step = steps.make_supervised_step(
        model.apply, tx, loss_fn, penalty_fn=penalty_fn, penalty_weight=weight, preprocess=standardizer.apply
    )
    eval_step = steps.make_supervised_eval_step(
        model.apply, loss_fn, penalty_fn=penalty_fn, penalty_weight=weight, preprocess=standardizer.apply
    )
    return _run_fit(
        config,
        run_dir,
        state=create_state(params, tx),
        train_step=train_step,
        eval_step=eval_step,
        train=train,
        validation=validation,
        keys=keys,
        mesh=mesh,
        normalisation=standardizer.to_json(),
        resume=resume,
        on_epoch_end=on_epoch_end,
    )
