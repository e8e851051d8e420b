"""A stand-in for training whose loss depends on the optimizer's own settings only: SGD
uses lr and momentum, Adam uses lr and beta2."""

import math

import scanfleet

trial = scanfleet.current_trial()
p = trial.params
if p["optimizer"] == "sgd":
    loss = abs(math.log10(p["lr"]) + 1.5) + (0.3 if p["momentum"] == 0.0 else 0.1)
else:
    loss = abs(math.log10(p["lr"]) + 2.0) + 10 * (1 - p["beta2"])
print(f"{p} -> loss {loss:.4f}")
trial.complete(loss)
