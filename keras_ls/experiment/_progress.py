"""Progress of a long run: one line per trained model.

``compare`` with 5 seeds and 8 variants trains 40 models; Keras' progress
bars (10 epochs each) made 400 bars of them. `Progress` prints one line
when a model is done: which seed and which model of how many, the time
so far and an estimate of what is left.

The first model of a run is slower than the others: its time includes
the backend's start (the first XLA compilation, the data pipeline). The
estimate leaves it out as soon as a second model is done, and says so
while it is all there is.
"""

import sys
import time


def clock_text(seconds):
    """``"42 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``.

    Examples:

    >>> clock_text(42.4), clock_text(185), clock_text(3725)
    ('42 s', '3 min 05 s', '1 h 02 min')
    """
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Prints one line per trained model of a run.

    Args:
        seeds: The seeds, in the order they run.
        models_per_seed: The models trained per seed, in order: the k-th
            call of `done` is model ``k % models_per_seed`` of seed
            ``k // models_per_seed``.
        verbose: Nothing is printed when falsy. Defaults to `1`.
        clock: Seconds, monotonic. Defaults to `time.perf_counter`.
        file: Where the lines go. Defaults to `sys.stdout` at print time.
    """

    def __init__(
        self, seeds, models_per_seed, *, verbose=1, clock=None, file=None
    ):
        self.seeds = list(seeds)
        self.models_per_seed = models_per_seed
        self.verbose = verbose
        self.clock = clock or time.perf_counter
        self.file = file
        self.start = self.clock()
        self.times = []
        self._last = self.start

    @property
    def total(self):
        return len(self.seeds) * self.models_per_seed

    def done(self, names):
        """Records that the next model, trained as `names` (a list of
        names, or one name), is done; prints its line and returns it."""
        seed_index, model_index = divmod(len(self.times), self.models_per_seed)
        now = self.clock()
        self.times.append(now - self._last)
        self._last = now
        seed = self.seeds[seed_index]
        names = [names] if isinstance(names, str) else names
        # The seed's value only where it is not its position (seeds=[7]).
        value = f" [seed={seed}]" if seed != seed_index else ""
        line = (
            f"seed {seed_index + 1}/{len(self.seeds)}{value}, model "
            f"{model_index + 1}/{self.models_per_seed} ({', '.join(names)}): "
            f"{clock_text(self.times[-1])}; elapsed "
            f"{clock_text(now - self.start)}, {self._left()}"
        )
        if self.verbose:
            print(line, file=self.file or sys.stdout, flush=True)
        return line

    def _left(self):
        left = self.total - len(self.times)
        if left <= 0:
            return "done"
        if len(self.times) == 1:
            return (
                f"about {clock_text(left * self.times[0])} left (from the "
                "first model, whose time includes one-time compilation)"
            )
        # The first model's time includes the one-time start-up.
        later = self.times[1:]
        return f"about {clock_text(left * sum(later) / len(later))} left"
