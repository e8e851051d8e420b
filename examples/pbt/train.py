"""A stand-in for training under population-based training: gradient descent on w², whose
state (w and the step) is checkpointed, so a member that exploits goes on from the state
of the member it copied, with its own learning rate."""

import json
import random

import scanfleet

trial = scanfleet.current_trial()
lr = trial.params["lr"]
state_file = trial.checkpoint_dir / "state.json"
if trial.resume_step and state_file.exists():
    state = json.loads(state_file.read_text())  # this member's, or the copied top member's
else:
    state = {"w": 5.0, "step": 0}

# The step to train up to is the trial's stop step (run by hand: 5 more steps).
stop = trial.stop_step if trial.stop_step is not None else state["step"] + 5

rng = random.Random(f"{trial.id}")
loss = state["w"] ** 2
for step in range(state["step"] + 1, stop + 1):
    state["w"] -= lr * (2 * state["w"] + rng.gauss(0, 0.05))
    state["step"] = step
    loss = state["w"] ** 2
    trial.report("loss", loss, step)

trial.checkpoint_dir.mkdir(parents=True, exist_ok=True)
state_file.write_text(json.dumps(state))
trial.save_checkpoint(stop)
print(f"lr {lr:.4f}: w {state['w']:.5f} at step {stop}, loss {loss:.6f}")
trial.complete(loss)
