"""Names under which prior classes are saved, so loading never imports by string.

A saved file names its kind (``"UniformPrior"``, ``"MAF"``, ...); loading
looks the name up here.  Only classes that registered themselves can be
built, so a file cannot make flowprior import or run anything else.
"""

__all__ = ["register", "lookup"]

_KINDS = {}


def register(cls):
    """Class decorator: make ``cls`` loadable under its class name."""
    _KINDS[cls.__name__] = cls
    return cls


def lookup(kind):
    """Return the registered class called ``kind`` or raise KeyError."""
    return _KINDS[kind]


def known():
    """Names of every registered kind, sorted."""
    return sorted(_KINDS)


def dump(obj, prefix=""):
    """Describe a registered object as (JSON-able config, named float arrays).

    Array names get ``prefix`` so that a prior nested inside a flow keeps its
    arrays apart from the flow's own.
    """
    config, arrays = obj._state()
    config = {"kind": type(obj).__name__, **config}
    return config, {prefix + name: value for name, value in arrays.items()}


def build(config, arrays, prefix=""):
    """Inverse of :func:`dump`: rebuild the object a config describes."""
    kind = config.get("kind")
    try:
        cls = lookup(kind)
    except KeyError:
        raise KeyError(f"expected one of the kinds {known()}; got {kind!r}") from None
    own = {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}
    return cls._from_state(config, own)
