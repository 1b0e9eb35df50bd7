"""Writes the pickle fixtures (hex, one file each) for crates/data/tests/pickle.rs (the reader
is crates/data/src/formats/pickle.rs).

Independent oracle: CPython's own pickle + numpy. Run with any Python that has numpy:
    python ci/data/pickle_fixture.py
"""
import pathlib
import pickle

import numpy as np

here = pathlib.Path(__file__).parent
a = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
(here / "pickle_u8_p4.hex").write_text(pickle.dumps(a, protocol=4).hex() + "\n")
t = (np.array([0.0, 1.0], dtype=np.float32), np.array([7, -1], dtype=np.int64))
(here / "pickle_tuple_p2.hex").write_text(pickle.dumps(t, protocol=2).hex() + "\n")
print("numpy", np.__version__)
