"""A stand-in for training that diverges when the learning rate is too high; the trial
tags itself with what happened."""

import math

import scanfleet

trial = scanfleet.current_trial()
lr = trial.params["lr"]
loss = abs(math.log10(lr) + 2) if lr < 1.0 else 100.0 * lr
trial.tag(regime="diverged" if loss > 10 else "stable")
print(f"lr={lr} -> loss {loss:.4f}")
trial.complete(loss)
