"""Bad config files are refused before any work; no config or checkpoint path runs foreign code.

Security inputs: a pickle whose ``__reduce__`` creates a marker file (proved live by unpickling
it directly) saved as a checkpoint's ``.state.pt``, as a bare ``.pt`` and as ``.safetensors``;
YAML with ``!!python`` tags. The loaders must refuse each and the marker must never appear.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from f4d.engine import checkpoint as ckpt
from f4d.engine.config import ConfigError, load_config
from tests.reliability import generators

pytestmark = pytest.mark.xdist_group("reliability_configs")  # module fixtures run once
SRC = Path(__file__).resolve().parents[2] / "src" / "f4d"


class _Payload:
    """Unpickling this creates ``marker`` (stands in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def config_verdicts(tmp_path_factory, reliability_log):
    inputs = generators.config_inputs(tmp_path_factory.mktemp("configs"))
    verdicts = {}
    for item in inputs:
        outcome, detail = _judge_config(item)
        verdicts[item.name] = (item, outcome, detail)
        reliability_log.add(
            "config file", item.name, outcome, expect=item.expect, detail=f"{item.note}: {detail}"
        )
    return verdicts


def _judge_config(item: generators.BadInput) -> tuple[str, str]:
    try:
        load_config(item.path)
    except ConfigError as err:
        message = str(err)
        key = item.extra["key"]
        if item.expect == "decode":
            return "FAIL:rejected_valid", message
        named = key if key and key.endswith(".yaml") else item.path.name  # a missing base
        if named not in message or (key and key not in message):
            return "FAIL:error_without_name", message
        return "ok:error", message
    except Exception as err:
        return "FAIL:wrong_error_type", f"{type(err).__name__}: {err}"
    if item.extra["marker"] and Path(item.extra["marker"]).exists():
        return "FAIL:code_executed", item.extra["marker"]
    return ("ok:loaded", "") if item.expect != "error" else ("FAIL:accepted", "")


def test_config_files_are_refused_with_file_and_key(config_verdicts):
    assert len(config_verdicts) >= 12
    failures = [
        f"{n}: {o} ({i.note}) {d}"
        for n, (i, o, d) in config_verdicts.items()
        if o.startswith("FAIL")
    ]
    assert failures == []


def test_yaml_python_tags_never_run(config_verdicts):
    tagged = [i for i, _, _ in config_verdicts.values() if "python" in i.name]
    assert len(tagged) == 2
    for item in tagged:
        assert not Path(item.extra["marker"]).exists()


def test_unknown_command_line_key_is_refused():
    with pytest.raises(ConfigError, match="unitz"):
        load_config(None, ["data.root=/d", "data.unitz=3"])


# ---------------------------------------------------------------- checkpoints


def _real_checkpoint(folder: Path) -> Path:
    model = nn.Linear(3, 2)
    return ckpt.save_checkpoint(
        folder,
        model=model,
        optimizer=None,
        scheduler=None,
        scaler=None,
        epoch=1,
        step=1,
        best_metric=None,
        config={},
        classes=["a", "b"],
        tag="last",
    )


def test_payload_is_live_when_unpickled_naively(tmp_path):
    """Guards the other tests: the payload really does act when plain pickle loads it."""
    marker = tmp_path / "naive.marker"
    pickle.loads(pickle.dumps({"x": _Payload(marker)}))["x"].close()
    assert marker.exists()


def test_malicious_state_pt_is_refused_and_never_runs(tmp_path, reliability_log):
    weights = _real_checkpoint(tmp_path)
    marker = tmp_path / "state.marker"
    state = weights.with_name("last.state.pt")
    torch.save({"epoch": 1, "evil": _Payload(marker)}, state)
    with pytest.raises(ckpt.CheckpointError, match=r"last\.state\.pt"):
        ckpt.load_training_state(weights)
    assert not marker.exists()
    reliability_log.add("security", "pickle in last.state.pt", "ok:refused", expect="error")


@pytest.mark.parametrize("name", ["evil.pt", "evil.safetensors", "last.safetensors"])
def test_pickle_posing_as_weights_is_refused_and_never_runs(tmp_path, name, reliability_log):
    marker = tmp_path / "weights.marker"
    path = tmp_path / name
    torch.save({"weight": _Payload(marker)}, path)
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_for_inference(path)
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load_weights(path)
    assert not marker.exists()
    reliability_log.add("security", f"pickle saved as {name}", "ok:refused", expect="error")


def test_source_has_no_code_executing_loaders():
    """No ``torch.load`` without ``weights_only=True``, no pickle/yaml.load/eval/exec in src."""
    bad = []
    for path in SRC.rglob("*.py"):
        text = path.read_text()
        for match in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in match.group(1):
                bad.append(f"{path.relative_to(SRC)}: {match.group(0)}")
        for pattern in (
            r"\bpickle\.loads?\(",
            r"\byaml\.(unsafe_)?load\(",
            r"(?<![.\w])eval\(",
            r"(?<![.\w])exec\(",
            r"yaml\.Loader\b",
        ):
            bad += [f"{path.relative_to(SRC)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert bad == []
