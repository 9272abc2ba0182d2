# cython: language_level=3
# cython: freethreading_compatible=True
"""Private compiled index kernels of pipemap.mapspec (placeholder; see index_plan.py)."""

def _kernel_version():
    return 1
