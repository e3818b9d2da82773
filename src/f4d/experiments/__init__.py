"""Small-scale reproductions of the paper's claims (issue 6): ``f4d experiment NAME``.

Each experiment is data (:mod:`f4d.experiments.specs`: a table of variants), one loop runs them
(:func:`run_experiment`) on the demo's synthetic dataset from its shared unit-level pretraining
(:mod:`f4d.experiments.recipe`); Table 1 profiles the ResNet-50 models instead of training.
"""

from f4d.experiments.recipe import SCALES, Scale
from f4d.experiments.runner import aggregate, run_experiment
from f4d.experiments.specs import EXPERIMENTS, Experiment, Variant, get_experiment

__all__ = [
    "EXPERIMENTS",
    "SCALES",
    "Experiment",
    "Scale",
    "Variant",
    "aggregate",
    "get_experiment",
    "run_experiment",
]
