"""initlab: neural-network weight initialization with exact Keras semantics,
reproducible per-parameter seeds, diagnostics and multi-seed studies.

Importing ``initlab`` never imports torch; torch-dependent names live in
``initlab.torch`` and are reachable here as lazy aliases.
"""

from typing import Any

from initlab._version import __version__ as __version__
from initlab.initializers import CATALOG as CATALOG
from initlab.initializers import EXTRAS as EXTRAS
from initlab.initializers import TRUNCATED_STD as TRUNCATED_STD
from initlab.initializers import Constant as Constant
from initlab.initializers import DeltaOrthogonal as DeltaOrthogonal
from initlab.initializers import GlorotNormal as GlorotNormal
from initlab.initializers import GlorotUniform as GlorotUniform
from initlab.initializers import HeNormal as HeNormal
from initlab.initializers import HeUniform as HeUniform
from initlab.initializers import Identity as Identity
from initlab.initializers import Initializer as Initializer
from initlab.initializers import LecunNormal as LecunNormal
from initlab.initializers import LecunUniform as LecunUniform
from initlab.initializers import Ones as Ones
from initlab.initializers import Orthogonal as Orthogonal
from initlab.initializers import RandomInitializer as RandomInitializer
from initlab.initializers import RandomNormal as RandomNormal
from initlab.initializers import RandomUniform as RandomUniform
from initlab.initializers import TorchTruncatedNormal as TorchTruncatedNormal
from initlab.initializers import TruncatedNormal as TruncatedNormal
from initlab.initializers import UnboundTruncationWarning as UnboundTruncationWarning
from initlab.initializers import VarianceScaling as VarianceScaling
from initlab.initializers import Zeros as Zeros
from initlab.initializers import canonical_name as canonical_name
from initlab.initializers import catalog as catalog
from initlab.initializers import compute_fans as compute_fans
from initlab.initializers import deserialize as deserialize
from initlab.initializers import get as get
from initlab.initializers import get_num_threads as get_num_threads
from initlab.initializers import register as register
from initlab.initializers import serialize as serialize
from initlab.initializers import set_num_threads as set_num_threads
from initlab.seeds import STREAM_VERSION as STREAM_VERSION

_LAZY_TORCH = ("initialize", "fingerprint", "seed_everything", "diagnose", "recommend")


def __getattr__(name: str) -> Any:
    # torch-dependent names load torch on first use only.
    if name == "torch":
        import initlab.torch

        return initlab.torch
    if name == "search":
        # NumPy only, but loaded on first use; the package is callable (search()).
        import initlab.search

        return initlab.search
    if name in _LAZY_TORCH:
        import initlab.torch

        return getattr(initlab.torch, name)
    raise AttributeError(f"module 'initlab' has no attribute {name!r}")
