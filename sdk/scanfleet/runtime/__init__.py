"""What runs beside the training code: current_trial() and the agent loop."""
