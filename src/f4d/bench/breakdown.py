"""Where a model's forward time goes: per-component times from forward hooks.

Each instrumented module gets a forward pre-hook and a forward hook that read the clock (on CUDA
after ``torch.cuda.synchronize``, so a module's time is its own kernels, not work queued before
it). A *component* sums the calls of its modules in one forward; its figure is the median over
``repeats`` timed inference forwards (``model.eval()``, ``no_grad``, autocast per ``dtype``)
after ``warmup`` untimed ones. Components form a tree:

- top level: ``stem`` (conv1, bn1, act1, maxpool), ``conv2`` .. ``conv5`` (the residual blocks
  of layer1 .. layer4, without the 4D blocks placed between them), ``blocks4d``, ``head``
  (dropout + fc) and any other child of the model under its own name;
- each 4D block ``blocks4d.<key>`` (a :class:`f4d.nn.block.Residual4dBlock`), its ``op``, each
  ``attention.<name>`` (or ``attention_chain``: TA, CA and STA run as one chain) and ``norm+act``
  (norm, act, drop);
- inside an op with children (:class:`f4d.ops.factorized.Factorized4d`) each child
  (``spatial``, ``norm``, ``act``, ``temporal``).

Where a parent's modules are not the sum of its children's, a ``(rest)`` row holds the part of
the parent no child covers (reshapes, residual adds, pooling), measured per forward as parent
minus children. The whole forward is timed twice: with the hooks (``whole_ms``, the base of the
percentages) and without (``plain_ms``); their ratio says what the hooks cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from f4d.bench.model import (
    ModelBenchSettings,
    _autocast,
    build_model,
    make_input,
    run_each,
)
from f4d.bench.timing import median, synchronize, time_call, wrap_report
from f4d.models.profile import count_parameters

# Top-level rows of a VideoResNet: row name -> child names whose calls it sums.
TOP_LEVEL = {
    "stem": ("conv1", "bn1", "act1", "maxpool"),
    "conv2": ("layer1",),
    "conv3": ("layer2",),
    "conv4": ("layer3",),
    "conv5": ("layer4",),
    "blocks4d": ("blocks4d",),
    "head": ("head_drop", "fc"),
}
# Children of a 4D block that are timed together as one row.
BLOCK_TAIL = ("norm", "act", "drop")
REST = "(rest)"


@dataclass
class Component:
    """A named group of modules whose calls are summed per forward; ``children`` nest inside."""

    path: str
    depth: int
    modules: tuple[nn.Module, ...]
    children: list[Component] = field(default_factory=list)

    def walk(self) -> Iterable[Component]:
        """This component, then its descendants depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def _called(module: nn.Module) -> list[nn.Module]:
    """The modules that run for ``module``: containers (never called) expand to their items."""
    if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
        return [m for child in module.children() for m in _called(child)]
    return [module]


def _group(path: str, depth: int, modules: Iterable[nn.Module]) -> Component | None:
    called = tuple(m for module in modules for m in _called(module))
    return Component(path, depth, called) if called else None


def _op_components(path: str, op: nn.Module) -> list[Component]:
    return [Component(f"{path}.{name}", 3, (child,)) for name, child in op.named_children()]


def block_component(path: str, block: nn.Module) -> Component:
    """A 4D block with rows for its op (and the op's children), each attention and norm+act.
    A block that runs TA, CA and STA as one chain (`attention_chain`, see `f4d.nn.chain`) gets
    one row for the chain instead of one per module (the modules' forwards do not run)."""
    component = Component(path, 1, (block,))
    tail = [getattr(block, name) for name in BLOCK_TAIL if hasattr(block, name)]
    chained = getattr(block, "attention_chain", None) is not None
    for name, child in block.named_children():
        if name in BLOCK_TAIL or (chained and name == "attention"):
            continue
        if isinstance(child, nn.ModuleDict):
            for key, item in child.items():
                component.children.append(Component(f"{path}.{name}.{key}", 2, (item,)))
            continue
        row = Component(f"{path}.{name}", 2, (child,))
        if name == "op":
            row.children = _op_components(row.path, child)
        component.children.append(row)
    if tail:
        component.children.append(Component(f"{path}.norm+act", 2, tuple(tail)))
    return component


def model_components(model: nn.Module) -> list[Component]:
    """The top-level components of ``model`` (see the module docstring), 4D blocks nested."""
    children = dict(model.named_children())
    claimed: set[str] = set()
    rows: list[Component] = []
    for row, names in TOP_LEVEL.items():
        present = [n for n in names if n in children]
        claimed.update(present)
        component = _group(row, 0, (children[n] for n in present))
        if component is None:
            continue
        if row == "blocks4d":
            blocks = children["blocks4d"]
            component.children = [block_component(f"blocks4d.{k}", b) for k, b in blocks.items()]
        rows.append(component)
    for name, child in children.items():  # children of other model classes, under their names
        component = None if name in claimed else _group(name, 0, (child,))
        if component is not None:
            rows.append(component)
    return rows


class HookTimer:
    """Forward hooks that add each call's elapsed seconds to the components owning the module."""

    def __init__(self, components: Sequence[Component], device: torch.device) -> None:
        self.device = device
        self.owners: dict[int, list[str]] = {}
        self.modules: dict[int, nn.Module] = {}
        for top in components:
            for component in top.walk():
                for module in component.modules:
                    self.owners.setdefault(id(module), []).append(component.path)
                    self.modules[id(module)] = module
        self.totals: dict[str, float] = {}
        self._starts: dict[int, list[float]] = {}
        self._handles: list = []

    def _pre(self, module: nn.Module, args: object) -> None:
        synchronize(self.device)
        self._starts.setdefault(id(module), []).append(time.perf_counter())

    def _post(self, module: nn.Module, args: object, output: object) -> None:
        synchronize(self.device)
        elapsed = time.perf_counter() - self._starts[id(module)].pop()
        for path in self.owners[id(module)]:
            self.totals[path] = self.totals.get(path, 0.0) + elapsed

    def __enter__(self) -> HookTimer:
        for module in self.modules.values():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def reset(self) -> None:
        """Forget the totals of the previous forward."""
        self.totals = {}


def _with_rest(components: Sequence[Component], totals: dict[str, float], whole: float) -> dict:
    """``totals`` plus a ``(rest)`` entry per parent whose children do not cover its modules."""
    out = dict(totals)
    root = Component("", -1, (), list(components))
    for parent in root.walk():
        if not parent.children:
            continue
        covered = {id(m) for child in parent.children for m in child.modules}
        if covered == {id(m) for m in parent.modules}:
            continue
        own = whole if parent is root else totals.get(parent.path, 0.0)
        inner = sum(totals.get(child.path, 0.0) for child in parent.children)
        out[f"{parent.path}.{REST}" if parent.path else REST] = own - inner
    return out


def _rows(components: Sequence[Component], per_forward: list[dict], whole_s: float) -> list[dict]:
    """One row per component (and ``(rest)``) in tree order: median ms and % of ``whole_s``."""
    rows = []

    def add(path: str, depth: int) -> None:
        seconds = median([forward.get(path, 0.0) for forward in per_forward])
        rows.append({
            "component": path, "depth": depth, "median_ms": 1e3 * seconds,
            "percent": 100.0 * seconds / whole_s,
        })  # fmt: skip

    def visit(component: Component) -> None:
        add(component.path, component.depth)
        for child in component.children:
            visit(child)
        if f"{component.path}.{REST}" in per_forward[0]:
            add(f"{component.path}.{REST}", component.depth + 1)

    for component in components:
        visit(component)
    if REST in per_forward[0]:
        add(REST, 0)
    return rows


def _timed_forwards(
    step: Callable[[], object], timer: HookTimer, settings: ModelBenchSettings
) -> tuple[list[float], list[dict]]:
    """Whole-forward seconds and per-component totals of each timed, hooked forward."""
    wholes, per_forward = [], []
    with timer:
        for _ in range(settings.warmup):
            step()
        for _ in range(settings.repeats):
            timer.reset()
            synchronize(timer.device)
            start = time.perf_counter()
            step()
            synchronize(timer.device)
            wholes.append(time.perf_counter() - start)
            per_forward.append(dict(timer.totals))
    return wholes, per_forward


def bench_breakdown(name: str, *, settings: ModelBenchSettings, device: torch.device) -> dict:
    """Per-component inference times of registered model ``name`` on input `(B, U, 3, T, H, W)`.

    Returns ``{"model", "params", "plain_ms", "whole_ms", "hook_overhead", "rows"}``: the forward
    without hooks, the forward with them (base of the percentages), their ratio, and rows
    ``{"component", "depth", "median_ms", "percent"}`` in tree order. Eager only: raises
    ValueError for ``settings.compile`` (hooks would break the compiled graph).
    """
    if settings.compile:
        raise ValueError("the breakdown times eager forwards; compile=True is not supported")
    torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    model = build_model(name, settings, device).eval()
    x = make_input(settings, device, settings.batch)

    def step() -> None:
        with torch.no_grad(), _autocast(settings, device):
            model(x)

    plain = median(time_call(step, device=device, warmup=settings.warmup, repeats=settings.repeats))
    components = model_components(model)
    wholes, totals = _timed_forwards(step, HookTimer(components, device), settings)
    per_forward = [_with_rest(components, t, w) for t, w in zip(totals, wholes, strict=True)]
    whole = median(wholes)
    return {
        "model": name,
        "params": count_parameters(model),
        "plain_ms": 1e3 * plain,
        "whole_ms": 1e3 * whole,
        "hook_overhead": whole / plain,
        "rows": _rows(components, per_forward, whole),
    }


def make_breakdown_report(
    results: list[dict], *, settings: ModelBenchSettings, device: torch.device
) -> dict:
    """Wrap per-model breakdowns with the machine facts and settings (as the model bench does)."""
    return wrap_report("breakdown", results, settings=settings, device=device)


def bench_breakdowns(
    names: Sequence[str],
    *,
    settings: ModelBenchSettings,
    device: torch.device,
    on_result: Callable[[dict], None] | None = None,
) -> dict:
    """:func:`bench_breakdown` for each of ``names`` in turn; a model's failure (e.g. out of
    memory) is recorded as ``{"model", "error"}`` and the others still run. Unknown names raise
    ValueError listing the registered ones."""
    results = run_each(
        names, lambda name: bench_breakdown(name, settings=settings, device=device),
        device=device, compiled=False, on_result=on_result,
    )  # fmt: skip
    return make_breakdown_report(results, settings=settings, device=device)
