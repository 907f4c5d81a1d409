"""A MAF's training options, defined once and checked before any data is touched or TensorFlow imported.

Every caller (``MAF.fit``, ``PiecewiseMAF.fit``, ``BlockFlow.fit``, ``two_stage``, the training
worker, the command line) builds a :class:`TrainingOptions`; an unknown name or an unusable
value raises there.  A bad option used to surface only after training (``activation='linear'``,
``hidden_layers=()``), as an ``IndexError`` (``number_networks=0``), or not at all (a negative
learning rate returned an untrained flow).
"""

import dataclasses
import math
import numbers

from ..errors import FlowpriorTypeError, FlowpriorValueError
from ..kernels.made import ACTIVATIONS

__all__ = ["TrainingOptions", "training_options", "PERMUTATIONS", "BACKENDS", "check_backend"]

PERMUTATIONS = ("random", "reverse")
SCHEDULES = ("plateau", "constant")
BACKENDS = ("auto", "numba", "numpy")


def _int(x, low):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= low


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    r"""How a MAF is trained (:func:`flowprior.training.maf.train_maf`).

    Parameters
    ----------
    hidden_layers : tuple of int
        Hidden units of each MADE (Germain et al. 2015).
    number_networks : int
        MADEs in the chain (Papamakarios et al. 2017).
    activation : str
        Hidden activation, one of ``made.ACTIVATIONS`` (TFP's default is linear, which is rarely
        wanted).
    permutations : {"random", "reverse"}
        Order changes between MADEs; random ones are drawn from the seed.
    epochs, learning_rate, batch_size : int, float, int or None
        Adam settings; ``batch_size=None`` trains on the full set each step.  The defaults
        (1024, 3e-3) were chosen with ``benchmarks/bench_maf.py`` (``docs/benchmarks.rst``).
    validation_fraction : float in [0, 1)
        Held-out share for early stopping; 0 disables early stopping.
    patience : int
        Epochs without improvement of the validation loss before stopping.
    weight_decay : float >= 0
        :math:`\lambda` of an L2 penalty :math:`\lambda \sum W^2` on the MADEs' kernels (not their
        biases), added to the mean negative log-likelihood while training.  It shrinks the flow
        towards an affine map, a Gaussian, which lowers the variance of a fit to few effective
        samples; too much of it flattens real structure (at 1e-2 the 6-D banana lost its curvature).
    refit : bool
        After early stopping, train again from the same initial weights on all the samples,
        held-out ones included, replaying the learning rates of the first fit up to its best epoch.
        Twice the training time, a fifth more effective samples.  No effect without a validation
        split.
    resample : bool
        Draw each epoch's batches by systematic resampling in proportion to the weights (unit
        weights in the loss) rather than uniformly with the weights in the loss.
    schedule : {"plateau", "constant"}
        ``"plateau"`` halves the learning rate after every ``patience // 3`` epochs without a
        better validation loss.
    progress : bool
        Show a progress bar.
    """

    hidden_layers: tuple = (64, 64)
    number_networks: int = 5
    activation: str = "tanh"
    permutations: str = "random"
    epochs: int = 500
    learning_rate: float = 3e-3
    batch_size: object = 1024
    validation_fraction: float = 0.2
    patience: int = 30
    weight_decay: float = 1e-3
    refit: bool = True
    resample: bool = True
    schedule: str = "plateau"
    progress: bool = False

    def __post_init__(self):
        h = self.hidden_layers
        if isinstance(h, (str, bytes)) or not hasattr(h, "__len__"):
            raise FlowpriorTypeError(f"expected hidden_layers as a sequence of layer widths, such as (50, 50); got "
                                     f"{h!r}")
        if len(h) == 0 or not all(_int(x, 1) for x in h):
            raise FlowpriorValueError(f"expected hidden_layers as one or more positive integer widths; got {h!r}")
        object.__setattr__(self, "hidden_layers", tuple(int(x) for x in h))
        if not _int(self.number_networks, 1):
            raise FlowpriorValueError(f"expected number_networks an integer >= 1; got {self.number_networks!r}")
        if self.activation not in ACTIVATIONS:
            raise FlowpriorValueError(f"expected activation in {ACTIVATIONS}; got {self.activation!r}")
        if self.permutations not in PERMUTATIONS:
            raise FlowpriorValueError(f"expected permutations in {PERMUTATIONS}; got {self.permutations!r}")
        if not _int(self.epochs, 1):
            raise FlowpriorValueError(f"expected epochs an integer >= 1; got {self.epochs!r}")
        lr = self.learning_rate
        if not (isinstance(lr, numbers.Real) and not isinstance(lr, bool) and math.isfinite(lr) and lr > 0):
            raise FlowpriorValueError(f"expected learning_rate > 0; got {lr!r}")
        if self.batch_size is not None and not _int(self.batch_size, 1):
            raise FlowpriorValueError(f"expected batch_size an integer >= 1 or None; got {self.batch_size!r}")
        vf = self.validation_fraction
        if not (isinstance(vf, numbers.Real) and not isinstance(vf, bool) and 0.0 <= vf < 1.0):
            raise FlowpriorValueError(f"expected 0 <= validation_fraction < 1; got {vf!r}")
        if not _int(self.patience, 1):
            raise FlowpriorValueError(f"expected patience an integer >= 1; got {self.patience!r}")
        wd = self.weight_decay
        if not (isinstance(wd, numbers.Real) and not isinstance(wd, bool) and math.isfinite(wd) and wd >= 0):
            raise FlowpriorValueError(f"expected weight_decay >= 0; got {wd!r}")
        if not isinstance(self.refit, bool):
            raise FlowpriorTypeError(f"expected refit True or False; got {self.refit!r}")
        if not isinstance(self.resample, bool):
            raise FlowpriorTypeError(f"expected resample True or False; got {self.resample!r}")
        if self.schedule not in SCHEDULES:
            raise FlowpriorValueError(f"expected schedule in {SCHEDULES}; got {self.schedule!r}")
        if not isinstance(self.progress, bool):
            raise FlowpriorTypeError(f"expected progress True or False; got {self.progress!r}")

    def replace(self, **changes):
        """A copy with ``changes`` (checked like any other).

        Parameters
        ----------
        **changes
            Option names and their new values.
        """
        return training_options(self, **changes)

    def as_dict(self):
        """Plain values (JSON-able), as the training worker and saved histories take them."""
        out = dataclasses.asdict(self)
        out["hidden_layers"] = list(self.hidden_layers)
        return out


NAMES = tuple(f.name for f in dataclasses.fields(TrainingOptions))


def training_options(options=None, /, **changes):
    """``options`` (a :class:`TrainingOptions`, a dict or None for the defaults) with ``changes``.

    Unknown names raise ``TypeError`` listing the known ones.
    """
    if options is None:
        base = {}
    elif isinstance(options, TrainingOptions):
        base = dataclasses.asdict(options)
    elif isinstance(options, dict):
        base = dict(options)
    else:
        raise FlowpriorTypeError(f"expected training options as a TrainingOptions or a dict; got "
                                 f"{type(options).__name__}")
    base.update(changes)
    unknown = sorted(set(base) - set(NAMES))
    if unknown:
        raise FlowpriorTypeError(f"expected training options among {list(NAMES)}; got {unknown}")
    return TrainingOptions(**base)


def check_backend(backend):
    if backend not in BACKENDS:
        raise FlowpriorValueError(f"expected backend in {BACKENDS}; got {backend!r}")


def split_fit_options(options, *, extra=(), name="options"):
    """``(training options, the rest)`` of a ``fit``'s keyword options, checked before any work.

    ``extra`` names the other keywords the caller accepts (``backend``, ``seed``, a piecewise
    flow's clustering options, ...); any other name raises ``TypeError`` listing all of them, and a
    bad training value raises as :class:`TrainingOptions` does.
    """
    options = dict(options or {})
    accepted = set(NAMES) | set(extra)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise FlowpriorTypeError(f"expected {name} among {sorted(accepted)}; got {unknown}")
    training = training_options({k: v for k, v in options.items() if k in NAMES})
    if "backend" in options:
        check_backend(options["backend"])
    return training, {k: v for k, v in options.items() if k not in NAMES}
