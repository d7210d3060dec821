"""Diagnostics: how the signal travels through a model, and what to use instead.

The package is ``initlab.diagnostics`` rather than ``initlab.diagnose``: a
subpackage named ``diagnose`` would replace the function ``initlab.diagnose`` as an
attribute of ``initlab`` as soon as it was imported.
"""

from initlab.diagnostics._activations import ActivationRule as ActivationRule
from initlab.diagnostics._activations import rule_for as rule_for
from initlab.diagnostics._diagnose import THRESHOLDS as THRESHOLDS
from initlab.diagnostics._diagnose import VERDICTS as VERDICTS
from initlab.diagnostics._diagnose import DiagnosisReport as DiagnosisReport
from initlab.diagnostics._diagnose import LayerStats as LayerStats
from initlab.diagnostics._diagnose import diagnose as diagnose
from initlab.diagnostics._models import ACTIVATIONS as ACTIVATIONS
from initlab.diagnostics._models import DEFAULT_SIZES as DEFAULT_SIZES
from initlab.diagnostics._models import MODELS as MODELS
from initlab.diagnostics._models import POLICY_ENTRIES as POLICY_ENTRIES
from initlab.diagnostics._models import apply_init as apply_init
from initlab.diagnostics._models import build_case as build_case
from initlab.diagnostics._models import build_model as build_model
from initlab.diagnostics._models import call_factory as call_factory
from initlab.diagnostics._models import example_batch as example_batch
from initlab.diagnostics._models import load_factory as load_factory
from initlab.diagnostics._models import resolve_init as resolve_init
from initlab.diagnostics._models import split_inits as split_inits
from initlab.diagnostics._plots import plot_depth_sweep as plot_depth_sweep
from initlab.diagnostics._plots import plot_diagnosis as plot_diagnosis
from initlab.diagnostics._recommend import Recommendation as Recommendation
from initlab.diagnostics._recommend import Recommendations as Recommendations
from initlab.diagnostics._recommend import recommend as recommend
from initlab.diagnostics._sweep import SweepLine as SweepLine
from initlab.diagnostics._sweep import depth_sweep as depth_sweep
