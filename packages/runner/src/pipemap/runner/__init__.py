"""pipemap.runner: the pipeline model (`PipeFunc`, `pipefunc`, `Pipeline`) and the map engine.

>>> from pipemap.runner import Pipeline, pipefunc
>>> @pipefunc(output_name="y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> Pipeline([double]).mapspecs_as_strings
['x[i] -> y[i]']
"""

from pipemap.runner._pipefunc import PipeFunc, pipefunc
from pipemap.runner._pipeline import Generations, Pipeline, UnknownNameError

__all__: list[str] = ["Generations", "PipeFunc", "Pipeline", "UnknownNameError", "pipefunc"]
