"""The initializer catalog (NumPy only)."""

from initlab.initializers._base import Initializer as Initializer
from initlab.initializers._base import RandomInitializer as RandomInitializer
from initlab.initializers._base import get_num_threads as get_num_threads
from initlab.initializers._base import resolve_dtype as resolve_dtype
from initlab.initializers._base import set_num_threads as set_num_threads
from initlab.initializers._constant import Constant as Constant
from initlab.initializers._constant import Identity as Identity
from initlab.initializers._constant import Ones as Ones
from initlab.initializers._constant import Zeros as Zeros
from initlab.initializers._extra import DeltaOrthogonal as DeltaOrthogonal
from initlab.initializers._extra import TorchTruncatedNormal as TorchTruncatedNormal
from initlab.initializers._extra import (
    UnboundTruncationWarning as UnboundTruncationWarning,
)
from initlab.initializers._fans import compute_fans as compute_fans
from initlab.initializers._random import TRUNCATED_STD as TRUNCATED_STD
from initlab.initializers._random import GlorotNormal as GlorotNormal
from initlab.initializers._random import GlorotUniform as GlorotUniform
from initlab.initializers._random import HeNormal as HeNormal
from initlab.initializers._random import HeUniform as HeUniform
from initlab.initializers._random import LecunNormal as LecunNormal
from initlab.initializers._random import LecunUniform as LecunUniform
from initlab.initializers._random import Orthogonal as Orthogonal
from initlab.initializers._random import RandomNormal as RandomNormal
from initlab.initializers._random import RandomUniform as RandomUniform
from initlab.initializers._random import TruncatedNormal as TruncatedNormal
from initlab.initializers._random import VarianceScaling as VarianceScaling
from initlab.initializers._registry import CATALOG as CATALOG
from initlab.initializers._registry import EXTRAS as EXTRAS
from initlab.initializers._registry import canonical_name as canonical_name
from initlab.initializers._registry import catalog as catalog
from initlab.initializers._registry import deserialize as deserialize
from initlab.initializers._registry import get as get
from initlab.initializers._registry import register as register
from initlab.initializers._registry import serialize as serialize

# snake-case function aliases, as Keras exports them
xavier_uniform = glorot_uniform = GlorotUniform
xavier_normal = glorot_normal = GlorotNormal
kaiming_uniform = he_uniform = HeUniform
kaiming_normal = he_normal = HeNormal
lecun_uniform = LecunUniform
lecun_normal = LecunNormal
