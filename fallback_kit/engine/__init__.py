"""Resolution: the orchestrator walks a plan for one work; batches, the public resolve
functions and the plan replay build on it."""
