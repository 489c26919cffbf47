"""Count the compute of mask heads per RoI (the paper's Table 2).

The counter is :mod:`mmpointrend.analysis.cost` (MMEngine's trace-based
analyzers on the real modules).

Example:
    python tools/analysis/get_flops.py
"""

from mmpointrend.analysis.cost import mask_head_cost_table

if __name__ == '__main__':
    print(mask_head_cost_table())
