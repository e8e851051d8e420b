"""A learning curve that converges fast for lr near 0.03; reports every epoch and stops
when the pruner says so."""

import math
import time

import scanfleet

trial = scanfleet.current_trial()
lr, width = trial.params["lr"], trial.params["width"]
floor = abs(math.log10(lr) - math.log10(0.03)) + 16 / width
for epoch in range(1, 28):
    time.sleep(0.005)
    val_loss = floor + 2.0 / epoch
    if trial.report("val_loss", val_loss, epoch):
        print(f"pruned at epoch {epoch}")
        break
