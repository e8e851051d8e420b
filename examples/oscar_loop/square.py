"""Oscar's "Get started" loop, on scanfleet.

    python examples/oscar_loop/square.py              # an API of its own, in ./.scanfleet
    SCANFLEET_API_URL=... SCANFLEET_TOKEN=... python examples/oscar_loop/square.py

Run it on as many machines (or terminals) as you like against one API: they share the
experiment "Square" (found by name) and each gets its own jobs.
"""

import math

from scanfleet.client import Client, ScanFinishedError
from scanfleet.local.embedded import api_client

experiment = {
    "name": "Square",
    "description": "This is a very simple experiment",
    "parameters": {"x": {"min": -10, "max": 10}},
    "resume": True,
    "max_run": 30,  # scanfleet's addition: when the experiment is done
}


def main(client: Client) -> None:
    for _ in range(10):
        try:
            job = client.suggest(experiment)  # the next parameters to try
        except ScanFinishedError as done:
            print(f"{done.message}; set 'resume': False to start it over")
            break
        loss = math.pow(job["x"], 2)  # your complex, time-consuming algorithm
        client.update(job, {"loss": loss})  # tell the result
        print(f"x={job['x']:+.4f} loss={loss:.4f}")
    scan = next(s for s in client.list_scans() if s.name == "Square")
    best = scan.best_trial()
    assert best is not None
    print(f"best so far: x={best.params['x']:+.4f} loss={best.values['loss']:.4f}")


if __name__ == "__main__":
    with api_client() as client:
        main(client)
