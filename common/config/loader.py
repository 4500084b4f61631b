"""Build a validated, frozen :class:`Config` from defaults <- YAML file <- command-line overrides."""
from __future__ import annotations

import dataclasses
import difflib
import typing
from pathlib import Path
from typing import Any, Iterable

import yaml

from common.config.defaults import Config
from common.config.errors import ConfigError
from common.config.frozen import FrozenDict
from common.config.plan import MODES, ExperimentPlan
from common.config.validation import validate
from common.errors import writing


def _freeze(value: Any) -> Any:
    """Nested mappings -> FrozenDict, lists -> tuples (so a frozen config stays read-only all the way down)."""
    if isinstance(value, dict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check ``value`` against annotation ``typ``; return it converted (lists -> tuples, ints -> floats)."""
    origin = typing.get_origin(typ)
    if dataclasses.is_dataclass(typ):
        raise ConfigError(f"{where}: is a section, give its keys (e.g. {where}.<key>=...), not a value")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            value = [value]  # a single value for a list key, e.g. --opts data.train_sets=synthetic
        item_type = typing.get_args(typ)[0]
        return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if typ is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return _freeze(value)
    if typ is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if typ is str:
        if value is None:
            return ""
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported config type {typ}")


def _unknown_key(key: str, valid: Iterable[str], where: str) -> ConfigError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def _merge(node: Any, updates: dict, where: str) -> Any:
    """Return a copy of dataclass ``node`` with ``updates`` (nested dict) applied and type-checked."""
    if not isinstance(updates, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {updates!r}")
    types_ = _field_types(type(node))
    changes = {}
    for key, value in updates.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in types_:
            raise _unknown_key(str(key), types_, path)
        current = getattr(node, key)
        if dataclasses.is_dataclass(current):
            changes[key] = _merge(current, value or {}, path)
        else:
            changes[key] = _coerce(value, types_[key], path)
    return dataclasses.replace(node, **changes)


def _parse_override(text: str) -> dict:
    """'train.lr=1e-4' -> {'train': {'lr': 1e-4}}; the value is read as YAML ('[a, b]' gives a list)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}': expected section.key=value")
    dotted, raw = text.split("=", 1)
    if not dotted.strip() or any(not part for part in dotted.strip().split(".")):
        raise ConfigError(f"--opts '{text}': expected section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"--opts '{text}': the value is not valid YAML ({_yaml_reason(err, len(dotted) + 1)})") \
            from None
    if isinstance(value, str) and _looks_numeric(value):
        value = float(value)  # YAML 1.1 reads '1e-4' as a string
    nested: dict = {}
    cursor = nested
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fix_yaml_numbers(tree: Any) -> Any:
    """YAML 1.1 (PyYAML) reads '1e-4' as a string; turn numeric-looking strings into floats."""
    if isinstance(tree, dict):
        return {k: _fix_yaml_numbers(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_fix_yaml_numbers(v) for v in tree]
    if isinstance(tree, str) and _looks_numeric(tree) and any(c in tree for c in "eE."):
        return float(tree)
    return tree


def _yaml_reason(err: yaml.YAMLError, column_offset: int = 0) -> str:
    """'line L, column C: problem' of a PyYAML error, on one line (columns are 1-based, shifted by the offset)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = " ".join(str(getattr(err, "problem", None) or err).split())
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1 + column_offset}: {problem}"


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping; errors name the file (and line/column for a syntax error), on one line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        tree = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_reason(err)}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file ({err})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return _fix_yaml_numbers(tree)


def load_config(cfg_file: str | Path | None = None, opts: Iterable[str] = ()) -> Config:
    """Defaults <- ``cfg_file`` (YAML) <- ``opts`` (``section.key=value``); validated and frozen.

    Raises:
        ConfigError: unknown key (with the nearest valid name), wrong type, unreadable file.
    """
    return _build_config(read_yaml(cfg_file) if cfg_file else None, str(cfg_file or ""), opts)


def config_from_dict(tree: dict, opts: Iterable[str] = (), source: str = "") -> Config:
    """Defaults <- ``tree`` (a nested dict, e.g. :func:`to_dict` output stored in a checkpoint) <- ``opts``;
    validated and frozen, as :func:`load_config` does with a file. Errors about ``tree`` start with ``source``."""
    return _build_config(dict(tree), source, opts)


def _build_config(tree: dict | None, source: str, opts: Iterable[str]) -> Config:
    cfg = Config()
    given: list[dict] = []  # every mapping merged, to know which keys were set explicitly
    if tree is not None:
        given.append(tree)
        try:
            cfg = _merge(cfg, tree, "")
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}" if source else str(err)) from None
    for text in opts:
        override = _parse_override(text)
        given.append(override)
        cfg = _merge(cfg, override, "")
    if not any(isinstance(t.get("model"), dict) and "input_channels" in t["model"] for t in given):
        cfg = derive_input_channels(cfg)
    try:
        validate(cfg)
    except ConfigError as err:
        key = str(err).split(":", 1)[0].split("[", 1)[0]  # the dotted key the message starts with
        from_opts = any(_sets_key(t, key) for t in given[1 if tree is not None else 0:])
        raise ConfigError(f"{source}: {err}" if source and not from_opts else
                          f"--opts {err}" if from_opts else str(err)) from None
    return cfg


def _sets_key(tree: Any, dotted: str) -> bool:
    """Whether the nested mapping ``tree`` gives a value for ``dotted`` (e.g. 'train.lr')."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def derive_input_channels(cfg: Config) -> Config:
    """``model.input_channels`` set from the experiment plan (used when the config does not give it explicitly)."""
    if cfg.sefd.mode not in MODES:  # validate() reports it with the file / --opts item
        return cfg
    channels = ExperimentPlan.from_config(cfg).input_channels
    if cfg.model.input_channels == channels:
        return cfg
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, input_channels=channels))


def to_dict(cfg: Any) -> Any:
    """Plain nested dict/list copy of a config (for YAML/JSON)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (tuple, list)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the full resolved config as YAML (loadable again with :func:`load_config`)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with writing(path, "config"):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        tmp.replace(path)
