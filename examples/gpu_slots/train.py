"""Prints the GPU this trial was given, then "trains" for a second."""

import os
import time

import scanfleet

trial = scanfleet.current_trial()
print(f"trial {trial.id}: CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}")
time.sleep(1.0)
trial.complete(abs(trial.params["lr"] - 0.01))
