"""Knowledge editing in masked diffusion LMs beside autoregressive LMs."""
import os

# Idle OpenMP threads sleep instead of spinning: on a CPU shared with other jobs (or DDP
# ranks on one machine), spinning threads starve each other and runs got 3-10x slower.
# Set here, before any entry point imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
