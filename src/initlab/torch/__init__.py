"""PyTorch integration: initialize whole models by policy, fingerprint them."""

from initlab.torch._adapter import InitReport as InitReport
from initlab.torch._adapter import ParamRow as ParamRow
from initlab.torch._adapter import UnknownParameterWarning as UnknownParameterWarning
from initlab.torch._adapter import fingerprint as fingerprint
from initlab.torch._adapter import initialize as initialize
from initlab.torch._seeding import seed_everything as seed_everything
