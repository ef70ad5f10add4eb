"""Point-in-time datasets, the GNN and its baselines, training, scoring and the model registry."""

import warnings

# PyG calls torch.jit.script at import time, which this torch marks deprecated; the notice says nothing
# about kgcrm and would precede every CLI error line.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
