"""A stand-in for training: a quadratic bowl with its minimum at x=2, y=-1."""

import scanfleet

trial = scanfleet.current_trial()
x, y = trial.params["x"], trial.params["y"]
loss = (x - 2) ** 2 + (y + 1) ** 2
print(f"x={x:.3f} y={y:.3f} -> loss {loss:.4f}")
trial.complete(loss)
