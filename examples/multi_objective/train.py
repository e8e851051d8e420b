"""A stand-in for training with two metrics: a wider, deeper model errs less and runs
slower. Both are reported; complete() takes them together."""

import math

import scanfleet

trial = scanfleet.current_trial()
width, depth, dropout = trial.params["width"], trial.params["depth"], trial.params["dropout"]
capacity = math.log2(width) * depth
error = 1.0 / (1.0 + 0.1 * capacity) + 0.2 * (dropout - 0.2) ** 2
latency_ms = 0.05 * width * depth + 2.0
trial.report("error", error, 1)
trial.report("latency_ms", latency_ms, 1)
print(f"error {error:.4f} latency {latency_ms:.1f} ms")
trial.complete({"error": error, "latency_ms": latency_ms})
