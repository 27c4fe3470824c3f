"""Pixel neighbourhoods: the 8-connected structuring element and neighbour offsets."""

from __future__ import annotations

import numpy as np

#: 8-connectivity: the 3x3 structuring element (a cosmic ray's pixels touch by side or corner)
EIGHT = np.ones((3, 3), dtype=bool)
#: the 8 neighbour offsets (dy, dx), raster order
NEIGHBOURS_8 = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
#: the 4 side neighbours (dy, dx)
NEIGHBOURS_4 = [(-1, 0), (0, -1), (0, 1), (1, 0)]
#: 4 of the 8 offsets: visiting them from every pixel visits every adjacent pair once
HALF_NEIGHBOURS_8 = [(0, 1), (1, -1), (1, 0), (1, 1)]
