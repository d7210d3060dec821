"""Stochastic search: deterministic and stochastic training side by side.

``initlab.search(problem, methods, seeds)`` trains a small network with gradient
descent, SGD, simulated annealing and a genetic algorithm from the same initial
weights, over many seeds and under one budget of loss evaluations, and reports the
distribution of outcomes (see :func:`search`).

This package is itself callable, so ``initlab.search(...)`` works whether or not
``initlab.search`` has been imported as a module.
"""

import inspect as _inspect
import sys as _sys
import types as _types

from initlab.search._methods import DEFAULT_SETTINGS as DEFAULT_SETTINGS
from initlab.search._methods import METHODS as METHODS
from initlab.search._network import Network as Network
from initlab.search._problems import PROBLEMS as PROBLEMS
from initlab.search._problems import Problem as Problem
from initlab.search._problems import get_problem as get_problem
from initlab.search._problems import spiral_data as spiral_data
from initlab.search._report import write_report as write_report
from initlab.search._search import BUDGET_RULE as BUDGET_RULE
from initlab.search._search import MethodResult as MethodResult
from initlab.search._search import SearchResult as SearchResult
from initlab.search._search import search as search


class _CallableModule(_types.ModuleType):
    # Importing the package binds `initlab.search` to this module, which would hide
    # the function of the same name; calling the module calls the function.
    def __call__(self, *args, **kwargs):
        return search(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
__signature__ = _inspect.signature(search)
