"""Schedy's experiments and jobs, on scanfleet: a manual experiment fed by hand, a random
search, workers that take jobs until none is left, and the cleanup.

    python examples/schedy/manual_and_random.py       # an API of its own, in ./.scanfleet
"""

import contextlib
import threading

from scanfleet.client import Client
from scanfleet.client.compat.schedy import Experiment, NoJobError, RandomSearch, SchedyDB
from scanfleet.local.embedded import api_client


def train(alpha: float, beta: float) -> float:
    return (alpha - 0.3) ** 2 + (beta - 0.6) ** 2


def worker(db: SchedyDB, name: str) -> int:
    exp = db.get_experiment(name)  # any machine finds the experiment by its name
    done = 0
    while True:
        try:
            job = exp.next_job()  # RUNNING, and no other worker gets it
        except NoJobError:
            return done
        with job:  # DONE when the block ends, CRASHED if it raises
            job.results["loss"] = train(**job.hyperparameters)
        done += 1


def main(client: Client) -> None:
    db = SchedyDB(client)
    for old in ("Manual", "Random"):  # start over on every run of the example
        with contextlib.suppress(LookupError):
            db.get_experiment(old).delete(ensure=True)

    manual = db.add_experiment(Experiment("Manual"))
    for alpha in (0.1, 0.3, 0.5):
        for beta in (0.4, 0.6):
            manual.add_job(hyperparameters={"alpha": alpha, "beta": beta})
    counts: list[int] = []
    workers = [
        threading.Thread(target=lambda: counts.append(worker(db, "Manual"))) for _ in range(3)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    jobs = list(manual.all_jobs())
    best = min(jobs, key=lambda j: j.results["loss"])
    print(f"manual: {len(jobs)} jobs by {len(workers)} workers {sorted(counts)}; "
          f"best {best.hyperparameters} loss={best.results['loss']:.4f}")  # fmt: skip

    space = {
        "alpha": {"distribution": "uniform", "min": 0.0, "max": 1.0},
        "beta": {"distribution": "uniform", "min": 0.0, "max": 1.0},
    }
    db.add_experiment(RandomSearch("Random", space, config={"max_run": 12}))
    print(f"random: {worker(db, 'Random')} jobs run until NoJobError")

    manual.status = Experiment.DONE  # nothing more is handed out (a pause: RUNNING resumes)
    manual.push_updates()
    manual.delete(ensure=True)
    print("experiments left:", [e.name for e in db.get_experiments()])


if __name__ == "__main__":
    with api_client() as client:
        main(client)
