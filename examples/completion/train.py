"""A stand-in for training: a short sleep (the GPU time) and a loss with its minimum at
x=2."""

import time

import scanfleet

trial = scanfleet.current_trial()
x = trial.params["x"]
time.sleep(0.2)
loss = (x - 2) ** 2
print(f"x={x:.3f} -> loss {loss:.4f}")
trial.complete(loss)
