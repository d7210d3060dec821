"""The search methods, each run on a batch of starts under one budget.

Budget accounting, the same for every method:

- one evaluation of the full-batch loss at one weight vector costs 1;
- one full-batch gradient (its forward pass gives the loss too) costs 1;
- a minibatch gradient on m of the n examples costs m / n;
- SGD's full-batch loss at the end of each epoch, used only to see whether the run
  is solved, costs nothing (it does not move the weights).

A run ends at the first evaluation whose loss is below the problem's threshold
(solved), or when its budget is spent. A method's answer is its current weights
(gradient descent, SGD) or the best point it has evaluated (annealing, genetic).
Whatever the budget, a method makes the same moves, so a run with a smaller budget
is the prefix of a longer one; restarts rely on this.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from initlab import seeds
from initlab.initializers import Initializer
from initlab.search._problems import Problem

__all__ = ["DEFAULT_SETTINGS", "METHODS", "Runs", "Start", "run_method"]


#: Settings of each method where a problem does not set them.
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "gd": {"learning_rate": 1.0},
    "sgd": {"learning_rate": 0.1, "batch_size": 1},
    # scipy.optimize.dual_annealing's own defaults, with its local search off so
    # that the method is simulated annealing alone; weights live in [-bound, bound].
    "annealing": {"bound": 10.0, "initial_temp": 5230.0, "visit": 2.62, "accept": -5.0},
    # A real-coded GA in the NSGA-II tradition: tournament selection, simulated
    # binary crossover (SBX) and polynomial mutation, both bounded, one elite.
    "genetic": {
        "population": 20,
        "bound": 10.0,
        "tournament": 3,
        "crossover_prob": 0.7,
        "crossover_eta": 15.0,
        "mutation_prob": 1.0,
        "mutation_eta": 1.0,
        "gene_prob": 0.5,
        "elite": 1,
    },
}


@dataclass(frozen=True)
class Start:
    """Where one run starts: a run seed and its attempt number (0 for the first).

    Attempt ``a > 0`` (a restart) draws its weights under the names
    ``restart<a>.<parameter>`` and its moves from its own stream, so restarts are
    independent of each other and of the first attempt.
    """

    seed: int
    attempt: int = 0

    @property
    def prefix(self) -> str:
        return f"restart{self.attempt}." if self.attempt else ""

    def weights(
        self, problem: Problem, init: Initializer, member: str = ""
    ) -> np.ndarray:
        """The initial weight vector, kernels from ``init`` and biases zero."""
        return problem.network.initial_weights(init, self.seed, self.prefix + member)

    def rng(self, method: str) -> np.random.Generator:
        """The generator of this run's moves: stream (seed, search/METHOD/ATTEMPT)."""
        return seeds.stream(self.seed, f"search/{method}/{self.attempt}")


@dataclass
class Runs:
    """The outcome of a batch of runs, one per start.

    Attributes:
        evals_to_success: Evaluations spent when the run was solved, ``inf`` where
            it was not, of shape ``(S,)``.
        evals_used: Evaluations spent in all, of shape ``(S,)``.
        final_loss: The loss of each run's answer at its end, of shape ``(S,)``.
        curves: Per run, ``(evals, loss)``: the loss of the answer after each
            evaluation count where it was measured.
    """

    evals_to_success: np.ndarray
    evals_used: np.ndarray
    final_loss: np.ndarray
    curves: list[tuple[np.ndarray, np.ndarray]]


class _Budget:
    """Counts one run's evaluations, its best loss, and whether it is solved."""

    def __init__(self, budget: float, threshold: float):
        self.budget = budget
        self.threshold = threshold
        self.used = 0
        self.best = np.inf
        self.solved_at = np.inf
        self.evals: list[int] = []
        self.losses: list[float] = []

    @property
    def left(self) -> int:
        return int(self.budget - self.used)

    @property
    def done(self) -> bool:
        return self.used >= self.budget or np.isfinite(self.solved_at)

    def observe(self, losses: np.ndarray) -> bool:
        """Charge one evaluation per loss, in order; True once the run is over."""
        for loss in losses:
            self.used += 1
            self.best = min(self.best, float(loss))
            self.evals.append(self.used)
            self.losses.append(self.best)
            if loss < self.threshold:
                self.solved_at = self.used
            if self.done:
                return True
        return False

    def runs(self) -> tuple[float, float, float, tuple[np.ndarray, np.ndarray]]:
        curve = (np.array(self.evals, dtype=float), np.array(self.losses))
        return self.solved_at, float(self.used), self.best, curve


class _Finished(Exception):
    """Raised inside a library's loop when the budget is spent or the run solved."""


def _collect(budgets: Sequence[_Budget]) -> Runs:
    parts = [b.runs() for b in budgets]
    return Runs(
        evals_to_success=np.array([p[0] for p in parts], dtype=float),
        evals_used=np.array([p[1] for p in parts], dtype=float),
        final_loss=np.array([p[2] for p in parts], dtype=float),
        curves=[p[3] for p in parts],
    )


# --------------------------------------------------------------- gradient descent


def gradient_descent(
    problem: Problem,
    init: Initializer,
    starts: Sequence[Start],
    budget: int,
    settings: dict[str, Any],
) -> Runs:
    """Full-batch gradient descent, all starts at once; no randomness after the start.

    Each step evaluates the loss and its gradient (1 evaluation) and, unless the
    loss is already below the threshold, moves by ``-learning_rate * gradient``.
    """
    net, lr = problem.network, float(settings["learning_rate"])
    theta = np.stack([start.weights(problem, init) for start in starts])
    n_runs = len(starts)
    losses = np.empty((n_runs, budget))
    used = np.zeros(n_runs, dtype=int)
    solved_at = np.full(n_runs, np.inf)
    active = np.arange(n_runs)
    for step in range(budget):
        loss, grad = net.loss_and_grad(theta[active], problem.x, problem.y)
        losses[active, step] = loss
        used[active] = step + 1
        solved = loss < problem.threshold
        solved_at[active[solved]] = step + 1
        theta[active[~solved]] -= lr * grad[~solved]
        active = active[~solved]
        if active.size == 0:
            break
    curves = [(np.arange(1.0, u + 1), losses[i, :u]) for i, u in enumerate(used)]
    final = np.array([losses[i, u - 1] for i, u in enumerate(used)])
    return Runs(solved_at, used.astype(float), final, curves)


# ---------------------------------------------------------------------------- sgd


def stochastic_gradient_descent(
    problem: Problem,
    init: Initializer,
    starts: Sequence[Start],
    budget: int,
    settings: dict[str, Any],
) -> Runs:
    """Minibatch SGD; each run shuffles the examples at every epoch from its stream.

    A minibatch of m examples costs m / n evaluations. The run is checked for
    success on the full-batch loss at the end of each epoch and when the budget
    runs out (free: see the module docstring).
    """
    net, lr = problem.network, float(settings["learning_rate"])
    n = problem.n_examples
    batch = min(int(settings["batch_size"]), n)
    theta = np.stack([start.weights(problem, init) for start in starts])
    rngs = [start.rng("sgd") for start in starts]
    n_runs = len(starts)
    # Count in example-gradients (n per evaluation) so the accounting is exact.
    spent, limit = 0, budget * n
    solved_at = np.full(n_runs, np.inf)
    used = np.zeros(n_runs)
    curve_evals: list[list[float]] = [[] for _ in starts]
    curve_losses: list[list[float]] = [[] for _ in starts]
    active = np.arange(n_runs)
    exhausted = False
    while active.size and not exhausted:
        order = np.stack([rngs[i].permutation(n) for i in active])
        for begin in range(0, n, batch):
            index = order[:, begin : begin + batch]
            if spent + index.shape[1] > limit:
                exhausted = True
                break
            _, grad = net.loss_and_grad(
                theta[active], problem.x[index], problem.y[index]
            )
            theta[active] -= lr * grad
            spent += index.shape[1]
        exhausted = exhausted or spent + min(batch, n) > limit
        loss = net.loss(theta[active], problem.x, problem.y)
        for i, value in zip(active, loss, strict=True):
            curve_evals[i].append(spent / n)
            curve_losses[i].append(float(value))
        used[active] = spent / n
        solved = loss < problem.threshold
        solved_at[active[solved]] = spent / n
        active = active[~solved]
    curves = [
        (np.array(e), np.array(v))
        for e, v in zip(curve_evals, curve_losses, strict=True)
    ]
    final = np.array([v[-1] for v in curve_losses])
    return Runs(solved_at, used, final, curves)


# ---------------------------------------------------------------------- annealing


def annealing(
    problem: Problem,
    init: Initializer,
    starts: Sequence[Start],
    budget: int,
    settings: dict[str, Any],
) -> Runs:
    """Simulated annealing over the weight vector: ``scipy.optimize.dual_annealing``
    with its local search off, started from the initializer's weights.

    Weights are searched in ``[-bound, bound]``; a start outside is clipped into it.
    Every call of the objective is one evaluation; the answer is the best point.
    """
    from scipy.optimize import dual_annealing

    bound = float(settings["bound"])
    bounds = [(-bound, bound)] * problem.network.n_weights
    budgets = []
    for start in starts:
        tracker = _Budget(budget, problem.threshold)
        budgets.append(tracker)

        def objective(theta: np.ndarray, tracker: _Budget = tracker) -> float:
            loss = problem.network.loss(theta[None], problem.x, problem.y)
            if tracker.observe(loss):
                raise _Finished
            return float(loss[0])

        x0 = np.clip(start.weights(problem, init), -bound, bound)
        with contextlib.suppress(_Finished):
            dual_annealing(
                objective,
                bounds,
                x0=x0,
                rng=start.rng("annealing"),
                no_local_search=True,
                initial_temp=float(settings["initial_temp"]),
                visit=float(settings["visit"]),
                accept=float(settings["accept"]),
                # The budget stops the run, not SciPy's own limits.
                maxiter=2**62,
                maxfun=2**62,
            )
    return _collect(budgets)


# ------------------------------------------------------------------------ genetic


@contextlib.contextmanager
def _python_random(rng: np.random.Generator) -> Iterator[None]:
    # DEAP's operators draw from Python's global `random`: seed it from the run's
    # stream, and give the caller's state back afterwards.
    state = random.getstate()
    random.seed(int(rng.integers(2**63)))
    try:
        yield
    finally:
        random.setstate(state)


def _deap_toolbox(settings: dict[str, Any]):
    from deap import base, tools

    class Fitness(base.Fitness):
        weights = (-1.0,)  # minimize the loss

    class Individual(list):
        def __init__(self, genes):
            super().__init__(genes)
            self.fitness = Fitness()

    def clone(individual):
        copy = Individual(individual)
        copy.fitness.values = individual.fitness.values
        return copy

    bound = float(settings["bound"])
    toolbox = base.Toolbox()
    toolbox.register("individual", Individual)
    toolbox.register("clone", clone)
    toolbox.register(
        "select", tools.selTournament, tournsize=int(settings["tournament"])
    )
    toolbox.register(
        "mate",
        tools.cxSimulatedBinaryBounded,
        eta=float(settings["crossover_eta"]),
        low=-bound,
        up=bound,
    )
    toolbox.register(
        "mutate",
        tools.mutPolynomialBounded,
        eta=float(settings["mutation_eta"]),
        low=-bound,
        up=bound,
        indpb=float(settings["gene_prob"]),
    )
    return toolbox


def genetic(
    problem: Problem,
    init: Initializer,
    starts: Sequence[Start],
    budget: int,
    settings: dict[str, Any],
) -> Runs:
    """A genetic algorithm built from DEAP's operators.

    The population's first member is the run's start; member ``i > 0`` is drawn by
    the same initializer under the names ``individual<i>.<parameter>``, all clipped
    into ``[-bound, bound]``. Each generation keeps the ``elite`` best, fills the
    rest by tournament selection, then applies SBX crossover to consecutive pairs
    and polynomial mutation (``deap.algorithms.varAnd``). Each new individual costs
    one evaluation; a population is evaluated as one batch, in order.
    """
    from deap import algorithms, tools

    toolbox = _deap_toolbox(settings)
    bound, size = float(settings["bound"]), int(settings["population"])
    n_elite = int(settings["elite"])
    budgets = []
    for start in starts:
        tracker = _Budget(budget, problem.threshold)
        budgets.append(tracker)

        def evaluate(individuals: list, tracker: _Budget = tracker) -> bool:
            batch = individuals[: tracker.left]
            if not batch:
                return tracker.done
            losses = problem.network.loss(np.array(batch), problem.x, problem.y)
            for individual, loss in zip(batch, losses, strict=True):
                individual.fitness.values = (float(loss),)
            return tracker.observe(losses)

        with _python_random(start.rng("genetic")):
            population = [
                toolbox.individual(
                    np.clip(
                        start.weights(problem, init, f"individual{i}." if i else ""),
                        -bound,
                        bound,
                    ).tolist()
                )
                for i in range(size)
            ]
            finished = evaluate(population)
            while not finished:
                elite = [
                    toolbox.clone(best) for best in tools.selBest(population, n_elite)
                ]
                offspring = toolbox.select(population, size - n_elite)
                offspring = algorithms.varAnd(
                    offspring,
                    toolbox,
                    float(settings["crossover_prob"]),
                    float(settings["mutation_prob"]),
                )
                finished = evaluate([o for o in offspring if not o.fitness.valid])
                population = elite + offspring
    return _collect(budgets)


Method = Callable[[Problem, Initializer, Sequence[Start], int, dict[str, Any]], Runs]

#: The methods by name, in the order reports list them.
METHODS: dict[str, Method] = {
    "gd": gradient_descent,
    "sgd": stochastic_gradient_descent,
    "annealing": annealing,
    "genetic": genetic,
}


def run_method(
    method: str,
    problem: Problem,
    init: Initializer,
    starts: Sequence[Start],
    budget: int,
    settings: dict[str, Any],
) -> Runs:
    """Run ``method`` from each start with ``budget`` evaluations each."""
    if not starts:
        return Runs(np.empty(0), np.empty(0), np.empty(0), [])
    return METHODS[method](problem, init, starts, budget, settings)
