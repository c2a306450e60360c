"""tms: toy models of superposition (Elhage et al., 2022) over a fast C++ engine.

    import tms
    run = tms.train(model="relu", features=20, hidden=5, importance=0.7, density=[1, 0.1, 0.01], steps=10_000)
    run.W, run.b, run.norms, run.superposition       # NumPy arrays, one row per instance
    tms.figures.basic_grid(run, path="basic.png")    # the paper's figures
    run.save("runs/demo"); tms.load("runs/demo")     # the run folder `tms train` writes
    saes = tms.train_saes(run, kind="topk", widths=[40], coefficients=[1, 2])  # SAEs scored on the true features

The command line is the same engine: `tms train`, `tms analyze`, `tms reproduce` (see `tms --help`).
"""
from . import _tms
from .api import Run, defaults, load, make_config, merge, model_tensors, preset_names, sample, train
from .saes import SAEs, load_saes, train_saes
from .sweeps import sweep

__version__ = _tms.__version__
represented_norm = _tms.represented_norm

_SUBMODULES = ("figures", "report", "reproduce", "claims", "cli", "phase", "nonuniform", "privileged", "science",
               "targets", "sweeps")

__all__ = ["Run", "train", "train_saes", "load_saes", "SAEs", "sample", "load", "merge", "sweep", "make_config", "defaults", "preset_names", "model_tensors", *_SUBMODULES, "__version__",
           "represented_norm"]


def __getattr__(name):
    # Most submodules import matplotlib; load them on first use so `import tms` stays light.
    if name in _SUBMODULES:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tms' has no attribute {name!r}")
