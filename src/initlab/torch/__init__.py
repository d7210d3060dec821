"""PyTorch integration: initialize whole models by policy, fingerprint them."""

from initlab.diagnostics import diagnose as diagnose
from initlab.diagnostics import recommend as recommend
from initlab.torch._adapter import InitReport as InitReport
from initlab.torch._adapter import ParamRow as ParamRow
from initlab.torch._adapter import UnknownParameterWarning as UnknownParameterWarning
from initlab.torch._adapter import UnmatchedRuleWarning as UnmatchedRuleWarning
from initlab.torch._adapter import fingerprint as fingerprint
from initlab.torch._adapter import initialize as initialize
from initlab.torch._loader import seeded_loader as seeded_loader
from initlab.torch._loader import worker_init_fn as worker_init_fn
from initlab.torch._loader import worker_seeds as worker_seeds
from initlab.torch._lsuv import LSUVReport as LSUVReport
from initlab.torch._lsuv import LSUVWarning as LSUVWarning
from initlab.torch._lsuv import initialize_lsuv as initialize_lsuv
from initlab.torch._lsuv import lsuv as lsuv
from initlab.torch._lsuv import lsuv_policy_applies as lsuv_policy_applies
from initlab.torch._seeding import seed_everything as seed_everything
