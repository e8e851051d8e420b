"""A stand-in for training: a noisy quadratic reported through the SDK."""

import random
import time

import scanfleet

trial = scanfleet.current_trial()
x, y, opt = trial.params["x"], trial.params["y"], trial.params["optimizer"]
rng = random.Random(hash((x, y, opt)))
for step in range(5):
    time.sleep(0.02)  # "training"
    loss = (x - 2) ** 2 + (y + 1) ** 2 + (0.0 if opt == "adam" else 0.5) + rng.gauss(0, 0.05)
    trial.report("loss", loss / (1 + 0.1 * (4 - step)), step)
print(f"final loss {loss:.4f}")
trial.complete(loss)
