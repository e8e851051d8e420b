"""GPU busy fraction: lanes (each worker claims its next trial as soon as it is free, as
the state machine's lanes do) against synchronous rounds (``max_worker`` trials start
together and the next round waits for the slowest), on the same scan with the same
number of workers, for trial durations with a heavy tail.

A discrete-event simulation: trial durations are drawn once per seed (log-normal with
median 1, so the mean is e^(sigma²/2)) and both policies run the very same list, in the
same order. Busy fraction = GPU time spent training / (workers × wall time).

    .venv/bin/python bench/lanes.py [--trials 200] [--workers 8] [--seeds 50]
"""

from __future__ import annotations

import argparse
import heapq
import random
import statistics


def lanes_makespan(durations: list[float], workers: int, start_cost: float) -> float:
    """Each worker takes the next trial the moment it is free."""
    free_at = [0.0] * workers
    heapq.heapify(free_at)
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + start_cost + duration)
    return max(free_at)


def rounds_makespan(durations: list[float], workers: int, start_cost: float) -> float:
    """``workers`` trials at a time; each round lasts as long as its slowest trial."""
    return sum(
        start_cost + max(durations[i : i + workers]) for i in range(0, len(durations), workers)
    )


def busy(durations: list[float], workers: int, makespan: float) -> float:
    return sum(durations) / (workers * makespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument(
        "--start-cost",
        type=float,
        default=0.02,
        help="claim + job start per trial, in units of the median trial (default 0.02)",
    )
    args = parser.parse_args()
    print(
        f"{args.trials} trials, {args.workers} workers, {args.seeds} seeds; durations "
        f"log-normal (median 1); start cost {args.start_cost} per trial\n"
    )
    header = (
        f"{'sigma':>5} {'busy: lanes':>12} {'busy: rounds':>13} {'ratio':>7} "
        f"{'wall: lanes':>12} {'wall: rounds':>13} {'rounds / lanes':>15}"
    )
    print(header)
    print("-" * len(header))
    for sigma in (0.0, 0.5, 1.0, 1.5):
        lanes_busy, rounds_busy, lanes_wall, rounds_wall = [], [], [], []
        for seed in range(args.seeds):
            rng = random.Random(seed)
            durations = [rng.lognormvariate(0.0, sigma) for _ in range(args.trials)]
            lanes = lanes_makespan(durations, args.workers, args.start_cost)
            rounds = rounds_makespan(durations, args.workers, args.start_cost)
            lanes_busy.append(busy(durations, args.workers, lanes))
            rounds_busy.append(busy(durations, args.workers, rounds))
            lanes_wall.append(lanes)
            rounds_wall.append(rounds)
        lb, rb = statistics.mean(lanes_busy), statistics.mean(rounds_busy)
        lw, rw = statistics.mean(lanes_wall), statistics.mean(rounds_wall)
        print(
            f"{sigma:>5.1f} {lb:>12.1%} {rb:>13.1%} {lb / rb:>6.2f}x "
            f"{lw:>12.1f} {rw:>13.1f} {rw / lw:>14.2f}x"
        )


if __name__ == "__main__":
    main()
