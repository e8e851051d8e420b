"""Work lost to Spot interruptions against the checkpoint interval K, with and without
the two-minute metadata notice.

A simulated clock drives the real service over a real SQLite store: every claim, the
last checkpoint of each attempt, every re-queue (a notice: at once; a vanished machine:
when its lease runs out, through ``reclaim_stale``) and every completion go through
``ScanService``, and the time a noticed script gets to checkpoint is the agent's own
``notice_deadline``. Only the training steps are simulated: a trial of S steps of
``step_s`` seconds saves a checkpoint every K steps (``save_s`` seconds each) and is
interrupted at random, ``rate`` times per trial-hour of running (a Poisson process).

Reference: without a notice, an interruption loses on average about half a checkpoint
interval (K/2 steps, plus the step in progress); the table prints the measured loss
over K/2 as a ratio.

    .venv/bin/python bench/spot.py [--rates 0.5,2] [--intervals 10,25,50,100,250]
        [--step-s 3.6] [--save-s 5]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scanfleet.records import TrialRecord, TrialState
from scanfleet.runtime.agent import Agent, notice_deadline
from scanfleet.runtime.spot import SpotNotice
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

OWNER = "bench"
NOTICE_S = 120.0  # EC2 announces a Spot reclaim two minutes ahead


@dataclass
class Settings:
    steps: int = 1000
    step_s: float = 3.6  # 1,000 steps: one hour of training per trial
    save_s: float = 5.0  # upload of one checkpoint
    lease_s: float = 60.0
    trials: int = 60
    seed: int = 7


@dataclass
class Tally:
    interruptions: int = 0
    steps_lost: float = 0.0  # steps run again (the one in progress counts as its fraction)
    wall_s: float = 0.0  # claim of attempt 1 to completion, summed over trials
    checkpoints: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Attempt:
    saved: int | None = None  # step of its last checkpoint
    lost: float = 0.0  # steps to run again (the one in progress counts as its fraction)
    ran_s: float = 0.0
    saves: int = 0
    finished: bool = False
    noticed: bool = False  # checkpointed on the notice and re-queued itself


def run_attempt(s: Settings, k: int, resume: int, interrupted_at: float, notice: bool) -> Attempt:
    """One attempt from ``resume`` until it finishes or the machine goes."""
    # the seconds a noticed script gets, as the agent computes them
    deadline = notice_deadline(SpotNotice("terminate", at=NOTICE_S), 0.0, Agent.notice_deadline)
    noticed_at = max(0.0, interrupted_at - NOTICE_S) if notice else None
    t, step, a = 0.0, resume, Attempt()
    while step < s.steps:
        if noticed_at is not None and t >= noticed_at:
            # the script sees the request at the end of its step and saves, if in time
            done = t + s.save_s
            if done <= noticed_at + deadline and done <= interrupted_at:
                a.saved, a.ran_s, a.saves, a.noticed = step, done, a.saves + 1, True
                return a
            noticed_at = None  # too late: this attempt ends as if there were no notice
        if t + s.step_s > interrupted_at:
            partial = (interrupted_at - t) / s.step_s
            a.lost = step - (a.saved if a.saved is not None else resume) + partial
            a.ran_s = interrupted_at
            return a
        t += s.step_s
        step += 1
        if step % k == 0 and step < s.steps:
            if t + s.save_s > interrupted_at:  # the upload never finishes
                a.lost = step - (a.saved if a.saved is not None else resume)
                a.ran_s = interrupted_at
                return a
            t += s.save_s
            a.saved, a.saves = step, a.saves + 1
    a.ran_s, a.finished = t, True
    return a


def simulate(s: Settings, k: int, rate_per_hour: float, notice: bool) -> Tally:
    rng = random.Random(s.seed)  # the same interruptions for every K and mode
    clock = Clock()
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        service = ScanService(SQLiteTrialStore(Path(tmp) / "spot.db"), now=clock)
        config = {
            "strategy": "grid",
            "metric": {"name": "steps", "goal": "maximize"},
            "execution": {"lease_seconds": s.lease_s},
            "retries": {"max_preemptions": 1000},
            "parameters": {"i": {"values": list(range(s.trials))}},
        }
        scan, _ = service.create_scan("spot", config, owner=OWNER)
        for _ in range(s.trials):
            started = clock.now
            trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
            assert trial is not None
            while True:
                resume = trial.checkpoint.step if trial.checkpoint else 0
                gap = rng.expovariate(rate_per_hour / 3600) if rate_per_hour else float("inf")
                attempt = run_attempt(s, k, resume, gap, notice)
                tally.checkpoints += attempt.saves
                if attempt.saved is not None:
                    service.checkpoint(
                        trial.trial_id, attempt.saved, f"sim://{attempt.saved}", owner=OWNER
                    )
                clock.now += attempt.ran_s
                if attempt.finished:
                    service.complete(trial.trial_id, float(s.steps), owner=OWNER)
                    break
                tally.interruptions += 1
                tally.steps_lost += attempt.lost
                trial = requeue_and_claim(service, clock, trial, s, attempt.noticed)
            tally.wall_s += clock.now - started
        assert service.store.counts(scan.scan_id)[TrialState.COMPLETED] == s.trials
    return tally


def requeue_and_claim(
    service: ScanService, clock: Clock, trial: TrialRecord, s: Settings, noticed: bool
) -> TrialRecord:
    """A noticed attempt re-queues itself; a vanished one waits out its lease."""
    if noticed:
        service.fail(
            trial.trial_id, "spot notice", owner=OWNER, attempt=trial.attempt, preempted=True
        )
    else:
        clock.now += s.lease_s + 0.001
    again = service.claim_next_trial(trial.scan_id, "w", owner=OWNER)
    assert again is not None and again.trial_id == trial.trial_id
    assert again.preemptions == trial.preemptions + 1 and again.errors == 0
    return again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="0.5,2", help="interruptions per trial-hour")
    parser.add_argument("--intervals", default="10,25,50,100,250", help="K values (steps)")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--step-s", type=float, default=Settings.step_s, help="seconds a step")
    parser.add_argument("--save-s", type=float, default=Settings.save_s, help="seconds a save")
    args = parser.parse_args()
    s = Settings(trials=args.trials, step_s=args.step_s, save_s=args.save_s)
    hour = s.steps * s.step_s
    print(
        f"{s.trials} trials of {s.steps} steps x {s.step_s} s ({hour / 3600:.1f} h),"
        f" checkpoint upload {s.save_s} s, lease {s.lease_s:.0f} s, notice {NOTICE_S:.0f} s"
    )
    for rate in (float(r) for r in args.rates.split(",")):
        print(f"\nrate {rate} interruptions per trial-hour")
        print(
            f"{'K':>5} {'interrupts':>10} {'lost/int (no notice)':>21} {'ratio to K/2':>12}"
            f" {'lost/int (notice)':>18} {'ckpt overhead':>13}"
            f" {'wall x (no notice)':>18} {'wall x (notice)':>15}"
        )
        for k in (int(v) for v in args.intervals.split(",")):
            hard = simulate(s, k, rate, notice=False)
            soft = simulate(s, k, rate, notice=True)
            overhead = (hard.checkpoints * s.save_s) / (s.trials * hour)
            per_hard = hard.steps_lost / max(1, hard.interruptions)
            per_soft = soft.steps_lost / max(1, soft.interruptions)
            print(
                f"{k:>5} {hard.interruptions:>10} {per_hard:>21.1f} {per_hard / (k / 2):>12.2f}"
                f" {per_soft:>18.2f} {overhead:>12.1%}"
                f" {hard.wall_s / (s.trials * hour):>18.3f}"
                f" {soft.wall_s / (s.trials * hour):>15.3f}"
            )


if __name__ == "__main__":
    main()
